"""Keys stay where they belong: the client's key never goes upstream, the provider's key never comes back.

The provider key may only ever appear in the `authorization` header the gateway sends upstream. It
must not show up in responses (headers or bodies, errors included), logs, the admin stats or metrics,
even when the upstream echoes it back in its own error message. The request id travels the other way:
the client's `X-Request-ID` reaches the upstream and comes back on the response.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, PROVIDER_KEY, deployment
from tests.harness import GatewayProcess, auth, user

CHAT = "/v1/chat/completions"
TEAM_KEY = "sk-grid-test-team-key"


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [
            deployment("chat", mock.url, dep_id="chat-a"),
            deployment("rejected", mock.url, dep_id="rejected-a"),
            deployment("echoing", mock.url, dep_id="echoing-a"),
            deployment("echo400", mock.url, dep_id="echo400-a"),
            deployment("echo-mixed", mock.url, dep_id="echo-mixed-a"),
            deployment("echo-stream", mock.url, dep_id="echo-stream-a"),
            deployment("busy", mock.url, dep_id="busy-a"),
            deployment("cut", mock.url, dep_id="cut-a"),
        ],
        "router_settings": {"num_retries": 1, "allowed_fails": 100, "cooldown_time": 0.2},
        "general_settings": {"master_key": MASTER_KEY, "api_keys": [{"key": TEAM_KEY, "name": "team"}]},
    }
    with GatewayProcess(config) as process:
        yield process


@pytest.fixture
def http(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=10) as session:
        yield session


def no_secret_in(response: httpx.Response, *secrets: str) -> None:
    for secret in secrets:
        for name, value in response.headers.items():
            assert secret not in value, f"{secret!r} in response header {name}"
        assert secret not in response.text, f"{secret!r} in response body {response.text[:300]}"


# -- the client key never goes upstream ------------------------------------------------------------


@pytest.mark.parametrize("key", [MASTER_KEY, TEAM_KEY])
def test_client_key_never_reaches_the_upstream(http: httpx.Client, mock: MockUpstream, key: str) -> None:
    chat = http.post(CHAT, json={"model": "chat", "messages": user("hi")}, headers=auth(key))
    assert chat.status_code == 200
    stream = http.post(
        CHAT, json={"model": "chat", "messages": user("hi"), "stream": True}, headers={"x-api-key": key}
    )
    assert stream.status_code == 200
    embeddings = http.post("/v1/embeddings", json={"model": "chat", "input": "x"}, headers=auth(key))
    assert embeddings.status_code == 200
    sent = mock.requests()
    assert len(sent) == 3
    for request in sent:
        headers = request["headers"]
        assert headers["authorization"] == f"Bearer {PROVIDER_KEY}"
        assert "x-api-key" not in headers
        assert all(key not in value for value in headers.values())
        assert key not in json.dumps(request["body"])
        assert key not in request["query"]


def test_client_headers_are_not_forwarded(http: httpx.Client, mock: MockUpstream) -> None:
    headers = {**auth(), "cookie": "session=abc", "x-custom-secret": "s3cr3t", "openai-organization": "org-1"}
    response = http.post(CHAT, json={"model": "chat", "messages": user("hi")}, headers=headers)
    assert response.status_code == 200
    sent = mock.requests(CHAT)[0]["headers"]
    assert "cookie" not in sent
    assert "x-custom-secret" not in sent
    assert "openai-organization" not in sent


# -- the request id ---------------------------------------------------------------------------------


def test_client_request_id_is_echoed_and_forwarded(http: httpx.Client, mock: MockUpstream) -> None:
    response = http.post(
        CHAT,
        json={"model": "chat", "messages": user("hi")},
        headers={**auth(), "X-Request-ID": "trace-42.a:b"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-42.a:b"
    assert mock.requests(CHAT)[0]["headers"]["x-request-id"] == "trace-42.a:b"


def test_client_request_id_on_a_stream(http: httpx.Client, mock: MockUpstream) -> None:
    body = {"model": "chat", "messages": user("hi"), "stream": True}
    with http.stream("POST", CHAT, json=body, headers={**auth(), "x-request-id": "stream-7"}) as response:
        assert response.status_code == 200
        assert response.headers["x-request-id"] == "stream-7"
        assert "data: [DONE]" in response.read().decode()
    assert mock.requests(CHAT)[0]["headers"]["x-request-id"] == "stream-7"


def test_request_id_is_generated_when_none_is_sent(http: httpx.Client, mock: MockUpstream) -> None:
    first = http.post(CHAT, json={"model": "chat", "messages": user("hi")}, headers=auth())
    second = http.post(CHAT, json={"model": "chat", "messages": user("hi")}, headers=auth())
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(i.startswith("req_") and len(i) > 10 for i in ids)
    assert ids[0] != ids[1]
    assert [r["headers"]["x-request-id"] for r in mock.requests(CHAT)] == ids


@pytest.mark.parametrize(
    "bad", ["has space", "x" * 129, "semi;colon"], ids=["space", "too-long", "semicolon"]
)
def test_unsafe_request_id_is_replaced(http: httpx.Client, mock: MockUpstream, bad: str) -> None:
    response = http.post(
        CHAT, json={"model": "chat", "messages": user("hi")}, headers={**auth(), "x-request-id": bad}
    )
    assert response.status_code == 200
    rid = response.headers["x-request-id"]
    assert rid != bad and rid.startswith("req_")
    assert mock.requests(CHAT)[0]["headers"]["x-request-id"] == rid


def test_request_id_on_errors(http: httpx.Client) -> None:
    refused = http.get("/v1/models", headers={"x-request-id": "err-1"})
    assert refused.status_code == 401
    assert refused.headers["x-request-id"] == "err-1"
    unknown = http.post(
        CHAT, json={"model": "nope", "messages": user("hi")}, headers={**auth(), "x-request-id": "err-2"}
    )
    assert unknown.status_code == 404
    assert unknown.headers["x-request-id"] == "err-2"


# -- the provider key never comes back -------------------------------------------------------------


def test_upstream_error_echoing_the_provider_key_is_scrubbed(http: httpx.Client, mock: MockUpstream) -> None:
    """Some providers repeat the key they were sent in their 401 message; the client must not see it."""
    mock.add_fault(
        {
            "match": {"model": "echoing"},
            "status": 401,
            "message": f"Incorrect API key provided: {PROVIDER_KEY}.",
        }
    )
    response = http.post(CHAT, json={"model": "echoing", "messages": user("hi")}, headers=auth())
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    assert "echoing-a" in response.json()["error"]["message"]
    no_secret_in(response, PROVIDER_KEY)
    stats = http.get("/admin/load-balancer/stats", headers=auth())
    no_secret_in(stats, PROVIDER_KEY)


def test_upstream_rejection_echoing_the_provider_key_is_scrubbed(
    http: httpx.Client, mock: MockUpstream
) -> None:
    """A 400 is passed to the client as the upstream wrote it, except for the gateway's own secrets."""
    mock.add_fault(
        {"match": {"model": "echo400"}, "status": 400, "message": f"bad request made with key {PROVIDER_KEY}"}
    )
    response = http.post(CHAT, json={"model": "echo400", "messages": user("hi")}, headers=auth())
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "bad request made with key" in response.json()["error"]["message"]
    no_secret_in(response, PROVIDER_KEY)


