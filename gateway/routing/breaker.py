"""The circuit breaker of one deployment, as a pure state machine over an injected clock.

A breaker keeps a failing deployment out of rotation for a cooldown, then lets exactly one probe
request through to find out whether it recovered. Every function here takes the breaker and `now`
(monotonic seconds) and returns a new breaker: no clock is read and nothing is mutated, so each
transition is a one-line unit test and the balancer owns the only mutable reference.

    CLOSED --allowed_fails consecutive failures / failure rate / immediate--> OPEN
    OPEN --now >= open_until--> HALF_OPEN --probe succeeds--> CLOSED
                                HALF_OPEN --probe fails--> OPEN (fresh cooldown)

The numeric values are exported as the `grid_deployment_state` gauge, so they must not change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import IntEnum

from gateway.config.model import RouterSettings


class BreakerState(IntEnum):
    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens and for how long.

    `allowed_fails` consecutive failures open it. If `failure_rate` (0..1) is set, a failure ratio
    above it within a fixed `window` of seconds also opens it, once the window holds at least
    `min_requests` outcomes, which catches a deployment that fails every other request.
    """

    allowed_fails: int = 3
    cooldown: float = 5.0
    failure_rate: float | None = None
    window: float = 60.0
    min_requests: int = 10

    @classmethod
    def from_router(cls, router: RouterSettings) -> BreakerPolicy:
        return cls(allowed_fails=max(1, router.allowed_fails), cooldown=max(0.0, router.cooldown_time))


@dataclass(frozen=True, slots=True)
class Breaker:
    """One deployment's breaker. `failures` counts consecutive failures while closed."""

    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    open_until: float = 0.0
    probing: bool = False  # the half-open probe is in flight
    window_start: float = 0.0
    window_requests: int = 0
    window_failures: int = 0


CLOSED = Breaker()


def state_at(b: Breaker, now: float) -> BreakerState:
    """The state at `now`: an open breaker whose cooldown has passed is half-open."""
    if b.state is BreakerState.OPEN and now >= b.open_until:
        return BreakerState.HALF_OPEN
    return b.state


def settle(b: Breaker, now: float) -> Breaker:
    """Materialize the time-driven OPEN -> HALF_OPEN transition (returns `b` itself when nothing changes)."""
    if b.state is BreakerState.OPEN and now >= b.open_until:
        return replace(b, state=BreakerState.HALF_OPEN, probing=False)
    return b


def opened_elsewhere(b: Breaker, now: float, until: float) -> Breaker:
    """Another replica opened this deployment's breaker until `until`: a closed breaker opens for what
    is left of that cooldown (one that is open or probing already decides for itself)."""
    if b.state is not BreakerState.CLOSED or until <= now:
        return b
    return replace(b, state=BreakerState.OPEN, open_until=until, probing=False, failures=0)


def can_send(b: Breaker, now: float) -> bool:
    """Closed always sends; half-open sends only while no probe is in flight; open never."""
    state = state_at(b, now)
    if state is BreakerState.CLOSED:
        return True
    return state is BreakerState.HALF_OPEN and not b.probing


def on_dispatch(b: Breaker, now: float) -> Breaker:
    """A request was sent; in half-open it is the probe, and no other may follow until it reports."""
    b = settle(b, now)
    if b.state is BreakerState.HALF_OPEN:
        return replace(b, probing=True)
    return b


def on_release(b: Breaker, now: float) -> Breaker:
    """A request ended without a verdict (the client went away): a pending probe slot is freed."""
    b = settle(b, now)
    if b.probing:
        return replace(b, probing=False)
    return b


def on_success(b: Breaker, now: float, policy: BreakerPolicy) -> Breaker:
    """Any success while half-open closes the breaker; while closed it resets the failure streak.

    A success that lands while the breaker is still open came from a request sent before it opened;
    it does not shorten the cooldown.
    """
    b = settle(b, now)
    if b.state is BreakerState.OPEN:
        return b
    if b.state is BreakerState.HALF_OPEN:
        return CLOSED
    if policy.failure_rate is not None:
        b = _count(b, now, policy, failed=False)
    return replace(b, failures=0) if b.failures else b


def on_failure(
    b: Breaker,
    now: float,
    policy: BreakerPolicy,
    *,
    immediate: bool = False,
    cooldown: float | None = None,
) -> Breaker:
    """Count a failure, opening the breaker when the policy says so.

    `immediate` opens at once (the upstream said the deployment itself is wrong: 401/403/404).
    `cooldown` replaces the policy's cooldown when this failure opens the breaker (a 429's
    `Retry-After`). A failure while open or half-open (re)opens it; the deadline only ever grows.
    """
    b = settle(b, now)
    seconds = policy.cooldown if cooldown is None or not math.isfinite(cooldown) else max(0.0, cooldown)
    if immediate or b.state is not BreakerState.CLOSED:
        return _open(b, now, seconds)
    failures = b.failures + 1
    if failures >= policy.allowed_fails:
        return _open(b, now, seconds)
    if policy.failure_rate is not None:
        b = _count(b, now, policy, failed=True)
        if (
            b.window_requests >= policy.min_requests
            and b.window_failures > policy.failure_rate * b.window_requests
        ):
            return _open(b, now, seconds)
    return replace(b, failures=failures)


def seconds_until_change(b: Breaker, now: float) -> float | None:
    """Seconds until the clock alone changes the state (open -> half-open), else None."""
    if b.state is BreakerState.OPEN and now < b.open_until:
        return b.open_until - now
    return None


def _open(b: Breaker, now: float, cooldown: float) -> Breaker:
    until = now + cooldown
    if b.state is BreakerState.OPEN:
        until = max(until, b.open_until)
    return Breaker(state=BreakerState.OPEN, open_until=until)


def _count(b: Breaker, now: float, policy: BreakerPolicy, *, failed: bool) -> Breaker:
    """Add one outcome to the fixed failure-rate window, starting a new window when it has expired."""
    if now - b.window_start >= policy.window:
        return replace(b, window_start=now, window_requests=1, window_failures=int(failed))
    return replace(b, window_requests=b.window_requests + 1, window_failures=b.window_failures + failed)
