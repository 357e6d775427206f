"""Rank candidate model groups for an analysed request: hard filters, then one score each. Pure.

Hard filters (a group that fails one is never chosen, nor used as a fallback):
- the context window must hold the prompt plus `max_tokens`, and `max_tokens` must not exceed the
  model's output limit;
- tools, vision, JSON mode, JSON schema and several choices (`n` > 1) must be supported when the
  request uses them;
- at least one deployment's breaker must not be open.
Unknown capabilities pass: we filter on what we know, the fallback chain handles the rest.

The score, in [0, 1], multiplies a blend of quality and cost by the group's recent performance:

    score = ((1 - w) * quality_fit + w * cheapness) * performance,     w = tradeoff / 10

- quality_fit: how well the group's quality for the task meets what the request's complexity
  needs, expected over the likely tasks when the classifier is unsure (`analysis.mixture`). A shortfall costs a lot; spare quality earns a little, so at tradeoff 0 the best model wins.
- cheapness: the request's estimated cost (prompt tokens plus the task's typical answer length, at
  the group's prices), 1 for the cheapest candidate down to 0.2 for the dearest, on a log scale.
- performance: recent error rate (squared: 30% errors leave half the score) and latency relative
  to the fastest candidate, both fading towards neutral as the history ages.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.selector.analysis import Analysis
from gateway.selector.capabilities import Profile

UNLISTED = 0.7  # a group that lists tasks, but not this one: this share of its quality
GENERALIST = 0.85  # a group that lists no tasks at all
NEED_FLOOR, NEED_SPAN = 0.25, 0.65  # quality needed = NEED_FLOOR + NEED_SPAN * complexity
SHORTFALL_COST = 3.0
CHEAPEST, DEAREST = 1.0, 0.2
UNKNOWN_COST = 0.5
LATENCY_SLACK = 0.25  # seconds: differences well under this are noise, not slowness
# typical answer length per task (tokens), for the cost estimate when max_tokens does not bound it
TYPICAL_OUTPUT = {
    "code_generation": 700,
    "code_review": 500,
    "math": 400,
    "reasoning": 500,
    "creative_writing": 600,
    "roleplay": 250,
    "extraction": 200,
    "summarization": 250,
    "translation": 200,
    "analysis": 600,
    "question_answering": 250,
    "general_chat": 120,
}


# The values a decision builds (several per candidate, on every auto-routed request) are slots
# dataclasses that are not frozen: a frozen dataclass's __init__ sets each field through
# object.__setattr__ (~0.1 us a field), and a NamedTuple's fields are read through a descriptor the
# interpreter does not specialise (~0.06 us a read). They are values all the same: nothing changes
# one after it is built.


@dataclass(slots=True)
class Health:
    """A group's state for one decision (see `history`): breakers, recent errors and latency."""

    available: bool = True  # some deployment's breaker is not open
    error_rate: float = 0.0  # recent share of failed requests, already faded with age
    latency: float | None = None  # recent time to first byte, seconds
    freshness: float = 0.0  # 1: just measured ... 0: no (or very old) history


NEUTRAL = Health()  # no history: neither penalised nor favoured
_BREAKERS_OPEN = ("every deployment's breaker is open",)


@dataclass(slots=True)
class Candidate:
    group: str
    score: float
    capability_match: float  # 1 the task is listed, 0.5 the group lists no tasks, 0 unlisted
    quality: float  # the group's quality for this task
    cost_usd: float | None
    performance: float
    reasons: tuple[str, ...]  # filled when ranked with explain=True


@dataclass(slots=True)
class Rejection:
    group: str
    reasons: tuple[str, ...]
    unfit: bool  # rejected for what the request needs (not for a transient state like a breaker)


@dataclass(slots=True)
class Ranking:
    ranked: tuple[Candidate, ...]  # best first
    rejected: tuple[Rejection, ...]
    groups: tuple[str, ...]  # the ranked groups' names, best first: a request's fallback order


