"""Helpers shared by the end-to-end routing tests: deployments with distinct upstream names, configs,
SDK clients, and reading the mock's request log, the admin stats and /metrics."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, deployment
from tests.harness import GatewayProcess

CHAT = "/v1/chat/completions"
HI = [{"role": "user", "content": "hi"}]


def dep(group: str, dep_id: str, base: str, *, info: dict | None = None, **params: Any) -> dict:
    """A deployment of `group` whose upstream model name is its id (unless `model` is given), so
    fault rules can target it and the mock's request log counts its attempts exactly."""
    entry = deployment(group, base, dep_id=dep_id, **{"model": f"openai/{dep_id}", **params})
    entry["model_info"].update(info or {})
    return entry


def config(model_list: list[dict], **router: Any) -> dict:
    return {
        "model_list": model_list,
        "router_settings": router,
        "general_settings": {"master_key": MASTER_KEY},
    }


def client(gw: GatewayProcess, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0, timeout=15)


def hits(mock: MockUpstream, model: str) -> int:
    """Chat requests the mock received for one upstream model name."""
    return hits_by_model(mock)[model]


def hits_by_model(mock: MockUpstream) -> Counter:
    """Upstream model name -> chat requests the mock received for it."""
    return Counter((r["body"] or {}).get("model") for r in mock.requests(CHAT))


def admin_stats(gw: GatewayProcess) -> dict:
    resp = httpx.get(f"{gw.url}/admin/load-balancer/stats", headers={"Authorization": f"Bearer {MASTER_KEY}"})
    assert resp.status_code == 200, resp.text
    return resp.json()


def metric(gw: GatewayProcess, name: str, *, default: float | None = 0.0, **labels: str) -> float | None:
    """A sample's value from /metrics; `default` when the series does not exist (yet)."""
    text = httpx.get(f"{gw.url}/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return default
