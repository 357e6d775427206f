"""Active health checks move breakers without any user traffic."""

from __future__ import annotations

import httpx

from tests.conftest import MASTER_KEY, deployment
from tests.harness import wait_for as _wait_for


def _state(gw, dep_id: str) -> str:
    stats = httpx.get(
        f"{gw.url}/admin/load-balancer/stats", headers={"authorization": f"Bearer {MASTER_KEY}"}
    ).json()
    for group in stats["groups"].values():
        for dep in group["deployments"]:
            if dep["id"] == dep_id:
                return dep["state"]
    raise AssertionError(f"{dep_id} not in stats")


def test_health_checks_open_a_failing_deployment_and_close_it_once_it_recovers(mock, start_gateway):
    config = {
        "model_list": [deployment("hc", mock.url, dep_id="hc-a")],
        "router_settings": {"health_check_interval": 0.2, "allowed_fails": 1, "cooldown_time": 0.5},
        "general_settings": {"master_key": MASTER_KEY},
    }
    mock.add_fault({"match": {"path": "/v1/models"}, "status": 503})
    gw = start_gateway(config)
    assert _wait_for(lambda: _state(gw, "hc-a") == "open"), gw.logs()
    assert not mock.requests("/v1/chat/completions")  # no user request was needed
    metrics = httpx.get(f"{gw.url}/metrics").text
    assert 'grid_deployment_state{deployment="hc-a"} 2.0' in metrics
    probes = mock.requests("/v1/models")
    assert probes and probes[-1]["headers"]["authorization"] == "Bearer sk-provider-secret-123"

    mock.clear_faults()
    assert _wait_for(lambda: _state(gw, "hc-a") == "closed"), gw.logs()


def test_completion_mode_probes_with_a_one_token_completion(mock, start_gateway):
    config = {
        "model_list": [deployment("hc2", mock.url, dep_id="hc-b")],
        "router_settings": {"health_check_interval": 0.2, "health_check_mode": "completion"},
    }
    gw = start_gateway(config)
    assert _wait_for(lambda: bool(mock.requests("/v1/chat/completions")))
    body = mock.requests("/v1/chat/completions")[0]["body"]
    assert body["max_tokens"] == 1 and body["model"] == "hc2"
    assert gw.proc.poll() is None
