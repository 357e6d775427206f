"""A new user's first hour (issue 21): the shipped config checks and serves as shipped, the bundled mock is
started for its standby deployments, overhead excludes the retry waits, the text log keeps its fields,
health and metrics answer under /v1 too, and validation reports every problem of a config at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from gateway.mock_upstream import MockUpstream
from gateway.standby import listening
from tests.harness import (
    LITELLM_ENV,
    MASTER_KEY,
    GatewayProcess,
    free_port,
    http_client,
    openai_client,
    user,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[1]
CLEARED = ("GRID_", "OPENAI_", "ANTHROPIC_")


def _gateway_cmd(
    *args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        env=clean,
        cwd=cwd,
        timeout=60,
    )


def test_shipped_config_checks_with_no_key_and_no_variable():
    result = _gateway_cmd("check", "--config", "config.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s)" in result.stdout
    assert "5 live deployment(s)" in result.stdout
    assert "unreachable" not in result.stdout  # serve starts the mock there: nothing to warn about


def test_serve_starts_the_bundled_mock_for_the_shipped_standby_deployments():
    port = free_port()
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    env = {
        **LITELLM_ENV,
        "GRID_MOCK_URL": f"http://127.0.0.1:{port}/v1",
        "GRID_MOCK_ANTHROPIC_URL": f"http://127.0.0.1:{port}",
    }
    with GatewayProcess(config, env=env) as gw:
        client = openai_client(gw, key="anything")
        raw = client.chat.completions.with_raw_response.create(model="fast", messages=user("hi"))
        assert raw.headers["x-grid-deployment"] == "mock-gpt-4o-mini"
        assert raw.parse().choices[0].message.content
        claude = client.chat.completions.with_raw_response.create(model="claude", messages=user("hi"))
        assert claude.headers["x-grid-deployment"] == "mock-claude-haiku-4-5"
        assert "starting the bundled mock upstream on it" in gw.logs()
    assert wait_for(lambda: not listening(port)), "the mock the gateway started outlived it"


def test_a_mock_already_listening_is_used_not_started_again():
    with MockUpstream("mine") as mock:
        config = yaml.safe_load((ROOT / "config.yaml").read_text())
        env = {"GRID_MOCK_URL": f"{mock.url}/v1", "GRID_MOCK_ANTHROPIC_URL": mock.url}
        with GatewayProcess(config, env=env) as gw:
            raw = openai_client(gw, key="x").chat.completions.with_raw_response.create(
                model="gpt-4o", messages=user("hi")
            )
            assert raw.headers["x-grid-deployment"] == "mock-gpt-4o"
            assert "starting the bundled mock" not in gw.logs()
        assert mock.stats()["requests_total"] >= 1


def _one_deployment(mock: MockUpstream, **router) -> dict:
    return {
        "model_list": [
            {
                "model_name": "m",
                "litellm_params": {"model": "openai/m", "api_base": f"{mock.url}/v1", "api_key": "k"},
                "model_info": {"id": "only"},
            }
        ],
        "router_settings": {"num_retries": 1, "allowed_fails": 100, **router},
        "general_settings": {"master_key": MASTER_KEY},
    }


def test_retry_waits_are_reported_apart_from_overhead():
    with MockUpstream("a") as mock, GatewayProcess(_one_deployment(mock, retry_after=0.5)) as gw:
        client = openai_client(gw)
        plain = client.chat.completions.with_raw_response.create(model="m", messages=user("hi"))
        assert float(plain.headers["x-grid-retry-wait-ms"]) == 0.0
        mock.add_fault({"status": 503, "times": 1})
        raw = client.chat.completions.with_raw_response.create(model="m", messages=user("hi"))
        assert raw.headers["x-grid-attempts"] == "2"
        wait = float(raw.headers["x-grid-retry-wait-ms"])
        overhead = float(raw.headers["x-grid-overhead-ms"])
        assert wait >= 500  # the backoff starts at retry_after
        assert overhead < wait  # before: the wait counted as overhead, so overhead >= 500
        line = [
            ln for ln in gw.logs().splitlines() if raw.headers["x-request-id"] in ln and "grid.access" in ln
        ]
        assert yaml.safe_load(line[-1])["retry_wait_ms"] >= 500


def test_text_log_keeps_the_extra_fields():
    with (
        MockUpstream("a") as mock,
        GatewayProcess(_one_deployment(mock), env={"GRID_LOG_FORMAT": "text"}) as gw,
    ):
        with http_client(gw) as http:
            r = http.post(
                "/v1/chat/completions",
                json={"model": "m", "messages": user("hi")},
                headers={"X-Request-ID": "req-text-1"},
            )
            assert r.status_code == 200
        access = [ln for ln in gw.logs().splitlines() if "grid.access" in ln and "req-text-1" in ln]
        assert access, gw.logs()
        line = access[-1]
        assert "POST /v1/chat/completions 200 " in line
        for pair in ("request_id=req-text-1", "status=200", "model=m", "deployment=only", "attempts=1"):
            assert pair in line.split(), line


def test_health_and_metrics_answer_with_and_without_v1_and_without_a_key():
    with MockUpstream("a") as mock, GatewayProcess(_one_deployment(mock)) as gw:
        with http_client(gw, key=None) as http:
            for prefix in ("", "/v1"):
                for path in ("/health/liveliness", "/health/live", "/health/readiness"):
                    assert http.get(prefix + path).status_code == 200, prefix + path
                metrics = http.get(prefix + "/metrics")
                assert metrics.status_code == 200
                assert "grid_in_flight_requests" in metrics.text
        with http_client(gw) as http:
            assert http.get("/v1/admin/experiments").status_code == 404  # admin paths have no /v1 twin


def _check(tmp_text: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="grid-first-hour-") as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(textwrap.dedent(tmp_text))
        return _gateway_cmd("check", "--config", str(path), env=env)


def test_check_reports_a_bad_name_and_a_missing_api_base_of_one_deployment():
    result = _check(
        """\
        model_list:
          - model_name: "bad name!"
            litellm_params: {model: hosted_vllm/llama}
          - model_name: ok
            litellm_params: {model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:9/v1", api_key: k}
        """
    )
    assert result.returncode == 1
    assert "model_list[0].litellm_params.api_base: is required" in result.stdout, result.stdout
    assert "'bad name!' contains characters not allowed" in result.stdout, result.stdout


def test_an_empty_grid_ai_model_is_a_warning():
    config = """\
    model_list:
      - model_name: ok
        litellm_params: {model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:9/v1", api_key: k}
    """
    result = _check(config, env={"GRID_AI_MODEL": ""})
    assert result.returncode == 0
    assert "warning: GRID_AI_MODEL: is set but empty" in result.stdout, result.stdout
    assert "GRID_AI_MODEL" not in _check(config).stdout


def test_demo_traffic_against_the_shipped_config_sends_only_names_it_serves():
    import asyncio

    from gateway import demo_traffic

    with MockUpstream("make-run") as mock:
        config = yaml.safe_load((ROOT / "config.yaml").read_text())
        env = {**LITELLM_ENV, "GRID_MOCK_URL": f"{mock.url}/v1", "GRID_MOCK_ANTHROPIC_URL": mock.url}
        with GatewayProcess(config, env=env) as gw:
            options = demo_traffic.Options(
                base_url=gw.url,
                api_key="anything",
                mock_url=mock.url,
                requests=80,
                rps=0,
                seed=7,
                concurrency=1,  # each fault rule is met by its own scenario, not by a concurrent stream
            )
            tally = asyncio.run(demo_traffic.run(options))
    statuses = {key.rsplit(" ", 1)[1] for key in tally}
    assert statuses == {"200"}, tally
    scenarios = {key.rsplit(" ", 1)[0] for key in tally}
    assert {"chat", "chat-stream", "embeddings", "completions", "override", "fault-retry"} <= scenarios
    assert not scenarios & {"unknown-model", "legacy-fallback", "batch"}
