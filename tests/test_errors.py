"""Every row of the error table (DESIGN.md section 1, docs/errors.md), through a running gateway.

Each case checks the status, the OpenAI error shape `{"error": {message, type, param, code}}` and the
exception class the official SDK raises for it. SDK clients use `max_retries=0` so only the gateway
retries.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import openai
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, deployment
from tests.harness import GatewayProcess, auth, user, wait_for

LIMITED_KEY = "sk-grid-test-limited"
CHAT = "/v1/chat/completions"


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    """One gateway, one model group per failure so breakers opened by one case never leak into another."""
    down = f"http://127.0.0.1:{closed_port()}"
    config = {
        "model_list": [
            deployment("ok", mock.url, dep_id="ok-a"),
            deployment("other", mock.url, dep_id="other-a"),
            deployment("limited", mock.url, dep_id="limited-a"),
            deployment("dated", mock.url, dep_id="dated-a"),
            deployment("down", down, dep_id="down-a"),
            deployment("garbage", mock.url, dep_id="garbage-a"),
            deployment("slow", mock.url, dep_id="slow-a", timeout=0.5),
            deployment("cut", mock.url, dep_id="cut-a"),
        ],
        "router_settings": {"num_retries": 1, "allowed_fails": 100, "cooldown_time": 1},
        "general_settings": {
            "master_key": MASTER_KEY,
            "api_keys": [{"key": LIMITED_KEY, "name": "team-a", "models": ["ok"]}],
        },
    }
    with GatewayProcess(config) as process:
        yield process


@pytest.fixture
def client(gw: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gw.base_url, api_key=MASTER_KEY, max_retries=0, timeout=15) as sdk:
        yield sdk


@pytest.fixture
def http(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=15) as session:
        yield session


def assert_error(
    response: httpx.Response, status: int, type_: str, code: str | None, param: str | None = None
) -> dict[str, Any]:
    """The response is an OpenAI-shaped error with exactly these fields; returns the `error` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("x-request-id")
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] == type_
    assert error["code"] == code
    assert error["param"] == param
    return error


def assert_sdk_error(
    exc: openai.APIStatusError, status: int, type_: str, code: str | None, param: str | None = None
) -> dict[str, Any]:
    assert exc.status_code == status
    assert exc.type == type_
    assert exc.code == code
    assert exc.param == param
    return assert_error(exc.response, status, type_, code, param)


# -- 400 ------------------------------------------------------------------------------------------


def test_malformed_json_is_400(http: httpx.Client, mock: MockUpstream) -> None:
    response = http.post(
        CHAT, content=b'{"model": "ok", "messages": [', headers={**auth(), "content-type": "application/json"}
    )
    error = assert_error(response, 400, "invalid_request_error", None)
    assert "JSON" in error["message"]
    assert mock.requests() == []


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b""], ids=["array", "string", "empty"])
def test_body_that_is_not_an_object_is_400(http: httpx.Client, body: bytes) -> None:
    response = http.post(CHAT, content=body, headers={**auth(), "content-type": "application/json"})
    assert_error(response, 400, "invalid_request_error", None)


def test_model_of_the_wrong_type_is_400(client: openai.OpenAI, mock: MockUpstream) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model=123, messages=user("hi"))  # type: ignore[arg-type]
    error = assert_sdk_error(info.value, 400, "invalid_request_error", None, "model")
    assert "model" in error["message"]
    assert mock.requests() == []


def test_missing_messages_is_400(client: openai.OpenAI, http: httpx.Client) -> None:
    response = http.post(CHAT, json={"model": "ok"}, headers=auth())
    error = assert_error(response, 400, "invalid_request_error", response.json()["error"]["code"], "messages")
    assert "messages" in error["message"]
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="ok", messages=[])
    assert info.value.status_code == 400
    assert info.value.type == "invalid_request_error"
    assert info.value.param == "messages"


def test_missing_model_without_default_is_400(http: httpx.Client) -> None:
    response = http.post(CHAT, json={"messages": user("hi")}, headers=auth())
    assert_error(response, 400, "invalid_request_error", None, "model")


