"""The figures, as an aligned table for people and as JSON for machines."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.runner import Row

TARGET_RPS = 1000.0
TARGET_ADDED_MS = 1.0


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
    ("RSS MB", lambda r: r.rss_mb, _num(1)),
    ("chunks/s", lambda r: r.chunks_per_s, _num(0)),
    ("TTFB ms", lambda r: r.seq.ttfb_p50_ms if r.chunks_per_s is not None else None, _num(3)),
    ("TTFB added", lambda r: r.ttfb_added_ms, _num(3)),
    ("other CPU %", lambda r: r.other_cpu_pct, _num(0)),
]


def table(rows: Sequence[Row]) -> str:
    cells = [[fmt(get(row)) for _, get, fmt in COLUMNS] for row in rows]
    heads = [name for name, _, _ in COLUMNS]
    widths = [max(len(c) for c in column) for column in zip(heads, *cells, strict=True)]

    def line(values: Sequence[str]) -> str:
        first = values[0].ljust(widths[0])
        rest = (v.rjust(w) for v, w in zip(values[1:], widths[1:], strict=True))
        return " | ".join([first, *rest])

    out = [line(heads), "-+-".join("-" * w for w in widths)]
    out += [line(c) for c in cells]
    for row in rows:
        out += [f"! {row.scenario}: {note}" for note in row.notes]
    return "\n".join(out)


def verdicts(rows: Sequence[Row], upstream_kind: str) -> list[str]:
    """The issue's targets, checked against the `gateway` row (only meaningful against nginx)."""
    row = next((r for r in rows if r.scenario == "gateway"), None)
    if row is None:
        return []
    lines = [
        _verdict(
            f"one worker >= {TARGET_RPS:,.0f} req/s", row.load.rps >= TARGET_RPS, f"{row.load.rps:,.0f}"
        ),
    ]
    if row.added_ms is not None:
        ok = row.added_ms < TARGET_ADDED_MS
        lines.append(_verdict(f"added p50 < {TARGET_ADDED_MS:g} ms", ok, f"{row.added_ms:.3f} ms"))
    if upstream_kind != "nginx":
        lines.append("(measured against the mock upstream, not nginx: targets do not apply)")
    return lines


def _verdict(what: str, ok: bool, got: str) -> str:
    return f"target {what}: {'met' if ok else 'MISSED'} ({got})"


def write_json(path: Path, rows: Sequence[Row], context: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {**context, "results": [asdict(r) for r in rows]}
    path.write_text(json.dumps(data, indent=2) + "\n")
