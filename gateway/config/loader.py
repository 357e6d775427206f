"""Read a LiteLLM-proxy-style YAML file into a `Snapshot`.

Structural problems (wrong types, missing required fields) are collected, not raised one at a time,
so `gateway check` can print them all. Semantic rules live in `gateway.config.validate`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

import orjson
import yaml

from gateway.cache.settings import cache_settings
from gateway.config.backend import redis_url
from gateway.config.general import general_settings
from gateway.config.kinds import group_kind
from gateway.config.model import Deployment, ModelGroup, RouterSettings, Snapshot
from gateway.config.otel import otel_settings
from gateway.config.problems import Problems
from gateway.config.providers import default_api_base, default_path, split_model
from gateway.config.values import Missing, integer, mapping, number, resolve_env, str_list
from gateway.tokens import group_window

# Variables with a default: the bundled mock upstream's address for the shipped config's standby
# deployments (gateway.standby; `gateway serve` starts the mock there when nothing listens)
ENV_DEFAULTS = {
    "GRID_MOCK_URL": "http://127.0.0.1:8100/v1",
    "GRID_MOCK_ANTHROPIC_URL": "http://127.0.0.1:8100",
}


class ConfigError(Exception):
    """The configuration cannot be used; `problems` lists every reason."""

    def __init__(self, problems: Problems) -> None:
        super().__init__("\n".join(str(p) for p in problems.errors))
        self.problems = problems


def read_yaml(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as f:
        data = yaml.safe_load(f)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("the top level of the config must be a mapping")
    return data


def load_config(
    path: str, env: Mapping[str, str] | None = None, *, probe: bool = False
) -> tuple[Snapshot, Problems]:
    """Load, validate and freeze. Raises `ConfigError` listing every error; returns the warnings too."""
    from gateway.config.validate import validate

    snapshot, problems = build(path, {**ENV_DEFAULTS, **(os.environ if env is None else env)})
    if snapshot is not None:
        validate(snapshot, problems, probe=probe)
    if problems.errors or snapshot is None:
        raise ConfigError(problems)
    return snapshot, problems


def build(path: str, env: Mapping[str, str]) -> tuple[Snapshot | None, Problems]:
    problems = Problems()
    try:
        raw = read_yaml(path)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        problems.error("config", f"cannot read {path}: {exc}")
        return None, problems
    return build_from_dict(raw, env, problems, source=path), problems


def build_from_dict(
    raw: Mapping[str, Any], env: Mapping[str, str], problems: Problems, source: str = ""
) -> Snapshot:
    data = resolve_env(dict(raw), env)
    for key in data:
        if key not in KNOWN_SECTIONS:
            problems.warning(key, "unknown top-level section, ignored")
    litellm = mapping(data.get("litellm_settings"), "litellm_settings", problems)
    for key in litellm:
        if key not in USED_LITELLM_SETTINGS:
            problems.warning(f"litellm_settings.{key}", "not used by GRID, ignored")
    router_raw = mapping(data.get("router_settings"), "router_settings", problems)
    router = _router_settings(router_raw, env, problems)
    groups, skipped, skipped_groups = _model_list(data.get("model_list"), router, problems)
    drop = litellm.get("drop_params")
    if drop is not None and not isinstance(drop, bool):
        problems.error("litellm_settings.drop_params", f"must be true or false, got {drop!r}")
    elif drop:
        groups = _dropping_params(groups)
    uncached = (
        g.name for g in groups.values() if any(d.model_info.get("cache") is False for d in g.deployments)
    )
    cache = cache_settings(router_raw, litellm, uncached, problems, router.redis_url)
    gs = mapping(data.get("general_settings"), "general_settings", problems)
    general = general_settings(gs, problems)
    general = dataclasses.replace(general, otel=otel_settings(gs.get("otel"), env, problems))
    default_model = env.get("GRID_AI_MODEL") or None
    if "GRID_AI_MODEL" in env and not default_model:
        problems.warning(
            "GRID_AI_MODEL", "is set but empty: ignored (a request that names no model is refused)"
        )
    return Snapshot(
        groups=MappingProxyType(groups),
        router=router,
        general=general,
        default_model=default_model,
        skipped=tuple(skipped),
        skipped_groups=frozenset(skipped_groups),
        model_routing=MappingProxyType(mapping(data.get("model_routing"), "model_routing", problems)),
        source=source,
        cache=cache,
    )


LITELLM_CACHE_SETTINGS = frozenset({"cache", "cache_params"})  # read by gateway.cache.settings
# `drop_params: true`: LiteLLM drops the OpenAI parameters a provider does not support (e.g. `n` for
# Anthropic) instead of failing; set on every translated deployment that does not set it itself.
USED_LITELLM_SETTINGS = LITELLM_CACHE_SETTINGS | {"drop_params"}


def _dropping_params(groups: dict[str, ModelGroup]) -> dict[str, ModelGroup]:
    out = {}
    for name, group in groups.items():
        deployments = tuple(
            replace(d, litellm_params=MappingProxyType({"drop_params": True, **d.litellm_params}))
            if d.path == "litellm"
            else d
            for d in group.deployments
        )
        out[name] = replace(group, deployments=deployments)
    return out


KNOWN_SECTIONS = {
    "model_list",
    "router_settings",
    "general_settings",
    "litellm_settings",
    "model_routing",
    "environment_variables",
}


def _fallback_map(value: Any, where: str, problems: Problems) -> dict[str, tuple[str, ...]]:
    """LiteLLM writes fallbacks as a list of one-key mappings: `[{"gpt-4": ["gpt-3.5"]}]`."""
    result: dict[str, tuple[str, ...]] = {}
    if value is None:
        return result
    items = value if isinstance(value, list) else [value]
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            problems.error(f"{where}[{i}]", "must be a mapping of model group to a list of groups")
            continue
        for name, chain in item.items():
            result[str(name)] = str_list(chain, f"{where}[{i}].{name}", problems)
    return result


def _router_settings(rs: dict[str, Any], env: Mapping[str, str], problems: Problems) -> RouterSettings:
    w = "router_settings"
    aliases = rs.get("model_group_alias") or {}
    if not isinstance(aliases, dict):
        problems.error(f"{w}.model_group_alias", "must be a mapping of alias to model group")
        aliases = {}
    alias_map: dict[str, str] = {}
    for name, target in aliases.items():
        # LiteLLM also accepts {"alias": {"model": "group", "hidden": true}}
        target = target.get("model") if isinstance(target, dict) else target
        if not isinstance(target, str):
            problems.error(f"{w}.model_group_alias.{name}", "must name a model group")
            continue
        alias_map[str(name)] = target
    alias_map.update(_env_json(env, "GRID_MODEL_ALIASES", dict, problems))
    chain = _env_json(env, "GRID_MODEL_FALLBACK_CHAIN", list, problems)
    defaults = RouterSettings()
    strategy = rs.get("routing_strategy", defaults.routing_strategy)
    return RouterSettings(
        routing_strategy=str(strategy),
        num_retries=integer(rs.get("num_retries"), f"{w}.num_retries", problems, defaults.num_retries) or 0,
        retry_after=number(rs.get("retry_after"), f"{w}.retry_after", problems, defaults.retry_after) or 0.0,
        allowed_fails=integer(rs.get("allowed_fails"), f"{w}.allowed_fails", problems, defaults.allowed_fails)
        or 0,
        cooldown_time=number(rs.get("cooldown_time"), f"{w}.cooldown_time", problems, defaults.cooldown_time)
        or 0.0,
        timeout=number(rs.get("timeout"), f"{w}.timeout", problems, None),
        stream_timeout=number(rs.get("stream_timeout"), f"{w}.stream_timeout", problems, None),
        request_timeout=number(
            rs.get("request_timeout"), f"{w}.request_timeout", problems, defaults.request_timeout
        ),
        fallbacks=MappingProxyType(_fallback_map(rs.get("fallbacks"), f"{w}.fallbacks", problems)),
        context_window_fallbacks=MappingProxyType(
            _fallback_map(rs.get("context_window_fallbacks"), f"{w}.context_window_fallbacks", problems)
        ),
        model_group_alias=MappingProxyType(alias_map),
        fallback_chain=tuple(str(x) for x in chain),
        health_check_interval=number(
            rs.get("health_check_interval"), f"{w}.health_check_interval", problems, None
        ),
        health_check_mode=_health_check_mode(rs.get("health_check_mode"), f"{w}.health_check_mode", problems),
        redis_url=redis_url(rs, env, problems),
    )


def _health_check_mode(value: Any, where: str, problems: Problems) -> str:
    if value is None:
        return "models"
    if value not in ("models", "completion"):
        problems.error(where, "must be 'models' or 'completion'")
        return "models"
    return value


def _env_json(env: Mapping[str, str], name: str, kind: type, problems: Problems) -> Any:
    text = env.get(name)
    if not text:
        return kind()
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        problems.error(name, f"is not valid JSON: {exc}")
        return kind()
    if not isinstance(value, kind):
        problems.error(name, f"must be a JSON {'object' if kind is dict else 'list'}")
        return kind()
    return value


def _model_list(
    entries: Any, router: RouterSettings, problems: Problems
) -> tuple[dict[str, ModelGroup], list[tuple[str, str]], set[str]]:
    if entries is None:
        problems.error("model_list", "is required: at least one deployment")
        return {}, [], set()
    if not isinstance(entries, list):
        problems.error("model_list", "must be a list")
        return {}, [], set()
    by_group: dict[str, list[Deployment]] = {}
    skipped: list[tuple[str, str]] = []
    skipped_groups: set[str] = set()
    for i, entry in enumerate(entries):
        where = f"model_list[{i}]"
        if not isinstance(entry, dict):
            problems.error(where, "must be a mapping with model_name and litellm_params")
            continue
        dep, reason = _deployment(entry, i, router, problems)
        if dep is None:
            if reason:
                skipped.append((_deployment_id(entry, i), reason))
            if reason or isinstance(entry.get("model_name"), str):
                # its name is still checked (validate), whatever else was wrong with the entry
                skipped_groups.add(str(entry.get("model_name")))
            continue
        by_group.setdefault(dep.group, []).append(dep)
    groups = {}
    for name, deps in by_group.items():
        live = [d for d in deps if not d.standby] or deps
        skipped += [(d.id, "standby: the group has a live deployment") for d in deps if d not in live]
        groups[name] = ModelGroup(name, tuple(live), group_window(live), group_kind(deps))
    return groups, skipped, skipped_groups


def _deployment_id(entry: dict[str, Any], index: int) -> str:
    info = entry.get("model_info")
    if isinstance(info, dict) and isinstance(info.get("id"), (str, int)):
        return str(info["id"])
    return f"{entry.get('model_name', 'deployment')}-{index}"


def _deployment(
    entry: dict[str, Any], index: int, router: RouterSettings, problems: Problems
) -> tuple[Deployment | None, str | None]:
    where = f"model_list[{index}]"
    name = entry.get("model_name")
    params = entry.get("litellm_params")
    info = entry.get("model_info") or {}
    ok = True
    if not isinstance(name, str):
        problems.error(f"{where}.model_name", "is required and must be a string")
        ok = False
    if not isinstance(params, dict):
        problems.error(f"{where}.litellm_params", "is required and must be a mapping")
        return None, None
    if not isinstance(info, dict):
        problems.error(f"{where}.model_info", "must be a mapping")
        info = {}
    model = params.get("model")
    if not isinstance(model, str) or not model:
        problems.error(f"{where}.litellm_params.model", "is required and must be a string")
        ok = False
    if not ok:
        return None, None
    missing = [v.name for v in params.values() if isinstance(v, Missing)]
    if missing:
        return None, f"{', '.join(missing)} not set"
    provider, upstream_model = split_model(model)
    path = info.get("grid_path") or default_path(provider)
    if path not in ("passthrough", "litellm"):
        problems.error(f"{where}.model_info.grid_path", "must be 'passthrough' or 'litellm'")
        path = default_path(provider)
    api_base = params.get("api_base") or params.get("base_url")
    if path == "passthrough":
        api_base = api_base or default_api_base(provider)
        if not api_base:
            problems.error(f"{where}.litellm_params.api_base", f"is required for provider {provider!r}")
            return None, None
        api_base = str(api_base).rstrip("/")
    p = f"{where}.litellm_params"
    timeout = number(params.get("timeout"), f"{p}.timeout", problems, router.timeout) or 600.0
    return (
        Deployment(
            id=_deployment_id(entry, index),
            group=name,
            model=model,
            provider=provider,
            upstream_model=upstream_model,
            path=path,
            api_base=api_base,
            api_key=None if params.get("api_key") is None else str(params["api_key"]),
            weight=_weight(params, f"{p}.weight", problems),
            rpm=integer(params.get("rpm"), f"{p}.rpm", problems, None),
            tpm=integer(params.get("tpm"), f"{p}.tpm", problems, None),
            timeout=timeout,
            stream_timeout=number(
                params.get("stream_timeout"), f"{p}.stream_timeout", problems, router.stream_timeout
            ),
            max_retries=integer(params.get("max_retries"), f"{p}.max_retries", problems, None),
            standby=bool(info.get("standby", False)),
            litellm_params=MappingProxyType(dict(params)),
            model_info=MappingProxyType(dict(info)),
            index=index,
        ),
        None,
    )


def _weight(params: dict[str, Any], where: str, problems: Problems) -> float:
    """Like LiteLLM, `rpm` (else `tpm`) stands in for a weight when none is given."""
    weight = number(params.get("weight"), where, problems, None)
    if weight is not None:
        return weight
    for key in ("rpm", "tpm"):
        value = params.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return 1.0
