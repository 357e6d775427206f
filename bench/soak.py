"""`python -m bench.soak` (`make soak`): an endurance run, 200,000 mixed requests against one worker.

The upstream is the project's mock (`python -m gateway.mock_upstream`) with fault injection; the load
generator is built in (raw asyncio streams on uvloop: httpx would spend more CPU than the gateway).
Requests cycle through kinds, JSON and SSE:

    bench / bench-stream     a healthy group: must always answer 2xx (streams: complete, `[DONE]`)
    flaky / flaky-stream     a group of 2 deployments, the first answering 500 in bursts (40 in a
                             row every 1,000 requests); the gateway's retries hide them: must
                             always answer 2xx
    broken                   a group whose only deployment answers 503: the client gets an error
                             (502 after retries, or 503 while the deployment's breaker is open)
    rejected                 an upstream that refuses the request (400): relayed to the client,
                             with no retry and no breaker, so every one reaches the upstream
    cut-stream               streams cut by the upstream after 3 events (20 every 1,000 requests):
                             the client gets an SSE error event

Every `--interval` requests it prints the gateway's RSS and open file descriptors (/proc/PID/fd) and
the errors so far. An error on the last three kinds is injected; anything else that is not a complete
2xx answer (status, a stream without `[DONE]` or with an error event, a socket error, a timeout) is an
uninjected error, and there must be none. The first interval is warm-up; growth is measured from
its end. The run stops after `--requests` requests, or with an error after `--max-seconds`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench import grid
from bench.cpu import OtherLoad, wait_quiet
from bench.procs import Proc, free_port, wait_port
from bench.pyload import build_request

# Faults for the whole run: `broken` keeps its breaker opening and half-opening all run long.
STANDING_FAULTS = [
    {"match": {"model": "broken"}, "status": 503, "message": "soak: injected, reaches the client"},
    {"match": {"model": "rejected"}, "status": 400, "message": "soak: injected, relayed as is"},
]
# Bursts re-armed every `REARM_EVERY` requests, each shorter than `allowed_fails`: every one of these
# faults reaches the gateway (no breaker opens), so the retry path and the cut-stream path run all
# run long, not just until a breaker opens for good.
REARM_EVERY = 1000
BURST_FAULTS = [
    {"match": {"model": "flaky"}, "status": 500, "times": 40, "message": "soak: injected, hidden by retries"},
    {"match": {"model": "cut", "stream": True}, "cut_after": 3, "times": 20},
]
ALLOWED_FAILS = 50

# (kind, group, stream, injected): one cycle of 20 requests; 15% of them carry a visible fault.
CYCLE = (
    [("bench", "bench", False, False)] * 5
    + [("bench-stream", "bench", True, False)] * 6
    + [("flaky", "flaky", False, False)] * 3
    + [("flaky-stream", "flaky", True, False)] * 3
    + [("broken", "broken", False, True)]
    + [("rejected", "rejected", False, True)]
    + [("cut-stream", "cut", True, True)]
)
# Interleave, so every window of the run sees every kind.
CYCLE = [CYCLE[(i * 7) % len(CYCLE)] for i in range(len(CYCLE))]

TIMEOUT = 30.0
FD_SLACK = 8  # client and upstream connections open and close: a leak grows by thousands, not this
ERROR_EVENT = b'data: {"error"'


def soak_config(mock_port: int) -> dict:
    base = f"http://127.0.0.1:{mock_port}/v1"

    def dep(group: str, model: str, dep_id: str) -> dict:
        return {
            "model_name": group,
            "litellm_params": {"model": f"openai/{model}", "api_base": base, "api_key": "sk-soak"},
            "model_info": {"id": dep_id},
        }

    return {
        "model_list": [
            dep("bench", "bench-model", "bench-1"),
            dep("flaky", "flaky", "flaky-bad"),
            dep("flaky", "healthy", "flaky-good"),
            dep("broken", "broken", "broken-1"),
            dep("rejected", "rejected", "rejected-1"),
            dep("cut", "cut", "cut-1"),
        ],
        # A 1 s cooldown: the broken deployment's breaker opens, half-opens and re-opens every second.
        "router_settings": {"num_retries": 2, "allowed_fails": ALLOWED_FAILS, "cooldown_time": 1},
        "general_settings": {"master_key": grid.MASTER_KEY},
    }


@dataclass
class Tally:
    sent: int = 0
    done: int = 0
    by_kind: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)  # (kind, status)
    injected: Counter = field(default_factory=Counter)  # kind -> errors seen on injected kinds
    uninjected: Counter = field(default_factory=Counter)  # kind -> errors that were not injected
    examples: list[str] = field(default_factory=list)

    def error(self, kind: str, injected: bool, what: str) -> None:
        if injected:
            self.injected[kind] += 1
            return
        self.uninjected[kind] += 1
        if len(self.examples) < 10:
            self.examples.append(f"{kind}: {what}")


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            data = await reader.readexactly(size + 2)
            if size == 0:
                break
            parts.append(data[:-2])
        return status, headers, b"".join(parts)
    return status, headers, await reader.readexactly(int(headers.get("content-length", "0")))


def judge(stream: bool, status: int, body: bytes) -> str | None:
    """None for a complete 2xx answer, else what was wrong."""
    if not 200 <= status < 300:
        return f"HTTP {status}: {body[:160]!r}"
    if stream:
        error_at = body.find(ERROR_EVENT)
        if error_at >= 0:
            return f"error event in the stream: {body[error_at : error_at + 160]!r}"
        if not body.rstrip().endswith(b"data: [DONE]"):
            return f"stream ended without [DONE]: ...{body[-120:]!r}"
    elif b'"choices"' not in body:
        return f"no choices in the answer: {body[:160]!r}"
    return None


class Load:
    def __init__(self, port: int, total: int, connections: int, deadline: float, mock_port: int) -> None:
        self.port = port
        self.mock_port = mock_port
        self.rearms = 0
        self.total = total
        self.connections = connections
        self.deadline = deadline
        self.tally = Tally()
        self.requests = [
            (kind, stream, injected, self._request(group, stream, i))
            for i, (kind, group, stream, injected) in enumerate(CYCLE)
        ]
        self.milestone = asyncio.Event()

    def _request(self, group: str, stream: bool, i: int) -> bytes:
        body: dict = {
            "model": group,
            "messages": [{"role": "user", "content": f"soak request {i} says hello"}],
        }
        if stream:
            body["stream"] = True
            if i % 2:
                body["stream_options"] = {"include_usage": True}
        raw = json.dumps(body, separators=(",", ":")).encode()
        return build_request("127.0.0.1", "/v1/chat/completions", raw, grid.MASTER_KEY)

    async def run(self) -> None:
        await asyncio.gather(*(self._connection() for _ in range(self.connections)))

    async def _connection(self) -> None:
        tally = self.tally
        reader = writer = None
        while tally.sent < self.total and time.monotonic() < self.deadline:
            kind, stream, injected, request = self.requests[tally.sent % len(self.requests)]
            tally.sent += 1
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.write(request)
                status, headers, body = await asyncio.wait_for(read_response(reader), TIMEOUT)
                tally.statuses[(kind, status)] += 1
                problem = judge(stream, status, body)
                if problem:
                    tally.error(kind, injected, problem)
                if headers.get("connection", "").lower() == "close":
                    writer.close()
                    reader = writer = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
                tally.error(kind, False, f"{type(exc).__name__}: {exc}")  # a socket error is never injected
                if writer is not None:
                    writer.close()
                reader = writer = None
            tally.done += 1
            tally.by_kind[kind] += 1
            self.milestone.set()
            if tally.done % REARM_EVERY == 0:
                self.rearms += 1
                await asyncio.to_thread(post_faults, self.mock_port, BURST_FAULTS)
        if writer is not None:
            writer.close()


@dataclass
class Sample:
    done: int
    seconds: float
    rss_mb: float
    fds: int


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


async def monitor(load: Load, proc: Proc, interval: int, samples: list[Sample], started: float) -> None:
    nxt = interval
    last = (0, started)
    while True:
        await load.milestone.wait()
        load.milestone.clear()
        done = load.tally.done
        finished = done >= load.total or time.monotonic() >= load.deadline
        if done >= nxt or finished:
            now = time.monotonic()
            sample = Sample(done, now - started, proc.rss_bytes() / 2**20, fd_count(proc.pid))
            samples.append(sample)
            rate = (done - last[0]) / max(1e-9, now - last[1])
            last = (done, now)
            t = load.tally
            print(
                f"{done:>9,} {sample.seconds:>7.0f} {rate:>7,.0f} {sample.rss_mb:>8.1f} {sample.fds:>5}"
                f" {sum(t.injected.values()):>9,} {sum(t.uninjected.values()):>11,}",
                flush=True,
            )
            nxt = (done // interval + 1) * interval
        if finished and load.tally.done >= min(load.tally.sent, load.total):
            return


def post_faults(mock_port: int, rules: list[dict]) -> None:
    request = urllib.request.Request(
        f"http://127.0.0.1:{mock_port}/_mock/faults",
        data=json.dumps(rules).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        if response.status != 200:
            raise RuntimeError(f"POST /_mock/faults answered {response.status}")


def mock_stats(mock_port: int) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{mock_port}/_mock/stats", timeout=10) as response:
        return json.loads(response.read())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200_000, help="requests in all (default 200,000)")
    parser.add_argument("--interval", type=int, default=20_000, help="print RSS and fds every N requests")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument(
        "--max-seconds", type=float, default=900.0, help="give up after this long (default 900)"
    )
    parser.add_argument(
        "--quiet-wait", type=float, default=30.0, help="wait up to S s for the machine to idle"
    )
    parser.add_argument(
        "--max-rss-growth", type=float, default=20.0, help="MB allowed after warm-up (default 20)"
    )
    parser.add_argument(
        "--output", default=str(Path(__file__).resolve().parent.parent / ".bench" / "soak.json")
    )
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)

    cpus = sorted(os.sched_getaffinity(0))
    gateway_cpus, other_cpus = ({cpus[0]}, set(cpus[1:])) if len(cpus) >= 2 else (None, None)
    if other_cpus:
        os.sched_setaffinity(0, other_cpus)
    workdir = Path(tempfile.mkdtemp(prefix="grid-soak-"))
    mock_port = free_port()
    mock_argv = [
        sys.executable,
        "-m",
        "gateway.mock_upstream",
        "--host",
        "127.0.0.1",
        "--port",
        str(mock_port),
    ]
    mock = Proc("mock", mock_argv + ["--record-limit", "0"], workdir / "mock.log", cpus=other_cpus)
    gateway: Proc | None = None
    try:
        mock.start()
        if not wait_port(mock_port):
            raise RuntimeError(f"the mock upstream did not start:\n{mock.log_tail()}")
        post_faults(mock_port, STANDING_FAULTS + BURST_FAULTS)
        config = grid.write_config(workdir, "soak", soak_config(mock_port))
        gateway, port = grid.start(config, workdir, 1, gateway_cpus)
        if args.quiet_wait > 0:
            busy = wait_quiet(args.quiet_wait)
            if busy >= 5:
                print(f"(the machine is {busy:.0f}% busy with other work; running anyway)")
        print(
            f"soak: {args.requests:,} requests, {args.connections} connections, one gateway worker"
            f" (pid {gateway.pid}) on the mock upstream with faults; kinds per cycle of {len(CYCLE)}: "
            + ", ".join(f"{k} {n}" for k, n in Counter(k for k, *_ in CYCLE).items())
        )
        print(
            f"{'requests':>9} {'seconds':>7} {'req/s':>7} {'RSS MB':>8} {'fds':>5} {'injected':>9} {'uninjected':>11}"
        )
        samples: list[Sample] = [Sample(0, 0.0, gateway.rss_bytes() / 2**20, fd_count(gateway.pid))]
        started = time.monotonic()
        load = Load(port, args.requests, args.connections, started + args.max_seconds, mock_port)
        with OtherLoad([mock, gateway]) as other:
            _run(load, gateway, args.interval, samples, started)
        alive = gateway.alive()
        applied = int(mock_stats(mock_port).get("faults_applied", 0))
        result = _summary(load, samples, args, other.percent, alive, applied)
    except KeyboardInterrupt:
        print(f"\ninterrupted; logs in {workdir}", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"\nsoak failed: {exc}\nlogs kept in {workdir}", file=sys.stderr)
        return 1
    finally:
        if gateway is not None:
            gateway.stop()
        mock.stop()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nJSON: {args.output}")
    if args.keep_logs or not result["ok"]:
        print(f"configs and logs: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if result["ok"] else 1


def _run(load: Load, gateway: Proc, interval: int, samples: list[Sample], started: float) -> None:
    async def both() -> None:
        await asyncio.gather(load.run(), monitor(load, gateway, interval, samples, started))

    try:
        import uvloop

        uvloop.run(both())
    except ImportError:
        asyncio.run(both())


def _summary(
    load: Load, samples: list[Sample], args: argparse.Namespace, other_pct: float, alive: bool, applied: int
) -> dict:
    t = load.tally
    warm = next((s for s in samples if s.done >= args.interval), samples[-1])
    last = samples[-1]
    after = [s for s in samples if s.done >= warm.done]
    rss_growth = last.rss_mb - warm.rss_mb
    rss_peak_growth = max(s.rss_mb for s in after) - warm.rss_mb
    # fds under load: the final sample is taken while the clients hang up, so it is left out
    loaded = [s.fds for s in after[:-1]] or [warm.fds]
    fd_growth = max(loaded) - warm.fds
    uninjected = sum(t.uninjected.values())
    seconds = last.seconds
    print()
    print(
        f"requests: {t.done:,} in {seconds:.0f} s ({t.done / max(seconds, 1e-9):,.0f} req/s); other CPU {other_pct:.0f}%"
    )
    print(
        "per kind (status: count): "
        + "; ".join(
            f"{kind} " + ", ".join(f"{s}: {n:,}" for (k, s), n in sorted(t.statuses.items()) if k == kind)
            for kind in t.by_kind
        )
    )
    print(f"injected errors seen by the client: {sum(t.injected.values()):,} ({dict(t.injected)})")
    print(
        f"faults the mock applied upstream (hidden by retries or not): {applied:,}"
        f" ({load.rearms} bursts re-armed)"
    )
    print(f"uninjected errors (non-2xx, broken streams, socket errors): {uninjected}")
    for example in t.examples:
        print(f"  e.g. {example}")
    print(
        f"RSS: {samples[0].rss_mb:.1f} MB at start, {warm.rss_mb:.1f} MB after warm-up ({warm.done:,} requests),"
        f" {last.rss_mb:.1f} MB at the end: growth {rss_growth:+.1f} MB (peak {rss_peak_growth:+.1f} MB)"
    )
    print(
        f"open fds: {samples[0].fds} before the load, {warm.fds} after warm-up, {min(loaded)}-{max(loaded)} under"
        f" load after it, {last.fds} as the clients hung up: growth {fd_growth:+d} (allowed: {FD_SLACK},"
        " connection churn)"
    )
    checks = {
        f"{args.requests:,} requests done": t.done >= args.requests,
        "the gateway is still running": alive,
        "zero uninjected errors": uninjected == 0,
        f"RSS growth after warm-up < {args.max_rss_growth:g} MB": rss_growth < args.max_rss_growth,
        "no fd growth after warm-up": fd_growth <= FD_SLACK,
        "injected faults reached the client": sum(t.injected.values()) > 0,
    }
    for what, ok in checks.items():
        print(f"{'ok    ' if ok else 'FAILED'} {what}")
    return {
        "requests": t.done,
        "seconds": round(seconds, 1),
        "connections": args.connections,
        "other_cpu_pct": round(other_pct, 1),
        "by_kind": dict(t.by_kind),
        "statuses": {f"{k} {s}": n for (k, s), n in sorted(t.statuses.items())},
        "injected": dict(t.injected),
        "uninjected": dict(t.uninjected),
        "examples": t.examples,
        "samples": [vars(s) for s in samples],
        "rss_growth_mb": round(rss_growth, 2),
        "fd_growth": fd_growth,
        "faults_applied_upstream": applied,
        "checks": checks,
        "ok": all(checks.values()),
    }


if __name__ == "__main__":
    raise SystemExit(main())
