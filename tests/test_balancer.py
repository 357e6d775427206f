"""The balancer: weighted, breaker-aware picks and the state behind them, on a fake clock."""

from __future__ import annotations

import random
from collections import Counter

import orjson
import pytest

from gateway.config.loader import build_from_dict
from gateway.config.problems import Problems
from gateway.routing.balancer import Balancer
from gateway.routing.breaker import BreakerState

SECRET_KEY = "sk-live-TOPSECRET-123456"
SECRET_BASE = "https://user:hunter2pass@private.example.com/v1?token=BASESECRET"


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def deployment(group: str, dep_id: str, weight: float = 1.0, **extra) -> dict:
    params = {"model": f"openai/{group}", "api_base": "http://up/v1", "weight": weight}
    params.update(extra)
    return {"model_name": group, "litellm_params": params, "model_info": {"id": dep_id}}


def snapshot(*entries: dict, **router):
    problems = Problems()
    snap = build_from_dict({"model_list": list(entries), "router_settings": router}, {}, problems)
    assert not problems.errors, problems.errors
    return snap


def balancer(*entries: dict, clock: Clock | None = None, seed: int = 1, **router) -> tuple[Balancer, Clock]:
    clock = clock or Clock()
    return Balancer(snapshot(*entries, **router), clock=clock, rng=random.Random(seed)), clock


def dep_of(b: Balancer, dep_id: str):
    return b._members[dep_id].dep


def serve(b: Balancer, group: str, n: int) -> Counter:
    """Pick and immediately succeed n times; count picks per deployment id."""
    counts: Counter = Counter()
    for _ in range(n):
        d = b.pick(group)
        assert d is not None
        b.started(d)
        b.succeeded(d, 0.01)
        counts[d.id] += 1
    return counts


def fail_n(b: Balancer, dep_id: str, n: int, **kw) -> None:
    d = dep_of(b, dep_id)
    for _ in range(n):
        b.started(d)
        b.failed(d, **kw)


@pytest.mark.parametrize("strategy", ["weighted-round-robin", "simple-shuffle"])
def test_picks_follow_weights(strategy):
    b, _ = balancer(deployment("g", "a", 3), deployment("g", "b", 1), routing_strategy=strategy)
    counts = serve(b, "g", 4000)
    assert abs(counts["a"] / 4000 - 0.75) <= 0.03
    assert abs(counts["b"] / 4000 - 0.25) <= 0.03


def test_round_robin_interleaves():
    b, _ = balancer(deployment("g", "a", 3), deployment("g", "b", 1))
    assert [b.pick("g").id for _ in range(8)] == ["a", "a", "b", "a", "a", "a", "b", "a"]


@pytest.mark.parametrize(
    "strategy", ["least-busy", "latency-based-routing", "usage-based-routing-v2", "cost-based-routing"]
)
def test_every_strategy_picks_from_the_group(strategy):
    b, _ = balancer(
        deployment("g", "a"), deployment("g", "b"), deployment("h", "c"), routing_strategy=strategy
    )
    assert set(serve(b, "g", 50)) <= {"a", "b"}


def test_least_busy_avoids_the_busy_deployment():
    b, _ = balancer(deployment("g", "a"), deployment("g", "b"), routing_strategy="least-busy")
    b.started(dep_of(b, "a"))
    assert {b.pick("g").id for _ in range(10)} == {"b"}


def test_unknown_group_picks_nothing():
    b, _ = balancer(deployment("g", "a"))
    assert b.pick("nope") is None


def test_unknown_strategy_is_refused():
    with pytest.raises(ValueError, match="routing_strategy"):
        balancer(deployment("g", "a"), routing_strategy="telepathy")


def test_excluded_deployments_are_avoided_when_possible():
    b, _ = balancer(deployment("g", "a", 10), deployment("g", "b", 1))
    assert {b.pick("g", exclude=("a",)).id for _ in range(20)} == {"b"}


def test_all_excluded_still_picks_one():
    b, _ = balancer(deployment("g", "a"), deployment("g", "b"))
    assert b.pick("g", exclude={"a", "b"}).id in {"a", "b"}


