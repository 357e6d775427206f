"""`--repeat N`: the order of the runs over the rounds, and one row of medians per scenario.

On the dev VM the host's speed drifts by ±20% within minutes, and a scenario run right after another
is often slower; one run per scenario turned a ratio between two scenarios from -10% to +8% just by
swapping their order. So the scenarios run in N rounds, alternately forward and reversed (A B C,
C B A, A B C, ...): with an even N every pair of scenarios runs as often in one order as in the
other, and over each forward-and-back block every scenario has the same mean position in time, so a
steady drift weighs on all of them alike. The table shows each figure's median over the rounds.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import fields, is_dataclass, replace
from typing import Any, TypeVar

from bench.runner import Row

T = TypeVar("T")


def schedule(items: Sequence[T], repeat: int) -> list[tuple[int, T]]:
    """(round, item) in the order to run them: odd rounds as given, even rounds reversed."""
    order = []
    for number in range(1, repeat + 1):
        ordered = items if number % 2 else list(reversed(items))
        order += [(number, item) for item in ordered]
    return order


def by_scenario(runs: Sequence[Row]) -> dict[str, list[Row]]:
    """The runs of each scenario, scenarios in the order they first ran."""
    groups: dict[str, list[Row]] = {}
    for run in runs:
        groups.setdefault(run.scenario, []).append(run)
    return groups


def medians(runs: Sequence[Row]) -> list[Row]:
    """One row per scenario: each figure's median over its rounds (a lone run stays as it is)."""
    return [median_row(group) for group in by_scenario(runs).values()]


def median_row(runs: Sequence[Row]) -> Row:
    """The median of every figure over `runs` (one scenario's rounds), each figure on its own.

    What is not a figure (the load tool, how connections were spread over workers) comes from the run
    with the median req/s; the notes of every round are kept, each saying which round it is about."""
    if len(runs) == 1:
        return runs[0]
    rps = [r.load.rps for r in runs]
    middle = sorted(runs, key=lambda r: r.load.rps)[len(runs) // 2]
    row = _median_of(middle, runs)
    return replace(
        row,
        round=0,
        rps_range=(min(rps), max(rps)),
        notes=[f"round {r.round}: {note}" for r in runs for note in r.notes],
    )


def _median_of(base: Any, items: Sequence[Any]) -> Any:
    """`base` (a dataclass) with each numeric field replaced by its median over `items`."""
    changes = {}
    for field in fields(base):
        values = [getattr(item, field.name) for item in items]
        changes[field.name] = _median_value(getattr(base, field.name), values)
    return replace(base, **changes)


def _median_value(base: Any, values: list[Any]) -> Any:
    if is_dataclass(base):
        return _median_of(base, values)
    present = [v for v in values if v is not None]
    if not present:
        return None
    # A tuple figure (host check before/after): column by column, even if `base` lacks it.
    if all(isinstance(v, tuple) and len(v) == len(present[0]) for v in present):
        return tuple(statistics.median(column) for column in zip(*present, strict=True))
    if isinstance(base, bool) or not all(isinstance(v, int | float) for v in present):
        return base
    middle = statistics.median(present)
    return round(middle) if isinstance(base, int) else middle
