"""The cache's pure decisions: which requests are eligible and what their key is made of."""

from __future__ import annotations

from gateway.cache.policy import SKIP, Decision, decide, namespace, request_key
from gateway.config.model import ApiKey

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
