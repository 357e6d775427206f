"""`python -m bench.peers` (`make bench-peers`): GRID beside LiteLLM's proxy and Portkey's gateway.

Each peer runs with one worker, pinned like the gateway, on the same nginx upstream, under the same
wrk load and sequential probe as `make bench`; the table gives the ratios. The peers are installed
on first use, outside the project's environment:

- LiteLLM's proxy: a side virtualenv `.bench/peers-venv` (`pip install 'litellm[proxy]'`), run as
  `litellm --config X --port N --num_workers 1`, offline (`LITELLM_LOCAL_MODEL_COST_MAP=True`, no
  telemetry, no database), with a master key like the gateway.
- a bare Starlette + aiohttp pass-through (`bench/bare.py`), the yardstick issue 7 names: what
  this stack costs with no gateway features at all;
- Portkey's gateway (Node): `npm install @portkey-ai/gateway` into `.bench/portkey`, run as
  `node build/start-server.js --port=N --headless`; each request names its provider and upstream in
  `x-portkey-provider` / `x-portkey-custom-host` headers, as Portkey's docs say.

A peer that cannot be installed or started is reported, with why, and the others still run.

    python -m bench.peers [--scenarios direct,gateway,litellm] [--duration 10] [--no-install]
"""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from bench import grid
from bench.procs import Proc, free_port
from bench.scenarios import Scenario, group_config
from bench.target import Target
from bench.upstream import Upstream

ROOT = Path(__file__).resolve().parent.parent
PEERS_VENV = ROOT / ".bench" / "peers-venv"
PORTKEY_DIR = ROOT / ".bench" / "portkey"
PORTKEY_SERVER = PORTKEY_DIR / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
LITELLM_SPEC = "litellm[proxy]"
PORTKEY_SPEC = "@portkey-ai/gateway"
INSTALL_TIMEOUT = 900.0
READY_TIMEOUT = 180.0  # LiteLLM's proxy takes a while to import
# One 10 s run each, as before `--repeat`: LiteLLM starts slowly and its ~25x gap needs no median;
# `--repeat N` (or BENCH_REPEAT) interleaves rounds here too.
DEFAULTS = {"repeat": 1, "duration": 10.0}

# Keep LiteLLM off the network: the bundled price map, no telemetry, no update checks.
LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_TELEMETRY": "False",
    "LITELLM_DONT_SHOW_FEEDBACK_BOX": "True",
    "DISABLE_ADMIN_UI": "True",
}


def litellm_config(upstream: Upstream, stream: bool = False) -> dict[str, Any]:
    """LiteLLM's proxy config for the same group the gateway serves (the file GRID loads unchanged)."""
    config = group_config(1, stream=stream)(upstream)
    config["litellm_settings"] = {"telemetry": False}
    return config


def _litellm_builder(stream: bool):
    return lambda upstream: litellm_config(upstream, stream)


def _portkey_builder(upstream: Upstream) -> dict[str, Any]:
    return {}  # Portkey takes its routing from request headers (see `start`)


def _no_config(upstream: Upstream) -> dict[str, Any]:
    return {}  # the bare pass-through takes its upstream on the command line


PEER_SCENARIOS: list[Scenario] = [
    Scenario("direct", "wrk straight at the upstream: the ceiling and the baseline"),
    Scenario("gateway", "GRID, non-streaming, 1 deployment", config=group_config(1)),
    Scenario(
        "litellm", "LiteLLM proxy, non-streaming, 1 worker", config=_litellm_builder(False), server="litellm"
    ),
    Scenario("portkey", "Portkey gateway (Node), non-streaming", config=_portkey_builder, server="portkey"),
    Scenario(
        "bare",
        "a bare Starlette + aiohttp pass-through (bench/bare.py): the floor on this stack",
        config=_no_config,
        server="bare",
    ),
    Scenario("stream", "GRID, streaming, SSE of 20 chunks", config=group_config(1, stream=True), stream=True),
    Scenario(
        "litellm-stream",
        "LiteLLM proxy, streaming, SSE of 20 chunks",
        config=_litellm_builder(True),
        stream=True,
        server="litellm",
    ),
    Scenario(
        "portkey-stream",
        "Portkey gateway, streaming, SSE of 20 chunks",
        config=_portkey_builder,
        stream=True,
        server="portkey",
    ),
]


# Scenarios that do not work here, with why; `--scenarios` still runs them.
OFF_BY_DEFAULT = {
    "portkey-stream": "Portkey 1.15.2 on Node 20 answers every stream with a 500"
    " (TypeError: immutable, in its updateHeaders)",
}


