"""Instructions per request, counted by valgrind's callgrind: `make icount` (`python -m bench.icount`).

Wall-clock figures on a shared 2-CPU machine move with whatever else the host is doing; instruction
counts do not: the same binary, config and requests give the same count to a few hundredths of a per
cent, whatever the other CPU is busy with. So this is the yardstick for "does this change make the hot
path cheaper", and for comparing scenarios (`auto` against `gateway`, say) without noise.

Each scenario: nginx upstream, the gateway under `valgrind --tool=callgrind --instr-atstart=no`, a
warm-up, then counting switched on (`callgrind_control -i on`) for N requests sent over keep-alive
connections from a few threads, each body with its own running number (payloads.VARY_MARK), then off.
Logs and metrics stay on, as in `make bench`. Needs valgrind (`apt-get install -y valgrind`).

`--scenarios key-limits,key-limits-redis` (issue 19) count a limited key's path; the Redis one starts
a `redis-server`. It is the one scenario whose count moves between runs (by a few per cent): how many
calls share a write to Redis depends on timing, and the background loops (the poll, 4 a second) keep
wall-clock time while valgrind slows the process ~50x, so their share per request is inflated.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from bench import grid, payloads, scenarios
from bench.upstream import start_upstream

DEFAULT_SCENARIOS = "gateway,gateway-3,auto,experiment"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.icount", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenarios",
        default=DEFAULT_SCENARIOS,
        help=f"comma-separated scenario names (default {DEFAULT_SCENARIOS})",
    )
    parser.add_argument("--requests", type=int, default=1000, help="counted requests per scenario")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--threads", type=int, default=4, help="client connections")
    parser.add_argument("--keep", type=Path, help="copy the callgrind dumps here (for callgrind_annotate)")
    args = parser.parse_args(argv)
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        print("valgrind is not installed; install it with: apt-get install -y valgrind", file=sys.stderr)
        return 2
    chosen = [s for s in scenarios.select(args.scenarios) if s.via_gateway and s.workers == 1]
    with tempfile.TemporaryDirectory(prefix="grid-icount-") as tmp:
        workdir = Path(tmp)
        upstream, nginx = start_upstream(workdir, cpus=None)
        try:
            counts = {s.name: _count(s, upstream, workdir, args) for s in chosen}
        finally:
            nginx.stop()
    base = counts.get("gateway")
    print(f"{'scenario':<16} {'instructions/request':>21} {'vs gateway':>11}")
    for name, count in counts.items():
        ratio = f"{count / base:>10.3f}x" if base else ""
        print(f"{name:<16} {count:>21,.0f} {ratio}")
    return 0


def _count(scenario: scenarios.Scenario, upstream, workdir: Path, args: argparse.Namespace) -> float:
    config = grid.write_config(workdir, scenario.name, scenario.config(upstream))
    out = workdir / f"callgrind-{scenario.name}.out"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    proc, port = grid.start(config, workdir, 1, None, prefix=valgrind)
    body = payloads.chat_request(scenario.model, scenario.stream, scenario.deterministic, scenario.repeated)
    numbers = itertools.count(1)
    try:
        key = scenario.key or grid.MASTER_KEY
        _drive(port, body, numbers, args.warmup, args.threads, key)
        _control(proc.pid, "-i", "on")
        _drive(port, body, numbers, args.requests, args.threads, key)
        _control(proc.pid, "-i", "off")
        _control(proc.pid, "-d")
    finally:
        proc.stop(timeout=30.0)
    count = _instructions(workdir, out)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        for dump in workdir.glob(f"{out.name}*"):
            shutil.copy(dump, args.keep / dump.name)
    return count / args.requests


def _drive(port: int, template: bytes, numbers, total: int, threads: int, key: str) -> None:
    lock = threading.Lock()
    remaining = [total]
    failures: list[str] = []
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
                number = next(numbers)
            body = template.replace(payloads.VARY_MARK.encode(), str(number).encode())
            conn.request("POST", "/v1/chat/completions", body, headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                failures.append(str(response.status))
        conn.close()

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise RuntimeError(f"{len(failures)} requests failed: {sorted(set(failures))}")


def _control(pid: int, *flags: str) -> None:
    """Tell the callgrind tool in the gateway's process (valgrind runs python in that same process)."""
    subprocess.run(["callgrind_control", *flags, str(pid)], check=True, capture_output=True, timeout=120)


def _instructions(workdir: Path, out: Path) -> int:
    """The instructions of the dumps taken while counting was on (the final dump at exit has none)."""
    total = 0
    for dump in workdir.glob(f"{out.name}*"):
        for count in re.findall(r"^totals:\s*(\d+)", dump.read_text(errors="replace"), re.M):
            total = max(total, int(count))
    if not total:
        raise RuntimeError(f"no callgrind dump with counts in {workdir}")
    return total


if __name__ == "__main__":
    raise SystemExit(main())
