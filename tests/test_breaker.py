"""The breaker state machine, transition by transition, with the clock passed in."""

from __future__ import annotations

import pytest

from gateway.config.model import RouterSettings
from gateway.routing.breaker import (
    CLOSED,
    Breaker,
    BreakerPolicy,
    BreakerState,
    can_send,
    on_dispatch,
    on_failure,
    on_release,
    on_success,
    seconds_until_change,
    settle,
    state_at,
)

POLICY = BreakerPolicy(allowed_fails=3, cooldown=10.0)


def fail(b: Breaker, now: float, times: int = 1, policy: BreakerPolicy = POLICY, **kw) -> Breaker:
    for _ in range(times):
        b = on_failure(b, now, policy, **kw)
    return b


def opened(now: float = 100.0) -> Breaker:
    return fail(CLOSED, now, 3)


def test_state_numbers_are_the_exported_metric_values():
    assert (BreakerState.CLOSED, BreakerState.HALF_OPEN, BreakerState.OPEN) == (0, 1, 2)


def test_policy_comes_from_router_settings():
    policy = BreakerPolicy.from_router(RouterSettings(allowed_fails=5, cooldown_time=30))
    assert (policy.allowed_fails, policy.cooldown, policy.failure_rate) == (5, 30.0, None)


def test_closed_sends():
    assert state_at(CLOSED, 0.0) is BreakerState.CLOSED
    assert can_send(CLOSED, 0.0)


def test_failures_below_allowed_fails_stay_closed():
    b = fail(CLOSED, 100.0, 2)
    assert b.state is BreakerState.CLOSED
    assert b.failures == 2
    assert can_send(b, 100.0)


def test_allowed_fails_consecutive_failures_open_for_the_cooldown():
    b = opened(100.0)
    assert b.state is BreakerState.OPEN
    assert b.open_until == 110.0
    assert not can_send(b, 105.0)
    assert seconds_until_change(b, 105.0) == 5.0


def test_success_while_closed_resets_the_failure_streak():
    b = on_success(fail(CLOSED, 100.0, 2), 100.0, POLICY)
    assert b.failures == 0
    assert fail(b, 101.0, 2).state is BreakerState.CLOSED


def test_open_becomes_half_open_when_the_cooldown_has_passed():
    b = opened(100.0)
    assert state_at(b, 109.999) is BreakerState.OPEN
    assert state_at(b, 110.0) is BreakerState.HALF_OPEN
    assert settle(b, 110.0).state is BreakerState.HALF_OPEN
    assert seconds_until_change(b, 110.0) is None


def test_settle_returns_the_same_breaker_when_nothing_changes():
    b = opened(100.0)
    assert settle(b, 105.0) is b
    assert settle(CLOSED, 105.0) is CLOSED


def test_half_open_lets_exactly_one_probe_through():
    b = opened(100.0)
    assert can_send(b, 110.0)
    b = on_dispatch(b, 110.0)
    assert b.state is BreakerState.HALF_OPEN and b.probing
    assert not can_send(b, 111.0)
    assert not can_send(b, 500.0)


def test_probe_success_closes_and_resets_failures():
    b = on_dispatch(opened(100.0), 110.0)
    b = on_success(b, 111.0, POLICY)
    assert b == CLOSED
    assert can_send(b, 111.0)


def test_probe_failure_reopens_with_a_fresh_cooldown():
    b = on_dispatch(opened(100.0), 110.0)
    b = on_failure(b, 112.0, POLICY)
    assert b.state is BreakerState.OPEN
    assert b.open_until == 122.0
    assert not b.probing
    assert state_at(b, 122.0) is BreakerState.HALF_OPEN


def test_released_probe_frees_the_probe_slot():
    b = on_dispatch(opened(100.0), 110.0)
    b = on_release(b, 111.0)
    assert b.state is BreakerState.HALF_OPEN
    assert can_send(b, 111.0)


def test_release_while_closed_changes_nothing():
    assert on_release(CLOSED, 1.0) is CLOSED


