"""`make run`'s launcher (gateway.devrun) end to end, and the gateway's graceful shutdown.

The launcher is started as `make run` starts it (the shipped config.yaml, no provider keys), on free
ports; the openai SDK talks to it; stopping it stops its mock upstream too. A gateway stopped with
SIGTERM finishes the request it is serving before it exits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, deployment
from tests.harness import GatewayProcess, free_port, openai_client, user, wait_for

REPO = Path(__file__).resolve().parent.parent


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def refuses(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.ConnectError:
        return True
    except httpx.HTTPError:
        return False
    return False


def test_make_run_invokes_the_launcher_with_the_shipped_config() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}  # not a sub-make's
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", "PORT=8123", "MOCK_PORT=8124"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,  # make parses the Makefile, no more: a deadline for a busy machine
    )
    assert dry.returncode == 0, dry.stderr
    (line,) = [x for x in dry.stdout.splitlines() if "gateway.devrun" in x]
    assert line.endswith("-m gateway.devrun --config config.yaml --port 8123 --mock-port 8124"), line


@pytest.mark.timeout(300)  # two processes start (the mock, then the gateway importing LiteLLM)
def test_the_launcher_serves_the_sdk_from_its_mock_and_stops_with_it() -> None:
    port, mock_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRID_", "OPENAI_", "ANTHROPIC_"))} | {
        "GRID_MASTER_KEY": MASTER_KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    }
    cmd = [sys.executable, "-m", "gateway.devrun", "--config", str(REPO / "config.yaml")]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--mock-port", str(mock_port)]
    # a process group of its own: should the launcher have to be killed, its mock goes with it
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # a start-up deadline (the mock, then the gateway importing LiteLLM, on a busy machine)
        assert wait_for(lambda: proc.poll() is None and answers(f"{base}/health/liveliness"), timeout=180), (
            proc.poll()
        )
        assert answers(f"http://127.0.0.1:{mock_port}/v1/models")  # its mock upstream is up
        with openai_client(f"{base}/v1") as sdk:
            raw = sdk.chat.completions.with_raw_response.create(
                model="gpt-4o-mini", messages=user("hello grid")
            )
            reply = raw.parse()
            assert reply.choices[0].message.content == "mock reply: hello grid"
            assert raw.headers["x-grid-model"] == "gpt-4o-mini"
            assert raw.headers["x-grid-deployment"] == "mock-gpt-4o-mini"  # the standby on the mock
            alias = sdk.chat.completions.create(model="claude", messages=user("via litellm"))
            assert alias.choices[0].message.content == "mock reply: via litellm"  # the Anthropic path
            assert len(sdk.embeddings.create(model="text-embedding-3-small", input="x").data) == 1
        with openai_client(f"{base}/v1", key="sk-not-the-key") as stranger:
            with pytest.raises(Exception) as info:
                stranger.models.list()
            assert getattr(info.value, "status_code", None) == 401
    finally:
        proc.send_signal(signal.SIGINT)  # what Ctrl-C on `make run` sends
        try:
            output = proc.communicate(timeout=30)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            output = proc.communicate()[0].decode(errors="replace")
            raise AssertionError(f"the launcher did not stop on SIGINT:\n{output}") from None
    assert "OPENAI_API_KEY, ANTHROPIC_API_KEY not set" in output, output
    assert wait_for(lambda: refuses(f"http://127.0.0.1:{mock_port}/v1/models")), (
        "the mock outlived the launcher"
    )
    assert refuses(f"{base}/health/liveliness")


def test_sigterm_lets_the_request_in_flight_finish_then_the_gateway_exits(mock: MockUpstream) -> None:
    config = {
        "model_list": [deployment("slow", mock.url, dep_id="slow-a")],
        "general_settings": {"master_key": MASTER_KEY},
    }
    gw = GatewayProcess(config).start()
    try:
        mock.add_fault({"match": {"model": "slow"}, "delay": 2})
        result: dict[str, object] = {}

        def in_flight() -> None:
            try:
                with openai_client(gw) as sdk:
                    reply = sdk.chat.completions.create(model="slow", messages=user("finish me"))
                    result["content"] = reply.choices[0].message.content
            except Exception as exc:  # reported below
                result["error"] = repr(exc)

        client = threading.Thread(target=in_flight)
        client.start()
        assert wait_for(lambda: mock.stats()["open_requests"] == 1), mock.stats()  # it is upstream now
        gw.proc.send_signal(signal.SIGTERM)
        client.join(timeout=30)
        assert not client.is_alive()
        assert result == {"content": "mock reply: finish me"}, result
        # then it exits by itself (uvicorn re-raises the SIGTERM it handled: -15, or 0), no SIGKILL needed
        assert gw.proc.wait(timeout=30) in (0, -signal.SIGTERM)
        assert refuses(f"{gw.url}/health/liveliness")
        assert "Finished server process" in gw.logs() or "Shutting down" in gw.logs()
    finally:
        gw.stop()