def test_open_deployments_receive_no_picks():
    b, _ = balancer(deployment("g", "a", 10), deployment("g", "b", 1), allowed_fails=2)
    fail_n(b, "a", 2, status=500)
    assert b.state("a") is BreakerState.OPEN
    assert set(serve(b, "g", 30)) == {"b"}


def test_any_open_counts_open_breakers_until_they_close():
    b, clock = balancer(deployment("g", "a"), deployment("g", "b"), allowed_fails=1, cooldown_time=5)
    assert not b.any_open
    fail_n(b, "a", 1, status=500)
    assert b.any_open
    clock.now += 5
    assert b.state("a") is BreakerState.HALF_OPEN and not b.any_open  # read after its cooldown
    probe = b.pick("g", exclude=("b",))
    b.started(probe)
    b.failed(probe, status=500)
    assert b.any_open
    clock.now += 5
    probe = b.pick("g", exclude=("b",))
    b.started(probe)
    b.succeeded(probe, 0.1)
    assert not b.any_open


def test_nothing_to_pick_when_all_are_open():
    b, _ = balancer(deployment("g", "a"), allowed_fails=1)
    fail_n(b, "a", 1)  # connect error / timeout
    assert b.pick("g") is None


def test_half_open_lets_exactly_one_probe_through():
    b, clock = balancer(deployment("g", "a"), allowed_fails=1, cooldown_time=5)
    fail_n(b, "a", 1, status=502)
    clock.now += 5
    assert b.state("a") is BreakerState.HALF_OPEN
    probe = b.pick("g")
    assert probe is not None and probe.id == "a"
    b.started(probe)
    assert b.pick("g") is None  # the probe is in flight
    b.succeeded(probe, 0.2)
    assert b.state("a") is BreakerState.CLOSED
    assert b.pick("g").id == "a"


def test_failed_probe_reopens():
    b, clock = balancer(deployment("g", "a"), allowed_fails=1, cooldown_time=5)
    fail_n(b, "a", 1)
    clock.now += 5
    probe = b.pick("g")
    b.started(probe)
    b.failed(probe, status=500)
    assert b.state("a") is BreakerState.OPEN
    assert b.retry_after(["g"]) == 5.0


def test_released_probe_lets_another_probe_through():
    b, clock = balancer(deployment("g", "a"), allowed_fails=1, cooldown_time=5)
    fail_n(b, "a", 1)
    clock.now += 5
    probe = b.pick("g")
    b.started(probe)
    b.released(probe)
    assert b.pick("g").id == "a"


@pytest.mark.parametrize("status", [401, 403, 404])
def test_auth_and_not_found_open_at_once(status):
    b, _ = balancer(deployment("g", "a"), deployment("g", "b"), allowed_fails=5)
    fail_n(b, "a", 1, status=status)
    assert b.state("a") is BreakerState.OPEN
    assert b.state("b") is BreakerState.CLOSED


def test_429_cooldown_honours_retry_after():
    b, clock = balancer(deployment("g", "a"), allowed_fails=5, cooldown_time=5)
    fail_n(b, "a", 1, status=429, retry_after=30)
    assert b.state("a") is BreakerState.OPEN
    clock.now += 29
    assert b.state("a") is BreakerState.OPEN
    assert b.retry_after(["g"]) == pytest.approx(1.0)
    clock.now += 1
    assert b.state("a") is BreakerState.HALF_OPEN


def test_429_without_retry_after_uses_the_cooldown():
    b, clock = balancer(deployment("g", "a"), allowed_fails=5, cooldown_time=7)
    fail_n(b, "a", 1, status=429)
    assert b.retry_after(["g"]) == 7.0


def test_request_faults_do_not_count_against_the_deployment():
    b, _ = balancer(deployment("g", "a"), allowed_fails=1)
    fail_n(b, "a", 3, status=400)
    assert b.state("a") is BreakerState.CLOSED
    assert b.stats()["groups"]["g"]["deployments"][0]["failures"] == 3


