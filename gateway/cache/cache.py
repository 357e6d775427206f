"""The response cache as the endpoints use it: a ticket per request (eligible? its key), a lookup, a
replay of a hit, and storing a fresh answer (JSON as it was sent, a stream as the SSE bytes the client
received, replayed as SSE).

An endpoint calls, in order: `ticket()` once the request's group is known; `lookup()` when the ticket
says so (a hit is answered with `replay()`); after a fresh answer `store_json()`, or for a stream
`recorder(tap)` to keep the bytes and `store_stream()` once it ended cleanly. Every response of a
cached endpoint says what the cache did in `x-grid-cache`: `hit`, `miss` (looked up, not found), or
`skip` (not eligible, or `Cache-Control: no-cache`). The Responses endpoint can use it the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import Scope

from gateway import metrics
from gateway.cache.policy import (
    CACHE_HEADER,
    CACHED_ENDPOINTS,
    SKIP,
    Decision,
    decide,
    namespace,
    request_key,
)
from gateway.cache.settings import CacheSettings
from gateway.cache.store import CacheStore, LocalStore
from gateway.config.model import Deployment
from gateway.fallback import Trace
from gateway.model_map import cost_per_token
from gateway.upstream.relay import SSE_HEADERS

log = logging.getLogger("grid.cache")

JSON, SSE = "json", "sse"
_SSE_HEADERS = {k.decode(): v.decode() for k, v in SSE_HEADERS}


@dataclass(slots=True)
class Ticket:
    key: str | None
    decision: Decision

    @property
    def lookup(self) -> bool:
        return self.decision.lookup

    @property
    def store(self) -> bool:
        return self.decision.store


@dataclass(slots=True)
class Entry:
    kind: str  # JSON or SSE
    group: str  # the group that served it
    usage: Any
    priced: str | None  # the model its cost is estimated by
    body: bytes


def encode(entry: Entry) -> bytes:
    meta = {"kind": entry.kind, "group": entry.group, "usage": entry.usage, "priced": entry.priced}
    return orjson.dumps(meta) + b"\n" + entry.body


def decode(raw: bytes) -> Entry | None:
    line, _, body = raw.partition(b"\n")
    try:
        meta = orjson.loads(line)
        return Entry(meta["kind"], meta["group"], meta.get("usage"), meta.get("priced"), body)
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None  # not ours, or from another version: a miss


def _priced(dep: Deployment) -> str:
    return dep.model_info.get("base_model") or dep.model


def _mark(scope: Scope, result: str) -> None:
    headers = scope.get("grid.headers")
    if headers is None:
        headers = scope["grid.headers"] = {}
    headers[CACHE_HEADER] = result
    metrics.child(metrics.CACHE_REQUESTS, result).inc()


class RecordingTap:
    """A usage tap that also keeps what it passes to the client, up to `limit` bytes."""

    __slots__ = ("tap", "parts", "size", "limit")

    def __init__(self, tap: Any, limit: int) -> None:
        self.tap, self.parts, self.size, self.limit = tap, [], 0, limit

    @property
    def usage(self) -> Any:
        return self.tap.usage

    def _keep(self, out: bytes) -> bytes:
        if out and self.parts is not None:
            self.size += len(out)
            if self.size > self.limit:
                self.parts = None  # too big to cache: relayed, not kept
            else:
                self.parts.append(out)
        return out

    def feed(self, chunk: bytes) -> bytes:
        return self._keep(self.tap.feed(chunk))

    def flush(self) -> bytes:
        return self._keep(self.tap.flush())


class ResponseCache:
    def __init__(self, settings: CacheSettings, store: CacheStore) -> None:
        self.settings = settings
        self.store = store
        self._writes: set[asyncio.Task] = set()

    @classmethod
    def create(cls, settings: CacheSettings) -> ResponseCache:
        if settings.backend == "redis":
            from gateway.cache.redis_store import RedisStore  # only a Redis-backed cache imports redis

            return cls(settings, RedisStore(settings.redis_url or ""))
        return cls(settings, LocalStore(settings.max_bytes))

    def ticket(self, scope: Scope, endpoint: str, group: str, body: dict[str, Any], stream: bool) -> Ticket:
        """The cache's decision for this request; a request it will not look up is marked `skip`."""
        settings = self.settings
        if endpoint not in CACHED_ENDPOINTS or group in settings.off_groups:
            decision = SKIP
        else:
            decision = decide(endpoint, scope["headers"], body)
        key = None
        if decision.eligible:
            space = namespace(scope.get("grid.key"), settings.scope)
            key = request_key(endpoint, group, stream, body, space)
        if not decision.lookup:
            _mark(scope, "skip")
        return Ticket(key, decision)

    async def lookup(self, scope: Scope, ticket: Ticket) -> Entry | None:
        raw = await self.store.get(ticket.key or "")
        entry = decode(raw) if raw is not None else None
        if entry is None:
            _mark(scope, "miss")
            return None
        _mark(scope, "hit")
        self._saved(entry)
        return entry

    def _saved(self, entry: Entry) -> None:
        usage = entry.usage if isinstance(entry.usage, dict) else {}
        prompt = usage.get("prompt_tokens") or 0
        completion = usage.get("completion_tokens") or 0
        if not isinstance(prompt, int) or not isinstance(completion, int):
            return
        if prompt + completion:
            metrics.child(metrics.CACHE_SAVED_TOKENS, entry.group).inc(prompt + completion)
        prices = cost_per_token(entry.priced) if entry.priced else None
        if prices:
            metrics.child(metrics.CACHE_SAVED_COST, entry.group).inc(
                prompt * prices[0] + completion * prices[1]
            )

    def replay(self, scope: Scope, entry: Entry, started: float) -> Response:
        """The cached answer, with the gateway's headers (no upstream, no attempts)."""
        scope["grid.trace"] = Trace(group=entry.group)  # logs and metrics count it under its group
        headers = {
            "x-request-id": scope["grid.request_id"],
            "x-grid-model": entry.group,
            "x-grid-attempts": "0",
            "x-grid-fallbacks": "0",
            "x-grid-overhead-ms": f"{(time.monotonic() - started) * 1000:.3f}",
            **scope.get("grid.headers", {}),
        }
        if entry.kind == SSE:
            return Response(entry.body, headers={**_SSE_HEADERS, **headers})
        return Response(entry.body, headers=headers, media_type="application/json")

    async def store_json(self, ticket: Ticket, raw: bytes, usage: Any, dep: Deployment) -> None:
        entry = Entry(JSON, dep.group, usage, _priced(dep), raw)
        await self.store.set(ticket.key or "", encode(entry), self.settings.ttl)

    def recorder(self, tap: Any) -> RecordingTap:
        return RecordingTap(tap, max(self.settings.max_bytes // 8, 64 * 1024))

    def store_stream(self, ticket: Ticket, recorder: RecordingTap, dep: Deployment) -> None:
        """Store a stream that ended cleanly (written in the background: the stream is ending)."""
        if recorder.parts is None:
            return
        entry = Entry(SSE, dep.group, recorder.usage, _priced(dep), b"".join(recorder.parts))
        task = asyncio.get_running_loop().create_task(
            self.store.set(ticket.key or "", encode(entry), self.settings.ttl)
        )
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def close(self) -> None:
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        await self.store.close()