# Features a request may need and a profile may lack, as bits: one `&` is the whole feature filter.
TOOLS, VISION, JSON, JSON_SCHEMA, CHOICES = 1, 2, 4, 8, 16


@dataclass(frozen=True, slots=True)
class Row:
    """One candidate's profile flattened for one task: what `rank` reads per request. Built once per
    config (`rows`), so a decision does no profile lookups (`Selector` keeps one table per task)."""

    profile: Profile
    group: str
    match: float  # see `task_quality`
    quality: float  # the group's quality for the task
    max_complexity: float
    input_cost: float  # USD per token, 0 when unknown
    output_cost: float
    priced: bool  # some price is known
    window: int | None
    max_output: int | None
    lacks: int  # the features (bits above) it is known not to have


def rows(profiles: Sequence[Profile], task: str) -> tuple[Row, ...]:
    """`profiles` as the rows `prepare` reads for requests of `task`."""
    return tuple(_row(profile, task) for profile in profiles)


def _row(profile: Profile, task: str) -> Row:
    match, quality = task_quality(profile, task)
    lacks = (
        (TOOLS if profile.tools is False else 0)
        | (VISION if profile.vision is False else 0)
        | (JSON if profile.json is False else 0)
        | (JSON_SCHEMA if profile.json_schema is False else 0)
        | (CHOICES if profile.choices is False else 0)
    )
    return Row(
        profile,
        profile.group,
        match,
        quality,
        profile.max_complexity,
        profile.input_cost or 0.0,
        profile.output_cost or 0.0,
        profile.input_cost is not None or profile.output_cost is not None,
        profile.context_window,
        profile.max_output_tokens,
        lacks,
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    """A ranking before recent performance is applied: what depends only on the request, the config
    and which groups are up (the hard filters, prices, quality fit and cheapness). One is kept per
    analysis outcome for as long as every candidate is up (see `memo`)."""

    # row, estimated cost, score before performance, and its sort entry at full performance (the
    # candidate as it ranks when recent performance takes nothing off: no need to build it again)
    passing: tuple[tuple[Row, float | None, float, tuple], ...]
    rejected: tuple[Rejection, ...]
    best: Ranking  # the ranking when recent performance takes nothing off any candidate


def rank(
    analysis: Analysis,
    profiles: Sequence[Profile],
    health: Mapping[str, Health],
    tradeoff: float,
    *,
    explain: bool = False,
) -> Ranking:
    """Filter and score `profiles` for `analysis`; ties go to higher quality, then lower cost, then name.

    `explain` fills each candidate's `reasons` (for people; a routing decision does not need them).
    In two steps, `prepare` and `finish`, so that the first can be kept for requests of one analysis
    outcome (the `Selector` does, from tables of rows built once per config: see `memo`).
    """
    prepared = prepare(analysis, rows(profiles, analysis.task), tradeoff, health)
    return finish(analysis, prepared, health, explain=explain)


def prepare(
    analysis: Analysis, table: Sequence[Row], tradeoff: float, health: Mapping[str, Health] | None = None
) -> Prepared:
    """Everything of the ranking but recent performance; `health` None: every group is up. Runs for
    every new analysis outcome, and for every request while a breaker is open or the key lists its
    models, so it reads flat rows, and the score's parts (see the module docstring) are written out
    here rather than called."""
    need = analysis.requires
    max_tokens = need.max_tokens or 0
    tokens = analysis.prompt_tokens
    wanted = tokens + max_tokens
    needs = (
        (TOOLS if need.tools else 0)
        | (VISION if need.vision else 0)
        | (JSON if need.json else 0)
        | (JSON_SCHEMA if need.json_schema else 0)
        | (CHOICES if need.choices else 0)
    )
    answer = typical_answer(analysis)
    passing: list[tuple[Row, float | None]] = []
    rejected: list[Rejection] = []
    low = high = None
    for row in table:
        if (
            needs & row.lacks
            or (row.window is not None and wanted > row.window)
            or (max_tokens and row.max_output is not None and max_tokens > row.max_output)
        ):
            rejected.append(Rejection(row.group, unfit_reasons(analysis, row.profile), True))
            continue
        if health is not None and not health.get(row.group, NEUTRAL).available:
            rejected.append(Rejection(row.group, _BREAKERS_OPEN, False))
            continue
        cost = tokens * row.input_cost + answer * row.output_cost if row.priced else None
        passing.append((row, cost))
        if cost is not None:
            if low is None or cost < low:
                low = cost
            if high is None or cost > high:
                high = cost
    weight = (tradeoff if 0.0 <= tradeoff <= 10.0 else min(10.0, max(0.0, tradeoff))) / 10.0
    keep = 1 - weight
    complexity = analysis.complexity
    quality_needed = NEED_FLOOR + NEED_SPAN * complexity
    low, high = low or 0.0, high or 0.0
    one_price = high <= low or high <= 0  # every known cost is the same: all are the cheapest
    span = math.log(high / low) if not one_price and low > 0 else 0.0
    blended = []
    mix = analysis.mixture
    others = mix[1:] if len(mix) > 1 and mix[0][0] == analysis.task else ()
    for row, cost in passing:
        # quality_fit: expected over the likely tasks (`analysis.mixture`), so an unsure request
        # goes to a group good at every task it may be; for each, 1 when the quality meets the need
        # with room to spare, falling fast with a shortfall (or with complexity above the group's
        # ceiling); spare quality earns a little
        if others:
            fit = mix[0][1] * _fit(row.quality, row.max_complexity, quality_needed, complexity)
            for task, weight in others:
                quality = task_quality(row.profile, task)[1]
                fit += weight * _fit(quality, row.max_complexity, quality_needed, complexity)
        else:
            fit = _fit(row.quality, row.max_complexity, quality_needed, complexity)
        # cheapness: 1 for the cheapest known cost down to DEAREST for the dearest, on a log scale
        if cost is None:
            cheap = UNKNOWN_COST
        elif one_price:
            cheap = CHEAPEST
        elif low <= 0:  # a free candidate: compare the others linearly
            cheap = CHEAPEST - (CHEAPEST - DEAREST) * cost / high
        else:
            cheap = CHEAPEST - (CHEAPEST - DEAREST) * math.log(cost / low) / span
        blend = keep * fit + weight * cheap
        blended.append((row, cost, blend, _entry(row, blend, cost, 1.0, ())))
    unfit = tuple(rejected)
    return Prepared(tuple(blended), unfit, _ranking([entry for *_, entry in blended], unfit))


def _fit(quality: float, ceiling: float, quality_needed: float, complexity: float) -> float:
    shortfall = (quality_needed - quality if quality_needed > quality else 0.0) + (
        complexity - ceiling if complexity > ceiling else 0.0
    )
    fit = 1.0 - SHORTFALL_COST * shortfall
    return (fit if fit > 0.0 else 0.0) * 0.8 + 0.2 * quality


def finish(
    analysis: Analysis, prepared: Prepared, health: Mapping[str, Health], *, explain: bool = False
) -> Ranking:
    """Apply recent performance to a prepared ranking and sort it, best first. Every group in
    `prepared.passing` must be up (`prepare` saw the same health, or a kept one assumed all up)."""
    fastest = None
    for row, _, _, _ in prepared.passing:
        latency = health.get(row.group, NEUTRAL).latency
        if latency is not None and (fastest is None or latency < fastest):
            fastest = latency
    scored = []
    at_full = True
    for row, cost, blend, at_best in prepared.passing:
        state = health.get(row.group, NEUTRAL)
        perf = 1.0 if state is NEUTRAL else performance(state, fastest)
        if perf == 1.0 and not explain:
            scored.append(at_best)
            continue
        at_full = False
        reasons = _reasons(analysis, row.profile, row.match, row.quality, cost, state) if explain else ()
        scored.append(_entry(row, blend * perf, cost, perf, reasons))
    return prepared.best if at_full else _ranking(scored, prepared.rejected)


def _ranking(scored: list[tuple], rejected: tuple[Rejection, ...]) -> Ranking:
    if len(scored) > 1:
        scored.sort()
    return Ranking(tuple([entry[4] for entry in scored]), rejected, tuple([entry[3] for entry in scored]))


def _entry(row: Row, score: float, cost: float | None, perf: float, reasons: tuple[str, ...]) -> tuple:
    """A candidate with its sort key, best first: ties go to higher quality, lower cost, then the
    name (unique: a comparison of two entries never goes past it)."""
    candidate = Candidate(row.group, score, row.match, row.quality, cost, perf, reasons)
    return (-score, -row.quality, math.inf if cost is None else cost, row.group, candidate)


def unfit_reasons(analysis: Analysis, profile: Profile) -> tuple[str, ...]:
    """Why `profile` cannot serve the request at all; () when it can (as far as we know). `prepare`
    tests the same conditions on its rows, and asks this for the words only when one fails."""
    need = analysis.requires
    reasons = []
    window = profile.context_window
    wanted = analysis.prompt_tokens + (need.max_tokens or 0)
    if window is not None and wanted > window:
        reasons.append(f"context window {window} < {wanted} tokens needed")
    if (
        need.max_tokens
        and profile.max_output_tokens is not None
        and need.max_tokens > profile.max_output_tokens
    ):
        reasons.append(f"max_tokens {need.max_tokens} > output limit {profile.max_output_tokens}")
    if need.tools and profile.tools is False:
        reasons.append("no tool calling")
    if need.vision and profile.vision is False:
        reasons.append("no image input")
    if need.json and profile.json is False:
        reasons.append("no JSON mode")
    if need.json_schema and profile.json_schema is False:
        reasons.append("no JSON schema output")
    if need.choices and profile.choices is False:
        reasons.append("no n > 1 (several choices)")
    return tuple(reasons)


def task_quality(profile: Profile, task: str) -> tuple[float, float]:
    """(capability match, quality for the task): a configured prior wins, then the group's tier."""
    tasks = profile.tasks
    if tasks is None:
        return 0.5, profile.quality * GENERALIST
    if task in tasks:
        prior = tasks[task]
        return 1.0, profile.quality if prior is None else prior
    return 0.0, profile.quality * UNLISTED


def typical_answer(analysis: Analysis) -> int:
    """The answer's expected length in tokens: the task's typical one, capped by max_tokens."""
    answer = TYPICAL_OUTPUT.get(analysis.task, 300)
    limit = analysis.requires.max_tokens
    return min(answer, limit) if limit else answer


def performance(state: Health, fastest: float | None) -> float:
    """In (0, 1]: recent errors and slowness against the fastest candidate, faded by age."""
    errors = state.error_rate
    value = 1.0 if errors <= 0.0 else (1.0 - min(1.0, errors)) ** 2
    if state.latency is not None and fastest is not None:
        speed = math.sqrt((fastest + LATENCY_SLACK) / (state.latency + LATENCY_SLACK))
        value *= 1.0 - (1.0 - speed) * state.freshness
    return max(value, 0.01)


def _reasons(analysis, profile, match, quality, cost, state: Health) -> tuple[str, ...]:
    reasons = [
        ("lists " if match == 1.0 else "does not list " if match == 0.0 else "generalist for ")
        + analysis.task,
        f"quality {quality:.2f} for complexity {analysis.complexity:.2f}",
    ]
    if analysis.complexity > profile.max_complexity:
        reasons.append(f"above its max_complexity {profile.max_complexity:.2f}")
    reasons.append(f"estimated cost ${cost:.6f}" if cost is not None else "cost unknown")
    if state.freshness > 0 and state.error_rate >= 0.05:
        reasons.append(f"recent error rate {state.error_rate:.0%}")
    if state.latency is not None and state.freshness > 0:
        reasons.append(f"recent latency {state.latency * 1000:.0f} ms")
    return tuple(reasons)