def start(scenario: Scenario, upstream: Upstream, workdir: Path, cpus: set[int] | None) -> Target:
    """Start the scenario's peer server on a free port; return once it answers."""
    port = free_port()
    if scenario.server == "litellm":
        config = workdir / f"{scenario.name}.yaml"
        config.write_text(yaml.safe_dump(litellm_config(upstream, scenario.stream), sort_keys=False))
        argv = [str(PEERS_VENV / "bin" / "litellm"), "--config", str(config)]
        argv += ["--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LITELLM_", "DATABASE_URL"))}
        env.update(LITELLM_ENV)
        proc = Proc("litellm", argv, workdir / f"{scenario.name}.log", cpus=cpus, env=env).start()
        target = Target(port, "/v1/chat/completions", grid.MASTER_KEY, proc=proc)
        ready = "/health/liveliness"
    elif scenario.server == "bare":
        argv = [sys.executable, "-m", "bench.bare", "--upstream", upstream.api_base(scenario.stream)]
        argv += ["--port", str(port)]
        proc = Proc("bare", argv, workdir / f"{scenario.name}.log", cpus=cpus).start()
        target = Target(port, "/v1/chat/completions", "", proc=proc)
        ready = "/"
    elif scenario.server == "portkey":
        argv = [shutil.which("node") or "node", str(PORTKEY_SERVER), f"--port={port}", "--headless"]
        env = dict(os.environ, NODE_ENV="production")
        proc = Proc("portkey", argv, workdir / f"{scenario.name}.log", cpus=cpus, env=env).start()
        headers = (
            ("x-portkey-provider", "openai"),
            ("x-portkey-custom-host", upstream.api_base(scenario.stream)),
        )
        # Portkey forwards the client's key to the provider: the client sends the upstream's key.
        target = Target(port, "/v1/chat/completions", "sk-bench", headers, proc)
        ready = "/"
    else:
        raise ValueError(f"unknown server {scenario.server!r}")
    try:
        _wait_ready(proc, port, ready)
    except BaseException:
        proc.stop()
        raise
    return target


def _wait_ready(proc: Proc, port: int, path: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited during start-up:\n{proc.log_tail()}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.25)
    raise RuntimeError(f"{proc.name} was not ready after {READY_TIMEOUT:.0f}s:\n{proc.log_tail()}")


def ensure_litellm(install: bool) -> str | None:
    """None when LiteLLM's proxy is installed in the side virtualenv (installing it if allowed), else
    why it is not available."""
    litellm = PEERS_VENV / "bin" / "litellm"
    if litellm.exists():
        return None
    if not install:
        return f"not installed ({litellm} missing) and --no-install given"
    python = getattr(sys, "_base_executable", None) or sys.executable
    log = PEERS_VENV.parent / "peers-install.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"installing {LITELLM_SPEC} into {PEERS_VENV} (log: {log}) ...", flush=True)
    steps = [
        [python, "-m", "venv", str(PEERS_VENV)],
        [str(PEERS_VENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--upgrade", "pip"],
        [str(PEERS_VENV / "bin" / "python"), "-m", "pip", "install", LITELLM_SPEC],
    ]
    return _install(steps, log) or (None if litellm.exists() else f"no {litellm} after the install")


def ensure_portkey(install: bool) -> str | None:
    """None when Portkey's gateway is installed under .bench/portkey (installing it if allowed)."""
    if shutil.which("node") is None:
        return "node is not installed (apt-get install -y nodejs npm)"
    if PORTKEY_SERVER.exists():
        return None
    if not install:
        return f"not installed ({PORTKEY_SERVER} missing) and --no-install given"
    if shutil.which("npm") is None:
        return "npm is not installed (apt-get install -y npm)"
    PORTKEY_DIR.mkdir(parents=True, exist_ok=True)
    log = PORTKEY_DIR.parent / "portkey-install.log"
    print(f"installing {PORTKEY_SPEC} into {PORTKEY_DIR} from the npm registry (log: {log}) ...", flush=True)
    steps = [["npm", "install", "--prefix", str(PORTKEY_DIR), "--no-audit", "--no-fund", PORTKEY_SPEC]]
    return _install(steps, log) or (
        None if PORTKEY_SERVER.exists() else f"no {PORTKEY_SERVER} after npm install"
    )


def _install(steps: list[list[str]], log: Path) -> str | None:
    with log.open("ab") as out:
        for argv in steps:
            try:
                done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"`{' '.join(argv)}` failed: {exc}"
            if done.returncode != 0:
                tail = "\n    ".join(log.read_text(errors="replace").splitlines()[-8:])
                return f"`{' '.join(argv)}` exited {done.returncode}:\n    {tail}"
    return None


def main(argv: list[str] | None = None) -> int:
    from bench.__main__ import main as bench_main

    args = list(sys.argv[1:] if argv is None else argv)
    install = "--no-install" not in args
    args = [a for a in args if a != "--no-install"]
    if {"--list", "-h", "--help"} & set(args):
        return bench_main(args, pool=PEER_SCENARIOS, prog="python -m bench.peers", defaults=DEFAULTS)
    missing = {"litellm": ensure_litellm(install), "portkey": ensure_portkey(install)}
    for server, why in missing.items():
        if why:
            print(f"{server}: unavailable, its rows are skipped: {why}", flush=True)
    pool = [s for s in PEER_SCENARIOS if not missing.get(s.server)]
    if not any(a.startswith("--scenarios") for a in args):
        names = [s.name for s in pool if s.name not in OFF_BY_DEFAULT]
        args += ["--scenarios", ",".join(names)]
        for name, why in OFF_BY_DEFAULT.items():
            if any(s.name == name for s in pool):
                print(f"{name}: left out ({why}); ask for it with --scenarios", flush=True)
    if not any(a.startswith("--output") for a in args):
        args += ["--output", str(ROOT / ".bench" / "peers.json")]
    return bench_main(args, pool=pool, prog="python -m bench.peers", defaults=DEFAULTS)


if __name__ == "__main__":
    raise SystemExit(main())
