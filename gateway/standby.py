"""The bundled mock upstream behind standby deployments: its default address, and `gateway serve`
starting it when a live standby deployment points at a loopback address where nothing listens.

The shipped config gives every model group a standby deployment (`model_info.standby: true`) on the
mock, at `os.environ/GRID_MOCK_URL` (OpenAI wire, with `/v1`) and `os.environ/GRID_MOCK_ANTHROPIC_URL`
(without: LiteLLM appends `/v1/messages`). Both have defaults, so the shipped config checks and serves
as shipped, with no provider key and no variable: a new user's first `gateway serve` answers
(the defaults are `gateway.config.loader.ENV_DEFAULTS`).
"""

from __future__ import annotations

import atexit
import logging
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from urllib.parse import urlsplit

from gateway.config.model import Deployment

log = logging.getLogger("grid.standby")

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def mock_ports(deployments: Iterable[Deployment]) -> list[int]:
    """The loopback ports live standby deployments send to, in order, each once."""
    ports: list[int] = []
    for dep in deployments:
        if not dep.standby or not dep.api_base:
            continue
        try:
            parts = urlsplit(dep.api_base)
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            continue
        if parts.scheme == "http" and parts.hostname in _LOOPBACK and port not in ports:
            ports.append(port)
    return ports


def listening(port: int) -> bool:
    """Whether anything accepts connections on 127.0.0.1:`port`."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def start_mock(port: int, seconds: float = 15.0) -> subprocess.Popen:
    """`python -m gateway.mock_upstream` on 127.0.0.1:`port`, answering; stopped when this process exits."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.mock_upstream", "--host", "127.0.0.1", "--port", str(port)]
    )
    atexit.register(stop_mock, proc)
    wait_ready(f"http://127.0.0.1:{port}/v1/models", proc, seconds)
    return proc


def stop_mock(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_ready(url: str, proc: subprocess.Popen, seconds: float = 15.0) -> None:
    """Return once `url` answers; SystemExit when the mock exits or stays silent for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the mock upstream exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the mock upstream did not answer on {url}")


def start_missing_mocks(deployments: Iterable[Deployment]) -> list[subprocess.Popen]:
    """Start the bundled mock on each loopback port a live standby deployment uses and nothing serves."""
    started = []
    for port in mock_ports(deployments):
        if listening(port):
            continue
        log.info(
            "standby deployments point at 127.0.0.1:%d and nothing listens there: starting the bundled "
            "mock upstream on it",
            port,
            extra={"mock_port": port},
        )
        started.append(start_mock(port))
    return started
