"""`python -m bench.profiled OUT.pyisession -- serve --config X ...`: the gateway with pyinstrument on call.

Runs `gateway` (the same `main` as `python -m gateway`) in this process. SIGUSR1 starts pyinstrument,
SIGUSR2 stops it and saves the session to OUT, so a profile covers exactly the measured load and not
the imports and start-up. Used by `bench/profile.py`.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from pyinstrument import Profiler

INTERVAL = 0.0005  # seconds between samples: ~2,000 per second of load


def main() -> int:
    if len(sys.argv) < 3 or sys.argv[2] != "--":
        raise SystemExit("usage: python -m bench.profiled OUT.pyisession -- serve --config X ...")
    out = sys.argv[1]
    profiler = Profiler(interval=INTERVAL, async_mode="disabled")

    def start(signum: int, frame: FrameType | None) -> None:
        if not profiler.is_running:
            profiler.start()

    def stop(signum: int, frame: FrameType | None) -> None:
        if profiler.is_running:
            session = profiler.stop()
            session.save(out)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)
    from gateway.cli import main as gateway_main

    sys.argv = ["gateway", *sys.argv[3:]]
    return gateway_main()


if __name__ == "__main__":
    raise SystemExit(main())