# -- 401 / 403 ------------------------------------------------------------------------------------


def test_missing_key_is_401(http: httpx.Client, mock: MockUpstream) -> None:
    response = http.post(CHAT, json={"model": "ok", "messages": user("hi")})
    assert_error(response, 401, "authentication_error", "invalid_api_key")
    assert mock.requests() == []
    response = http.get("/v1/models", headers={"authorization": "Basic abc"})
    assert_error(response, 401, "authentication_error", "invalid_api_key")


def test_wrong_key_is_401(gw: GatewayProcess, mock: MockUpstream) -> None:
    with openai.OpenAI(base_url=gw.base_url, api_key="sk-wrong", max_retries=0, timeout=20) as sdk:
        with pytest.raises(openai.AuthenticationError) as info:
            sdk.chat.completions.create(model="ok", messages=user("hi"))
        assert_sdk_error(info.value, 401, "authentication_error", "invalid_api_key")
        with pytest.raises(openai.AuthenticationError):
            sdk.models.list()
    assert mock.requests() == []


def test_x_api_key_header_authenticates(http: httpx.Client) -> None:
    response = http.post(
        CHAT, json={"model": "ok", "messages": user("hi")}, headers={"x-api-key": MASTER_KEY}
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "mock reply: hi"
    wrong = http.post(CHAT, json={"model": "ok", "messages": user("hi")}, headers={"x-api-key": "nope"})
    assert_error(wrong, 401, "authentication_error", "invalid_api_key")


def test_key_not_allowed_a_model_is_403(gw: GatewayProcess, mock: MockUpstream) -> None:
    with openai.OpenAI(base_url=gw.base_url, api_key=LIMITED_KEY, max_retries=0, timeout=20) as sdk:
        allowed = sdk.chat.completions.create(model="ok", messages=user("mine"))
        assert allowed.choices[0].message.content == "mock reply: mine"
        with pytest.raises(openai.PermissionDeniedError) as info:
            sdk.chat.completions.create(model="other", messages=user("not mine"))
        error = assert_sdk_error(info.value, 403, "permission_error", "permission_denied")
        assert "other" in error["message"]
        assert [m.id for m in sdk.models.list().data] == ["ok"]
        with pytest.raises(openai.NotFoundError):
            sdk.models.retrieve("other")
    assert len(mock.requests(CHAT)) == 1


def test_non_admin_key_on_admin_path_is_403(http: httpx.Client) -> None:
    response = http.get("/admin/load-balancer/stats", headers=auth(LIMITED_KEY))
    assert_error(response, 403, "permission_error", "permission_denied")
    response = http.post("/admin/config/reload", headers=auth(LIMITED_KEY))
    assert_error(response, 403, "permission_error", "permission_denied")
    admin = http.get("/admin/load-balancer/stats", headers=auth())
    assert admin.status_code == 200
    assert "ok" in admin.json()["groups"]


# -- 404 ------------------------------------------------------------------------------------------


def test_unknown_model_is_404_naming_it(client: openai.OpenAI, mock: MockUpstream) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="gpt-imaginary-9", messages=user("hi"))
    error = assert_sdk_error(info.value, 404, "invalid_request_error", "model_not_found", "model")
    assert "gpt-imaginary-9" in error["message"]
    with pytest.raises(openai.NotFoundError) as info:
        client.embeddings.create(model="embed-imaginary", input="x")
    assert "embed-imaginary" in info.value.message
    assert mock.requests() == []


def test_unknown_path_is_404(http: httpx.Client) -> None:
    response = http.get("/v1/no/such/thing", headers=auth())
    error = assert_error(response, 404, "invalid_request_error", "not_found")
    assert "/v1/no/such/thing" in error["message"]


def test_wrong_method_is_openai_shaped(http: httpx.Client) -> None:
    response = http.get(CHAT, headers=auth())
    assert_error(response, 405, "invalid_request_error", None)


# -- upstream failures ----------------------------------------------------------------------------


