"""Targets that are ratios between two scenarios, taken round by round.

"gateway-3 within 5% of gateway" compares two runs, and the host's speed drifts between any two runs.
Within one round the two ran minutes apart at most, so their ratio is taken there, once per round;
the verdict is on the median of those ratios, and their range says how far a single run could have
strayed. Each line also gives the ratio of the server's CPU per request (higher = costlier): CPU that
other processes take lowers req/s but hardly this (a slower host still raises both), so when the two
disagree the CPU ratio is usually the steadier one.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.rounds import by_scenario, median_row
from bench.runner import NOISY_PCT, Row


@dataclass(frozen=True)
class Pair:
    scenario: str
    baseline: str
    floor: float | None  # the target: req/s(scenario) >= floor * req/s(baseline); None = no target
    issue: str = ""


PAIRS = (
    Pair("gateway-3", "gateway", 0.95, "#3"),
    Pair("auto", "gateway", 0.85, "#5"),
    Pair("auto", "auto-fixed", None),  # the same config: what selecting costs, the config aside
    Pair("experiment", "gateway", None),
    Pair("key-limits", "gateway", 0.90, "#19"),
    Pair("key-limits-redis", "gateway", 0.90, "#19"),
)


@dataclass(frozen=True)
class PairedRatio:
    """One pair's ratios (scenario over baseline), one per round in which both ran."""

    pair: Pair
    rounds: list[int]
    rps: list[float]
    cpu_per_req: list[float | None]  # None where a run has no CPU figure
    disturbed: list[int]  # rounds in which other processes were busy during either run

    @property
    def cpu_known(self) -> list[float]:
        return [c for c in self.cpu_per_req if c is not None]

    @property
    def met(self) -> bool | None:
        if self.pair.floor is None:
            return None
        return statistics.median(self.rps) >= self.pair.floor


def paired_ratios(runs: Sequence[Row], pairs: Sequence[Pair] = PAIRS) -> list[PairedRatio]:
    """The ratios of every pair whose two scenarios ran in at least one common round."""
    groups = by_scenario(runs)
    found = []
    for pair in pairs:
        mine = _per_round(groups.get(pair.scenario, []))
        theirs = _per_round(groups.get(pair.baseline, []))
        both = [n for n in sorted(mine) if n in theirs and theirs[n].load.rps]
        if not both:
            continue
        rps = [mine[n].load.rps / theirs[n].load.rps for n in both]
        cpu = [_ratio(mine[n].cpu_us_per_req, theirs[n].cpu_us_per_req) for n in both]
        busy = [n for n in both if max(mine[n].other_cpu_pct, theirs[n].other_cpu_pct) >= NOISY_PCT]
        found.append(PairedRatio(pair, both, rps, cpu, busy))
    return found


def verdict_lines(ratios: Sequence[PairedRatio]) -> list[str]:
    """e.g. `target #3 gateway-3 within 5% of gateway: met (req/s median 0.98, rounds 0.95-1.02; ...)`."""
    lines = []
    for ratio in ratios:
        pair, got = ratio.pair, f"req/s {_spread(ratio.rps)}"
        if ratio.cpu_known:
            got += f"; CPU/req {_spread(ratio.cpu_known)}"
        if ratio.disturbed:
            got += f"; other processes busy in {_rounds(ratio.disturbed)}"
        if pair.floor is None:
            lines.append(f"{pair.scenario}/{pair.baseline}: {got} (no target)")
            continue
        what = f"{pair.scenario} within {1 - pair.floor:.0%} of {pair.baseline}"
        lines.append(f"target {pair.issue} {what}: {'met' if ratio.met else 'MISSED'} ({got})")
    return lines


def as_json(ratio: PairedRatio) -> dict[str, Any]:
    """A pair's ratios for results.json: every round's, their medians, and the verdict."""
    return {
        **asdict(ratio),
        "rps_median": statistics.median(ratio.rps),
        "cpu_per_req_median": statistics.median(ratio.cpu_known) if ratio.cpu_known else None,
        "met": ratio.met,
    }


def _per_round(runs: Sequence[Row]) -> dict[int, Row]:
    """A scenario's figures in each round (the medians, if `--scenarios` named it twice)."""
    rounds: dict[int, list[Row]] = {}
    for run in runs:
        rounds.setdefault(run.round, []).append(run)
    return {number: median_row(same) for number, same in rounds.items()}


def _rounds(numbers: list[int]) -> str:
    return f"round{'s' if len(numbers) > 1 else ''} {', '.join(map(str, numbers))}"


def _spread(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}, a single round"
    return f"median {statistics.median(values):.2f}, rounds {min(values):.2f}-{max(values):.2f}"


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return top / bottom if top is not None and bottom else None
