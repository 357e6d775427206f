"""Load-balancing strategies: which deployment of a model group gets the next request.

Each strategy is a pure function of the candidate deployments, their stats and a uniform draw in
[0, 1), returning the index chosen, or None when no candidate can take traffic. The caller owns the
randomness and the clock, so a seeded draw replays the same decision in a test.

Weight 0 drains a deployment: no strategy chooses it, and a set of all-zero weights chooses nothing.

Weighted round-robin keeps state between picks (the "current weights"), so its pure form takes
that state and returns the next one: `smooth_weighted(weights, current) -> (index, new_current)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from gateway.config.model import Deployment
from gateway.routing.stats import DeploymentStats

Strategy = Callable[[Sequence[Deployment], Sequence[DeploymentStats], float], int | None]

ROUND_ROBIN = "weighted-round-robin"
SHUFFLE = "simple-shuffle"
LEAST_BUSY = "least-busy"
LATENCY = "latency-based-routing"
USAGE = "usage-based-routing"


def smooth_weighted(
    weights: Sequence[float], current: Sequence[float]
) -> tuple[int | None, tuple[float, ...]]:
    """nginx's smooth weighted round-robin: deterministic, and interleaved (3:1 gives a,a,b,a).

    Every live peer's current weight grows by its weight, the largest wins and pays back the total.
    Over sum(weights) picks each peer is chosen exactly `weight` times.
    """
    new = list(current)
    total = 0.0
    best: int | None = None
    for i, weight in enumerate(weights):
        if weight <= 0:
            continue
        new[i] += weight
        total += weight
        if best is None or new[i] > new[best]:
            best = i
    if best is None:
        return None, tuple(current)
    new[best] -= total
    return best, tuple(new)


def weighted_draw(weights: Sequence[float], draw: float) -> int | None:
    """The index whose share of the total weight contains `draw` (weighted random choice)."""
    total = sum(w for w in weights if w > 0)
    if total <= 0:
        return None
    x = draw * total
    last = None
    for i, weight in enumerate(weights):
        if weight <= 0:
            continue
        if x < weight:
            return i
        x -= weight
        last = i
    return last  # draw * total rounded up to the total


def simple_shuffle(
    deployments: Sequence[Deployment], stats: Sequence[DeploymentStats], draw: float
) -> int | None:
    """Weighted random: stateless, so every process spreads load the same way without coordination."""
    return weighted_draw([d.weight for d in deployments], draw)


def least_busy(
    deployments: Sequence[Deployment], stats: Sequence[DeploymentStats], draw: float
) -> int | None:
    """Fewest requests in flight; ties go to the heavier weight, then to the draw."""
    best: list[int] = []
    best_key: tuple[int, float] | None = None
    for i, d in enumerate(deployments):
        if d.weight <= 0:
            continue
        key = (stats[i].in_flight, -d.weight)
        if best_key is None or key < best_key:
            best, best_key = [i], key
        elif key == best_key:
            best.append(i)
    return _by_draw(best, draw)


def latency_based(
    deployments: Sequence[Deployment], stats: Sequence[DeploymentStats], draw: float
) -> int | None:
    """Power of two choices on EWMA response time (time to first token for streams).

    Two distinct candidates are sampled and the faster wins: near-best latency without herding every
    request onto the single fastest deployment. A deployment with no sample yet counts as fastest,
    so new or recovered deployments get tried.
    """
    live = [i for i, d in enumerate(deployments) if d.weight > 0]
    if len(live) <= 1:
        return live[0] if live else None
    i, j = two_draws(len(live), draw)
    a, b = live[i], live[j]
    return b if _latency(stats[b]) < _latency(stats[a]) else a


def usage_based(
    deployments: Sequence[Deployment], stats: Sequence[DeploymentStats], draw: float
) -> int | None:
    """Most headroom left against `rpm`/`tpm` in the current minute.

    Headroom is the smaller remaining fraction of the two limits (1.0 without limits). Deployments at
    their limit are left out unless every candidate is, then the least exhausted is used anyway (the
    upstream decides; a 429 there opens its breaker). Ties go to fewer requests this minute, then the
    draw. `stats` must hold the current minute's bucket (the balancer rolls it).
    """
    under: list[tuple[float, int, int]] = []
    over: list[tuple[float, int, int]] = []
    for i, d in enumerate(deployments):
        if d.weight <= 0:
            continue
        room = headroom(d, stats[i])
        (under if room > 0 else over).append((-room, stats[i].minute_requests, i))
    pool = under or over
    if not pool:
        return None
    best_key = min(pool)[:2]
    return _by_draw([i for room, used, i in pool if (room, used) == best_key], draw)


def headroom(d: Deployment, s: DeploymentStats) -> float:
    """Remaining fraction of this minute's request and token budgets; <= 0 means at the limit."""
    room = 1.0
    if d.rpm is not None and d.rpm > 0:
        room = min(room, 1.0 - s.minute_requests / d.rpm)
    if d.tpm is not None and d.tpm > 0:
        room = min(room, 1.0 - s.minute_tokens / d.tpm)
    return room


def two_draws(n: int, draw: float) -> tuple[int, int]:
    """Two distinct indices below `n` (n >= 2) from one uniform draw: the first from its integer part,
    the second from the remaining fraction, which is itself uniform."""
    x = draw * n
    i = min(int(x), n - 1)
    j = min(int((x - i) * (n - 1)), n - 2)
    return i, j + (j >= i)


def _latency(s: DeploymentStats) -> float:
    return -1.0 if s.ewma_response is None else s.ewma_response


def _by_draw(indices: list[int], draw: float) -> int | None:
    if not indices:
        return None
    return indices[min(int(draw * len(indices)), len(indices) - 1)]


# Strategies other than round-robin are stateless and share one signature.
CHOOSERS: Mapping[str, Strategy] = MappingProxyType(
    {SHUFFLE: simple_shuffle, LEAST_BUSY: least_busy, LATENCY: latency_based, USAGE: usage_based}
)

# `routing_strategy` values accepted (LiteLLM's names) and the strategy each one runs.
NAMES: Mapping[str, str] = MappingProxyType(
    {
        ROUND_ROBIN: ROUND_ROBIN,
        SHUFFLE: SHUFFLE,
        LEAST_BUSY: LEAST_BUSY,
        LATENCY: LATENCY,
        USAGE: USAGE,
        "usage-based-routing-v2": USAGE,
        # Cost-based routing needs per-deployment prices; until they are modelled it runs
        # round-robin so configs written for LiteLLM load and route sensibly.
        "cost-based-routing": ROUND_ROBIN,
    }
)


def canonical(name: str | None) -> str:
    """The strategy a `routing_strategy` value runs. Raises ValueError naming the accepted values."""
    if not name:
        return ROUND_ROBIN
    key = name.strip().lower().replace("_", "-")
    try:
        return NAMES[key]
    except KeyError:
        raise ValueError(f"unknown routing_strategy {name!r}; expected one of: {', '.join(NAMES)}") from None
