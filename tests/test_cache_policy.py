"""The cache's pure decisions: which requests are eligible and what their key is made of."""

from __future__ import annotations

from gateway.cache.policy import SKIP, Decision, decide, namespace, request_key
from gateway.config.loader import build_from_dict
from gateway.config.model import ApiKey
from gateway.config.problems import Problems

MESSAGES = [{"role": "user", "content": "hi"}]


def test_only_deterministic_requests_are_eligible_without_opting_in() -> None:
    assert decide("chat/completions", [], {"temperature": 0.7}) == SKIP
    assert decide("chat/completions", [], {}) == SKIP  # the provider's default temperature samples
    assert decide("chat/completions", [], {"temperature": 0}) == Decision(True, True)
    assert decide("chat/completions", [], {"temperature": 0.0}) == Decision(True, True)
    assert decide("chat/completions", [], {"temperature": False}) == SKIP  # not a number
    assert decide("completions", [], {"seed": 3, "temperature": 1}) == Decision(True, True)
    assert decide("embeddings", [], {}) == Decision(True, True)


def test_headers_opt_in_out_and_bypass() -> None:
    assert decide("chat/completions", [(b"x-grid-cache", b" ON ")], {"temperature": 1}) == Decision(
        True, True
    )
    assert decide("embeddings", [(b"x-grid-cache", b"off")], {}) == SKIP
    no_cache = [(b"cache-control", b"No-Cache")]
    assert decide("embeddings", no_cache, {}) == Decision(lookup=False, store=True)
    no_store = [(b"cache-control", b"max-age=0, no-store")]
    assert decide("embeddings", no_store, {}) == Decision(lookup=True, store=False)


def test_the_key_ignores_order_and_neutral_fields_but_not_answering_ones() -> None:
    base = {"messages": MESSAGES, "temperature": 0, "max_tokens": 5}
    key = request_key("chat/completions", "g", False, base, "s")
    reordered = {"max_tokens": 5, "temperature": 0, "messages": [{"content": "hi", "role": "user"}]}
    assert request_key("chat/completions", "g", False, reordered, "s") == key
    neutral = {**base, "user": "u1", "metadata": {"a": 1}, "model": "alias", "store": True, "stream": False}
    assert request_key("chat/completions", "g", False, neutral, "s") == key
    assert request_key("chat/completions", "g", False, {**base, "max_tokens": 6}, "s") != key
    assert request_key("chat/completions", "other", False, base, "s") != key  # the group
    assert request_key("chat/completions", "g", True, base, "s") != key  # a stream is stored as SSE
    assert request_key("chat/completions", "g", False, base, "t") != key  # the namespace
    assert request_key("completions", "g", False, {"prompt": "hi", "temperature": 0}, "s") != key


def test_the_namespace_is_a_digest_of_the_key_never_the_key() -> None:
    key = ApiKey(name="team", key="sk-secret-value")
    space = namespace(key, "key")
    assert "sk-secret" not in space and len(space) == 32
    assert namespace(ApiKey(name="team", key="sk-other"), "key") != space  # same name, other key
    assert namespace(key, "global") == namespace(None, "key") == "global"
    assert "sk-secret" not in request_key("embeddings", "g", False, {"input": "x"}, space)


STATE = "redis://state:6379/0"
OWN = "redis://cache:6379/0"


def where(router: dict, litellm: dict | None = None, state: str | None = STATE) -> tuple:
    """(backend, url) a config's cache settings choose (the state backend's Redis given as
    GRID_REDIS_URL when `state`), or where its errors are."""
    problems = Problems()
    model = {"model_name": "m", "litellm_params": {"model": "openai/m", "api_base": "http://up/v1"}}
    data = {"model_list": [model], "router_settings": router, "litellm_settings": litellm or {}}
    snapshot = build_from_dict(data, {"GRID_REDIS_URL": state} if state else {}, problems)
    if problems.errors:
        return tuple(p.field for p in problems.errors)
    return snapshot.cache.backend, snapshot.cache.redis_url


def test_the_cache_follows_the_state_backend_unless_told_otherwise() -> None:
    assert where({"cache": True}) == ("redis", STATE)
    assert where({"cache": True}, state=None) == ("local", None)
    assert where({"cache": {"ttl": 60}}) == ("redis", STATE)
    assert where({"cache": {"type": "local"}}) == ("local", None)
    assert where({"cache": {"type": "redis"}}) == ("redis", STATE)
    assert where({"cache": {"redis_url": OWN}}) == ("redis", OWN)  # the cache's own Redis wins
    assert where({"cache": {"type": "redis", "redis_host": "cache"}}) == ("redis", OWN)
    assert where({"cache": {"type": "redis"}}, state=None) == ("router_settings.cache",)


def test_litellms_cache_params_follow_it_too() -> None:
    assert where({}, {"cache": True}) == ("redis", STATE)
    assert where({}, {"cache": True, "cache_params": {"type": "redis", "ttl": 5}}) == ("redis", STATE)
    assert where({}, {"cache": True, "cache_params": {"type": "local"}}) == ("local", None)
    assert where({}, {"cache": True, "cache_params": {"type": "redis", "host": "cache"}}) == ("redis", OWN)
    assert where({}, {"cache": True, "cache_params": {"type": "redis"}}, state=None) == (
        "litellm_settings.cache_params",
    )