def test_upstream_429_after_retries_is_429_with_retry_after(
    client: openai.OpenAI, mock: MockUpstream
) -> None:
    mock.add_fault({"match": {"model": "limited"}, "status": 429, "retry_after": "7"})
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="limited", messages=user("hi"))
    assert_sdk_error(info.value, 429, "rate_limit_error", "rate_limit_exceeded")
    assert info.value.response.headers["retry-after"] == "7"
    assert len(mock.requests(CHAT)) >= 1


def test_upstream_retry_after_as_an_http_date_is_passed_on_in_seconds(
    client: openai.OpenAI, mock: MockUpstream
) -> None:
    """RFC 9110 allows `Retry-After: <HTTP date>`; the client gets the seconds until then."""
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    mock.add_fault({"match": {"model": "dated"}, "status": 429, "retry_after": when})
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="dated", messages=user("hi"))
    assert_sdk_error(info.value, 429, "rate_limit_error", "rate_limit_exceeded")
    # 120 s less the time the request took (the date has whole seconds): generous, not a measurement
    assert 60 <= int(info.value.response.headers["retry-after"]) <= 121
    # the deployment cools down until then: the next request is not sent upstream
    sent = len(mock.requests(CHAT))
    with pytest.raises(openai.APIStatusError) as again:
        client.chat.completions.create(model="dated", messages=user("hi"))
    assert again.value.status_code in (429, 503) and len(mock.requests(CHAT)) == sent
    assert 60 <= int(again.value.response.headers["retry-after"]) <= 121


def test_upstream_unreachable_is_502(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="down", messages=user("hi"))
    error = assert_sdk_error(info.value, 502, "api_error", "upstream_error")
    assert "down-a" in error["message"]
    assert "127.0.0.1" not in error["message"]  # deployments are named by id, never by URL


def test_upstream_garbage_is_502_after_a_retry(client: openai.OpenAI, mock: MockUpstream) -> None:
    mock.add_fault({"match": {"model": "garbage"}, "malformed": True})
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="garbage", messages=user("hi"))
    assert_sdk_error(info.value, 502, "api_error", "upstream_error")
    assert len(mock.requests(CHAT)) == 2  # num_retries: 1


def test_upstream_5xx_is_502(client: openai.OpenAI, mock: MockUpstream) -> None:
    mock.add_fault({"match": {"model": "garbage"}, "status": 500, "times": 2})
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="garbage", messages=user("hi"))
    assert_sdk_error(info.value, 502, "api_error", "upstream_error")
    # the fault is spent: the next request goes through
    reply = client.chat.completions.create(model="garbage", messages=user("again"))
    assert reply.choices[0].message.content == "mock reply: again"


def test_upstream_timeout_is_504(client: openai.OpenAI, mock: MockUpstream) -> None:
    # the upstream would answer after 30 s, far beyond the client's own timeout: a 504 at all proves
    # the gateway gave up on its own (two attempts of 0.5 s), and the mock saw both abandoned
    mock.add_fault({"match": {"model": "slow"}, "delay": 30})
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="slow", messages=user("hi"))
    assert_sdk_error(info.value, 504, "api_error", "upstream_timeout")
    assert len(mock.requests(CHAT)) == 2  # num_retries: 1
    assert wait_for(lambda: mock.stats()["disconnected_requests"] == 2), mock.stats()


def test_upstream_timeout_before_first_byte_of_a_stream_is_504(
    http: httpx.Client, mock: MockUpstream
) -> None:
    mock.add_fault({"match": {"model": "slow", "stream": True}, "stall": 3})
    body = {"model": "slow", "messages": user("hi"), "stream": True}
    response = http.post(CHAT, json=body, headers=auth())
    assert_error(response, 504, "api_error", "upstream_timeout")


