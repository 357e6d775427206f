"""Everything a running gateway holds: the config snapshot and what is built from it.

Reload builds a new snapshot, validates it and swaps one reference; in-flight requests keep the
snapshot they started with. Upstream clients and balancer statistics outlive reloads.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from gateway import connection_guard, metrics
from gateway.backend import StateBackend, open_backend
from gateway.config.model import Deployment, Snapshot
from gateway.endpoints.response_store import ResponseIds
from gateway.experiments.registry import ExperimentRegistry
from gateway.experiments.shared import published, take_remote
from gateway.health_checks import HealthChecker
from gateway.keys.registry import KeyRegistry
from gateway.routing.balancer import Balancer
from gateway.routing.resolve import resolve
from gateway.selector import Selector
from gateway.selector.tokens import COUNTER
from gateway.upstream.litellm_path import LiteLLMClient, preload
from gateway.upstream.passthrough import PassthroughClient, new_session

BACKEND_STOP_SECONDS = 5.0
log = logging.getLogger("grid.state")


@dataclass(slots=True)
class GatewayState:
    snapshot: Snapshot
    balancer: Balancer
    config_path: str | None = None
    passthrough: PassthroughClient | None = None
    litellm: LiteLLMClient | None = None
    health: HealthChecker | None = None
    experiments: ExperimentRegistry = field(default_factory=ExperimentRegistry)
    selector: Selector = field(init=False)  # model=auto; kept (with its history) across reloads
    cache: Any = None  # gateway.cache.cache.ResponseCache when the response cache is on, else None
    _closing: set = field(default_factory=set)  # old caches closing after a reload
    backend: StateBackend = field(init=False)  # chosen at start: a reload does not switch it
    keys: KeyRegistry = field(default_factory=KeyRegistry)  # admin-created keys
    responses: ResponseIds = field(init=False)  # Responses API ids -> deployment (shared with Redis)

    def __post_init__(self) -> None:
        self.selector = Selector(self.snapshot)
        self.backend = open_backend(self.snapshot, self.config_path)
        self.responses = ResponseIds(self.backend)
        self.backend.on_keys(self.keys.replace)
        # breakers and experiment statuses, shared with the other replicas (no-ops in-process)
        self.balancer.on_open(
            lambda dep_id, seconds: self.backend.publish_open(dep_id, time.time() + seconds)
        )
        self.backend.on_breakers(self._opened_elsewhere)
        self.backend.on_experiments(self.experiments.apply_shared)
        self.experiments.announce = self.backend.announce_experiment  # the guardrail's own stops
        if self.backend.name == "redis":
            self.experiments.feedback.on_remember = self.backend.share_feedback

    def _opened_elsewhere(self, opens) -> None:
        now = time.time()
        for dep_id, until in opens.items():
            self.balancer.open_elsewhere(dep_id, until - now)

    @classmethod
    def create(cls, snapshot: Snapshot, config_path: str | None = None) -> GatewayState:
        balancer = Balancer(snapshot)
        balancer.on_state_change(
            lambda dep_id, state: metrics.DEPLOYMENT_STATE.labels(dep_id).set(int(state))
        )
        for dep in snapshot.deployments:
            metrics.DEPLOYMENT_STATE.labels(dep.id).set(0)
        state = cls(snapshot=snapshot, balancer=balancer, config_path=config_path)
        state.experiments.reload(snapshot)
        connection_guard.apply(snapshot.general.connection)
        state.cache = _response_cache(snapshot)
        return state

    async def start(self) -> None:
        await self.backend.start()
        self.backend.share_deployment_limits(self.balancer.limits)
        self.backend.share_experiment_stats(
            lambda: published(self.experiments), lambda found: take_remote(self.experiments, found)
        )
        if self.selector.enabled:
            self.backend.share_history(self.selector.history)
        # the pool's size is read once: a reload does not resize it
        self.passthrough = PassthroughClient(
            new_session(self.snapshot.general.connection.upstream_max_connections)
        )
        self.litellm = LiteLLMClient()
        if any(d.path == "litellm" for d in self.snapshot.deployments):
            preload(self.snapshot.deployments)
        if self.selector.enabled:
            COUNTER.warm_up()  # the tokenizer loads in the background (~0.5 s); estimates until then
        self.health = HealthChecker(self)
        self.health.start()

    async def stop(self) -> None:
        if self.health is not None:
            await self.health.stop()
        if self.passthrough is not None:
            await self.passthrough.session.close()
        if self.cache is not None:
            await self.cache.close()
        try:  # flushes what Redis has not seen yet; a Redis that does not answer must not hold the exit
            await asyncio.wait_for(self.backend.stop(), BACKEND_STOP_SECONDS)
        except TimeoutError:
            log.warning(
                "the state backend did not stop within %g s; exiting without it", BACKEND_STOP_SECONDS
            )

    def client_for(self, dep: Deployment):
        return self.passthrough if dep.path == "passthrough" else self.litellm

    def swap(self, snapshot: Snapshot) -> None:
        if any(d.path == "litellm" for d in snapshot.deployments):
            preload(snapshot.deployments)
        self.balancer.reload(snapshot)
        for dep in snapshot.deployments:
            metrics.DEPLOYMENT_STATE.labels(dep.id).set(int(self.balancer.state(dep.id)))
        if snapshot.cache != self.snapshot.cache:
            old, self.cache = self.cache, _response_cache(snapshot)  # a changed cache starts empty
            if old is not None:  # its pending writes finish and its Redis connections close
                task = asyncio.get_running_loop().create_task(old.close())
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        self.snapshot = snapshot
        connection_guard.apply(snapshot.general.connection)
        self.experiments.reload(snapshot)
        self.selector.reload(snapshot)
        if self.selector.enabled:
            COUNTER.warm_up()
        if self.health is not None:
            self.health.start()

    def resolve(self, asked: str | None, override: str | None):
        return resolve(self.snapshot, asked, override)


def _response_cache(snapshot: Snapshot) -> Any:
    """The response cache when the config turns it on; None (and nothing imported) when it is off."""
    if snapshot.cache is None:
        return None
    from gateway.cache.cache import ResponseCache

    return ResponseCache.create(snapshot.cache)
