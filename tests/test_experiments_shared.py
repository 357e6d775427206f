"""Issue 19: experiment counters merged across replicas add up to what one process would have counted
(counts and sums exactly, running moments exactly, reservoirs keeping each replica's share); the
guardrail judges on every replica's outcomes and announces its own stop. (Two gateway processes over
one real Redis: tests/test_state_redis.py.)"""

from __future__ import annotations

import statistics

import orjson
import pytest

from gateway.experiments.registry import ExperimentRegistry
from gateway.experiments.shared import SHARED_SAMPLE, dump_variant, merge_variant, published, take_remote
from gateway.experiments.stats import VariantStats
from tests.test_experiments_runtime import snapshot

EXPERIMENT = {"id": "e", "models": ["ctl", "var"], "applies_to": ["fast"], "guardrail": {"min_requests": 20}}


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


def _registry(announced: list[tuple]) -> ExperimentRegistry:
    reg = ExperimentRegistry()
    reg.announce = lambda *args: announced.append(args)
    reg.reload(snapshot([EXPERIMENT]))
    return reg


def _outcomes(reg: ExperimentRegistry, index: int, n: int, errors: int) -> None:
    run = reg.get("e")
    for i in range(n):
        run.variants[index].record(error=i < errors, fallback=False, latency=0.1)
        run.check_guardrail(index)


def _other_replica(control: tuple[int, int], variant: tuple[int, int]) -> bytes:
    """What another replica publishes for the experiment after `(requests, errors)` per variant."""
    other = _registry([])
    _outcomes(other, 0, *control)
    _outcomes(other, 1, *variant)
    return published(other)["e"]


def test_the_guardrails_own_stop_is_announced_once_with_its_reason_and_time() -> None:
    announced: list[tuple] = []
    reg = _registry(announced)
    _outcomes(reg, 0, 20, 0)
    _outcomes(reg, 1, 20, 20)
    run = reg.get("e")
    assert run.status == "stopped"
    assert announced == [("e", "stopped", run.status_reason, run.status_changed_at)]
    assert run.status_reason.startswith("guardrail: variant var error rate 100.0% (")
    reg.set_status("e", "running", "resume by admin API (admin)")  # the admin path publishes itself
    assert len(announced) == 1


def test_the_guardrail_trips_on_the_outcomes_of_all_replicas_together() -> None:
    announced: list[tuple] = []
    reg = _registry(announced)
    _outcomes(reg, 0, 10, 0)
    _outcomes(reg, 1, 10, 10)  # alone: under min_requests for both variants, so nothing happens
    assert reg.get("e").status == "running" and not announced
    take_remote(reg, {"e": [_other_replica(control=(10, 0), variant=(10, 10))], "unknown": [b"{}"]})
    _outcomes(reg, 1, 1, 1)
    run = reg.get("e")
    assert run.status == "stopped" and len(announced) == 1
    assert "(21/21) vs control 0.0% (0/20)" in run.status_reason


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"models": ["ctl", "other"], "variants": [{"requests": 50, "errors": 0}, {"requests": 50, "errors": 50}]}',
        b'{"models": ["ctl", "var"], "variants": [{"requests": 50, "errors": 0}]}',
        b'{"models": ["ctl", "var"], "variants": [{"requests": 50, "errors": 0}, {"requests": "x", "errors": 1}]}',
        b'{"models": ["ctl", "var"], "variants": [{"requests": 50, "errors": 0}, {"requests": 5, "errors": 50}]}',
        b'{"models": ["ctl", "var"], "variants": [{"requests": 50, "errors": 0}, {"requests": -50, "errors": 0}]}',
        b'{"models": ["ctl", "var"], "variants": [{"requests": 50, "errors": 0}, ["requests"]]}',
    ],
)
def test_a_malformed_or_foreign_payload_counts_for_nothing(payload: bytes) -> None:
    announced: list[tuple] = []
    reg = _registry(announced)
    take_remote(reg, {"e": [payload, _other_replica(control=(3, 0), variant=(2, 1))]})
    assert [(c.requests, c.errors) for c in reg.get("e").remote] == [(3, 0), (2, 1)]
    _outcomes(reg, 1, 10, 10)
    assert reg.get("e").status == "running" and not announced
