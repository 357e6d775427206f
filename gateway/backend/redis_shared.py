"""What the Redis backend shares besides keys and their limits: breakers a replica opened, experiment
statuses and counters, and deployments' rpm/tpm counts. All of it moves in the background (the poll,
a 100 ms reconciliation, a once-a-second publication), never on a request's path.

A base class of `RedisBackend`, which owns the client, the up/down state and the poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway import metrics
from gateway.backend import BreakersListener, ExperimentsListener, StateBackend
from gateway.backend.redis_batch import ScriptBatch
from gateway.backend.windows import WINDOW
from gateway.routing.deployment_limits import SYNC_SECONDS, Counts, DeploymentLimits
from gateway.selector.history import History

BREAKERS = "grid:breakers"  # deployment id -> open until (epoch seconds)
EXPERIMENTS = "grid:experiments"  # experiment id -> {"status", "reason", "at"}
STATS_SECONDS = 1.0  # how often a replica publishes its experiment counters
HISTORY = "grid:selector:history"  # replica -> {"at", "groups": History.published()}
STATS_TTL = 7 * 86400  # a replica's counters outlive it by a week, then go


def json_objects(raw: Mapping[str, str]) -> dict[str, dict]:
    """A Redis hash of JSON objects, decoded; fields that are not a JSON object are left out."""
    found = {}
    for name, text in raw.items():
        with contextlib.suppress(orjson.JSONDecodeError):
            value = orjson.loads(text)
            if isinstance(value, dict):
                found[name] = value
    return found


class RedisSharing(StateBackend):
    client: Redis
    _batch: ScriptBatch
    _up: bool
    _tasks: set[asyncio.Task]

    def __init__(self) -> None:
        self.replica = uuid.uuid4().hex[:12]  # this process, among the replicas and workers
        self._breaker_listeners: list[BreakersListener] = []
        self._experiment_listeners: list[ExperimentsListener] = []
        self._sharing: list[asyncio.Task] = []

    def _down(self, exc: BaseException) -> None:
        raise NotImplementedError

    async def _stop_sharing(self) -> None:
        for task in self._sharing:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _share_breakers(self, raw: Mapping[str, str]) -> None:
        now = time.time()
        opens = {}
        for dep_id, until in raw.items():
            with contextlib.suppress(ValueError):
                if float(until) > now:
                    opens[dep_id] = float(until)
        for listener in self._breaker_listeners:
            listener(opens)

    def _share_experiments(self, raw: Mapping[str, str]) -> None:
        statuses = json_objects(raw)
        for listener in self._experiment_listeners:
            listener(statuses)

    def publish_open(self, deployment_id: str, until: float) -> None:
        if self._up:
            self._background(self.client.hset(BREAKERS, deployment_id, repr(until)))

    def on_breakers(self, listener: BreakersListener) -> None:
        self._breaker_listeners.append(listener)

    async def publish_experiment(self, experiment_id: str, status: str, reason: str, at: float) -> None:
        if not self._up:
            return
        value = orjson.dumps({"status": status, "reason": reason, "at": at})
        try:
            await self.client.hset(EXPERIMENTS, experiment_id, value)
        except (RedisError, OSError) as exc:
            self._down(exc)

    def announce_experiment(self, experiment_id: str, status: str, reason: str, at: float) -> None:
        if self._up:
            value = orjson.dumps({"status": status, "reason": reason, "at": at})
            self._background(self.client.hset(EXPERIMENTS, experiment_id, value))

    def on_experiments(self, listener: ExperimentsListener) -> None:
        self._experiment_listeners.append(listener)

    def share_deployment_limits(self, limits: DeploymentLimits) -> None:
        self._sharing.append(asyncio.get_running_loop().create_task(self._sync_deployments(limits)))

    async def _sync_deployments(self, limits: DeploymentLimits) -> None:
        """Every SYNC_SECONDS while some deployment has rpm/tpm: add this process's new counts to the
        shared buckets and read every replica's back, in one pipeline (never on a request's path)."""
        while True:
            await asyncio.sleep(SYNC_SECONDS)
            if not limits.active or not self._up:
                continue
            taken = limits.take_local()
            pipe = self.client.pipeline(transaction=False)
            for dep_id, counts in taken.items():
                for suffix, buckets in (("r", counts.requests), ("t", counts.tokens)):
                    name = f"grid:dep:{{{dep_id}}}:{suffix}"
                    for second, n in buckets.items():
                        pipe.hincrby(name, str(second), n)
                    if buckets:
                        pipe.expire(name, WINDOW + 1)
            ids = list(limits.limits)
            for dep_id in ids:
                pipe.hgetall(f"grid:dep:{{{dep_id}}}:r").hgetall(f"grid:dep:{{{dep_id}}}:t")
            metrics.child(metrics.STATE_ROUND_TRIPS, "deployments").inc()
            try:
                found = await pipe.execute()
            except (RedisError, OSError) as exc:
                limits.give_back(taken)
                self._down(exc)
                continue
            found = found[len(found) - 2 * len(ids) :]
            limits.set_shared(
                {
                    dep_id: Counts(
                        {int(k): int(v) for k, v in found[2 * i].items()},
                        {int(k): int(v) for k, v in found[2 * i + 1].items()},
                    )
                    for i, dep_id in enumerate(ids)
                }
            )

    def _background(self, write) -> None:
        async def run() -> None:
            try:
                await write
            except (RedisError, OSError) as exc:
                self._down(exc)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def share_experiment_stats(
        self,
        provider: Callable[[], Mapping[str, bytes]],
        receiver: Callable[[Mapping[str, list[str]]], None] | None = None,
    ) -> None:
        task = self._publish_stats(provider, receiver)
        self._sharing.append(asyncio.get_running_loop().create_task(task))

    async def _publish_stats(
        self,
        provider: Callable[[], Mapping[str, bytes]],
        receiver: Callable[[Mapping[str, list[str]]], None] | None,
    ) -> None:
        """Once a second: this replica's counters out and, in the same pipeline, the others' back in
        (for the guardrail, which then judges on all traffic without a round trip of its own)."""
        while True:
            await asyncio.sleep(STATS_SECONDS)
            payloads = provider()
            if not payloads or not self._up:
                continue
            pipe = self.client.pipeline(transaction=False)
            for experiment_id, payload in payloads.items():
                name = f"grid:exp:{{{experiment_id}}}:stats"
                pipe.hset(name, self.replica, payload).expire(name, STATS_TTL).hgetall(name)
            metrics.child(metrics.STATE_ROUND_TRIPS, "experiments").inc()
            try:
                found = await pipe.execute()
            except (RedisError, OSError) as exc:
                self._down(exc)
                continue
            if receiver is not None:
                receiver(self._others(payloads, found[2::3]))

    def _others(self, ids: Iterable[str], found: list[Mapping[str, str]]) -> dict[str, list[str]]:
        """Per experiment id, the payloads of every replica but this one."""
        return {
            experiment_id: [payload for replica, payload in per_replica.items() if replica != self.replica]
            for experiment_id, per_replica in zip(ids, found, strict=True)
        }

    def share_history(self, history: History) -> None:
        self._sharing.append(asyncio.get_running_loop().create_task(self._exchange_history(history)))

    async def _exchange_history(self, history: History) -> None:
        """Once a second: this replica's selector tracks out, every other replica's in."""
        while True:
            await asyncio.sleep(STATS_SECONDS)
            if not self._up:
                continue
            pipe = self.client.pipeline(transaction=False)
            pipe.hset(HISTORY, self.replica, orjson.dumps({"at": time.time(), "groups": history.published()}))
            pipe.expire(HISTORY, STATS_TTL).hgetall(HISTORY)
            metrics.child(metrics.STATE_ROUND_TRIPS, "history").inc()
            try:
                _, _, found = await pipe.execute()
            except (RedisError, OSError) as exc:
                self._down(exc)
                continue
            now = time.time()
            others = [
                (max(0.0, now - float(entry.get("at", now))), entry.get("groups") or {})
                for replica, entry in json_objects(found).items()
                if replica != self.replica
            ]
            with contextlib.suppress(ValueError, TypeError):  # a malformed entry: keep the last view
                history.set_remote(others)

    async def experiment_stats(self, experiment_ids: list[str]) -> dict[str, list[str]]:
        if not self._up or not experiment_ids:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for experiment_id in experiment_ids:
            pipe.hgetall(f"grid:exp:{{{experiment_id}}}:stats")
        try:
            found = await pipe.execute()
        except (RedisError, OSError) as exc:
            self._down(exc)
            return {}
        return self._others(experiment_ids, found)

    def share_feedback(self, request_id: str, experiment: str, variant: str, owner: str, ttl: float) -> None:
        if self._up:
            value = orjson.dumps({"experiment": experiment, "variant": variant})
            self._batch.send(
                "remember", [_feedback_key(request_id, owner)], [value, ttl], failed=lambda: None, soon=True
            )

    async def shared_feedback(self, request_id: str, owner: str) -> Mapping[str, Any] | None:
        if not self._up:
            return None
        try:
            text = await self.client.get(_feedback_key(request_id, owner))
        except (RedisError, OSError) as exc:
            self._down(exc)
            return None
        return json_objects({"entry": text}).get("entry") if text else None

    async def claim_feedback(self, request_id: str, owner: str, ttl: float) -> bool:
        if not self._up:
            return True
        try:
            claimed = await self.client.set(
                _feedback_key(request_id, owner) + ":rated", 1, nx=True, ex=max(1, int(ttl))
            )
        except (RedisError, OSError) as exc:
            self._down(exc)
            return True
        return bool(claimed)

    async def share_response(self, response_id: str, payload: bytes, ttl: float) -> None:
        if self._up:
            await self._quietly(self.client.set(_response_key(response_id), payload, ex=max(1, int(ttl))))

    async def shared_response(self, response_id: str) -> bytes | None:
        if not self._up:
            return None
        found = await self._quietly(self.client.get(_response_key(response_id)))
        return found.encode() if isinstance(found, str) else found

    async def _quietly(self, call) -> Any:
        """One call that a Redis fault turns into None (and Redis marked down), never an error."""
        try:
            return await call
        except (RedisError, OSError) as exc:
            self._down(exc)
            return None


def _response_key(response_id: str) -> str:
    """Response ids come from clients (`previous_response_id`): hashed into a key of fixed shape."""
    return "grid:resp:" + hashlib.sha256(response_id.encode()).hexdigest()


def _feedback_key(request_id: str, owner: str) -> str:
    """Request ids are the client's: hashed with the owner into a key of fixed shape."""
    return "grid:fb:" + hashlib.sha256(f"{owner}\n{request_id}".encode()).hexdigest()
