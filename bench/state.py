"""Issue 19's bench scenarios: a client key with limits, on the in-process backend and on Redis.

The key's limits are far above what the bench can reach, so every request pays the whole limit path
(admission, x-ratelimit headers, release with its cost) and none is refused. For Redis one
`redis-server` (Debian's; no persistence) is started on a free port the first time a scenario needs
it and stopped when the bench exits. After each run the gateway's own counters give the Redis round
trips per request, printed under the table.
"""

from __future__ import annotations

import atexit
import http.client
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.procs import Proc, free_port, wait_port
from bench.upstream import Upstream

LIMITED_KEY = "sk-bench-limited"
_redis: dict[str, Any] = {}


def redis_url() -> str:
    """The bench's Redis, started on first use."""
    if "url" not in _redis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError(
                "the key-limits-redis scenario needs redis-server (apt-get install redis-server)"
            )
        port = free_port()
        workdir = Path(tempfile.mkdtemp(prefix="grid-bench-redis-"))
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        proc = Proc("redis", [*argv, "--dir", str(workdir)], workdir / "redis.log").start()
        atexit.register(shutil.rmtree, workdir, ignore_errors=True)
        atexit.register(proc.stop)
        if not wait_port(port):
            raise RuntimeError(f"redis-server did not start:\n{proc.log_tail()}")
        _redis["url"] = f"redis://127.0.0.1:{port}/0"
    return _redis["url"]


def limited_config(redis: bool):
    """One deployment, and a key whose limits are all set (and never reached)."""

    def build(upstream: Upstream) -> dict[str, Any]:
        from bench.scenarios import _config, _deployment

        key = {
            "key": LIMITED_KEY,
            "name": "bench-limited",
            "rpm_limit": 10**9,
            "tpm_limit": 10**12,
            "max_parallel_requests": 10**6,
            "max_budget": 10**9,
            "budget_duration": "30d",
        }
        config = _config([_deployment("bench", upstream, "bench-1")])
        config["general_settings"]["api_keys"] = [key]
        if redis:
            config["router_settings"] = {"redis_url": redis_url()}
        return config

    return build


def round_trips(port: int) -> str | None:
    """The Redis round trips per request, from the gateway's metrics; None when it served no limited
    key."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    except OSError:
        return None
    finally:
        conn.close()
    ops: dict[str, float] = {}
    requests = 0.0
    for line in text.splitlines():
        if line.startswith("grid_state_backend_round_trips_total{"):
            op = line.split('op="', 1)[1].split('"', 1)[0]
            ops[op] = float(line.rsplit(" ", 1)[1])
        elif line.startswith('grid_key_requests_total{key="bench-limited"}'):
            requests = float(line.rsplit(" ", 1)[1])
    if not requests:
        return None
    if not ops:
        return "Redis round trips per request: 0 (in-process backend)"
    batches = ops.get("request", 0.0) / requests
    background = sum(v for k, v in ops.items() if k != "request")
    return (
        f"Redis: each request waits for 1 round trip (its admission); admissions and releases went out in "
        f"{batches:.2f} pipelines per request (batched per event-loop turn); {background:.0f} round trips "
        "in the background (poll, reconciliation)"
    )
