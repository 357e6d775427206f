"""Which requests the cache answers, and the key of a request: pure functions of the request.

Eligible: a deterministic request (`temperature: 0`, or a `seed`; embeddings always), or any request
whose client opts in with `x-grid-cache: on` (`off` opts out). `Cache-Control: no-cache` skips the
lookup (the answer is still stored), `no-store` skips storing.

The key is a hash of the normalised request: the endpoint, the model group it resolved to (so an
alias and its group share entries), whether it streams, and every parameter that can change the
answer. Parameters that cannot (`user`, `metadata`, `store`, ids, the client's timeout) are left out,
and so is the client's key, which only chooses the namespace: its own (`scope: key`, the default, so a
hit never crosses keys) or one shared by all (`scope: global`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.upstream.params import LITELLM, PASSTHROUGH

CACHE_HEADER = "x-grid-cache"
_CACHE_HEADER = CACHE_HEADER.encode()
CACHED_ENDPOINTS = frozenset({"chat/completions", "completions", "embeddings", "responses"})
# fields that never change the answer: who asks, bookkeeping for the provider, transport
NEUTRAL = frozenset({"model", "user", "metadata", "store", "safety_identifier", "prompt_cache_key", "stream"})
_ANSWERING = {
    endpoint: (PASSTHROUGH[endpoint] | LITELLM.get(endpoint, frozenset())) - NEUTRAL
    for endpoint in CACHED_ENDPOINTS
}
_ALWAYS_DETERMINISTIC = frozenset({"embeddings"})


@dataclass(frozen=True, slots=True)
class Decision:
    lookup: bool
    store: bool

    @property
    def eligible(self) -> bool:
        return self.lookup or self.store


SKIP = Decision(False, False)


def decide(endpoint: str, headers: list[tuple[bytes, bytes]], body: Mapping[str, Any]) -> Decision:
    """Whether to look the request up and whether to store its answer."""
    opt = b""
    control = b""
    for name, value in headers:
        if name == _CACHE_HEADER:
            opt = value.strip().lower()
        elif name == b"cache-control":
            control = value.lower()
    if opt == b"off":
        return SKIP
    if opt != b"on" and not _deterministic(endpoint, body):
        return SKIP
    return Decision(lookup=b"no-cache" not in control, store=b"no-store" not in control)


def _deterministic(endpoint: str, body: Mapping[str, Any]) -> bool:
    if endpoint in _ALWAYS_DETERMINISTIC:
        return True
    temperature = body.get("temperature")
    return (temperature == 0 and not isinstance(temperature, bool)) or body.get("seed") is not None


def namespace(key: Any, scope: str) -> str:
    """The namespace of a client key: a digest of it (never the key itself), or "global"."""
    if scope == "global" or key is None:
        return "global"
    return hashlib.sha256(key.key.encode()).hexdigest()[:32]


def request_key(endpoint: str, group: str, stream: bool, body: Mapping[str, Any], space: str) -> str:
    """The cache key: a SHA-256 of the normalised request, in `space`."""
    names = _ANSWERING[endpoint]
    params = {k: v for k, v in body.items() if k in names and v is not None}
    normal = orjson.dumps([endpoint, group, stream, params], option=orjson.OPT_SORT_KEYS)
    return f"{space}:{hashlib.sha256(normal).hexdigest()}"