def test_success_resets_the_failure_streak():
    b, _ = balancer(deployment("g", "a"), allowed_fails=3)
    fail_n(b, "a", 2, status=500)
    serve(b, "g", 1)
    fail_n(b, "a", 2, status=500)
    assert b.state("a") is BreakerState.CLOSED


def test_weight_zero_drains():
    b, _ = balancer(deployment("g", "a", 0), deployment("g", "b", 1))
    assert set(serve(b, "g", 20)) == {"b"}
    assert b.pick("g", exclude=("b",)).id == "b"


def test_all_drained_picks_nothing():
    b, _ = balancer(deployment("g", "a", 0))
    assert b.pick("g") is None


def test_retry_after_returns_the_soonest_half_open():
    b, clock = balancer(
        deployment("g", "a"), deployment("g", "b"), deployment("h", "c"), allowed_fails=1, cooldown_time=10
    )
    fail_n(b, "a", 1)
    clock.now += 4
    fail_n(b, "b", 1)
    fail_n(b, "c", 1, status=429, retry_after=1)
    assert b.retry_after(["g"]) == pytest.approx(6.0)
    assert b.retry_after(["g", "h"]) == pytest.approx(1.0)
    assert b.retry_after(["h", "unknown"]) == pytest.approx(1.0)


def test_retry_after_is_zero_when_something_can_send():
    b, _ = balancer(deployment("g", "a"), deployment("g", "b"), allowed_fails=1)
    fail_n(b, "a", 1)
    assert b.retry_after(["g"]) == 0.0


def test_state_changes_are_reported():
    b, clock = balancer(deployment("g", "a"), allowed_fails=1, cooldown_time=5)
    seen = []
    b.on_state_change(lambda dep_id, state: seen.append((dep_id, state)))
    fail_n(b, "a", 1)
    clock.now += 5
    probe = b.pick("g")
    b.started(probe)
    b.succeeded(probe, 0.1)
    assert seen == [("a", BreakerState.OPEN), ("a", BreakerState.HALF_OPEN), ("a", BreakerState.CLOSED)]


def test_a_failing_listener_does_not_break_routing():
    b, _ = balancer(deployment("g", "a"), allowed_fails=1)

    def boom(dep_id, state):
        raise RuntimeError("metrics down")

    b.on_state_change(boom)
    fail_n(b, "a", 1)
    assert b.state("a") is BreakerState.OPEN


def test_stats_describe_each_deployment():
    b, clock = balancer(deployment("g", "a", 2), deployment("g", "b", 0), allowed_fails=1, cooldown_time=10)
    a = dep_of(b, "a")
    b.started(a)
    b.succeeded(a, 0.25, ttft=0.05, tokens=40)
    b.started(a)
    b.failed(a, status=503, error="upstream said 503\nService Unavailable")
    clock.now += 4
    stats = b.stats()
    group = stats["groups"]["g"]
    assert group["strategy"] == "weighted-round-robin"
    first, second = group["deployments"]
    assert first == {
        "id": "a",
        "weight": 2.0,
        "state": "open",
        "state_changes_in_s": 6.0,
        "in_flight": 0,
        "requests": 2,
        "failures": 1,
        "requests_this_minute": 2,
        "tokens_this_minute": 40,
        "ewma_latency_ms": 250.0,
        "ewma_ttft_ms": 50.0,
        "last_error": "upstream said 503 Service Unavailable",
    }
    assert (second["id"], second["state"], second["state_changes_in_s"], second["ewma_latency_ms"]) == (
        "b",
        "closed",
        None,
        None,
    )
    orjson.dumps(stats)


def test_ewma_latency_moves_toward_new_samples():
    b, _ = balancer(deployment("g", "a"))
    a = dep_of(b, "a")
    for latency in (1.0, 2.0):
        b.started(a)
        b.succeeded(a, latency)
    assert b.stats()["groups"]["g"]["deployments"][0]["ewma_latency_ms"] == pytest.approx(1300.0)


