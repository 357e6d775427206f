"""The gateway under test: a temp config, `python -m gateway serve`, readiness polling, its RSS.

Logs stay at their normal level (INFO) and go to a file in the run's temp dir, so the figures include
the cost of access logging as deployed.
"""

from __future__ import annotations

import http.client
import importlib.util
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bench.procs import Proc, free_port

MASTER_KEY = "sk-bench-master"
READY_PATHS = ("/health/readiness", "/health/liveliness")


def available() -> str | None:
    """None if `python -m gateway serve` can run, else why not."""
    for module in ("gateway.cli", "gateway.app"):
        if importlib.util.find_spec(module) is None:
            return f"{module} does not exist yet"
    return None


def write_config(workdir: Path, name: str, config: dict[str, Any]) -> Path:
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start(
    config_path: Path,
    workdir: Path,
    workers: int,
    cpus: set[int] | None,
    wrapper: Sequence[str] = (),
    prefix: Sequence[str] = (),
) -> tuple[Proc, int]:
    """Start the gateway on a free port and wait until it reports ready. `wrapper` runs it through
    another module (`-m bench.profiled OUT --`, which profiles it) instead of `-m gateway`; `prefix`
    runs the interpreter itself under another program (valgrind, for `bench/icount.py`)."""
    port = free_port()
    argv = [
        *prefix,
        sys.executable,
        *(wrapper or ["-m", "gateway"]),
        "serve",
        "--config",
        str(config_path),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    # GRID_* variables override the file (master key, aliases, default model): keep them out so the
    # figures do not depend on the shell the bench was started from.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRID_")}
    log = workdir / f"gateway-{config_path.stem}.log"
    proc = Proc("gateway", argv, log, cpus=cpus, env=env).start()
    try:
        _wait_ready(proc, port, timeout=300.0 if prefix else 60.0)
    except BaseException:
        proc.stop()
        raise
    return proc, port


def _wait_ready(proc: Proc, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"the gateway exited during start-up:\n{proc.log_tail()}")
        for path in READY_PATHS:
            if _status(port, path) == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"the gateway was not ready after {timeout:.0f}s:\n{proc.log_tail()}")


def _status(port: int, path: str) -> int | None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()
