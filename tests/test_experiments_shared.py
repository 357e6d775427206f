"""Issue 19: experiment counters merged across replicas add up to what one process would have counted
(counts and sums exactly, running moments exactly, reservoirs keeping each replica's share)."""

from __future__ import annotations

import statistics

import orjson
import pytest

from gateway.experiments.shared import SHARED_SAMPLE, dump_variant, merge_variant
from gateway.experiments.stats import VariantStats


def _stats(latencies: list[float], errors: int = 0, cost: float = 0.0) -> VariantStats:
    stats = VariantStats()
    for i, latency in enumerate(latencies):
        stats.record(
            error=i < errors, fallback=False, latency=latency, prompt_tokens=2, completion_tokens=3, cost=cost
        )
    return stats


def test_merged_counts_and_moments_equal_one_process_counting_everything() -> None:
    mine, theirs = [0.1, 0.2, 0.3], [0.5, 1.5, 2.0, 4.0]
    merged = merge_variant(
        _stats(mine, errors=1, cost=0.01), [orjson.loads(orjson.dumps(dump_variant(_stats(theirs, 2, 0.02))))]
    )
    whole = _stats(mine + theirs)
    assert (merged.requests, merged.errors, merged.prompt_tokens, merged.completion_tokens) == (7, 3, 14, 21)
    assert merged.cost_usd == pytest.approx(3 * 0.01 + 4 * 0.02)
    assert merged.log_latency.n == 7
    assert merged.log_latency.mean == pytest.approx(whole.log_latency.mean)
    assert merged.log_latency.variance == pytest.approx(whole.log_latency.variance)
    assert sorted(merged.latency.values) == sorted(mine + theirs)
    assert merged.latency.quantile(0.5) == pytest.approx(statistics.median(mine + theirs))


def test_a_merged_reservoir_keeps_each_replicas_share_of_outcomes() -> None:
    mine = _stats([1.0] * 3000)  # a full reservoir of ones
    theirs = dump_variant(_stats([2.0] * 1000))
    merged = merge_variant(mine, [theirs])
    assert merged.latency.seen == 4000
    assert len(merged.latency.values) <= mine.latency.size + 1
    share = merged.latency.values.count(2.0) / len(merged.latency.values)
    assert share == pytest.approx(0.25, abs=0.01)
    assert len(theirs["latency"]["values"]) == min(1000, SHARED_SAMPLE)
