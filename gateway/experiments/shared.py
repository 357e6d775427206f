"""Experiment counters across replicas: each replica publishes its own per-variant statistics through
the state backend (once a second, off the request path), and a report on any replica merges the
others' with its own, so `/admin/experiments` on any replica reports all traffic.

Counts and sums add; running moments merge exactly (Chan et al.'s pairwise update); latency and TTFT
reservoirs merge into a sample that keeps each replica's share of the outcomes (published reservoirs
are capped at `SHARED_SAMPLE` values to keep the payload small).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from gateway.experiments.guardrail import Counts
from gateway.experiments.registry import ExperimentRegistry, ExperimentRun
from gateway.experiments.stats import Moments, Reservoir, VariantStats

SHARED_SAMPLE = 512
_COUNTS = (
    "assigned",
    "requests",
    "errors",
    "rejected",
    "fallbacks",
    "usage_requests",
    "prompt_tokens",
    "completion_tokens",
    "priced_requests",
    "feedback_positive",
)


def _moments(m: Moments) -> list[float]:
    return [m.n, m.mean, m.m2]


def _reservoir(r: Reservoir) -> dict[str, Any]:
    values = r.values if len(r.values) <= SHARED_SAMPLE else random.sample(r.values, SHARED_SAMPLE)
    return {"seen": r.seen, "values": values}


def dump_variant(stats: VariantStats) -> dict[str, Any]:
    out: dict[str, Any] = {name: getattr(stats, name) for name in _COUNTS}
    out.update(
        cost_usd=stats.cost_usd,
        feedback_binary=stats.feedback_binary,
        log_latency=_moments(stats.log_latency),
        feedback=_moments(stats.feedback),
        latency=_reservoir(stats.latency),
        ttft=_reservoir(stats.ttft),
    )
    return out


def published(registry: ExperimentRegistry) -> dict[str, bytes]:
    """This replica's statistics, per experiment id, as the backend stores them."""
    return {
        run.id: orjson.dumps(
            {"models": list(run.spec.models), "variants": [dump_variant(v) for v in run.variants]}
        )
        for run in registry
    }


def _merge_moments(a: Moments, n: float, mean: float, m2: float) -> None:
    total = a.n + n
    if not n:
        return
    delta = mean - a.mean
    a.m2 = a.m2 + m2 + delta * delta * a.n * n / total
    a.mean = a.mean + delta * n / total
    a.n = int(total)


def _merge_reservoir(into: Reservoir, parts: list[tuple[int, list[float]]]) -> Reservoir:
    """A sample of at most `into.size` values in which each part keeps its share of `seen`."""
    seen = sum(s for s, _ in parts)
    merged = Reservoir(size=into.size, seen=seen)
    for part_seen, values in parts:
        keep = len(values) if seen <= into.size else round(into.size * part_seen / seen)
        merged.values.extend(values if keep >= len(values) else random.sample(values, keep))
    return merged


def merge_variant(own: VariantStats, others: Iterable[Mapping[str, Any]]) -> VariantStats:
    merged = copy.deepcopy(own)
    latency = [(own.latency.seen, list(own.latency.values))]
    ttft = [(own.ttft.seen, list(own.ttft.values))]
    for other in others:
        for name in _COUNTS:
            setattr(merged, name, getattr(merged, name) + int(other.get(name, 0)))
        merged.cost_usd += float(other.get("cost_usd", 0.0))
        merged.feedback_binary = merged.feedback_binary and bool(other.get("feedback_binary", True))
        _merge_moments(merged.log_latency, *other["log_latency"])
        _merge_moments(merged.feedback, *other["feedback"])
        latency.append((int(other["latency"]["seen"]), list(other["latency"]["values"])))
        ttft.append((int(other["ttft"]["seen"]), list(other["ttft"]["values"])))
    merged.latency = _merge_reservoir(own.latency, latency)
    merged.ttft = _merge_reservoir(own.ttft, ttft)
    return merged


def _variants_of(run: ExperimentRun, payloads: Iterable[bytes | str]) -> list[list[Mapping[str, Any]]]:
    """The other replicas' per-variant statistics for `run`'s variants (other shapes are left out)."""
    others: list[list[Mapping[str, Any]]] = []
    for payload in payloads:
        try:
            found = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if isinstance(found, dict) and found.get("models") == list(run.spec.models):
            others.append(found["variants"])
    return others


def take_remote(registry: ExperimentRegistry, found: Mapping[str, Iterable[bytes | str]]) -> None:
    """The other replicas' outcome counts, per variant, into each run (for its guardrail): read with
    this replica's own publication, once a second, so a request never waits for them."""
    for experiment_id, payloads in found.items():
        run = registry.get(experiment_id)
        if run is None:
            continue
        remote = [(0, 0)] * len(run.spec.models)
        for variants in _variants_of(run, payloads):
            try:
                counts = [(int(v["requests"]), int(v["errors"])) for v in variants]
            except (TypeError, ValueError, KeyError):
                continue  # a malformed payload counts for nothing
            if len(counts) == len(remote) and all(0 <= e <= r for r, e in counts):
                remote = [(r + r2, e + e2) for (r, e), (r2, e2) in zip(remote, counts, strict=True)]
        run.remote = [Counts(requests, errors) for requests, errors in remote]


def merged_run(run: ExperimentRun, payloads: Iterable[bytes | str]) -> ExperimentRun:
    """`run` with every replica's statistics (payloads of other replicas for the same variants)."""
    others = _variants_of(run, payloads)
    if not others:
        return run
    view = copy.copy(run)
    view.variants = [merge_variant(v, [o[i] for o in others]) for i, v in enumerate(run.variants)]
    return view
