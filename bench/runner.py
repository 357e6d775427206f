"""Run one scenario: load with wrk (and the server's CPU), RSS, then the sequential probe; compare with
the direct baseline."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import grid, latency, payloads, state
from bench.cpu import OtherLoad, speed_check, tree_cpu_seconds
from bench.load import LoadResult, LoadSpec, run_load
from bench.procs import Proc, connections_by_process, process_tree
from bench.scenarios import Scenario
from bench.target import Target
from bench.upstream import Upstream

NOISY_PCT = 5.0
HOST_DRIFT = 1.2  # host check loop before / after a row differing by more than this: say so


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
    # Where a multi-worker gateway runs: every CPU, placed by the scheduler. It must be set explicitly:
    # a child inherits the harness's own pinning (to `other_cpus`) otherwise.
    all_cpus: set[int] | None = None


@dataclass
class Row:
    """One line of the table."""

    scenario: str
    summary: str
    load: LoadResult
    seq: latency.LatencyResult
    server: str = "grid"  # what served the row: grid, litellm, portkey, or the upstream (direct)
    workers: int = 1
    added_ms: float | None = None
    ttfb_added_ms: float | None = None
    chunks_per_s: float | None = None
    rss_mb: float | None = None
    server_cpu_pct: float | None = None  # CPU the server (all its processes) used during the load run
    # The same CPU time divided by the requests wrk completed: what a request costs the server. Unlike
    # req/s it barely moves when the scheduler or the host takes time away, so it is what we optimise.
    cpu_us_per_req: float | None = None
    # Several workers: wrk's connections held by each worker during the load run, most first.
    connections_per_worker: list[int] | None = None
    other_cpu_pct: float = 0.0  # CPU (share of all cores) used by processes outside the bench
    # A fixed Python loop on the gateway's CPU before and after the row (ms; lower is faster): the
    # speed of the host, which other tenants of a VM's host change without any local process busy.
    host_check_ms: tuple[float, float] | None = None
    notes: list[str] = field(default_factory=list)
    round: int = 1  # which round of `--repeat` measured it; 0 on a row of medians over all rounds
    rps_range: tuple[float, float] | None = None  # a row of medians: the lowest and highest req/s


class Runner:
    """Runs scenarios against one upstream, remembering the direct sequential baselines."""

    def __init__(self, upstream: Upstream, upstream_proc: Proc, settings: Settings, workdir: Path) -> None:
        self.upstream = upstream
        self.upstream_proc = upstream_proc
        self.settings = settings
        self.workdir = workdir
        self._baselines: dict[tuple[bool, int], latency.LatencyResult] = {}

    def run(self, scenario: Scenario, round: int = 1) -> Row:
        before = speed_check(self.settings.gateway_cpus)
        model = "bench-model" if scenario.server == "portkey" else scenario.model
        body = payloads.chat_request(model, scenario.stream, scenario.deterministic, scenario.repeated)
        with self._target(scenario, round) as target:
            spec = LoadSpec(
                url=f"http://127.0.0.1:{target.port}{target.path}",
                body=body,
                key=target.key,
                connections=self.settings.connections,
                duration=self.settings.duration,
                headers=target.headers,
            )
            proc = target.proc
            watched = [self.upstream_proc, *([proc] if proc else [])]
            with OtherLoad(watched) as other:
                load, cpu, split = self._load(spec, proc, target.port, scenario.workers)
                rss = proc.rss_bytes() / 2**20 if proc else None
                probe = latency.Probe(target.port, target.path, body, target.key, target.headers)
                seq = self._sequential(probe)
                trips = state.round_trips(target.port) if scenario.key else None
        row = Row(
            scenario.name,
            scenario.summary,
            load,
            seq,
            server=scenario.server if scenario.via_gateway else "upstream",
            workers=scenario.workers,
            rss_mb=rss,
            server_cpu_pct=None if cpu is None else 100 * cpu[0] / cpu[1],
            cpu_us_per_req=None if cpu is None or not load.requests else 1e6 * cpu[0] / load.requests,
            connections_per_worker=split,
            other_cpu_pct=other.percent,
            round=round,
        )
        after = speed_check(self.settings.gateway_cpus)
        if before is not None and after is not None:
            row.host_check_ms = (before, after)
        key = (scenario.stream, scenario.chunks)
        if not scenario.via_gateway:
            self._baselines[key] = seq
        else:
            self._compare(row, self.baseline(scenario, body))
        if scenario.stream:
            row.chunks_per_s = load.rps * seq.events
        row.notes += warnings(row)
        if trips:
            row.notes.append(trips)
        return row

    def _load(
        self, spec: LoadSpec, proc: Proc | None, port: int, workers: int
    ) -> tuple[LoadResult, tuple[float, float] | None, list[int] | None]:
        """The load run, the server's CPU over it as (CPU seconds, wall seconds; the warm-up left out),
        and with several workers how wrk's connections were spread over them (looked at half-way)."""
        if self.settings.warmup > 0:
            run_load(spec, self.workdir, self.settings.other_cpus, self.settings.warmup)
        split: list[list[int]] = []
        timer = None
        if proc is not None and workers > 1:

            def look() -> None:
                workers_now = [p for p in process_tree(proc.pid) if p != proc.pid]
                split.append(sorted(connections_by_process(workers_now, port).values(), reverse=True))

            timer = threading.Timer(spec.duration / 2, look)
            timer.start()
        cpu0, wall0 = (tree_cpu_seconds(proc.pid) if proc else 0.0), time.monotonic()
        load = run_load(spec, self.workdir, self.settings.other_cpus, 0)
        if timer is not None:
            timer.join()
        if proc is None:
            return load, None, None
        cpu = (tree_cpu_seconds(proc.pid) - cpu0, time.monotonic() - wall0)
        return load, cpu, ([n for n in split[0] if n] or [0]) if split else None

    def _compare(self, row: Row, base: latency.LatencyResult) -> None:
        """Fill in what the gateway adds on top of the upstream's own sequential latency."""
        row.added_ms = row.seq.p50_ms - base.p50_ms
        if base.events:
            row.ttfb_added_ms = row.seq.ttfb_p50_ms - base.ttfb_p50_ms
            if row.seq.events != base.events:
                row.notes.append(
                    f"the client got {row.seq.events} SSE events per response, the upstream sent {base.events}"
                )

    def baseline(self, scenario: Scenario, body: bytes) -> latency.LatencyResult:
        """The upstream's own sequential latency, measured once per kind (JSON / SSE of N events)."""
        key = (scenario.stream, scenario.chunks)
        if key not in self._baselines:
            path = self.upstream.chat_path(scenario.stream, scenario.chunks)
            self._baselines[key] = self._sequential(latency.Probe(self.upstream.port, path, body, ""))
        return self._baselines[key]

    def _sequential(self, probe: latency.Probe) -> latency.LatencyResult:
        warmup = max(50, self.settings.requests // 10)
        return latency.measure(probe, self.settings.requests, warmup)

    @contextlib.contextmanager
    def _target(self, scenario: Scenario, round: int) -> Iterator[Target]:
        """Where to aim: the upstream itself, a fresh gateway, or a peer (bench-peers). Each round's
        gateway gets its own config and log file, so `--keep-logs` keeps them all."""
        if scenario.config is None:
            yield Target(self.upstream.port, self.upstream.chat_path(scenario.stream, scenario.chunks))
            return
        cpus = self.settings.gateway_cpus if scenario.workers == 1 else self.settings.all_cpus
        if scenario.server == "grid":
            name = scenario.name if round == 1 else f"{scenario.name}-r{round}"
            config = grid.write_config(self.workdir, name, scenario.config(self.upstream))
            proc, port = grid.start(config, self.workdir, scenario.workers, cpus)
            target = Target(port, "/v1/chat/completions", scenario.key or grid.MASTER_KEY, proc=proc)
        else:
            from bench import peers

            target = peers.start(scenario, self.upstream, self.workdir, cpus)
        try:
            yield target
        finally:
            if target.proc is not None:
                target.proc.stop()


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
    split = row.connections_per_worker
    if split is not None and row.workers > 1 and (len(split) < row.workers or max(split) > 2 * min(split)):
        shown = "/".join(str(n) for n in split + [0] * (row.workers - len(split)))
        notes.append(
            f"wrk's connections were spread {shown} over the {row.workers} workers: they share one listening"
            " socket, the first awake accepts, and a keep-alive connection stays where it landed"
        )
    if row.host_check_ms and max(row.host_check_ms) > HOST_DRIFT * min(row.host_check_ms):
        before, after = row.host_check_ms
        notes.append(
            f"the host's speed changed while this was measured (check loop {before:.0f} ms before,"
            f" {after:.0f} ms after): compare this row with care"
        )
    return notes
