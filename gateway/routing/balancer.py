"""The balancer: picks a healthy deployment of a model group, and remembers how each one did.

This is the only routing state, and it lives in the process (each worker balances on its own).
The decisions themselves are the pure functions of `strategies` and `breaker`; this class holds
their inputs (stats, breakers, round-robin weights), reads the clock and the random draw, and
applies what they return. It is not thread-safe: it is used from one event loop, and none of its
methods await.

A request's life, as the fallback chain reports it:

    dep = balancer.pick(group, exclude=tried)   # None: nothing can send, try the next group
    balancer.started(dep)
    ... then exactly one of succeeded(dep, ...), failed(dep, ...), released(dep)
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from gateway.config.model import Deployment, Snapshot
from gateway.routing import breaker as br
from gateway.routing.breaker import Breaker, BreakerPolicy, BreakerState
from gateway.routing.deployment_limits import DeploymentLimits
from gateway.routing.stats import DeploymentStats, minute_of
from gateway.routing.strategies import CHOOSERS, ROUND_ROBIN, canonical, smooth_weighted
from gateway.secrets import deployment_secrets, scrub

log = logging.getLogger(__name__)

StateListener = Callable[[str, BreakerState], None]

# Upstream statuses that say the deployment itself is wrong (bad key, no access, no such model):
# retrying it within a cooldown cannot help, so its breaker opens at once.
OPEN_AT_ONCE = frozenset({401, 403, 404})
RATE_LIMITED = 429
# Other 4xx answers are the request's fault (bad body, prompt too long): the deployment is working.
DEPLOYMENT_FAULT_4XX = frozenset({408, 429, *OPEN_AT_ONCE})


class _Member:
    """One deployment's mutable routing state."""

    __slots__ = ("dep", "stats", "breaker", "current", "secrets")

    def __init__(self, dep: Deployment, stats: DeploymentStats, breaker: Breaker) -> None:
        self.dep = dep
        self.stats = stats
        self.breaker = breaker
        self.current = 0.0  # smooth weighted round-robin's current weight
        self.secrets = deployment_secrets(dep)


