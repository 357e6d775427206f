"""Throughput under concurrency: wrk (`apt-get install -y wrk`), or our own asyncio client without it.

wrk runs `-t1 -c20 --latency` with `wrk_post.lua`, which POSTs the chat request from the environment.
A warm-up run of the same shape comes first and is thrown away.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.procs import Proc
from bench.target import Headers

LUA_SCRIPT = Path(__file__).with_name("wrk_post.lua")

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass(frozen=True)
class LoadResult:
    """What one measured run produced; `errors` counts non-2xx answers and socket errors."""

    tool: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


@dataclass(frozen=True)
class LoadSpec:
    url: str
    body: bytes
    key: str
    connections: int
    duration: float
    headers: Headers = ()


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def run_load(spec: LoadSpec, workdir: Path, cpus: set[int] | None, warmup: float) -> LoadResult:
    """Warm up, then measure, with wrk if installed, else the asyncio fallback."""
    if wrk_binary() is None:
        from bench import pyload

        if warmup > 0:
            pyload.run(spec, warmup)
        return pyload.run(spec, spec.duration)
    if warmup > 0:
        _run_wrk(spec, warmup, workdir, cpus)
    return parse_wrk(_run_wrk(spec, spec.duration, workdir, cpus))


def _run_wrk(spec: LoadSpec, duration: float, workdir: Path, cpus: set[int] | None) -> str:
    argv = [
        wrk_binary() or "wrk",
        "-t1",
        f"-c{spec.connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "--latency",
        "-s",
        str(LUA_SCRIPT),
        spec.url,
    ]
    extra = "".join(f"{name}: {value}\n" for name, value in spec.headers)
    env = dict(os.environ, BENCH_BODY=spec.body.decode(), BENCH_KEY=spec.key, BENCH_HEADERS=extra)
    log = workdir / "wrk.log"
    proc = Proc("wrk", argv, log, cpus=cpus, env=env).start()
    try:
        proc.wait(timeout=duration + 30)
    finally:
        proc.stop()
    output = log.read_text(errors="replace")
    if "Requests/sec" not in output:
        raise RuntimeError(f"wrk failed:\n{output}")
    return output


def parse_wrk(output: str) -> LoadResult:
    """Requests/s, p50, p99 and error counts from `wrk --latency` output."""
    rps = float(_search(r"Requests/sec:\s+([\d.]+)", output))
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", output)
    if total is None:
        raise ValueError(f"no request count in wrk output:\n{output}")
    latencies = dict(re.findall(r"^\s+(\d+)%\s+([\d.]+\w+)\s*$", output, re.MULTILINE))
    errors = int(_search(r"Non-2xx or 3xx responses:\s+(\d+)", output, "0"))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return LoadResult(
        tool="wrk",
        requests=int(total.group(1)),
        seconds=_to_ms(total.group(2) + total.group(3)) / 1000,
        rps=rps,
        p50_ms=_to_ms(latencies["50"]),
        p99_ms=_to_ms(latencies["99"]),
        errors=errors,
    )


def _search(pattern: str, text: str, default: str | None = None) -> str:
    match = re.search(pattern, text)
    if match:
        return match.group(1)
    if default is None:
        raise ValueError(f"{pattern!r} not found in wrk output:\n{text}")
    return default


def _to_ms(value: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value)
    if match is None:
        raise ValueError(f"unknown wrk duration {value!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]
