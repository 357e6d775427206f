"""Run one scenario: load with wrk, RSS, then the sequential probe; compare with the direct baseline."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import grid, latency, payloads
from bench.cpu import OtherLoad
from bench.load import LoadResult, LoadSpec, run_load
from bench.procs import Proc
from bench.scenarios import Scenario
from bench.upstream import Upstream

NOISY_PCT = 5.0


@dataclass(frozen=True)
class Settings:
    duration: float
    warmup: float
    connections: int
    requests: int
    quiet_wait: float  # seconds to wait for other processes to go idle before each scenario
    upstream: str  # "auto", "nginx" or "mock"
    gateway_cpus: set[int] | None  # where a one-worker gateway runs; None = anywhere
    other_cpus: set[int] | None  # nginx, wrk and this harness


@dataclass
class Row:
    """One line of the table."""

    scenario: str
    summary: str
    load: LoadResult
    seq: latency.LatencyResult
    added_ms: float | None = None
    ttfb_added_ms: float | None = None
    chunks_per_s: float | None = None
    rss_mb: float | None = None
    other_cpu_pct: float = 0.0  # CPU (share of all cores) used by processes outside the bench
    notes: list[str] = field(default_factory=list)


class Runner:
    """Runs scenarios against one upstream, remembering the direct sequential baselines."""

    def __init__(self, upstream: Upstream, upstream_proc: Proc, settings: Settings, workdir: Path) -> None:
        self.upstream = upstream
        self.upstream_proc = upstream_proc
        self.settings = settings
        self.workdir = workdir
        self._baselines: dict[bool, latency.LatencyResult] = {}

    def run(self, scenario: Scenario) -> Row:
        body = payloads.chat_request(scenario.model, scenario.stream)
        with self._target(scenario) as (port, path, key, proc):
            spec = LoadSpec(
                url=f"http://127.0.0.1:{port}{path}",
                body=body,
                key=key,
                connections=self.settings.connections,
                duration=self.settings.duration,
            )
            watched = [self.upstream_proc, *([proc] if proc else [])]
            with OtherLoad(watched) as other:
                load = run_load(spec, self.workdir, self.settings.other_cpus, self.settings.warmup)
                rss = proc.rss_bytes() / 2**20 if proc else None
                seq = self._sequential(latency.Probe(port, path, body, key))
        row = Row(scenario.name, scenario.summary, load, seq, rss_mb=rss, other_cpu_pct=other.percent)
        if not scenario.via_gateway:
            self._baselines[scenario.stream] = seq
        else:
            self._compare(row, self.baseline(scenario.stream, body))
        if scenario.stream:
            row.chunks_per_s = load.rps * seq.events
        row.notes += warnings(row)
        return row

    def _compare(self, row: Row, base: latency.LatencyResult) -> None:
        """Fill in what the gateway adds on top of the upstream's own sequential latency."""
        row.added_ms = row.seq.p50_ms - base.p50_ms
        if base.events:
            row.ttfb_added_ms = row.seq.ttfb_p50_ms - base.ttfb_p50_ms
            if row.seq.events != base.events:
                row.notes.append(
                    f"the client got {row.seq.events} SSE events per response, the upstream sent {base.events}"
                )

    def baseline(self, stream: bool, body: bytes) -> latency.LatencyResult:
        """The upstream's own sequential latency, measured once per kind (JSON / SSE)."""
        if stream not in self._baselines:
            path = self.upstream.chat_path(stream)
            self._baselines[stream] = self._sequential(latency.Probe(self.upstream.port, path, body, ""))
        return self._baselines[stream]

    def _sequential(self, probe: latency.Probe) -> latency.LatencyResult:
        warmup = max(50, self.settings.requests // 10)
        return latency.measure(probe, self.settings.requests, warmup)

    @contextlib.contextmanager
    def _target(self, scenario: Scenario) -> Iterator[tuple[int, str, str, Proc | None]]:
        """(port, path, key, gateway process) to aim at: the upstream itself or a fresh gateway."""
        if scenario.config is None:
            yield self.upstream.port, self.upstream.chat_path(scenario.stream), "", None
            return
        config = grid.write_config(self.workdir, scenario.name, scenario.config(self.upstream))
        cpus = self.settings.gateway_cpus if scenario.workers == 1 else None
        proc, port = grid.start(config, self.workdir, scenario.workers, cpus)
        try:
            yield port, "/v1/chat/completions", grid.MASTER_KEY, proc
        finally:
            proc.stop()


def warnings(row: Row) -> list[str]:
    """Reasons not to trust a row's figures as they stand."""
    notes = []
    if row.load.tool != "wrk":
        notes.append(f"load generated by the {row.load.tool} fallback, not wrk")
    if row.other_cpu_pct >= NOISY_PCT:
        notes.append(
            f"other processes used {row.other_cpu_pct:.0f}% of the machine's CPU while this was measured:"
            " these figures are low; rerun on a quiet machine"
        )
    if row.load.errors:
        notes.append(f"{row.load.errors} errors (non-2xx or socket) during the load run")
    return notes
