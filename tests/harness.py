"""The test suite's one harness: a real gateway process (`gateway serve` on a free loopback port, logs
captured, its temp directory removed on stop) and the helpers every test file shares: the test keys,
`user()` messages, HTTP and openai clients that always carry a timeout, a polling helper, and the one
Prometheus text parser."""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import openai
import yaml
from prometheus_client.parser import text_string_to_metric_families

MASTER_KEY = "sk-grid-test-master"
PROVIDER_KEY = "sk-provider-secret-123"
# A gateway with LiteLLM-path deployments: LiteLLM reads its cost map and beta headers from the package,
# not the network (nothing may be downloaded here)
LITELLM_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True"}
CHAT = "/v1/chat/completions"

# Every httpx client (each `httpx.get`, each SDK client) builds its own SSL context by default, and that
# parses the whole CA bundle: 28 ms of CPU per client, though every test talks plain HTTP on loopback.
# The harness's clients share one context, built once the way httpx builds it (same CA bundle, same
# environment variables); pass `verify=TLS_CONTEXT` to a one-off `httpx.get` in a loop.
TLS_CONTEXT = httpx.create_ssl_context()
HI = [{"role": "user", "content": "hi"}]

# Every client in the suite has a timeout: a hung gateway fails its test instead of stalling CI for the
# SDK's default ten minutes (pytest-timeout's 60 s per test is the backstop).
CLIENT_TIMEOUT = 20.0


def user(text: str) -> list[dict[str, Any]]:
    """One user message, as the chat APIs take it."""
    return [{"role": "user", "content": text}]


def auth(key: str = MASTER_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def http_client(
    target: GatewayProcess | str, key: str | None = MASTER_KEY, timeout: float = CLIENT_TIMEOUT
) -> httpx.Client:
    """An httpx client on a gateway (or any base URL), with the key as a bearer token."""
    base = target.url if isinstance(target, GatewayProcess) else target
    return httpx.Client(base_url=base, headers=auth(key) if key else {}, timeout=timeout, verify=TLS_CONTEXT)


def openai_client(
    target: GatewayProcess | str, key: str = MASTER_KEY, timeout: float = CLIENT_TIMEOUT, **kwargs: Any
) -> openai.OpenAI:
    """The official SDK pointed at a gateway (or a `/v1` base URL): no retries, a timeout."""
    base = target.base_url if isinstance(target, GatewayProcess) else target
    kwargs.setdefault("http_client", openai.DefaultHttpxClient(verify=TLS_CONTEXT))
    return openai.OpenAI(base_url=base, api_key=key, max_retries=0, timeout=timeout, **kwargs)


def async_openai_client(
    target: GatewayProcess | str, key: str = MASTER_KEY, timeout: float = CLIENT_TIMEOUT, **kwargs: Any
) -> openai.AsyncOpenAI:
    base = target.base_url if isinstance(target, GatewayProcess) else target
    kwargs.setdefault("http_client", openai.DefaultAsyncHttpxClient(verify=TLS_CONTEXT))
    return openai.AsyncOpenAI(base_url=base, api_key=key, max_retries=0, timeout=timeout, **kwargs)


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, interval: float = 0.02) -> bool:
    """Poll `condition` until it is true or `timeout` seconds passed; returns its last truth.

    The timeout is a generous deadline for something that happens soon (a busy machine may be slow),
    never a measurement: a test that needs it to pass quickly belongs in `make bench`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample called `name` in Prometheus text: (labels, value) pairs."""
    return [
        (dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def metric_map(text: str) -> dict[str, float]:
    """Every sample as `name{label="value",...}` (labels sorted) -> value, for tests that read many."""
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def metric_value(text: str, name: str, default: float | None = None, **labels: str) -> float | None:
    """The value of the first sample called `name` whose labels include `labels`; `default` if none."""
    for found, value in metric_samples(text, name):
        if all(found.get(k) == v for k, v in labels.items()):
            return value
    return default


def _answers(port: int, path: str, timeout: float = 2.0) -> int | None:
    """GET `path` on a loopback port with the standard library's client: the status, or None if nothing
    answered. The readiness poll runs every 50 ms while a gateway starts: an httpx client per poll cost
    more CPU than the start it waited for shares the machine with."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_STOPPED_DIRS: list[Path] = []


@atexit.register
def _remove_stopped_dirs() -> None:
    for directory in _STOPPED_DIRS:
        shutil.rmtree(directory, ignore_errors=True)


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
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(config))

    def start(self, timeout: float = 180.0) -> GatewayProcess:
        """Start and wait until it answers. The deadline is generous: a gateway that imports LiteLLM
        under coverage has taken over 60 s with four xdist workers on a 2-core machine at load 19."""
        self.write_config(self.config)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRID_", "OPENAI_", "ANTHROPIC_"))}
        env.update(self.env)
        env.setdefault("GRID_LOG_LEVEL", "INFO")
        cmd = [sys.executable, "-m", "gateway", "serve", "--config", str(self.config_path)]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers), *self.args]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(  # its own process group: `stop` ends its workers with it
            cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            preexec_fn=self.preexec_fn,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise RuntimeError(f"gateway exited with {self.proc.returncode}:\n{self.logs()}")
            if _answers(self.port, "/health/liveliness") == 200:
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway did not become ready:\n{self.logs()}")

    def logs(self) -> str:
        """The log so far. The gateway writes its lines once per event-loop iteration: a round trip
        through it first (to /metrics, which logs nothing) makes sure earlier lines are out."""
        if self.proc is not None and self.proc.poll() is None:
            _answers(self.port, "/metrics")
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
        if self.proc is not None:  # `--workers N`: a worker the server left behind goes with its group
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        if getattr(self, "_log", None):
            self._log.close()
        # The temp directory goes when the test process exits (or when this object is collected), not
        # here: tests read `logs()` and `log_path` after stopping a gateway (e.g. its shutdown lines).
        _STOPPED_DIRS.append(self.dir)

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:  # a process never started (or not stopped) leaves no temp directory
        with contextlib.suppress(Exception):
            if self.proc is None or self.proc.poll() is not None:
                shutil.rmtree(self.dir, ignore_errors=True)
