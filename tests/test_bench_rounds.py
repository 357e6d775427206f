"""The benchmark's --repeat arithmetic: run order over rounds, median rows, round-by-round ratios."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.latency import LatencyResult
from bench.load import LoadResult
from bench.paired import paired_ratios, verdict_lines
from bench.rounds import median_row, medians, schedule
from bench.runner import Row


def run(scenario: str, rps: float, round: int = 1, **extra) -> Row:
    load = LoadResult(
        extra.pop("tool", "wrk"), int(rps * 5), 5.0, rps, 1000 / rps * 20, extra.pop("p99", 30.0), 0
    )
    seq = LatencyResult(500, extra.pop("seq_p50", 0.4), 0.9, 0.3, 0.8, 0)
    return Row(scenario, f"{scenario} summary", load, seq, round=round, **extra)


def test_schedule_runs_odd_rounds_as_listed_and_even_rounds_reversed() -> None:
    assert schedule(["a", "b", "c"], 4) == [
        (1, "a"), (1, "b"), (1, "c"),
        (2, "c"), (2, "b"), (2, "a"),
        (3, "a"), (3, "b"), (3, "c"),
        (4, "c"), (4, "b"), (4, "a"),
    ]  # fmt: skip


def test_schedule_runs_every_scenario_once_per_round() -> None:
    order = schedule(["direct", "gateway", "gateway-3", "auto"], 5)
    assert Counter(n for n, _ in order) == {n: 4 for n in range(1, 6)}
    for number in range(1, 6):
        assert sorted(s for n, s in order if n == number) == ["auto", "direct", "gateway", "gateway-3"]
    assert schedule(["a", "b"], 1) == [(1, "a"), (1, "b")]


def test_median_row_takes_each_figures_median_on_its_own() -> None:
    runs = [
        run("gateway", 1000.0, 1, p99=50.0, seq_p50=0.5, cpu_us_per_req=700.0, host_check_ms=(40.0, 44.0)),
        run("gateway", 1200.0, 2, p99=30.0, seq_p50=0.3, cpu_us_per_req=650.0, host_check_ms=(38.0, 60.0)),
        run("gateway", 1100.0, 3, p99=20.0, seq_p50=0.4, cpu_us_per_req=None, host_check_ms=(50.0, 41.0)),
    ]
    row = median_row(runs)
    assert row.load.rps == 1100.0
    assert row.load.p99_ms == 30.0  # from round 2, not the median-rps round 3
    assert row.seq.p50_ms == 0.4
    assert row.load.requests == 5500 and isinstance(row.load.requests, int)
    assert row.cpu_us_per_req == 675.0  # the rounds that have it
    assert row.host_check_ms == (40.0, 44.0)  # each end on its own
    assert row.round == 0
    assert row.rps_range == (1000.0, 1200.0)


def test_median_row_takes_what_is_not_a_figure_from_the_median_rps_run() -> None:
    runs = [run("gateway", 900.0, 1), run("gateway", 1000.0, 2, tool="python"), run("gateway", 1100.0, 3)]
    assert median_row(runs).load.tool == "python"


def test_median_row_keeps_every_rounds_notes_labelled_with_their_round() -> None:
    runs = [
        run("auto", 800.0, 1, notes=["slow host"]),
        run("auto", 820.0, 2),
        run("auto", 810.0, 3, notes=["a", "b"]),
    ]
    assert median_row(runs).notes == ["round 1: slow host", "round 3: a", "round 3: b"]


def test_median_row_leaves_a_lone_run_as_it_is() -> None:
    lone = run("gateway", 1000.0, 1, notes=["x"])
    assert median_row([lone]) is lone


def test_median_row_keeps_host_check_when_the_median_rps_run_lacks_it() -> None:
    runs = [
        run("gateway", 900.0, 1, host_check_ms=(40.0, 42.0)),
        run("gateway", 1000.0, 2),
        run("gateway", 1100.0, 3, host_check_ms=(44.0, 46.0)),
    ]
    assert median_row(runs).host_check_ms == (42.0, 44.0)


def test_medians_give_one_row_per_scenario_in_the_order_first_run() -> None:
    runs = [
        run(s, rps, n)
        for (n, s), rps in zip(schedule(["direct", "gateway"], 2), [3000, 1000, 1200, 3200], strict=True)
    ]
    rows = medians(runs)
    assert [(r.scenario, r.load.rps) for r in rows] == [("direct", 3100.0), ("gateway", 1100.0)]


def rounds_of(scenario: str, rps: list[float], **extra) -> list[Row]:
    return [run(scenario, value, n, **extra) for n, value in enumerate(rps, 1)]


def test_paired_ratio_is_taken_within_each_round_with_median_and_range() -> None:
    runs = rounds_of("gateway", [1000.0, 800.0, 1200.0, 1000.0]) + rounds_of(
        "gateway-3", [980.0, 720.0, 1176.0, 990.0]
    )
    (ratio,) = paired_ratios(runs)
    assert ratio.pair.scenario == "gateway-3" and ratio.rounds == [1, 2, 3, 4]
    assert ratio.rps == pytest.approx([0.98, 0.90, 0.98, 0.99])
    assert ratio.met is True  # median 0.98 >= 0.95, although round 2 fell short
    assert verdict_lines([ratio]) == [
        "target #3 gateway-3 within 5% of gateway: met (req/s median 0.98, rounds 0.90-0.99)"
    ]


@pytest.mark.parametrize(
    ("scenario", "rps", "met"),
    [("gateway-3", 950.0, True), ("gateway-3", 949.0, False), ("auto", 850.0, True), ("auto", 849.0, False)],
)
def test_ratio_target_is_095_for_gateway3_and_085_for_auto(scenario: str, rps: float, met: bool) -> None:
    (ratio,) = paired_ratios([run("gateway", 1000.0), run(scenario, rps)])
    assert ratio.met is met
    assert verdict_lines([ratio])[0].endswith(
        f"{'met' if met else 'MISSED'} (req/s {rps / 1000:.2f}, a single round)"
    )


def test_no_ratio_when_one_scenario_of_a_pair_did_not_run() -> None:
    assert paired_ratios(rounds_of("gateway", [1000.0, 1100.0]) + rounds_of("direct", [3000.0, 3100.0])) == []
    assert paired_ratios(rounds_of("auto", [900.0, 900.0])) == []


def test_ratio_only_over_rounds_in_which_both_ran() -> None:
    runs = rounds_of("gateway", [1000.0, 1000.0, 1000.0]) + [run("auto", 900.0, 2)]
    (ratio,) = paired_ratios(runs)
    assert ratio.rounds == [2] and ratio.rps == [0.9]


def test_rounds_with_the_machine_busy_are_named() -> None:
    runs = rounds_of("gateway", [1000.0, 1000.0, 1000.0], cpu_us_per_req=500.0)
    runs[1].other_cpu_pct = 12.0
    runs += [
        run("gateway-3", 960.0, n, other_cpu_pct=5.0 if n == 3 else 1.0, cpu_us_per_req=550.0)
        for n in (1, 2, 3)
    ]
    (ratio,) = paired_ratios(runs)
    assert ratio.disturbed == [2, 3]
    assert ratio.cpu_per_req == pytest.approx([1.1, 1.1, 1.1])
    assert verdict_lines([ratio]) == [
        "target #3 gateway-3 within 5% of gateway: met (req/s median 0.96, rounds 0.96-0.96;"
        " CPU/req median 1.10, rounds 1.10-1.10; other processes busy in rounds 2, 3)"
    ]


def test_pair_without_target_has_no_verdict() -> None:
    (ratio,) = paired_ratios([run("gateway", 1000.0), run("experiment", 970.0)])
    assert ratio.met is None
    assert verdict_lines([ratio]) == ["experiment/gateway: req/s 0.97, a single round (no target)"]
