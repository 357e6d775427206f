"""Shared state (DESIGN.md section 2): one interface, two backends.

The in-process backend (the default, needs nothing) keeps a key's rate-limit windows, in-flight count
and spend in this process, and admin-created keys in a JSON file beside the config. The Redis backend
(`router_settings.redis_*` or `GRID_REDIS_URL`) keeps them in one Redis, so every replica and worker
counts against the same windows; when Redis is unreachable it serves from an in-process backend of its
own and flushes what it recorded when Redis is back. `gateway.backend.redis_backend` (and the `redis`
package) is imported only when Redis is configured.

A request of a key without limits never reaches a backend. A limited key's request pays one call to
`admit` on its way in (one Lua script on Redis) and one `release` after its last byte, off the
critical path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from gateway.backend.windows import Verdict
from gateway.config.model import ApiKey, Snapshot

if TYPE_CHECKING:
    from gateway.routing.deployment_limits import DeploymentLimits
    from gateway.selector.history import History

KeyRecords = Mapping[str, Mapping[str, Any]]  # key id -> its stored record (gateway.keys.records)
KeysListener = Callable[[KeyRecords], None]
BreakersListener = Callable[[Mapping[str, float]], None]  # deployment id -> open until (epoch seconds)
ExperimentsListener = Callable[[Mapping[str, Mapping[str, Any]]], None]  # id -> {status, reason, at}


class BackendUnavailable(Exception):
    """A write that must reach the shared store (an admin key change) while it is unreachable."""


class StateBackend:
    """What the gateway asks of shared state. Subclasses: `LocalBackend`, `RedisBackend`."""

    name = "in-process"
    address = "this process"

    @property
    def up(self) -> bool:
        return True

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def admit(self, key: ApiKey, request_id: str, now: float) -> Verdict:
        """Count one request of a limited key unless a limit refuses it (then count nothing)."""
        raise NotImplementedError

    def release(self, key: ApiKey, request_id: str, tokens: int, cost: float, now: float) -> None:
        """A request admitted by `admit` ended: free its parallel slot, count its tokens and spend.
        Never waits: the write, if any, happens in the background."""
        raise NotImplementedError

    async def usage(self, keys: list[ApiKey], now: float) -> dict[str, Verdict]:
        """Current window usage and spend of each key (for GET /admin/keys), by key id."""
        raise NotImplementedError

    def key_records(self) -> KeyRecords:
        raise NotImplementedError

    async def put_key(self, record: Mapping[str, Any]) -> None:
        raise NotImplementedError

    async def delete_key(self, key_id: str) -> bool:
        raise NotImplementedError

    def on_keys(self, listener: KeysListener) -> None:
        """`listener` gets the whole set of admin-created keys whenever it changed (on any replica)."""
        raise NotImplementedError

    # Breakers and experiment statuses: one process needs no sharing, so these do nothing in-process.

    def publish_open(self, deployment_id: str, until: float) -> None:
        """This replica opened a breaker until `until` (epoch seconds): tell the others (background)."""

    def on_breakers(self, listener: BreakersListener) -> None:
        """`listener` gets the breakers other replicas hold open, on every poll."""

    async def publish_experiment(self, experiment_id: str, status: str, reason: str, at: float) -> None:
        """An admin changed an experiment's status on this replica: every replica adopts it (awaited:
        the admin's answer says it is written)."""

    def announce_experiment(self, experiment_id: str, status: str, reason: str, at: float) -> None:
        """This replica changed an experiment's status on its own (its guardrail stopped it): every
        replica adopts it, written in the background so the request that tripped it never waits."""

    def on_experiments(self, listener: ExperimentsListener) -> None:
        """`listener` gets the experiment statuses set through any replica, on every poll."""

    def share_deployment_limits(self, limits: DeploymentLimits) -> None:
        """Reconcile deployments' rpm/tpm counts with the other replicas (in-process: nothing to do)."""

    def share_experiment_stats(
        self,
        provider: Callable[[], Mapping[str, bytes]],
        receiver: Callable[[Mapping[str, list[str]]], None] | None = None,
    ) -> None:
        """Publish this replica's experiment counters (`provider()`: id -> payload) now and then, and
        hand the other replicas' (id -> their payloads) to `receiver` in the same round trip."""

    def share_feedback(self, request_id: str, experiment: str, variant: str, owner: str, ttl: float) -> None:
        """Remember which variant served `owner`'s request on every replica (background)."""

    async def shared_feedback(self, request_id: str, owner: str) -> Mapping[str, Any] | None:
        """`{experiment, variant}` of `owner`'s request served by another replica, or None."""
        return None

    async def claim_feedback(self, request_id: str, owner: str, ttl: float) -> bool:
        """Whether this is the first rating of the request on any replica (in-process: always; the
        feedback log's own flag decides)."""
        return True

    def share_history(self, history: History) -> None:
        """Publish the selector's performance history and blend in the other replicas' (background)."""

    async def experiment_stats(self, experiment_ids: list[str]) -> dict[str, list[str]]:
        """The other replicas' published counters, per experiment id (in-process: none)."""
        return {}

    # Responses API ids (gateway.endpoints.response_store): in-process, the local store is all there is.

    async def share_response(self, response_id: str, payload: bytes, ttl: float) -> None:
        """Remember a response id's entry for every replica, for `ttl` seconds."""

    async def shared_response(self, response_id: str) -> bytes | None:
        """A response id's entry as another replica stored it, or None."""
        return None


def key_store_path(snapshot: Snapshot, config_path: str | None) -> str | None:
    """`general_settings.key_store`, relative to the config's directory; None without a config file."""
    base = config_path or snapshot.source
    if not base:
        return None
    return os.path.join(os.path.dirname(os.path.abspath(base)), snapshot.general.key_store)


def open_backend(snapshot: Snapshot, config_path: str | None) -> StateBackend:
    from gateway.backend.local import LocalBackend

    if snapshot.router.redis_url is None:
        return LocalBackend(key_store_path(snapshot, config_path))
    from gateway.backend.redis_backend import RedisBackend

    return RedisBackend(snapshot.router.redis_url, fallback=LocalBackend(None))