def test_stats_contain_no_secrets():
    b, _ = balancer(
        deployment("g", "a", api_key=SECRET_KEY, aws_secret_access_key="AWSSECRETVALUE"),
        deployment("g", "s", api_base=SECRET_BASE, api_key=SECRET_KEY),
    )
    a, s = dep_of(b, "a"), dep_of(b, "s")
    b.started(a)
    b.failed(a, status=500, error=f"auth {SECRET_KEY} / AWSSECRETVALUE rejected")
    b.started(s)
    b.failed(s, error=f"POST {SECRET_BASE}/chat/completions with Bearer {SECRET_KEY} failed")
    text = orjson.dumps(b.stats()).decode()
    for needle in (SECRET_KEY, "TOPSECRET", "hunter2", "BASESECRET", "AWSSECRETVALUE", "private.example"):
        assert needle not in text
    assert text.count("[redacted]") == 4


def test_long_errors_are_truncated():
    b, _ = balancer(deployment("g", "a"))
    fail_n(b, "a", 1, error="x" * 5000)
    assert len(b.stats()["groups"]["g"]["deployments"][0]["last_error"]) == 200


def test_reload_keeps_state_for_persisting_ids():
    b, _ = balancer(deployment("g", "a"), deployment("g", "b"), allowed_fails=1)
    serve(b, "g", 4)
    fail_n(b, "a", 1)
    b.reload(snapshot(deployment("g", "a"), deployment("g", "c"), allowed_fails=1))
    assert b.state("a") is BreakerState.OPEN
    assert b.state("c") is BreakerState.CLOSED
    with pytest.raises(KeyError):
        b.state("b")
    by_id = {d["id"]: d for d in b.stats()["groups"]["g"]["deployments"]}
    assert set(by_id) == {"a", "c"}
    assert by_id["a"]["requests"] == 3 and by_id["a"]["failures"] == 1
    assert by_id["c"]["requests"] == 0
    assert set(serve(b, "g", 5)) == {"c"}


def test_reload_applies_new_weights_and_strategy():
    b, _ = balancer(deployment("g", "a", 1), deployment("g", "b", 1))
    b.reload(snapshot(deployment("g", "a", 0), deployment("g", "b", 1), routing_strategy="least-busy"))
    assert b.stats()["groups"]["g"]["strategy"] == "least-busy"
    assert set(serve(b, "g", 10)) == {"b"}


def test_bad_reload_changes_nothing():
    b, _ = balancer(deployment("g", "a"))
    with pytest.raises(ValueError):
        b.reload(snapshot(deployment("g", "z"), routing_strategy="nope"))
    assert b.pick("g").id == "a"


def test_outcomes_for_deployments_gone_after_reload_are_ignored():
    b, _ = balancer(deployment("g", "a"), deployment("g", "b"))
    old_b = dep_of(b, "b")
    b.started(old_b)
    b.reload(snapshot(deployment("g", "a")))
    b.succeeded(old_b, 0.1)
    b.failed(old_b, status=500)
    b.released(old_b)
    assert b.pick("g").id == "a"


def test_in_flight_never_goes_negative():
    b, _ = balancer(deployment("g", "a"))
    b.released(dep_of(b, "a"))
    assert b.stats()["groups"]["g"]["deployments"][0]["in_flight"] == 0


def test_usage_based_spreads_requests_within_the_minute():
    b, _ = balancer(
        deployment("g", "a", rpm=2), deployment("g", "b", rpm=2), routing_strategy="usage-based-routing"
    )
    picks = []
    for _ in range(4):
        d = b.pick("g")
        b.started(d)
        picks.append(d.id)
    assert sorted(picks) == ["a", "a", "b", "b"]


def test_usage_buckets_start_over_each_minute():
    b, clock = balancer(
        deployment("g", "a", rpm=1), deployment("g", "b", rpm=100), routing_strategy="usage-based-routing"
    )
    d = dep_of(b, "a")
    b.started(d)
    b.succeeded(d, 0.1)
    assert {b.pick("g").id for _ in range(5)} == {"b"}  # a is at its limit
    clock.now += 60
    assert b.stats()["groups"]["g"]["deployments"][0]["requests_this_minute"] == 0