def test_dispatch_while_closed_changes_nothing():
    assert on_dispatch(CLOSED, 1.0) is CLOSED


def test_immediate_failure_opens_at_once():
    b = on_failure(CLOSED, 100.0, POLICY, immediate=True)
    assert b.state is BreakerState.OPEN
    assert b.open_until == 110.0


def test_failure_with_cooldown_uses_it_instead_of_the_policy():
    b = on_failure(CLOSED, 100.0, POLICY, immediate=True, cooldown=42.0)
    assert b.open_until == 142.0


def test_cooldown_applies_when_the_failure_opens_the_breaker():
    b = fail(CLOSED, 100.0, 2)
    b = on_failure(b, 100.0, POLICY, cooldown=1.5)
    assert b.open_until == 101.5


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_unusable_cooldown_falls_back_to_the_policy(bad):
    assert on_failure(CLOSED, 100.0, POLICY, immediate=True, cooldown=bad).open_until == 110.0


def test_negative_cooldown_is_zero():
    b = on_failure(CLOSED, 100.0, POLICY, immediate=True, cooldown=-5)
    assert state_at(b, 100.0) is BreakerState.HALF_OPEN


def test_reopening_extends_the_deadline_never_shortens_it():
    b = on_failure(CLOSED, 100.0, POLICY, immediate=True, cooldown=60.0)  # until 160
    shorter = on_failure(b, 101.0, POLICY, immediate=True, cooldown=1.0)
    assert shorter.open_until == 160.0
    longer = on_failure(b, 101.0, POLICY, immediate=True, cooldown=100.0)
    assert longer.open_until == 201.0


def test_failure_while_open_keeps_it_open():
    b = on_failure(opened(100.0), 105.0, POLICY)
    assert b.state is BreakerState.OPEN
    assert b.open_until == 115.0


def test_success_while_open_does_not_shorten_the_cooldown():
    b = opened(100.0)
    assert on_success(b, 105.0, POLICY) is b


def test_success_after_cooldown_without_probe_closes():
    assert on_success(opened(100.0), 110.0, POLICY) == CLOSED


def test_zero_cooldown_is_half_open_immediately():
    policy = BreakerPolicy(allowed_fails=1, cooldown=0.0)
    b = on_failure(CLOSED, 100.0, policy)
    assert state_at(b, 100.0) is BreakerState.HALF_OPEN


def test_failure_rate_opens_when_the_window_ratio_is_exceeded():
    policy = BreakerPolicy(allowed_fails=100, cooldown=10.0, failure_rate=0.5, window=60.0, min_requests=4)
    b = CLOSED
    for i in range(6):  # success, failure, ...: never 100 failures in a row
        b = on_failure(b, float(i), policy) if i % 2 else on_success(b, float(i), policy)
    assert b.state is BreakerState.CLOSED  # 3 failures / 6 = 0.5, not above
    b = on_failure(b, 6.0, policy)  # 4 / 7 > 0.5
    assert b.state is BreakerState.OPEN


def test_failure_rate_needs_min_requests():
    policy = BreakerPolicy(allowed_fails=100, cooldown=10.0, failure_rate=0.1, window=60.0, min_requests=5)
    b = fail(CLOSED, 0.0, 4, policy)
    assert b.state is BreakerState.CLOSED
    assert fail(b, 0.0, 1, policy).state is BreakerState.OPEN


def test_failure_rate_window_starts_over_when_it_expires():
    policy = BreakerPolicy(allowed_fails=100, cooldown=10.0, failure_rate=0.5, window=10.0, min_requests=4)
    b = fail(CLOSED, 0.0, 3, policy)
    b = on_success(b, 20.0, policy)  # a new window: 0 of 1 failed
    assert (b.window_requests, b.window_failures) == (1, 0)
    b = fail(b, 21.0, 2, policy)
    assert b.state is BreakerState.CLOSED  # 2 of 3, under min_requests
