"""Each strategy as a pure function: candidates, their stats and a draw in, an index out."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from gateway.config.model import Deployment
from gateway.routing.stats import DeploymentStats
from gateway.routing.strategies import (
    ROUND_ROBIN,
    USAGE,
    canonical,
    headroom,
    latency_based,
    least_busy,
    simple_shuffle,
    smooth_weighted,
    two_draws,
    usage_based,
    weighted_draw,
)


def dep(name: str, weight: float = 1.0, *, rpm: int | None = None, tpm: int | None = None) -> Deployment:
    return Deployment(
        id=name,
        group="g",
        model="openai/m",
        provider="openai",
        upstream_model="m",
        path="passthrough",
        api_base="http://upstream",
        weight=weight,
        rpm=rpm,
        tpm=tpm,
    )


def stat(*, in_flight: int = 0, response: float | None = None, requests: int = 0, tokens: int = 0):
    s = DeploymentStats()
    s.in_flight = in_flight
    s.ewma_response = response
    s.minute_requests = requests
    s.minute_tokens = tokens
    return s


def wrr_sequence(weights: list[float], n: int) -> list[int]:
    current: tuple[float, ...] = (0.0,) * len(weights)
    picks = []
    for _ in range(n):
        index, current = smooth_weighted(weights, current)
        picks.append(index)
    return picks


# -- weighted round-robin ------------------------------------------------------------------------


def test_smooth_wrr_interleaves_instead_of_bursting():
    assert wrr_sequence([3, 1], 8) == [0, 0, 1, 0, 0, 0, 1, 0]


def test_smooth_wrr_spreads_a_heavy_peer_across_the_cycle():
    # nginx's documented example: weights 5,1,1 give a a b a c a a
    assert wrr_sequence([5, 1, 1], 7) == [0, 0, 1, 0, 2, 0, 0]


def test_smooth_wrr_distribution_follows_weights():
    counts = Counter(wrr_sequence([3, 1], 4000))
    assert abs(counts[0] / 4000 - 0.75) <= 0.03
    assert abs(counts[1] / 4000 - 0.25) <= 0.03


def test_smooth_wrr_is_pure():
    """A function of its arguments only: it leaves them untouched and returns the next state."""
    weights, current = [3, 1], [0.0, 0.0]
    assert smooth_weighted(weights, current) == (0, (-1.0, 1.0))  # 3 and 1 grow; a wins and pays 4
    assert weights == [3, 1] and current == [0.0, 0.0]
    assert smooth_weighted(weights, (-1.0, 1.0)) == (0, (-2.0, 2.0))
    assert smooth_weighted(weights, (-2.0, 2.0)) == (1, (1.0, -1.0))  # b's turn
    assert smooth_weighted(weights, (1.0, -1.0)) == (0, (0.0, 0.0))  # a, a, b, a: back to the start


def test_smooth_wrr_never_chooses_weight_zero():
    assert set(wrr_sequence([0, 2, 1], 30)) == {1, 2}


def test_smooth_wrr_all_zero_chooses_none_and_keeps_state():
    assert smooth_weighted([0, 0], (1.0, -1.0)) == (None, (1.0, -1.0))


# -- simple shuffle ------------------------------------------------------------------------------


def test_shuffle_distribution_follows_weights():
    rng = random.Random(7)
    deps = [dep("a", 3), dep("b", 1)]
    stats = [stat(), stat()]
    counts = Counter(simple_shuffle(deps, stats, rng.random()) for _ in range(4000))
    assert abs(counts[0] / 4000 - 0.75) <= 0.03
    assert abs(counts[1] / 4000 - 0.25) <= 0.03


def test_weighted_draw_maps_the_draw_onto_cumulative_weights():
    assert weighted_draw([3, 1], 0.0) == 0
    assert weighted_draw([3, 1], 0.7499) == 0
    assert weighted_draw([3, 1], 0.75) == 1
    assert weighted_draw([3, 1], 0.999999) == 1


def test_weighted_draw_skips_weight_zero():
    assert weighted_draw([0, 1, 0], 0.0) == 1
    assert weighted_draw([0, 1, 0], 0.99) == 1
    assert weighted_draw([0, 0], 0.5) is None


# -- least busy ----------------------------------------------------------------------------------


def test_least_busy_picks_fewest_in_flight():
    deps = [dep("a"), dep("b"), dep("c")]
    assert least_busy(deps, [stat(in_flight=3), stat(in_flight=1), stat(in_flight=2)], 0.0) == 1


def test_least_busy_ties_go_to_heavier_weight_then_the_draw():
    deps = [dep("a", 1), dep("b", 2), dep("c", 2)]
    stats = [stat(in_flight=0)] * 3
    assert least_busy(deps, stats, 0.0) == 1
    assert least_busy(deps, stats, 0.99) == 2


def test_least_busy_ignores_drained():
    deps = [dep("a", 0), dep("b", 1)]
    assert least_busy(deps, [stat(in_flight=0), stat(in_flight=9)], 0.0) == 1
    assert least_busy([dep("a", 0)], [stat()], 0.0) is None


# -- latency -------------------------------------------------------------------------------------


def test_latency_picks_the_faster_of_two():
    deps = [dep("a"), dep("b")]
    assert latency_based(deps, [stat(response=0.5), stat(response=0.1)], 0.3) == 1
    assert latency_based(deps, [stat(response=0.1), stat(response=0.5)], 0.7) == 0


def test_latency_unknown_counts_as_fastest():
    deps = [dep("a"), dep("b")]
    assert latency_based(deps, [stat(response=0.01), stat(response=None)], 0.2) == 1


def test_latency_power_of_two_never_picks_the_slowest_of_three():
    deps = [dep("a"), dep("b"), dep("c")]
    stats = [stat(response=0.1), stat(response=0.2), stat(response=0.9)]
    rng = random.Random(1)
    counts = Counter(latency_based(deps, stats, rng.random()) for _ in range(3000))
    assert counts[2] == 0
    assert counts[0] > counts[1] > 0  # the fastest wins both of its pairs, the middle one its pair with c


def test_latency_single_and_drained():
    assert latency_based([dep("a")], [stat()], 0.5) == 0
    assert latency_based([dep("a", 0), dep("b")], [stat(), stat(response=5.0)], 0.5) == 1
    assert latency_based([dep("a", 0)], [stat()], 0.5) is None


@pytest.mark.parametrize("n", [2, 3, 5])
def test_two_draws_gives_distinct_uniform_pairs(n):
    rng = random.Random(3)
    pairs = Counter(two_draws(n, rng.random()) for _ in range(20000))
    assert all(i != j and 0 <= i < n and 0 <= j < n for i, j in pairs)
    assert len(pairs) == n * (n - 1)
    expected = 20000 / (n * (n - 1))
    assert all(abs(c - expected) < expected * 0.15 for c in pairs.values())
    assert two_draws(n, 0.9999999999) != (n - 1, n - 1)


# -- usage ---------------------------------------------------------------------------------------


def test_usage_picks_the_most_headroom():
    deps = [dep("a", rpm=100), dep("b", rpm=100)]
    assert usage_based(deps, [stat(requests=50), stat(requests=10)], 0.0) == 1


def test_usage_compares_fractions_of_different_limits():
    deps = [dep("a", rpm=1000), dep("b", rpm=10)]
    assert usage_based(deps, [stat(requests=100), stat(requests=5)], 0.0) == 0  # 90% vs 50% left


def test_usage_counts_tokens_against_tpm():
    deps = [dep("a", tpm=1000), dep("b", tpm=1000)]
    assert usage_based(deps, [stat(tokens=900), stat(tokens=100)], 0.0) == 1


def test_usage_excludes_deployments_at_their_limit():
    deps = [dep("a", rpm=10), dep("b", rpm=1000)]
    assert usage_based(deps, [stat(requests=10), stat(requests=999)], 0.0) == 1


def test_usage_uses_the_least_exhausted_when_all_are_at_the_limit():
    deps = [dep("a", rpm=10), dep("b", rpm=10)]
    assert usage_based(deps, [stat(requests=15), stat(requests=11)], 0.0) == 1


def test_usage_ties_go_to_fewer_requests_then_the_draw():
    deps = [dep("a"), dep("b"), dep("c")]
    assert usage_based(deps, [stat(requests=3), stat(requests=1), stat(requests=1)], 0.0) == 1
    assert usage_based(deps, [stat(requests=3), stat(requests=1), stat(requests=1)], 0.9) == 2


def test_usage_skips_drained():
    deps = [dep("a", 0, rpm=100), dep("b", rpm=100)]
    assert usage_based(deps, [stat(), stat(requests=99)], 0.0) == 1
    assert usage_based([dep("a", 0)], [stat()], 0.0) is None


def test_headroom_is_the_smaller_remaining_fraction():
    assert headroom(dep("a"), stat(requests=10**6)) == 1.0
    assert headroom(dep("a", rpm=10, tpm=100), stat(requests=2, tokens=50)) == pytest.approx(0.5)


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "runs"),
    [
        (None, ROUND_ROBIN),
        ("weighted-round-robin", ROUND_ROBIN),
        ("simple-shuffle", "simple-shuffle"),
        ("least-busy", "least-busy"),
        ("latency-based-routing", "latency-based-routing"),
        ("usage-based-routing", USAGE),
        ("usage-based-routing-v2", USAGE),
        ("cost-based-routing", ROUND_ROBIN),
        ("Simple_Shuffle", "simple-shuffle"),
    ],
)
def test_litellm_strategy_names_are_accepted(name, runs):
    assert canonical(name) == runs


def test_unknown_strategy_names_the_accepted_ones():
    with pytest.raises(ValueError, match="simple-shuffle"):
        canonical("fastest")