def test_failure_after_stream_started_ends_with_error_event(
    client: openai.OpenAI, http: httpx.Client, mock: MockUpstream
) -> None:
    mock.add_fault({"match": {"model": "cut", "stream": True}, "cut_after": 3})
    body = {"model": "cut", "messages": user("one two three four five"), "stream": True}
    with http.stream("POST", CHAT, json=body, headers=auth()) as response:
        assert response.status_code == 200
        raw = response.read().decode()
    events = [line[6:] for line in raw.splitlines() if line.startswith("data: ")]
    assert "[DONE]" not in events
    parsed = [json.loads(e) for e in events]
    assert "error" in parsed[-1]
    error = parsed[-1]["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "api_error"
    assert error["code"] == "upstream_error"
    content = [p for p in parsed[:-1] if "choices" in p]
    assert len(content) == 3  # everything the upstream sent before it was cut
    assert "".join(p["choices"][0]["delta"].get("content") or "" for p in content) == "mock reply:"

    with pytest.raises(openai.APIError) as info:
        for _chunk in client.chat.completions.create(
            model="cut", messages=user("one two three four five"), stream=True
        ):
            pass
    assert "cut-a" in info.value.message


# -- 413 and 503: a gateway with a tiny body limit and breakers that open on the first failure -------


@pytest.fixture(scope="module")
def strict(mock: MockUpstream) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [
            deployment("small", mock.url, dep_id="small-a"),
            deployment("fragile", mock.url, dep_id="fragile-a"),
            deployment("fragile", mock.url, dep_id="fragile-b"),
        ],
        "router_settings": {"num_retries": 1, "allowed_fails": 1, "cooldown_time": 60},
        "general_settings": {"master_key": MASTER_KEY, "max_request_size_mb": 0.001},
    }
    with GatewayProcess(config) as process:
        yield process


def test_body_over_the_limit_is_413(strict: GatewayProcess, mock: MockUpstream) -> None:
    with openai.OpenAI(base_url=strict.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20) as sdk:
        small = sdk.chat.completions.create(model="small", messages=user("short"))
        assert small.choices[0].message.content == "mock reply: short"
        with pytest.raises(openai.APIStatusError) as info:
            sdk.chat.completions.create(model="small", messages=user("x" * 2000))
    assert_sdk_error(info.value, 413, "invalid_request_error", "request_too_large")
    assert "1048" in info.value.message
    assert len(mock.requests(CHAT)) == 1


def test_chunked_body_over_the_limit_is_413(strict: GatewayProcess, mock: MockUpstream) -> None:
    payload = json.dumps({"model": "small", "messages": user("y" * 4000)}).encode()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(payload), 256):
            yield payload[i : i + 256]

    with httpx.Client(base_url=strict.url, timeout=10) as session:
        response = session.post(
            CHAT, content=chunks(), headers={**auth(), "content-type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert_error(response, 413, "invalid_request_error", "request_too_large")
    assert mock.requests(CHAT) == []


def test_no_healthy_deployment_is_503_with_retry_after(strict: GatewayProcess, mock: MockUpstream) -> None:
    mock.add_fault({"match": {"model": "fragile"}, "status": 500})
    with openai.OpenAI(base_url=strict.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20) as sdk:
        with pytest.raises(openai.InternalServerError) as info:
            sdk.chat.completions.create(model="fragile", messages=user("hi"))
        assert info.value.status_code == 502  # both deployments failed once: both breakers open
        assert len(mock.requests(CHAT)) == 2
        with pytest.raises(openai.InternalServerError) as info:
            sdk.chat.completions.create(model="fragile", messages=user("hi"))
    error = assert_sdk_error(info.value, 503, "api_error", "no_healthy_deployment")
    assert "fragile" in error["message"]
    retry_after = int(info.value.response.headers["retry-after"])
    assert 50 <= retry_after <= 60
    assert len(mock.requests(CHAT)) == 2  # the second request never reached the upstream
    with httpx.Client(base_url=strict.url, timeout=5) as session:
        stats = session.get("/admin/load-balancer/stats", headers=auth()).json()
    states = {d["id"]: d["state"] for d in stats["groups"]["fragile"]["deployments"]}
    assert states == {"fragile-a": "open", "fragile-b": "open"}