class Balancer:
    """Weighted, breaker-aware choice among the deployments of a model group."""

    def __init__(
        self,
        snapshot: Snapshot,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._clock = clock
        self._random = (rng or random.Random()).random
        self._listeners: list[StateListener] = []
        self._open_listeners: list[Callable[[str, float], None]] = []
        self._members: dict[str, _Member] = {}
        self._routable: dict[str, tuple[_Member, ...]] = {}
        self._listed: dict[str, tuple[_Member, ...]] = {}
        self._open = 0  # breakers in the OPEN state (kept by `_set`): 0 lets a reader skip them all
        self.limits = DeploymentLimits(snapshot)  # litellm_params rpm / tpm
        self.reload(snapshot)

    def reload(self, snapshot: Snapshot) -> None:
        """Adopt a new snapshot, keeping the stats and breaker of every deployment id that persists
        (round-robin positions start over, as the set of peers may have changed).

        An unknown `routing_strategy` raises ValueError before anything changes.
        """
        strategy = canonical(snapshot.router.routing_strategy)
        old = self._members
        members: dict[str, _Member] = {}
        listed: dict[str, tuple[_Member, ...]] = {}
        for name, group in snapshot.groups.items():
            row = []
            for dep in group.deployments:
                kept = old.get(dep.id)
                member = _Member(
                    dep,
                    kept.stats if kept else DeploymentStats(),
                    kept.breaker if kept else br.CLOSED,
                )
                members[dep.id] = member
                row.append(member)
            listed[name] = tuple(row)
        self.limits.reload(snapshot)
        self._strategy = strategy
        self._choose = CHOOSERS.get(strategy)
        self._policy = BreakerPolicy.from_router(snapshot.router)
        self._members = members
        self._open = sum(m.breaker.state is BreakerState.OPEN for m in members.values())
        self._listed = listed
        # Weight 0 drains a deployment: it is left out of picking altogether.
        self._routable = {name: tuple(m for m in row if m.dep.weight > 0) for name, row in listed.items()}

    def on_state_change(self, callback: StateListener) -> StateListener:
        """Call `callback(deployment_id, state)` whenever a breaker changes state (for metrics).

        Open -> half-open is noticed when the balancer next looks at that deployment.
        """
        self._listeners.append(callback)
        return callback

    def on_open(self, callback: Callable[[str, float], None]) -> None:
        """Call `callback(deployment_id, seconds)` when this process opens a breaker for `seconds`
        (not when `open_elsewhere` does): the state backend tells the other replicas."""
        self._open_listeners.append(callback)

    def open_elsewhere(self, dep_id: str, seconds: float) -> None:
        """Another replica opened `dep_id`'s breaker for `seconds` more: skip it here too."""
        m = self._members.get(dep_id)
        if m is not None:
            now = self._clock()
            self._set(m, br.opened_elsewhere(m.breaker, now, now + seconds), remote=True)

    # -- choosing ------------------------------------------------------------------------------

    def pick(self, group: str, exclude: Collection[str] = ()) -> Deployment | None:
        """A deployment of `group` whose breaker lets a request through, or None.

        Deployments not yet tried by this request (`exclude` holds the ids tried) are preferred;
        when every sendable one was tried, they are all candidates again. The strategy chooses
        among the candidates. Choosing a half-open deployment dispatches its one probe.
        """
        members = self._routable.get(group)
        if not members:
            return None
        now = self._clock()
        fresh: list[_Member] = []
        tried: list[_Member] = []
        limits = self.limits if self.limits.active else None
        for m in members:
            if m.breaker.state is not BreakerState.CLOSED and not self._sendable(m, now):
                continue
            if limits is not None and not limits.allows(m.dep.id):
                continue
            (tried if exclude and m.dep.id in exclude else fresh).append(m)
        candidates = fresh or tried
        if not candidates:
            return None
        chosen = candidates[0] if len(candidates) == 1 else self._strategy_pick(candidates, now)
        if chosen is None:
            return None
        if chosen.breaker.state is not BreakerState.CLOSED:
            self._set(chosen, br.on_dispatch(chosen.breaker, now))
        return chosen.dep

    def pick_only(self, dep_id: str) -> Deployment | None:
        """`dep_id`'s deployment if its breaker and limits let a request through now, else None: for
        a request only that deployment can serve (a Responses conversation its provider holds)."""
        m = self._members.get(dep_id)
        if m is None:
            return None
        now = self._clock()
        if m.breaker.state is not BreakerState.CLOSED and not self._sendable(m, now):
            return None
        if self.limits.active and not self.limits.allows(dep_id):
            return None
        if m.breaker.state is not BreakerState.CLOSED:
            self._set(m, br.on_dispatch(m.breaker, now))
        return m.dep

    def _strategy_pick(self, candidates: list[_Member], now: float) -> _Member | None:
        if self._strategy == ROUND_ROBIN or self._choose is None:
            # The one stateful strategy: its current weights live in the members.
            index, current = smooth_weighted(
                [m.dep.weight for m in candidates], [m.current for m in candidates]
            )
            for m, value in zip(candidates, current, strict=True):
                m.current = value
        else:
            minute = minute_of(now)
            for m in candidates:
                m.stats.roll(minute)
            index = self._choose([m.dep for m in candidates], [m.stats for m in candidates], self._random())
        return None if index is None else candidates[index]

    def _sendable(self, m: _Member, now: float) -> bool:
        self._set(m, br.settle(m.breaker, now))
        return br.can_send(m.breaker, now)

    # -- outcomes ------------------------------------------------------------------------------

    def started(self, dep: Deployment) -> None:
        """A request was sent to `dep`."""
        m = self._members.get(dep.id)
        if m is not None:
            m.stats.on_start(minute_of(self._clock()))
            if self.limits.active:
                self.limits.count_request(dep.id)

    def succeeded(
        self, dep: Deployment, latency: float, *, ttft: float | None = None, tokens: int = 0
    ) -> None:
        """`dep` answered; `latency` is the whole request, `ttft` the first token of a stream."""
        m = self._members.get(dep.id)
        if m is None:
            return
        now = self._clock()
        m.stats.on_success(minute_of(now), latency, ttft, tokens)
        if tokens and self.limits.active:
            self.limits.count_tokens(dep.id, tokens)
        self._set(m, br.on_success(m.breaker, now, self._policy))

    def failed(
        self,
        dep: Deployment,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        error: str = "",
    ) -> None:
        """`dep` failed. `status` None means it never answered (connect error, timeout).

        401/403/404 open the breaker at once; 429 opens it for `retry_after` seconds (else the
        cooldown); other 4xx were the request's fault and count as the deployment working.
        """
        m = self._members.get(dep.id)
        if m is None:
            return
        now = self._clock()
        m.stats.on_failure(_scrub(error, m.secrets))
        b, policy = m.breaker, self._policy
        if status is not None and 400 <= status < 500 and status not in DEPLOYMENT_FAULT_4XX:
            b = br.on_success(b, now, policy)
        elif status == RATE_LIMITED:
            b = br.on_failure(b, now, policy, immediate=True, cooldown=retry_after)
        else:
            b = br.on_failure(b, now, policy, immediate=status in OPEN_AT_ONCE)
        self._set(m, b)

    def probed(
        self, dep: Deployment, *, ok: bool, status: int | None = None, retry_after: float | None = None
    ) -> None:
        """An active health check's verdict: it moves the breaker and leaves request stats alone."""
        m = self._members.get(dep.id)
        if m is None:
            return
        now = self._clock()
        b = br.settle(m.breaker, now)
        if ok:
            b = br.on_success(b, now, self._policy)
        elif status == RATE_LIMITED:
            b = br.on_failure(b, now, self._policy, immediate=True, cooldown=retry_after)
        else:
            b = br.on_failure(b, now, self._policy, immediate=status in OPEN_AT_ONCE)
        self._set(m, b)

    def released(self, dep: Deployment) -> None:
        """The request ended without a verdict (the client went away); a pending probe is freed."""
        m = self._members.get(dep.id)
        if m is None:
            return
        m.stats.on_end()
        self._set(m, br.on_release(m.breaker, self._clock()))

    def _set(self, m: _Member, new: Breaker, remote: bool = False) -> None:
        old = m.breaker
        if new is old:
            return
        m.breaker = new
        if new.state is BreakerState.OPEN and not remote and self._open_listeners:
            left = new.open_until - self._clock()
            for callback in self._open_listeners:
                try:
                    callback(m.dep.id, left)
                except Exception:  # sharing must never break routing
                    log.exception("breaker open listener failed")
        if new.state is not old.state:
            self._open += (new.state is BreakerState.OPEN) - (old.state is BreakerState.OPEN)
            log.warning(
                "breaker for deployment %s is now %s",
                m.dep.id,
                new.state.name.lower(),
                extra={"deployment": m.dep.id, "breaker": new.state.name.lower()},
            )
            for listener in self._listeners:
                try:
                    listener(m.dep.id, new.state)
                except Exception:  # a metrics hook must never break routing
                    log.exception("breaker state listener failed")

    # -- reading -------------------------------------------------------------------------------

    @property
    def any_open(self) -> bool:
        """Whether some breaker is open (or was, and has not been read since its cooldown ended)."""
        return self._open > 0

    def state(self, dep_id: str) -> BreakerState:
        """The breaker state of a deployment now. Raises KeyError for an unknown id."""
        m = self._members[dep_id]
        self._set(m, br.settle(m.breaker, self._clock()))
        return m.breaker.state

    def retry_after(self, groups: Sequence[str]) -> float:
        """Seconds until the soonest deployment of `groups` turns half-open; 0 if one can send now
        or none is waiting on a cooldown. Feeds the `Retry-After` of a 503."""
        now = self._clock()
        soonest: float | None = None
        for group in groups:
            for m in self._routable.get(group, ()):
                if br.can_send(m.breaker, now):
                    return 0.0
                wait = br.seconds_until_change(m.breaker, now)
                if wait is not None and (soonest is None or wait < soonest):
                    soonest = wait
        return soonest or 0.0

    def limit_wait(self, groups: Sequence[str]) -> float | None:
        """Seconds until a deployment of `groups` has room under its rpm/tpm, when their limits (not
        their breakers) are why none can take a request; else None."""
        if not self.limits.active:
            return None
        return self.limits.wait([m.dep.id for g in groups for m in self._routable.get(g, ())])

    def stats(self) -> dict[str, Any]:
        """The body of `GET /admin/load-balancer/stats`. Ids and numbers only: no keys, no URLs."""
        now = self._clock()
        minute = minute_of(now)
        return {
            "groups": {
                name: {
                    "strategy": self._strategy,
                    "deployments": [self._describe(m, now, minute) for m in row],
                }
                for name, row in self._listed.items()
            }
        }

    def _describe(self, m: _Member, now: float, minute: int) -> dict[str, Any]:
        self._set(m, br.settle(m.breaker, now))
        s = m.stats
        s.roll(minute)
        return {
            "id": m.dep.id,
            "weight": m.dep.weight,
            "state": m.breaker.state.name.lower(),
            "state_changes_in_s": _round(br.seconds_until_change(m.breaker, now), 1),
            "in_flight": s.in_flight,
            "requests": s.requests,
            "failures": s.failures,
            "requests_this_minute": s.minute_requests,
            "tokens_this_minute": s.minute_tokens,
            "ewma_latency_ms": _round(s.ewma_latency, 1000),
            "ewma_ttft_ms": _round(s.ewma_ttft, 1000),
            "last_error": s.last_error,
        }


def _round(seconds: float | None, scale: float) -> float | None:
    return None if seconds is None else round(seconds * scale, 1)


def _scrub(text: str, secrets: tuple[str, ...]) -> str:
    return " ".join(scrub(text, secrets).split())