def test_provider_key_appears_nowhere_after_mixed_traffic(
    gw: GatewayProcess, http: httpx.Client, mock: MockUpstream
) -> None:
    mock.add_fault({"match": {"model": "rejected"}, "status": 401})
    mock.add_fault({"match": {"model": "busy"}, "status": 429, "retry_after": "1"})
    mock.add_fault({"match": {"model": "echo-mixed"}, "status": 401, "message": f"bad key {PROVIDER_KEY}"})
    mock.add_fault(
        {"match": {"model": "echo-stream"}, "status": 403, "message": f"no access for {PROVIDER_KEY}"}
    )
    mock.add_fault({"match": {"model": "cut", "stream": True}, "cut_after": 2})
    responses: list[httpx.Response] = []

    def chat(model: str, key: str = MASTER_KEY, **extra: object) -> httpx.Response:
        response = http.post(CHAT, json={"model": model, "messages": user("hi"), **extra}, headers=auth(key))
        responses.append(response)
        return response

    assert chat("chat").status_code == 200
    assert chat("chat", stream=True).status_code == 200
    assert chat("rejected").status_code == 502  # upstream 401: the deployment's key is bad
    assert chat("echo-mixed").status_code == 502
    assert chat("echo-stream", stream=True).status_code == 502
    assert chat("busy").status_code == 429
    assert chat("nope").status_code == 404
    assert chat("chat", key="sk-wrong").status_code == 401
    cut = chat("cut", stream=True)
    assert cut.status_code == 200 and '"error"' in cut.text
    with openai.OpenAI(base_url=gw.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20) as sdk:
        with pytest.raises(openai.InternalServerError):
            sdk.chat.completions.create(model="rejected", messages=user("sdk"))
        assert sdk.chat.completions.create(model="chat", messages=user("sdk")).choices[0].message.content
    responses.append(http.get("/admin/load-balancer/stats", headers=auth()))
    responses.append(http.get("/metrics"))
    responses.append(http.get("/health/readiness"))
    responses.append(http.get("/v1/models", headers=auth()))
    # the upstream did get the key: the test would be vacuous otherwise
    assert all(r["headers"]["authorization"] == f"Bearer {PROVIDER_KEY}" for r in mock.requests())
    for response in responses:
        no_secret_in(response, PROVIDER_KEY, MASTER_KEY)
    stats = responses[-4].json()
    assert stats["groups"]["rejected"]["deployments"][0]["failures"] >= 1
    assert "grid_requests_total" in responses[-3].text
    logs = gw.logs()
    assert "POST /v1/chat/completions 502" in logs  # the failures were logged...
    assert PROVIDER_KEY not in logs  # ...without the provider key
    assert MASTER_KEY not in logs
    assert TEAM_KEY not in logs
