"""Deeply nested JSON bodies are a 400 when parsed, never a 500.

orjson reads 1024 levels and writes about 254: the review's `metadata` nested 260 levels parsed, then
failed when the gateway serialized it for the upstream (a 500 and two tracebacks per request). Bodies
deeper than `general_settings.max_json_depth` (default 64) are refused at parse time, in the endpoint
and in the experiments middleware (which parses bodies first while an experiment runs).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, deployment
from tests.harness import GatewayProcess

CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


def nested(levels: int) -> dict:
    """An object `levels` deep (`{"a": {"a": ... {}}}` counts every object)."""
    value: dict = {}
    for _ in range(levels - 1):
        value = {"a": value}
    return value


def body_with_depth(depth: int) -> dict:
    """A chat body whose deepest nesting is exactly `depth` (the body itself is level 1)."""
    return {"model": "gpt", "messages": HI, "metadata": nested(depth - 1)}


def config(mock: MockUpstream, **general) -> dict:
    return {
        "model_list": [deployment("gpt", mock.url, dep_id="gpt-a"), deployment("other", mock.url)],
        "router_settings": {"num_retries": 0},
        "general_settings": {"master_key": MASTER_KEY, **general},
    }


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    with GatewayProcess(config(mock)) as process:
        yield process


@pytest.fixture(scope="module")
def gw_experiments(mock: MockUpstream) -> Iterator[GatewayProcess]:
    experiments = [{"id": "split", "models": ["gpt", "other"], "applies_to": ["gpt"], "unit": "request"}]
    with GatewayProcess({**config(mock), "model_routing": {"experiments": experiments}}) as process:
        yield process


def post(gw: GatewayProcess, body: dict) -> httpx.Response:
    headers = {"Authorization": f"Bearer {MASTER_KEY}"}
    return httpx.post(f"{gw.url}{CHAT}", json=body, headers=headers, timeout=30)


def assert_too_deep(response: httpx.Response, limit: int) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["code"] == "json_too_deep"
    assert str(limit) in error["message"]


@pytest.mark.parametrize("which", ["plain", "experiments"])
def test_the_reported_260_levels_are_a_400_without_a_traceback(
    gw: GatewayProcess, gw_experiments: GatewayProcess, mock: MockUpstream, which: str
) -> None:
    process = gw if which == "plain" else gw_experiments
    for _ in range(2):
        assert_too_deep(post(process, body_with_depth(260)), 64)
    assert mock.requests(CHAT) == []
    assert "Traceback" not in process.logs()


@pytest.mark.parametrize("which", ["plain", "experiments"])
def test_the_default_limit_is_64_levels(
    gw: GatewayProcess, gw_experiments: GatewayProcess, which: str
) -> None:
    process = gw if which == "plain" else gw_experiments
    ok = post(process, body_with_depth(64))
    assert ok.status_code == 200, ok.text
    assert_too_deep(post(process, body_with_depth(65)), 64)
    # arrays count like objects
    deep_list: list = []
    for _ in range(70):
        deep_list = [deep_list]
    assert_too_deep(post(process, {"model": "gpt", "messages": HI, "stop": deep_list}), 64)


def test_beyond_what_orjson_reads_is_a_400_too(gw: GatewayProcess) -> None:
    raw = b'{"model": "gpt", "messages": [], "metadata": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    response = httpx.post(
        f"{gw.url}{CHAT}",
        content=raw,
        headers={"Authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_the_limit_is_configurable_and_counts_depth_not_brackets(start_gateway, mock: MockUpstream) -> None:
    process = start_gateway(config(mock, max_json_depth=8))
    assert_too_deep(post(process, body_with_depth(9)), 8)
    assert post(process, body_with_depth(8)).status_code == 200
    # many brackets, shallow: 200 messages with content parts (depth 5) pass
    many = [{"role": "user", "content": [{"type": "text", "text": f"m{i}"}]} for i in range(200)]
    response = post(process, {"model": "gpt", "messages": many})
    assert response.status_code == 200, response.text


def test_gateway_check_refuses_a_limit_orjson_cannot_write(tmp_path: Path, mock: MockUpstream) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config(mock, max_json_depth=1000)))
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "general_settings.max_json_depth" in result.stdout + result.stderr
