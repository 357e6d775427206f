"""The HTTP basics around the proxy: health probes, metrics, unknown paths, the default model and
configuration reload, through a running gateway.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator

import httpx
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, deployment
from tests.harness import GatewayProcess, metric_value, user

CHAT = "/v1/chat/completions"
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def base_config(mock: MockUpstream) -> dict:
    return {
        "model_list": [
            deployment("basic", mock.url, dep_id="basic-a"),
            deployment("second", mock.url, dep_id="second-a"),
        ],
        "router_settings": {"num_retries": 0, "model_group_alias": {"b": "basic"}},
        "general_settings": {"master_key": MASTER_KEY},
    }


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    with GatewayProcess(base_config(mock), env={"GRID_AI_MODEL": "basic"}) as process:
        yield process


@pytest.fixture
def http(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=10) as session:
        yield session


# -- health ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/health/liveliness", "/health/live"])
def test_liveness_needs_no_key(http: httpx.Client, path: str) -> None:
    response = http.get(path)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_readiness_needs_no_key(http: httpx.Client) -> None:
    response = http.get("/health/readiness")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert body["deployments"] == 2
    assert body["healthy"] == 2


def test_readiness_is_503_when_every_breaker_is_open(mock: MockUpstream) -> None:
    config = {
        "model_list": [deployment("only", mock.url, dep_id="only-a")],
        "router_settings": {"num_retries": 0, "allowed_fails": 1, "cooldown_time": 60},
    }
    mock.add_fault({"match": {"model": "only"}, "status": 500})
    with GatewayProcess(config) as gw, httpx.Client(base_url=gw.url, timeout=10) as http:
        assert http.get("/health/readiness").status_code == 200
        failed = http.post(CHAT, json={"model": "only", "messages": user("hi")})
        assert failed.status_code == 502
        response = http.get("/health/readiness")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "deployments": 1, "healthy": 0}
        assert http.get("/health/liveliness").status_code == 200


# -- metrics --------------------------------------------------------------------------------------


def test_metrics_are_prometheus_text_without_a_key(http: httpx.Client) -> None:
    served = http.post(CHAT, json={"model": "second", "messages": user("count me")}, headers=AUTH)
    assert served.status_code == 200
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert "# TYPE grid_requests_total counter" in text
    before = metric_value(text, "grid_requests_total", deployment="second-a", status="200")
    assert before is not None and before >= 1
    assert "grid_request_duration_seconds_bucket" in text
    assert metric_value(text, "grid_deployment_state", deployment="second-a") == 0
    http.post(CHAT, json={"model": "second", "messages": user("again")}, headers=AUTH)
    after = metric_value(
        http.get("/metrics").text, "grid_requests_total", deployment="second-a", status="200"
    )
    assert after == before + 1


# -- unknown paths --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/nothing-here", "/nothing-here", "/v2/chat/completions"])
def test_unknown_path_is_openai_shaped_404(http: httpx.Client, path: str) -> None:
    response = http.get(path, headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "message": f"Unknown path: GET {path}",
            "type": "invalid_request_error",
            "param": None,
            "code": "not_found",
        }
    }


# -- default model --------------------------------------------------------------------------------


def test_default_model_serves_a_request_without_model(http: httpx.Client, mock: MockUpstream) -> None:
    response = http.post(CHAT, json={"messages": user("no model named")}, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "mock reply: no model named"
    assert response.headers["x-grid-model"] == "basic"
    assert response.headers["x-grid-deployment"] == "basic-a"
    assert mock.requests(CHAT)[0]["body"]["model"] == "basic"
    named = http.post(CHAT, json={"model": "second", "messages": user("named")}, headers=AUTH)
    assert named.headers["x-grid-model"] == "second"


def test_default_model_for_streams_and_embeddings(http: httpx.Client, mock: MockUpstream) -> None:
    with http.stream("POST", CHAT, json={"messages": user("s"), "stream": True}, headers=AUTH) as response:
        assert response.status_code == 200
        assert response.headers["x-grid-model"] == "basic"
        assert response.read().decode().rstrip().endswith("data: [DONE]")
    embedded = http.post("/v1/embeddings", json={"input": "e"}, headers=AUTH)
    assert embedded.status_code == 200
    assert embedded.headers["x-grid-model"] == "basic"
    assert [r["body"]["model"] for r in mock.requests()] == ["basic", "basic"]


# -- configuration reload -------------------------------------------------------------------------


def test_reload_picks_up_a_new_group_and_refuses_an_invalid_config(
    gw: GatewayProcess, http: httpx.Client, mock: MockUpstream
) -> None:
    original = copy.deepcopy(gw.config)
    ask = {"model": "added", "messages": user("new group")}
    try:
        before = http.post(CHAT, json=ask, headers=AUTH)
        assert before.status_code == 404

        grown = copy.deepcopy(original)
        grown["model_list"].append(deployment("added", mock.url, dep_id="added-a"))
        gw.write_config(grown)
        refused = http.post("/admin/config/reload")
        assert refused.status_code == 401
        reloaded = http.post("/admin/config/reload", headers=AUTH)
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json()["status"] == "reloaded"
        assert "added" in reloaded.json()["groups"]
        served = http.post(CHAT, json=ask, headers=AUTH)
        assert served.status_code == 200
        assert served.json()["choices"][0]["message"]["content"] == "mock reply: new group"
        assert served.headers["x-grid-deployment"] == "added-a"
        assert "added" in [m["id"] for m in http.get("/v1/models", headers=AUTH).json()["data"]]

        broken = copy.deepcopy(grown)
        broken["model_list"].append({"model_name": "bad", "litellm_params": {"api_key": "x"}})
        broken["router_settings"]["num_retries"] = "many"
        gw.write_config(broken)
        invalid = http.post("/admin/config/reload", headers=AUTH)
        assert invalid.status_code == 400
        error = invalid.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert "model_list[3].litellm_params.model" in error["message"]
        assert "router_settings.num_retries" in error["message"]
        # the old configuration keeps serving, the new group included
        still = http.post(CHAT, json=ask, headers=AUTH)
        assert still.status_code == 200
        assert still.json()["choices"][0]["message"]["content"] == "mock reply: new group"
        assert http.post(CHAT, json={"messages": user("default")}, headers=AUTH).status_code == 200
    finally:
        gw.write_config(original)
        assert http.post("/admin/config/reload", headers=AUTH).status_code == 200
    assert http.post(CHAT, json=ask, headers=AUTH).status_code == 404
