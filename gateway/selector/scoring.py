"""Rank candidate model groups for an analysed request: hard filters, then one score each. Pure.

Hard filters (a group that fails one is never chosen, nor used as a fallback):
- the context window must hold the prompt plus `max_tokens`, and `max_tokens` must not exceed the
  model's output limit;
- tools, vision, JSON mode and JSON schema must be supported when the request uses them;
- at least one deployment's breaker must not be open.
Unknown capabilities pass: we filter on what we know, the fallback chain handles the rest.

The score, in [0, 1], multiplies a blend of quality and cost by the group's recent performance:

    score = ((1 - w) * quality_fit + w * cheapness) * performance,     w = tradeoff / 10

- quality_fit: how well the group's quality for this task meets what the request's complexity
  needs. A shortfall costs a lot; spare quality earns a little, so at tradeoff 0 the best model wins.
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


@dataclass(frozen=True, slots=True)
class Health:
    """A group's state for one decision (see `history`): breakers, recent errors and latency."""

    available: bool = True  # some deployment's breaker is not open
    error_rate: float = 0.0  # recent share of failed requests, already faded with age
    latency: float | None = None  # recent time to first byte, seconds
    freshness: float = 0.0  # 1: just measured ... 0: no (or very old) history


_NEUTRAL = Health()


@dataclass(frozen=True, slots=True)
class Candidate:
    group: str
    score: float
    capability_match: float  # 1 the task is listed, 0.5 the group lists no tasks, 0 unlisted
    quality: float  # the group's quality for this task
    cost_usd: float | None
    performance: float
    reasons: tuple[str, ...]  # filled when ranked with explain=True


@dataclass(frozen=True, slots=True)
class Rejection:
    group: str
    reasons: tuple[str, ...]
    unfit: bool  # rejected for what the request needs (not for a transient state like a breaker)


@dataclass(frozen=True, slots=True)
class Ranking:
    ranked: tuple[Candidate, ...]  # best first
    rejected: tuple[Rejection, ...]


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
    """
    passing: list[tuple[Profile, Health, float | None]] = []
    rejected: list[Rejection] = []
    for profile in profiles:
        state = health.get(profile.group, _NEUTRAL)
        unfit = unfit_reasons(analysis, profile)
        if unfit:
            rejected.append(Rejection(profile.group, unfit, True))
        elif not state.available:
            rejected.append(Rejection(profile.group, ("every deployment's breaker is open",), False))
        else:
            passing.append((profile, state, estimated_cost(analysis, profile)))
    known = [cost for _, _, cost in passing if cost is not None]
    low, high = (min(known), max(known)) if known else (0.0, 0.0)
    fastest = min((h.latency for _, h, _ in passing if h.latency is not None), default=None)
    weight = min(10.0, max(0.0, tradeoff)) / 10.0
    candidates = []
    for profile, state, cost in passing:
        match, quality = task_quality(profile, analysis.task)
        fit = quality_fit(quality, analysis.complexity, profile.max_complexity)
        perf = performance(state, fastest)
        score = ((1 - weight) * fit + weight * cheapness(cost, low, high)) * perf
        reasons = _reasons(analysis, profile, match, quality, cost, state) if explain else ()
        candidates.append(Candidate(profile.group, score, match, quality, cost, perf, reasons))
    if len(candidates) > 1:
        candidates.sort(key=_order)
    return Ranking(tuple(candidates), tuple(rejected))


def unfit_reasons(analysis: Analysis, profile: Profile) -> tuple[str, ...]:
    """Why `profile` cannot serve the request at all; () when it can (as far as we know)."""
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
    return tuple(reasons)


def task_quality(profile: Profile, task: str) -> tuple[float, float]:
    """(capability match, quality for the task): a configured prior wins, then the group's tier."""
    if profile.tasks is None:
        return 0.5, profile.quality * GENERALIST
    if task in profile.tasks:
        prior = profile.tasks[task]
        return 1.0, profile.quality if prior is None else prior
    return 0.0, profile.quality * UNLISTED


def quality_fit(quality: float, complexity: float, max_complexity: float = 1.0) -> float:
    """1 when the quality meets the need with room to spare, falling fast with a shortfall."""
    need = NEED_FLOOR + NEED_SPAN * complexity
    shortfall = max(0.0, need - quality) + max(0.0, complexity - max_complexity)
    return max(0.0, 1.0 - SHORTFALL_COST * shortfall) * 0.8 + 0.2 * quality


def estimated_cost(analysis: Analysis, profile: Profile) -> float | None:
    """USD for this request: prompt tokens, plus the task's typical answer (capped by max_tokens)."""
    if profile.input_cost is None and profile.output_cost is None:
        return None
    answer = TYPICAL_OUTPUT.get(analysis.task, 300)
    if analysis.requires.max_tokens:
        answer = min(answer, analysis.requires.max_tokens)
    return analysis.prompt_tokens * (profile.input_cost or 0.0) + answer * (profile.output_cost or 0.0)


def cheapness(cost: float | None, low: float, high: float) -> float:
    """1 for the cheapest known cost, down to DEAREST for the dearest (log scale); UNKNOWN_COST if None."""
    if cost is None:
        return UNKNOWN_COST
    if high <= low or high <= 0:
        return CHEAPEST
    if low <= 0:  # a free candidate: compare the others linearly
        return CHEAPEST - (CHEAPEST - DEAREST) * cost / high
    return CHEAPEST - (CHEAPEST - DEAREST) * math.log(cost / low) / math.log(high / low)


def _order(c: Candidate) -> tuple[float, float, float, str]:
    return (-c.score, -c.quality, c.cost_usd if c.cost_usd is not None else math.inf, c.group)


def performance(state: Health, fastest: float | None) -> float:
    """In (0, 1]: recent errors and slowness against the fastest candidate, faded by age."""
    errors = min(1.0, max(0.0, state.error_rate))
    value = (1.0 - errors) ** 2
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
