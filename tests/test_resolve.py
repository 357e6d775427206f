"""Resolution: override, alias, default model and the fallback chain, from a loaded config."""

from __future__ import annotations

import orjson
import pytest

from gateway.config.loader import build_from_dict
from gateway.config.problems import Problems
from gateway.errors import InvalidRequest, ModelNotFound
from gateway.routing.resolve import (
    MAX_ALIAS_DEPTH,
    Resolution,
    Resolver,
    context_window_chain,
    resolve,
    resolver_for,
)


def entry(name: str) -> dict:
    return {"model_name": name, "litellm_params": {"model": f"openai/{name}", "api_base": "http://up/v1"}}


def snapshot(groups=("gpt-4o", "mini", "haiku", "local"), env=None, **router):
    problems = Problems()
    snap = build_from_dict(
        {"model_list": [entry(g) for g in groups], "router_settings": router}, env or {}, problems
    )
    assert not problems.errors, problems.errors
    return snap


def test_a_group_name_resolves_to_itself():
    r = resolve(snapshot(), "mini")
    assert r == Resolution(asked="mini", group="mini", chain=("mini",), overridden=False)


def test_an_alias_resolves_to_its_group():
    snap = snapshot(model_group_alias={"fast": "mini"})
    r = resolve(snap, "fast")
    assert (r.asked, r.group, r.chain) == ("fast", "mini", ("mini",))


def test_aliases_chain_to_a_group():
    snap = snapshot(model_group_alias={"a": "b", "b": "c", "c": "haiku"})
    assert resolve(snap, "a").group == "haiku"


def test_litellm_alias_mapping_form_is_followed():
    snap = snapshot(model_group_alias={"fast": {"model": "mini", "hidden": True}})
    assert resolve(snap, "fast").group == "mini"


def test_alias_from_environment():
    snap = snapshot(env={"GRID_MODEL_ALIASES": orjson.dumps({"powerful": "gpt-4o"}).decode()})
    assert resolve(snap, "powerful").group == "gpt-4o"


def test_an_alias_wins_over_a_group_of_the_same_name():
    snap = snapshot(model_group_alias={"mini": "haiku"})
    assert resolve(snap, "mini").group == "haiku"


def test_an_alias_naming_itself_is_its_group():
    assert resolve(snapshot(model_group_alias={"mini": "mini"}), "mini").group == "mini"


def test_alias_cycles_are_not_found_rather_than_looping():
    snap = snapshot(model_group_alias={"a": "b", "b": "a"})
    with pytest.raises(ModelNotFound):
        resolve(snap, "a")


def test_alias_chains_deeper_than_the_limit_are_not_found():
    aliases = {f"a{i}": f"a{i + 1}" for i in range(MAX_ALIAS_DEPTH + 1)}
    aliases[f"a{MAX_ALIAS_DEPTH + 1}"] = "mini"
    snap = snapshot(model_group_alias=aliases)
    with pytest.raises(ModelNotFound):
        resolve(snap, "a1")  # MAX_ALIAS_DEPTH + 1 hops
    assert resolve(snap, "a2").group == "mini"  # MAX_ALIAS_DEPTH hops


def test_alias_to_an_unknown_group_is_not_found():
    with pytest.raises(ModelNotFound) as info:
        resolve(snapshot(model_group_alias={"fast": "nope"}), "fast")
    assert info.value.model == "fast"


def test_unknown_model_is_not_found_and_named():
    with pytest.raises(ModelNotFound) as info:
        resolve(snapshot(), "gpt-5")
    assert info.value.status == 404
    assert "gpt-5" in info.value.message


def test_override_replaces_the_requested_model():
    snap = snapshot(model_group_alias={"fast": "mini"})
    r = resolve(snap, "gpt-4o", override="fast")
    assert (r.asked, r.group, r.overridden) == ("fast", "mini", True)


