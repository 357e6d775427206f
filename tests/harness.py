"""Run a real gateway process for tests: `gateway serve` on a free loopback port, logs captured."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GatewayProcess:
    """A `gateway serve` subprocess on 127.0.0.1 with the given config (a dict written to YAML)."""

    def __init__(
        self,
        config: dict[str, Any],
        env: dict[str, str] | None = None,
        workers: int = 1,
        preexec_fn: Callable[[], None] | None = None,  # run in the child before exec (e.g. setrlimit)
        args: Sequence[str] = (),  # more `gateway serve` flags
    ) -> None:
        self.config = config
        self.env = env or {}
        self.workers = workers
        self.preexec_fn = preexec_fn
        self.args = list(args)
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="grid-test-"))
        self.config_path = self.dir / "config.yaml"
        self.log_path = self.dir / "gateway.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def write_config(self, config: dict[str, Any]) -> None:
        self.config = config
        self.config_path.write_text(yaml.safe_dump(config))

    def start(self, timeout: float = 30.0) -> GatewayProcess:
        self.write_config(self.config)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRID_", "OPENAI_", "ANTHROPIC_"))}
        env.update(self.env)
        env.setdefault("GRID_LOG_LEVEL", "INFO")
        cmd = [sys.executable, "-m", "gateway", "serve", "--config", str(self.config_path)]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers), *self.args]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, preexec_fn=self.preexec_fn
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if httpx.get(f"{self.url}/health/liveliness", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway did not become ready:\n{self.logs()}")

    def logs(self) -> str:
        """The log so far. The gateway writes its lines once per event-loop iteration: a round trip
        through it first (to /metrics, which logs nothing) makes sure earlier lines are out."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{self.url}/metrics", timeout=2)
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
