"""Issue 19 on the in-process backend (the default, one gateway process): keys with rpm, parallel and
budget limits answer 429 with OpenAI's headers; the admin key API creates (showing the key once),
lists, changes and revokes keys; created keys persist in the key store file across a restart.

A real gateway process, the openai SDK and httpx as clients, the mock upstream behind (its usage
reports price with LiteLLM's bundled map: gpt-4o-mini).
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.conftest import MASTER_KEY, deployment
from tests.harness import CHAT, HI, GatewayProcess, auth, http_client, metric_value, openai_client, wait_for

LIMITED = "sk-grid-limited-rpm"
SLOW = "sk-grid-one-at-a-time"
THRIFTY = "sk-grid-thrifty"
PLAIN = "sk-grid-plain"
MODEL = "gpt-4o-mini"


def config(mock_url: str) -> dict[str, Any]:
    return {
        "model_list": [
            deployment(MODEL, mock_url),
            deployment("slow", mock_url, model="openai/slow-up"),
            deployment("capped", mock_url, dep_id="cap-1", model="openai/cap-a-up", rpm=2),
            deployment("capped", mock_url, dep_id="cap-2", model="openai/cap-b-up", rpm=2),
        ],
        "router_settings": {"num_retries": 0},
        "general_settings": {
            "master_key": MASTER_KEY,
            "api_keys": [
                {"key": LIMITED, "name": "limited", "rpm_limit": 3, "tpm_limit": 100000},
                {"key": SLOW, "name": "one-at-a-time", "max_parallel_requests": 1},
                {"key": THRIFTY, "name": "thrifty", "max_budget": 0.000001, "budget_duration": "1d"},
                {"key": PLAIN, "name": "plain"},
            ],
        },
    }


@pytest.fixture(scope="module")
def gateway(mock) -> GatewayProcess:  # noqa: ANN001 - the session's MockUpstream
    with GatewayProcess(config(mock.url)) as gw:
        yield gw


def _chat(gw: GatewayProcess, key: str, model: str = MODEL, request_id: str | None = None) -> httpx.Response:
    headers = {"X-Request-ID": request_id} if request_id else {}
    with http_client(gw, key) as client:
        return client.post(CHAT, json={"model": model, "messages": HI}, headers=headers)


def test_rpm_limit_admits_exactly_the_limit_then_429_with_openais_headers(gateway: GatewayProcess) -> None:
    client = openai_client(gateway, LIMITED)
    for left in (2, 1, 0):
        raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
        assert raw.headers["x-ratelimit-limit-requests"] == "3"
        assert raw.headers["x-ratelimit-remaining-requests"] == str(left)
        assert raw.headers["x-ratelimit-limit-tokens"] == "100000"
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model=MODEL, messages=HI)
    err = refused.value
    assert err.code == "rate_limit_exceeded" and err.type == "rate_limit_error"
    assert int(err.response.headers["retry-after"]) >= 1
    assert err.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert err.response.headers["x-ratelimit-reset-requests"].endswith("s")
    text = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    assert metric_value(text, "grid_rate_limited_total", key="limited", limit="requests") == 1
    assert metric_value(text, "grid_key_requests_total", key="limited") == 4


def test_a_key_without_limits_gets_no_ratelimit_headers(gateway: GatewayProcess) -> None:
    response = _chat(gateway, PLAIN)
    assert response.status_code == 200
    assert not [h for h in response.headers if h.startswith("x-ratelimit")]


def test_max_parallel_requests_refuses_while_one_is_in_flight(gateway: GatewayProcess, mock) -> None:  # noqa: ANN001
    mock.add_fault({"match": {"model": "slow-up"}, "delay": 1.5, "times": 1})
    first: list[httpx.Response] = []
    worker = threading.Thread(target=lambda: first.append(_chat(gateway, SLOW, "slow", "req-same-id")))
    worker.start()
    assert wait_for(lambda: mock.requests("/v1/chat/completions"))
    second = _chat(gateway, SLOW, "slow", "req-same-id")  # reusing the id takes no shared slot
    worker.join(timeout=20)
    assert first[0].status_code == 200
    assert second.status_code == 429
    assert second.json()["error"]["code"] == "rate_limit_exceeded"
    assert "parallel" in second.json()["error"]["message"]
    assert _chat(gateway, SLOW, "slow").status_code == 200  # the slot freed when the first ended


def test_a_spent_budget_answers_insufficient_quota_until_the_window_resets(gateway: GatewayProcess) -> None:
    assert _chat(gateway, THRIFTY).status_code == 200  # costs more than the 0.000001 USD budget
    client = openai_client(gateway, THRIFTY)
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model=MODEL, messages=HI)
    assert refused.value.code == "budget_exceeded" and refused.value.type == "insufficient_quota"
    assert int(refused.value.response.headers["retry-after"]) >= 1
    text = httpx.get(f"{gateway.url}/metrics", timeout=10).text
    assert metric_value(text, "grid_key_spend_usd_total", key="thrifty") > 0.000001
    assert metric_value(text, "grid_rate_limited_total", key="thrifty", limit="budget") == 1
    # the share of the budget spent, as the refused request saw it (the "near its budget" alert's series)
    assert metric_value(text, "grid_key_budget_used_ratio", key="thrifty") > 1.0


def test_the_access_log_names_the_key_never_the_key_itself(gateway: GatewayProcess) -> None:
    assert _chat(gateway, PLAIN).status_code == 200
    logs = gateway.logs()
    assert '"key":"plain"' in logs
    assert PLAIN not in logs and LIMITED not in logs


def _create(gw: GatewayProcess, **fields: Any) -> dict[str, Any]:
    with http_client(gw) as admin:
        response = admin.post("/admin/keys", json=fields)
    assert response.status_code == 201, response.text
    return response.json()


def test_created_keys_are_shown_once_work_and_stop_working_when_revoked(gateway: GatewayProcess) -> None:
    created = _create(gateway, name="app-one", models=[MODEL], rpm_limit=5, metadata={"team": "a"})
    key = created["key"]
    assert key.startswith("sk-grid-") and created["key_prefix"].startswith(key[:12])
    assert created["rpm_limit"] == 5 and created["metadata"] == {"team": "a"}
    reply = openai_client(gateway, key).chat.completions.with_raw_response.create(model=MODEL, messages=HI)
    assert reply.headers["x-ratelimit-remaining-requests"] == "4"
    with http_client(gateway) as admin:
        listed = admin.get("/admin/keys")
        one = admin.get(f"/admin/keys/{created['id']}")
        assert key not in listed.text and key not in one.text
        assert one.json()["requests_in_window"] == 1 and one.json()["spend"] > 0
        names = {k["name"]: k for k in listed.json()["data"]}
        assert names["limited"]["source"] == "config" and names["limited"]["key_prefix"] is None
        patched = admin.patch(f"/admin/keys/{created['id']}", json={"rpm_limit": 1})
        assert patched.status_code == 200 and patched.json()["rpm_limit"] == 1
        assert _chat(gateway, key).status_code == 429  # one request already in the window
        assert admin.delete(f"/admin/keys/{created['id']}").status_code == 204
        assert admin.get(f"/admin/keys/{created['id']}").status_code == 404
    assert _chat(gateway, key).status_code == 401


def test_a_created_key_may_use_only_its_models(gateway: GatewayProcess) -> None:
    key = _create(gateway, name="only-slow", models=["slow"])["key"]
    assert _chat(gateway, key).status_code == 403
    assert _chat(gateway, key, "slow").status_code == 200


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "two\nlines"}, "name"),  # names reach logs and metric labels
        ({"name": "limited"}, "name"),  # a configured key's name
        ({"name": "x", "rpm_limit": -1}, "rpm_limit"),
        ({"name": "x", "budget_duration": "forever"}, "budget_duration"),
        ({"name": "x", "models": "gpt"}, "models"),
        ({"name": "x", "key": "sk-chosen"}, "key"),  # a client never chooses a key
    ],
)
def test_bad_key_fields_are_a_400_naming_the_field(gateway: GatewayProcess, body: dict, param: str) -> None:
    with http_client(gateway) as admin:
        response = admin.post("/admin/keys", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_only_admin_keys_may_manage_keys(gateway: GatewayProcess) -> None:
    with http_client(gateway, PLAIN) as client:
        assert client.post("/admin/keys", json={"name": "mine"}).status_code == 403
        assert client.get("/admin/keys").status_code == 403
    with http_client(gateway, key=None) as anonymous:
        assert anonymous.get("/admin/keys").status_code == 401


def test_configured_keys_cannot_be_changed_through_the_api(gateway: GatewayProcess) -> None:
    with http_client(gateway) as admin:
        listed = admin.get("/admin/keys").json()["data"]
        configured = next(k for k in listed if k["name"] == "plain")
        assert admin.delete(f"/admin/keys/{configured['id']}").status_code == 400
        assert admin.delete("/admin/keys/key_missing").status_code == 404


def test_stream_usage_counts_toward_the_keys_spend_and_tokens(gateway: GatewayProcess) -> None:
    created = _create(gateway, name="streamer", tpm_limit=1000000)
    stream = openai_client(gateway, created["key"]).chat.completions.create(
        model=MODEL, messages=HI, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    with http_client(gateway) as admin:

        def counted() -> dict | None:
            found = admin.get(f"/admin/keys/{created['id']}").json()
            return found if found["tokens_in_window"] > 0 else None

        assert wait_for(counted)
        assert counted()["spend"] > 0


def test_created_keys_survive_a_restart_stored_only_as_a_hash(mock) -> None:  # noqa: ANN001
    gw = GatewayProcess(config(mock.url)).start()
    try:
        created = _create(gw, name="persistent", max_budget=5, budget_duration="30d")
        store = gw.dir / "grid-keys.json"
        text = store.read_text()
        assert created["key"] not in text
        assert orjson.loads(text)["keys"][created["id"]]["name"] == "persistent"
        gw.stop()
        gw.start()
        assert _chat(gw, created["key"]).status_code == 200
        with http_client(gw) as admin:
            assert admin.get(f"/admin/keys/{created['id']}").json()["budget_duration"] == "30d"
    finally:
        gw.stop()


def test_requests_without_a_key_are_still_refused(gateway: GatewayProcess) -> None:
    response = httpx.post(
        f"{gateway.url}{CHAT}", json={"model": MODEL, "messages": HI}, headers=auth("sk-nope"), timeout=10
    )
    assert response.status_code == 401


def test_deployments_at_their_rpm_are_skipped_and_then_the_group_answers_429(
    gateway: GatewayProcess, mock
) -> None:  # noqa: ANN001
    served = [_chat(gateway, PLAIN, "capped") for _ in range(4)]
    assert [r.status_code for r in served] == [200] * 4
    assert sorted(r.headers["x-grid-deployment"] for r in served) == ["cap-1", "cap-1", "cap-2", "cap-2"]
    refused = _chat(gateway, PLAIN, "capped")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert int(refused.headers["retry-after"]) >= 1
    upstream = [r["body"]["model"] for r in mock.requests("/v1/chat/completions")]
    assert sorted(upstream) == ["cap-a-up", "cap-a-up", "cap-b-up", "cap-b-up"]