def test_unknown_override_is_not_found_and_named():
    with pytest.raises(ModelNotFound) as info:
        resolve(snapshot(), "gpt-4o", override="bogus")
    assert info.value.model == "bogus"


def test_empty_override_is_no_override():
    r = resolve(snapshot(), "mini", override="")
    assert (r.group, r.overridden) == ("mini", False)


def test_missing_model_uses_the_default_model():
    snap = snapshot(env={"GRID_AI_MODEL": "haiku"})
    for asked in (None, ""):
        r = resolve(snap, asked)
        assert (r.asked, r.group) == ("haiku", "haiku")


def test_default_model_may_be_an_alias():
    snap = snapshot(env={"GRID_AI_MODEL": "fast"}, model_group_alias={"fast": "mini"})
    assert resolve(snap, None).group == "mini"


def test_missing_model_without_default_is_invalid():
    with pytest.raises(InvalidRequest) as info:
        resolve(snapshot(), None)
    assert info.value.status == 400
    assert info.value.param == "model"
    assert info.value.message == "you must provide a model parameter"


def test_non_string_model_is_invalid():
    with pytest.raises(InvalidRequest):
        resolve(snapshot(), ["mini"])  # type: ignore[arg-type]


def test_chain_is_group_then_fallbacks_then_global_chain():
    snap = snapshot(
        fallbacks=[{"gpt-4o": ["mini", "haiku"]}],
        env={"GRID_MODEL_FALLBACK_CHAIN": '["local", "mini"]'},
    )
    assert resolve(snap, "gpt-4o").chain == ("gpt-4o", "mini", "haiku", "local")
    assert resolve(snap, "haiku").chain == ("haiku", "local", "mini")


def test_chain_never_repeats_the_group():
    snap = snapshot(fallbacks=[{"mini": ["mini", "haiku"]}], env={"GRID_MODEL_FALLBACK_CHAIN": '["mini"]'})
    assert resolve(snap, "mini").chain == ("mini", "haiku")


def test_fallback_entries_may_be_aliases_and_unknown_ones_are_skipped():
    snap = snapshot(model_group_alias={"fast": "mini"}, fallbacks=[{"gpt-4o": ["nope", "fast", "haiku"]}])
    assert resolve(snap, "gpt-4o").chain == ("gpt-4o", "mini", "haiku")


def test_wildcard_fallbacks_apply_after_the_groups_own():
    snap = snapshot(fallbacks=[{"gpt-4o": ["mini"]}, {"*": ["local", "gpt-4o"]}])
    assert resolve(snap, "gpt-4o").chain == ("gpt-4o", "mini", "local")
    assert resolve(snap, "haiku").chain == ("haiku", "local", "gpt-4o")


def test_fallbacks_keyed_on_the_alias_asked_apply():
    snap = snapshot(model_group_alias={"fast": "mini"}, fallbacks=[{"fast": ["haiku"]}, {"mini": ["local"]}])
    assert resolve(snap, "fast").chain == ("mini", "haiku", "local")
    assert resolve(snap, "mini").chain == ("mini", "local")


def test_context_window_chain_resolves_aliases_and_excludes_the_group():
    snap = snapshot(
        model_group_alias={"big": "gpt-4o"},
        context_window_fallbacks=[{"mini": ["mini", "big", "nope"]}, {"*": ["local"]}],
    )
    assert context_window_chain(snap, "mini") == ("gpt-4o", "local")
    assert context_window_chain(snap, "haiku") == ("local",)
    assert context_window_chain(snap, "unknown") == ()


def test_resolver_is_built_once_per_snapshot():
    snap = snapshot()
    assert resolver_for(snap) is resolver_for(snap)
    assert resolver_for(snapshot()) is not resolver_for(snap)


def test_resolver_answers_group_of_for_aliases():
    resolver = Resolver(snapshot(model_group_alias={"fast": "mini"}))
    assert resolver.group_of("fast") == "mini"
    assert resolver.group_of("mini") == "mini"
    assert resolver.group_of("nope") is None
