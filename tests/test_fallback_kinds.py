"""Chains every group shares (`GRID_MODEL_FALLBACK_CHAIN`, `"*"` fallbacks) keep to one endpoint kind.

The review: with `GRID_MODEL_FALLBACK_CHAIN` set, a failing embedding group fell back to chat groups,
and the embeddings request was answered by a chat model. A group's kind comes from its deployments'
`model_info.mode`, else from LiteLLM's model map (`text-embedding-3-small` is an embedding model).
"""

from __future__ import annotations

import json
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

EMBEDDINGS = "/v1/embeddings"
CHAT = "/v1/chat/completions"


def group(name: str, base: str, mode: str | None = None, model: str | None = None) -> dict:
    entry = deployment(name, base, dep_id=f"{name}-a", model=model or f"openai/{name}-up")
    if mode:
        entry["model_info"]["mode"] = mode
    return entry


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [
            group("chat", mock.url),
            group("chat-backup", mock.url, mode="chat"),
            group("embed", mock.url, mode="embedding"),
            group("embed-backup", mock.url, mode="embedding"),
            # no mode given: LiteLLM's model map says text-embedding-3-small is an embedding model
            group("mapped-embed", mock.url, model="openai/text-embedding-3-small"),
        ],
        "router_settings": {"num_retries": 0, "fallbacks": [{"*": ["chat-backup"]}]},
        "general_settings": {"master_key": MASTER_KEY},
    }
    env = {"GRID_MODEL_FALLBACK_CHAIN": json.dumps(["chat", "embed-backup"])}
    with GatewayProcess(config, env=env) as process:
        yield process


@pytest.fixture
def http(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=30, headers={"Authorization": f"Bearer {MASTER_KEY}"}) as c:
        yield c


def upstream_models(mock: MockUpstream, path: str) -> list[str]:
    return [r["body"]["model"] for r in mock.requests(path)]


@pytest.mark.parametrize("name", ["embed", "mapped-embed"])
def test_a_failing_embedding_group_falls_back_to_embedding_groups_only(
    http: httpx.Client, mock: MockUpstream, name: str
) -> None:
    failing = "embed-up" if name == "embed" else "text-embedding-3-small"
    mock.add_fault({"match": {"path": EMBEDDINGS, "model": failing}, "status": 500})
    response = http.post(EMBEDDINGS, json={"model": name, "input": "hi"})
    assert response.status_code == 200, response.text
    assert response.headers["x-grid-model"] == "embed-backup"
    assert upstream_models(mock, EMBEDDINGS) == [failing, "embed-backup-up"]  # never chat's models


def test_when_every_embedding_group_fails_no_chat_group_answers(
    http: httpx.Client, mock: MockUpstream
) -> None:
    mock.add_fault({"match": {"path": EMBEDDINGS}, "status": 500})
    response = http.post(EMBEDDINGS, json={"model": "embed", "input": "hi"})
    assert response.status_code == 502, response.text
    assert set(upstream_models(mock, EMBEDDINGS)) == {"embed-up", "embed-backup-up"}


def test_a_failing_chat_group_falls_back_to_chat_groups_only(http: httpx.Client, mock: MockUpstream) -> None:
    mock.add_fault({"match": {"path": CHAT}, "status": 500})
    response = http.post(CHAT, json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 502, response.text
    assert upstream_models(mock, CHAT) == ["chat-up", "chat-backup-up"]
    assert mock.requests(EMBEDDINGS) == []


def test_gateway_check_warns_about_a_groups_own_fallback_to_another_kind(tmp_path: Path) -> None:
    config = {
        "model_list": [
            group("chat", "http://127.0.0.1:9"),
            group("embed", "http://127.0.0.1:9", mode="embedding"),
        ],
        "router_settings": {"fallbacks": [{"embed": ["chat"]}, {"chat": ["embed"]}]},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out  # a warning: the operator's explicit entry is kept
    assert "router_settings.fallbacks.embed: fallback target 'chat' serves chat requests" in out
    assert "router_settings.fallbacks.chat: fallback target 'embed' serves embedding requests" in out
