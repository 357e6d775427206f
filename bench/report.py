"""The figures, as an aligned table for people and as JSON for machines, and the issue's targets.

With `--repeat N` the table and the targets are on each scenario's medians (`bench/rounds.py`), the
ratio targets on ratios taken round by round (`bench/paired.py`), and the JSON keeps every run."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import paired
from bench.rounds import medians
from bench.runner import Row

# The targets of issue 7, for one worker against nginx at 20 connections.
TARGET_RPS = 1200.0
TARGET_P99_MS = 40.0
TARGET_ADDED_MS = 0.5
TARGET_TTFT_ADDED_MS = 0.5
TARGET_CHUNKS_PER_S = 50_000.0
TARGET_VS_LITELLM = 25.0
TARGET_VS_PORTKEY = 2.5
HOST_SPREAD = 1.2  # a row whose host check is this far from the run's median gets a note


def _num(digits: int) -> Callable[[float | None], str]:
    return lambda v: "-" if v is None else f"{v:,.{digits}f}"


COLUMNS: list[tuple[str, Callable[[Row], Any], Callable[[Any], str]]] = [
    ("scenario", lambda r: r.scenario, str),
    ("req/s", lambda r: r.load.rps, _num(0)),
    ("p50 ms", lambda r: r.load.p50_ms, _num(2)),
    ("p99 ms", lambda r: r.load.p99_ms, _num(2)),
    ("seq p50 ms", lambda r: r.seq.p50_ms, _num(3)),
    ("seq p99 ms", lambda r: r.seq.p99_ms, _num(3)),
    ("added ms", lambda r: r.added_ms, _num(3)),
    ("TTFT ms", lambda r: r.seq.ttfb_p50_ms if r.chunks_per_s is not None else None, _num(3)),
    ("TTFT added", lambda r: r.ttfb_added_ms, _num(3)),
    ("chunks/s", lambda r: r.chunks_per_s, _num(0)),
    ("RSS MB", lambda r: r.rss_mb, _num(1)),
    ("server CPU %", lambda r: r.server_cpu_pct, _num(0)),
    ("CPU µs/req", lambda r: r.cpu_us_per_req, _num(0)),
    ("other CPU %", lambda r: r.other_cpu_pct, _num(0)),
    ("host ms", lambda r: None if r.host_check_ms is None else sum(r.host_check_ms) / 2, _num(0)),
]


# With --repeat: the lowest and highest req/s of a scenario's rounds, beside their median.
SPREAD_COLUMN = (
    "req/s min-max",
    lambda r: r.rps_range,
    lambda v: "-" if v is None else f"{v[0]:,.0f}-{v[1]:,.0f}",
)


def table(rows: Sequence[Row], runs: Sequence[Row] | None = None) -> str:
    """`rows`: one per scenario (medians with --repeat); `runs`: every run, for the host speed notes."""
    columns = list(COLUMNS)
    if any(r.rps_range for r in rows):
        columns.insert(2, SPREAD_COLUMN)
    cells = [[fmt(get(row)) for _, get, fmt in columns] for row in rows]
    heads = [name for name, _, _ in columns]
    widths = [max(len(c) for c in column) for column in zip(heads, *cells, strict=True)]

    def line(values: Sequence[str]) -> str:
        first = values[0].ljust(widths[0])
        rest = (v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True))
        return " | ".join([first, *rest])

    out = [line(heads), "-+-".join("-" * w for w in widths)]
    out += [line(c) for c in cells]
    for row in rows:
        out += [f"! {row.scenario}: {note}" for note in row.notes]
    out += host_speed_notes(rows if runs is None else runs)
    return "\n".join(out)


def host_speed_notes(runs: Sequence[Row]) -> list[str]:
    """Runs measured while the host ran at a speed unlike the rest of the bench's (a VM's neighbours);
    with --repeat one line per scenario, naming the rounds."""
    checks = [(r, sum(r.host_check_ms) / 2) for r in runs if r.host_check_ms]
    if len(checks) < 3:
        return []
    typical = statistics.median(ms for _, ms in checks)
    off = [(r, ms) for r, ms in checks if not typical / HOST_SPREAD <= ms <= typical * HOST_SPREAD]
    if not any(r.round > 1 for r in runs):
        return [
            f"! {r.scenario}: the host ran at {typical / ms:.0%} of its usual speed in this run (check loop"
            f" {ms:.0f} ms, median {typical:.0f} ms): not comparable with the other rows as is"
            for r, ms in off
        ]
    speeds: dict[str, list[str]] = {}
    for r, ms in off:
        speeds.setdefault(r.scenario, []).append(f"round {r.round} ({typical / ms:.0%})")
    return [
        f"! {name}: the host's speed was off its usual (check loop median {typical:.0f} ms over all runs)"
        f" in {', '.join(each)}: the medians soften this; compare single rounds with care"
        for name, each in speeds.items()
    ]


def lone_request(rows: Sequence[Row], host: dict | None = None) -> list[str]:
    """What a lone request pays: sequential p50 over nginx's own, full answer and first token; with
    how the host wakes idle CPUs, which sets its floor on a VM (`bench/host.py`)."""
    lines = []
    for row in rows:
        if row.added_ms is None:
            continue
        if row.ttfb_added_ms is None:
            lines.append(f"  {row.scenario:<12} non-streaming  added p50 {row.added_ms:7.3f} ms")
        else:
            lines.append(
                f"  {row.scenario:<12} first token    added p50 {row.ttfb_added_ms:7.3f} ms"
                f"   (whole stream {row.added_ms:.3f} ms)"
            )
    if lines:
        lines.insert(0, "lone request (one connection, one request at a time), p50 over the upstream's own:")
        if host and host.get("guest_halt_poll_ns") is not None:
            polling = host["guest_halt_poll_ns"]
            lines.append(
                f"  (idle CPUs: {host['cpuidle_driver']}, guest_halt_poll_ns {polling:,}"
                + (": each wake-up of a halted vCPU is a VM exit; see --halt-poll)" if not polling else ")")
            )
    return lines


def verdicts(rows: Sequence[Row], upstream_kind: str, runs: Sequence[Row] | None = None) -> list[str]:
    """The issue's targets, each checked against the row it is about (only meaningful against nginx);
    the targets that compare two scenarios against their ratios round by round in `runs`."""
    by_name = {r.scenario: r for r in rows}
    lines = []
    gateway = by_name.get("gateway")
    if gateway is not None:
        rps, p99 = gateway.load.rps, gateway.load.p99_ms
        lines.append(_verdict(f"one worker >= {TARGET_RPS:,.0f} req/s", rps >= TARGET_RPS, f"{rps:,.0f}"))
        lines.append(
            _verdict(f"p99 < {TARGET_P99_MS:g} ms at 20 connections", p99 < TARGET_P99_MS, f"{p99:.1f} ms")
        )
        if gateway.added_ms is not None:
            ok = gateway.added_ms < TARGET_ADDED_MS
            lines.append(
                _verdict(f"lone request added p50 < {TARGET_ADDED_MS:g} ms", ok, f"{gateway.added_ms:.3f} ms")
            )
    stream = by_name.get("stream")
    if stream is not None and stream.ttfb_added_ms is not None:
        ok = stream.ttfb_added_ms < TARGET_TTFT_ADDED_MS
        got = f"{stream.ttfb_added_ms:.3f} ms"
        lines.append(_verdict(f"time to first token added p50 < {TARGET_TTFT_ADDED_MS:g} ms", ok, got))
    many = by_name.get("stream-200")
    if many is not None and many.chunks_per_s is not None:
        ok = many.chunks_per_s >= TARGET_CHUNKS_PER_S
        lines.append(
            _verdict(f"relay >= {TARGET_CHUNKS_PER_S:,.0f} chunks/s", ok, f"{many.chunks_per_s:,.0f}")
        )
    two = by_name.get("workers-2")
    if two is not None and gateway is not None and gateway.load.rps:
        split = "/".join(str(n) for n in two.connections_per_worker or []) or "?"
        lines.append(
            f"two workers: {two.load.rps:,.0f} req/s = {two.load.rps / gateway.load.rps:.2f}x one worker"
            f" (gateway CPU {two.server_cpu_pct or 0:.0f}% of one core, one worker {gateway.server_cpu_pct or 0:.0f}%;"
            f" connections per worker {split})"
        )
    for peer, target in (("litellm", TARGET_VS_LITELLM), ("portkey", TARGET_VS_PORTKEY)):
        row = by_name.get(peer)
        if row is not None and gateway is not None and row.load.rps:
            ratio = gateway.load.rps / row.load.rps
            lines.append(_verdict(f"GRID/{peer} req/s >= {target:g}x", ratio >= target, f"{ratio:.1f}x"))
        row = by_name.get(f"{peer}-stream")
        if row is not None and stream is not None and row.load.rps:
            lines.append(f"GRID/{peer} streaming req/s: {stream.load.rps / row.load.rps:.1f}x (no target)")
    bare = by_name.get("bare")
    if bare is not None and gateway is not None and bare.load.rps:
        added = ""
        if bare.added_ms is not None and gateway.added_ms is not None:
            added = f"; lone request added {gateway.added_ms:.3f} ms vs the bare {bare.added_ms:.3f} ms"
        lines.append(
            f"GRID/bare pass-through req/s: {gateway.load.rps / bare.load.rps:.2f}x{added} (no target: the floor)"
        )
    lines += paired.verdict_lines(paired.paired_ratios(rows if runs is None else runs))
    if lines and upstream_kind != "nginx":
        lines.append("(measured against the mock upstream, not nginx: targets do not apply)")
    return lines


def _verdict(what: str, ok: bool, got: str) -> str:
    return f"target {what}: {'met' if ok else 'MISSED'} ({got})"


def write_json(path: Path, runs: Sequence[Row], context: dict[str, Any]) -> None:
    """Every run's raw figures (`round` says which); with --repeat also the medians and the ratios."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**context, "results": [asdict(r) for r in runs]}
    if any(r.round > 1 for r in runs):
        data["medians"] = [asdict(r) for r in medians(runs)]
    data["ratios"] = [paired.as_json(p) for p in paired.paired_ratios(runs)]
    path.write_text(json.dumps(data, indent=2) + "\n")
