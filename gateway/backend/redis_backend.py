"""The Redis state backend: rate-limit windows, in-flight counts, spend and admin-created keys in one
Redis shared by every replica and worker.

Admission is one Lua script (one round trip, atomic across replicas); release runs after the response,
in the background. Both go through `ScriptBatch` on a dedicated pipelined connection
(`gateway.backend.resp`); redis-py serves everything else. Admin-created keys are a hash plus a version counter that each replica polls every
quarter second (the poll is also the health check), so a key created or revoked on one replica is seen
by all within a second, with no round trip on any request.

Redis faults never fail a request: the first error marks Redis down (`grid_state_backend_up 0`, a
warning at most once a minute) and requests are served by a per-process `LocalBackend` until a poll
succeeds again. Releases (tokens, spend) recorded meanwhile are kept and written when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway import metrics
from gateway.backend import (
    BackendUnavailable,
    KeyRecords,
    KeysListener,
)
from gateway.backend.local import LocalBackend
from gateway.backend.redis_batch import Keys, ScriptBatch
from gateway.backend.redis_shared import BREAKERS, EXPERIMENTS, RedisSharing, json_objects
from gateway.backend.scripts import ADMIT, RELEASE, REMEMBER
from gateway.backend.windows import Verdict, budget_window, window_sum
from gateway.config.backend import redis_address
from gateway.config.model import ApiKey, KeyLimits

log = logging.getLogger("grid.state")

POLL_SECONDS = 0.25
WARN_EVERY = 60.0
TIMEOUT = 0.5  # seconds a Redis call may take before Redis counts as down
STALE_IN_FLIGHT = 900.0  # an in-flight entry older than this was left by a replica that died
PENDING_MAX = 10_000  # releases held during an outage before they are summed per key and second
KEYS_HASH, KEYS_VERSION = "grid:keys", "grid:keys:version"
SHAPES_MAX = 4096  # keys x budget windows whose script arguments are kept ready
_STALE = f" {STALE_IN_FLIGHT}"


def _names(key_id: str, limits: KeyLimits, now: float) -> list[str]:
    tag = f"grid:{{{key_id}}}"
    return [f"{tag}:r", f"{tag}:t", f"{tag}:p", f"{tag}:s:{budget_window(limits, now)}"]


def _release_arg(key: ApiKey, request_id: str, tokens: int, cost: float, now: float) -> str:
    ttl = int(key.limits.budget_duration * 2) if key.limits.budget_duration else 0
    return f"{int(now)} {tokens} {cost!r} {request_id} {ttl}"


def _release_call(entry: tuple[ApiKey, str, int, float, float]) -> tuple[list[str], list[Any]]:
    key, request_id, tokens, cost, now = entry
    _, tokens_hash, in_flight, spend = _names(key.id, key.limits, now)
    return [tokens_hash, in_flight, spend], [_release_arg(key, request_id, tokens, cost, now)]


def _arg(limit: float | None) -> float:
    return -1 if limit is None else limit


class _Shape:
    """What every admission and release of one key in one budget window sends unchanged: its Redis
    keys (encoded) and its limits as text, built once instead of on every request."""

    __slots__ = ("admit_keys", "limits", "limits_text", "release_keys")

    def __init__(self, key: ApiKey, now: float) -> None:
        limits = self.limits = key.limits
        requests, tokens, in_flight, spend = _names(key.id, limits, now)
        self.admit_keys = Keys([requests, tokens, in_flight, spend])
        self.release_keys = Keys([tokens, in_flight, spend])
        self.limits_text = (
            f" {_arg(limits.rpm_limit)} {_arg(limits.tpm_limit)} {_arg(limits.max_parallel_requests)} "
            f"{_arg(limits.max_budget)} "
        )


class RedisBackend(RedisSharing):
    name = "redis"

    def __init__(self, url: str, fallback: LocalBackend) -> None:
        super().__init__()
        self.address = redis_address(url)
        self.fallback = fallback
        self.client = Redis.from_url(
            url,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), 0),
            decode_responses=True,
        )
        self._batch = ScriptBatch(
            url, {"admit": ADMIT, "release": RELEASE, "remember": REMEMBER}, self._down, TIMEOUT
        )
        self._up = False
        self._warned = -WARN_EVERY
        self._pending: list[tuple[ApiKey, str, int, float, float]] = []
        self._records: dict[str, dict[str, Any]] = {}
        self._shapes: dict[tuple[str, int], _Shape] = {}
        self._version: str | None = None
        self._listeners: list[KeysListener] = []
        self._tasks: set[asyncio.Task] = set()
        self._poller: asyncio.Task | None = None
        metrics.STATE_BACKEND_UP.set(0)

    @property
    def up(self) -> bool:
        return self._up

    async def start(self) -> None:
        await self._poll_once()  # unreachable: `_down` has warned, naming the address
        self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        await self._stop_sharing()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await self._batch.drain(TIMEOUT * 2)
        self._batch.close()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=TIMEOUT * 2)
        if self._up and self._pending:
            await self._flush()
        with contextlib.suppress(RedisError, OSError):
            await self.client.aclose()

    # -- limits -------------------------------------------------------------------------------------

    async def admit(self, key: ApiKey, request_id: str, now: float) -> Verdict:
        if not self._up:
            return self.fallback.admit_now(key, request_id, now)
        shape = self._shape(key, now)
        args = [f"{int(now * 1000)}{shape.limits_text}{request_id}{_STALE}"]
        try:
            found = await self._batch.call("admit", shape.admit_keys, args)
        except (RedisError, OSError) as exc:
            self._down(exc)
            return self.fallback.admit_now(key, request_id, now)
        except asyncio.CancelledError:
            # the client left while its admission was under way: it may have been counted, so free
            # its parallel slot (a release with nothing to add) instead of leaving it to go stale
            self.release(key, request_id, 0, 0.0, now)
            raise
        # the script's numbers arrive as integers (hiredis), spend as the text of a float
        refused, requests, tokens, in_flight, spend, oldest_request, oldest_token = found
        return Verdict(
            refused or None, requests, tokens, in_flight, float(spend), oldest_request, oldest_token, now
        )

    def _shape(self, key: ApiKey, now: float) -> _Shape:
        found = self._shapes.get((key.id, budget_window(key.limits, now)))
        if found is None or found.limits is not key.limits:  # new, or its limits were changed
            if len(self._shapes) >= SHAPES_MAX:
                self._shapes.clear()
            found = self._shapes[(key.id, budget_window(key.limits, now))] = _Shape(key, now)
        return found

    def release(self, key: ApiKey, request_id: str, tokens: int, cost: float, now: float) -> None:
        entry = (key, request_id, tokens, cost, now)
        if not self._up:
            self.fallback.release(key, request_id, tokens, cost, now)
            self._keep(entry)
            return
        self._batch.send(
            "release",
            self._shape(key, now).release_keys,
            [_release_arg(key, request_id, tokens, cost, now)],
            failed=lambda: self._keep(entry),
        )

    def _keep(self, entry: tuple[ApiKey, str, int, float, float]) -> None:
        """Hold a release until Redis is back. A long outage under load would hold one entry per
        request: past PENDING_MAX they are summed per key and second (their spend and tokens kept;
        the in-flight entries they would have removed expire after STALE_IN_FLIGHT instead)."""
        self._pending.append(entry)
        if len(self._pending) > PENDING_MAX:
            summed: dict[tuple[str, int], list] = {}
            for key, request_id, tokens, cost, now in self._pending:
                found = summed.get((key.id, int(now)))
                if found is None:
                    summed[(key.id, int(now))] = [key, request_id, tokens, cost, now]
                else:
                    found[2] += tokens
                    found[3] += cost
            self._pending = [tuple(e) for e in summed.values()]  # type: ignore[misc]

    async def _write(self, entries: list[tuple[ApiKey, str, int, float, float]]) -> bool:
        """Run the release script for each entry in one pipeline; on failure they wait for Redis."""
        pipe = self.client.pipeline(transaction=False)
        for entry in entries:
            keys, args = _release_call(entry)
            pipe.eval(RELEASE, len(keys), *keys, *args)
        metrics.child(metrics.STATE_ROUND_TRIPS, "flush").inc()
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            for entry in entries:
                self._keep(entry)
            self._down(exc)
            return False
        return True

    async def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending and await self._write(pending):
            log.info(
                "state backend Redis at %s: %d request(s) recorded during the outage written",
                self.address,
                len(pending),
            )

    async def usage(self, keys: list[ApiKey], now: float) -> dict[str, Verdict]:
        if not self._up or not keys:
            return await self.fallback.usage(keys, now)
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            requests, tokens, in_flight, spend = _names(key.id, key.limits, now)
            pipe.hgetall(requests).hgetall(tokens).zcount(in_flight, now - STALE_IN_FLIGHT, "+inf").get(spend)
        try:
            found = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._down(exc)
            return await self.fallback.usage(keys, now)
        out = {}
        for i, key in enumerate(keys):
            requests, tokens, in_flight, spend = found[i * 4 : i * 4 + 4]
            req, oldest_req = window_sum({int(s): int(n) for s, n in requests.items()}, int(now))
            tok, oldest_tok = window_sum({int(s): int(n) for s, n in tokens.items()}, int(now))
            out[key.id] = Verdict(
                None, req, tok, int(in_flight), float(spend or 0), oldest_req, oldest_tok, now
            )
        return out

    # -- admin-created keys -------------------------------------------------------------------------

    def key_records(self) -> KeyRecords:
        return self._records

    async def put_key(self, record: Mapping[str, Any]) -> None:
        await self._change(lambda pipe: pipe.hset(KEYS_HASH, record["id"], orjson.dumps(dict(record))))

    async def delete_key(self, key_id: str) -> bool:
        if key_id not in self._records:
            return False
        await self._change(lambda pipe: pipe.hdel(KEYS_HASH, key_id))
        return True

    async def _change(self, write) -> None:
        if not self._up:
            raise BackendUnavailable(f"the state backend (Redis at {self.address}) is unreachable")
        pipe = self.client.pipeline(transaction=True)
        write(pipe)
        pipe.incr(KEYS_VERSION)
        try:
            await pipe.execute()
            await self._refresh_keys(None)
        except (RedisError, OSError) as exc:
            self._down(exc)
            raise BackendUnavailable(f"the state backend (Redis at {self.address}) is unreachable") from None

    def on_keys(self, listener: KeysListener) -> None:
        self._listeners.append(listener)
        listener(self._records)

    async def _refresh_keys(self, version: str | None) -> None:
        records = json_objects(await self.client.hgetall(KEYS_HASH))
        self._version = version
        self._records = records
        for listener in self._listeners:
            listener(records)

    # -- health -------------------------------------------------------------------------------------

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            await self._poll_once()

    async def _poll_once(self) -> None:
        """One pipeline: the keys' version (the health check too, and a reload when it changed), the
        breakers other replicas hold open, and the experiment statuses set through any replica."""
        metrics.child(metrics.STATE_ROUND_TRIPS, "poll").inc()
        pipe = self.client.pipeline(transaction=False)
        pipe.get(KEYS_VERSION).hgetall(BREAKERS).hgetall(EXPERIMENTS)
        try:
            version, breakers, experiments = await pipe.execute()
            if version != self._version or not self._up:
                await self._refresh_keys(version)
        except (RedisError, OSError) as exc:
            self._down(exc)
            return
        if not self._up:
            self._up = True
            metrics.STATE_BACKEND_UP.set(1)
            log.info("state backend Redis at %s reachable: shared state in use", self.address)
            await self._flush()
        self._share_breakers(breakers)
        self._share_experiments(experiments)

    def _down(self, exc: BaseException) -> None:
        if self._up:
            self._up = False
            metrics.STATE_BACKEND_UP.set(0)
        now = time.monotonic()
        if now - self._warned >= WARN_EVERY:
            self._warned = now
            log.warning(
                "state backend Redis at %s unreachable (%s): serving with per-process state",
                self.address,
                type(exc).__name__,
            )
