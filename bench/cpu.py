"""How much CPU went to processes that are not part of the benchmark while it measured.

On a 2-core machine anything else running (a test suite, an editor's indexer) takes CPU straight
from the gateway, and the figures drop with no other sign. `OtherLoad` measures the machine's busy
time over a run and subtracts what the bench's own processes used; the rest is reported per row.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from bench.procs import Proc, process_tree

_TICK = os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """Context manager; afterwards `percent` is others' CPU as a share of all CPUs (0-100)."""

    def __init__(self, procs: Sequence[Proc]) -> None:
        self.procs = procs
        self.percent = 0.0

    def __enter__(self) -> OtherLoad:
        self._start = (time.monotonic(), machine_busy_seconds(), self._ours())
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        wall0, busy0, ours0 = self._start
        wall = time.monotonic() - wall0
        others = (machine_busy_seconds() - busy0) - (self._ours() - ours0)
        capacity = wall * (os.cpu_count() or 1)
        self.percent = max(0.0, min(100.0, 100 * others / capacity)) if capacity > 0 else 0.0

    def _ours(self) -> float:
        """CPU seconds of the bench: its children (alive or reaped, e.g. wrk) and itself."""
        alive = sum(tree_cpu_seconds(p.pid) for p in self.procs if p.alive())
        me = resource.getrusage(resource.RUSAGE_SELF)
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        return alive + me.ru_utime + me.ru_stime + reaped.ru_utime + reaped.ru_stime


def machine_busy_seconds() -> float:
    """User + nice + system time of all CPUs since boot (interrupt time left out: it is nobody's)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    user, nice, system = (int(v) for v in fields[1:4])
    return (user + nice + system) / _TICK


def tree_cpu_seconds(root: int) -> float:
    total = 0
    for pid in process_tree(root):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(stat[11]) + int(stat[12])  # utime, stime
    return total / _TICK


def wait_quiet(max_wait: float, threshold_pct: float = 5.0, window: float = 1.0) -> float:
    """Wait (up to `max_wait` s) for a `window` in which the machine is under `threshold_pct` busy.

    Called between scenarios, when the bench itself is idle, so anything busy is someone else.
    Returns the last busy share seen (0-100).
    """
    deadline = time.monotonic() + max_wait
    while True:
        busy0, wall0 = machine_busy_seconds(), time.monotonic()
        time.sleep(window)
        capacity = (time.monotonic() - wall0) * (os.cpu_count() or 1)
        busy = 100 * (machine_busy_seconds() - busy0) / capacity
        if busy < threshold_pct or time.monotonic() >= deadline:
            return busy


_SPEED_LOOP = """
import time
def loop():
    t = time.perf_counter(); x = 0
    for i in range(1_000_000):
        x += i * i
    return time.perf_counter() - t
print(min(loop() for _ in range(5)) * 1000)
"""


def speed_check(cpus: set[int] | None) -> float | None:
    """Milliseconds a fixed Python loop takes on `cpus` (best of 5): the speed of the host right now.

    On a VM the host's other tenants slow every vCPU down without any process of this machine being
    busy, so `OtherLoad` cannot see it; this can. Lower is faster; compare rows and runs with it."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _SPEED_LOOP],
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        return float(done.stdout.strip())
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
