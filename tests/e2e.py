"""Helpers shared by the end-to-end routing tests: deployments with distinct upstream names, configs,
SDK clients, and reading the mock's request log, the admin stats and /metrics."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import openai

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, deployment
from tests.harness import CHAT, CLIENT_TIMEOUT, HI, TLS_CONTEXT, GatewayProcess, metric_value, openai_client

__all__ = ["CHAT", "HI", "admin_stats", "client", "config", "dep", "hits", "hits_by_model", "metric"]


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
    return openai_client(gw, key)


def hits(mock: MockUpstream, model: str) -> int:
    """Chat requests the mock received for one upstream model name."""
    return hits_by_model(mock)[model]


def hits_by_model(mock: MockUpstream) -> Counter:
    """Upstream model name -> chat requests the mock received for it."""
    return Counter((r["body"] or {}).get("model") for r in mock.requests(CHAT))


def admin_stats(gw: GatewayProcess) -> dict:
    resp = httpx.get(
        f"{gw.url}/admin/load-balancer/stats",
        headers={"Authorization": f"Bearer {MASTER_KEY}"},
        timeout=CLIENT_TIMEOUT,
        verify=TLS_CONTEXT,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()


def metric(gw: GatewayProcess, name: str, *, default: float | None = 0.0, **labels: str) -> float | None:
    """A sample's value from /metrics; `default` when the series does not exist (yet)."""
    page = httpx.get(f"{gw.url}/metrics", timeout=CLIENT_TIMEOUT, verify=TLS_CONTEXT).text
    return metric_value(page, name, default, **labels)
