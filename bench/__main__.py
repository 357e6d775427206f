"""`python -m bench [--scenarios direct,gateway] [--repeat 4]`: run the scenarios, print the table.

Starts nginx (or the mock upstream) once, then per run a fresh gateway; wrk measures throughput
at 20 connections, a one-connection probe measures sequential latency. `--repeat N` runs the
scenarios in N interleaved rounds and reports medians (`bench/rounds.py`). Everything it starts is
stopped on exit, Ctrl-C and errors included. Results also go to `.bench/results.json`.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from bench import grid, host, report, rounds, scenarios
from bench.cpu import wait_quiet
from bench.load import wrk_binary
from bench.runner import Row, Runner, Settings
from bench.upstream import INSTALL_HINT, Upstream, nginx_binary, start_upstream

ROOT = Path(__file__).resolve().parent.parent

# `make bench`: 4 rounds of 5 s runs, ~10 min in all. An even count runs every pair of scenarios as
# often in one order as in the other (rounds.py), which matters: one run each swung gateway-3/gateway
# from -10% to +8% with the order alone. Env BENCH_REPEAT / BENCH_DURATION override.
DEFAULTS = {"repeat": 4, "duration": 5.0}


def main(
    argv: list[str] | None = None,
    pool: list[scenarios.Scenario] | None = None,
    prog: str = "python -m bench",
    defaults: dict[str, float] | None = None,
) -> int:
    """Run the scenarios of `pool` (default: `scenarios.SCENARIOS`); `bench.peers` passes its own
    scenarios and `defaults` (repeat, duration)."""
    pool = scenarios.SCENARIOS if pool is None else pool
    args = _parse(argv, pool, prog, DEFAULTS if defaults is None else defaults)
    if args.list:
        for s in pool:
            print(f"{s.name:14} {s.summary}")
        return 0
    chosen = scenarios.select(args.scenarios, pool)
    settings = _settings(args)
    _announce_tools(settings, len(chosen), args.repeat)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
    if settings.other_cpus:
        os.sched_setaffinity(0, settings.other_cpus)
    workdir = Path(tempfile.mkdtemp(prefix="grid-bench-"))
    try:
        with host.halt_polling(args.halt_poll) as refused:
            if refused:
                print(refused)
            runs, failures, context = _run(rounds.schedule(chosen, args.repeat), settings, workdir)
    except KeyboardInterrupt:
        print(f"\ninterrupted; everything started was stopped; logs in {workdir}", file=sys.stderr)
        return 130
    except RuntimeError as exc:
        print(f"\nbench failed: {exc}\nlogs kept in {workdir}", file=sys.stderr)
        return 1
    rows = rounds.medians(runs) if args.repeat > 1 else runs  # one round: a row per run, as listed
    print()
    if args.repeat > 1:
        print(f"medians over {args.repeat} rounds:")
    print(report.table(rows, runs))
    print()
    for line in report.lone_request(rows, context["host"]):
        print(line)
    print()
    for line in report.verdicts(rows, context["upstream"]["kind"], runs):
        print(line)
    output = Path(args.output)
    report.write_json(output, runs, context)
    print(f"\nJSON: {output}")
    for failure in failures:
        print(f"\nFAILED {failure}", file=sys.stderr)
    if failures or args.keep_logs:
        print(f"configs and logs: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0


def _run(
    order: list[tuple[int, scenarios.Scenario]], settings: Settings, workdir: Path
) -> tuple[list[Row], list[str], dict[str, Any]]:
    """Run the scenarios in `order` ((round, scenario) pairs); one run that fails is reported and the
    others still run."""
    upstream, upstream_proc = start_upstream(workdir, settings.other_cpus, settings.upstream)
    runs: list[Row] = []
    failures: list[str] = []
    repeat = max(number for number, _ in order) if order else 1
    try:
        runner = Runner(upstream, upstream_proc, settings, workdir)
        missing = grid.available()
        for number, scenario in order:
            name = scenario.name if repeat == 1 else f"{scenario.name} [{number}/{repeat}]"
            if scenario.server == "grid" and scenario.via_gateway and missing:
                print(f"- {name}: skipped ({missing})", flush=True)
                continue
            if settings.quiet_wait > 0:
                busy = wait_quiet(settings.quiet_wait)
                if busy >= 5:
                    print(f"  (the machine is {busy:.0f}% busy with other work; measuring anyway)")
            summary = f" {scenario.summary}" if number == 1 else ""  # said once is enough
            print(f"- {name}:{summary} ...", end=" ", flush=True)
            started = time.monotonic()
            try:
                runs.append(runner.run(scenario, number))
            except Exception as exc:  # one broken run must not lose the others' figures
                print("FAILED", flush=True)
                if not isinstance(exc, RuntimeError):
                    traceback.print_exc()
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            print(f"{_progress(runs[-1])} ({time.monotonic() - started:.0f}s)", flush=True)
    finally:
        upstream_proc.stop()
    return runs, failures, _context(upstream, settings, repeat)


def _progress(run: Row) -> str:
    cpu = "" if run.cpu_us_per_req is None else f", {run.cpu_us_per_req:,.0f} CPU µs/req"
    return f"{run.load.rps:,.0f} req/s{cpu}"


def _context(upstream: Upstream, settings: Settings, repeat: int) -> dict[str, Any]:
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "host": host.describe(),  # read while the bench's own setting (--halt-poll) is in force
        "upstream": {"kind": upstream.kind, "version": upstream.version},
        "settings": {
            "repeat": repeat,
            "duration_s": settings.duration,
            "warmup_s": settings.warmup,
            "connections": settings.connections,
            "sequential_requests": settings.requests,
            "quiet_wait_s": settings.quiet_wait,
            "gateway_cpus": sorted(settings.gateway_cpus or []),
            "other_cpus": sorted(settings.other_cpus or []),
            "load_tool": "wrk" if wrk_binary() else "python",
        },
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _parse(
    argv: list[str] | None, pool: list[scenarios.Scenario], prog: str, defaults: dict[str, float]
) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    names = ",".join(s.name for s in pool)
    parser.add_argument("--scenarios", help=f"comma-separated, from: {names} (default: all)")
    repeat = os.environ.get("BENCH_REPEAT", f"{defaults['repeat']:g}")
    parser.add_argument(
        "--repeat",
        type=_positive_int,
        default=repeat,
        help="rounds of the scenarios, alternately forward and reversed; the table shows medians "
        f"(env BENCH_REPEAT; default {repeat})",
    )
    duration = float(os.environ.get("BENCH_DURATION", defaults["duration"]))
    parser.add_argument(
        "--duration",
        type=float,
        default=duration,
        help=f"seconds per measured load run (env BENCH_DURATION; default {duration:g})",
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up load before each run")
    parser.add_argument("--connections", type=int, default=20, help="concurrent connections (default 20)")
    parser.add_argument("--requests", type=int, default=2000, help="sequential probe requests (default 2000)")
    parser.add_argument(
        "--pin",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="pin the gateway to CPU 0 and nginx, wrk and the harness to CPU 1 (default: on, if 2+ CPUs)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="before each scenario, wait up to this many seconds for other processes to go idle",
    )
    parser.add_argument(
        "--upstream",
        choices=("auto", "nginx", "mock"),
        default=os.environ.get("BENCH_UPSTREAM", "auto"),
        help="nginx, the project's mock, or auto: nginx when installed (env BENCH_UPSTREAM)",
    )
    parser.add_argument(
        "--halt-poll",
        type=int,
        metavar="NS",
        default=os.environ.get("BENCH_HALT_POLL") or None,  # a string default goes through `type`
        help="on a KVM guest, idle CPUs poll this long before halting, for the bench's duration (root;"
        " bench/host.py says why; env BENCH_HALT_POLL; default: the host as it is)",
    )
    parser.add_argument("--output", default=str(ROOT / ".bench" / "results.json"))
    parser.add_argument("--keep-logs", action="store_true", help="keep the temp dir with configs and logs")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return parser.parse_args(argv)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _settings(args: argparse.Namespace) -> Settings:
    cpus = sorted(os.sched_getaffinity(0))
    pin = args.pin and len(cpus) >= 2
    return Settings(
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        requests=args.requests,
        quiet_wait=args.quiet_wait,
        upstream=args.upstream,
        gateway_cpus={cpus[0]} if pin else None,
        other_cpus=set(cpus[1:]) if pin else None,
        all_cpus=set(cpus) if pin else None,
    )


def _announce_tools(settings: Settings, count: int, repeat: int) -> None:
    """Say which tools run, and how to install the missing ones."""
    nginx, wrk = nginx_binary(), wrk_binary()
    if not nginx and settings.upstream != "mock":
        print(f"nginx not found: using the (much slower) mock upstream; install it with: {INSTALL_HINT}")
    if not wrk:
        print(f"wrk not found: using the built-in Python load generator; install it with: {INSTALL_HINT}")
    pin = (
        f"gateway on CPU {sorted(settings.gateway_cpus)} (several workers: on all CPUs), the rest on CPU"
        f" {sorted(settings.other_cpus or [])}"
        if settings.gateway_cpus
        else "not pinned"
    )
    per_run = settings.warmup + settings.duration
    rounds_text = "" if repeat == 1 else f" x {repeat} interleaved rounds"
    print(
        f"bench: {count} scenario(s){rounds_text}, {settings.connections} connections, {per_run:g}s load"
        f" each + {settings.requests} sequential requests; CPUs: {pin}"
    )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    raise SystemExit(main())
