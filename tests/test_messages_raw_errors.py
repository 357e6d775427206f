"""Errors answered before routing on the Anthropic Messages paths are in Anthropic's shape too.

Some answers never reach the application: the HTTP protocol writes 431 (headers too large), 408 (head
or body too slow) and 503 (over the connection cap) straight to the socket. On `/v1/messages` they
must read `{"type": "error", "error": {"type", "message"}}` as the app's own errors there do, and
stay OpenAI-shaped everywhere else. Raw sockets for what an SDK cannot send; the `anthropic` SDK for
the body limit, the key and an overloaded gateway.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import anthropic
import orjson
import pytest

from tests.conftest import MASTER_KEY, anthropic_deployment
from tests.harness import CLIENT_TIMEOUT, GatewayProcess
from tests.test_hostile_network import Reply, exchange

READ_TIMEOUT = 1.0
HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def gw(mock) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [anthropic_deployment("claude", mock.url, "claude-a", model="claude-upstream")],
        "general_settings": {
            "master_key": MASTER_KEY,
            "header_read_timeout": READ_TIMEOUT,
            "body_read_timeout": READ_TIMEOUT,
            "max_request_size_mb": 0.01,
        },
    }
    with GatewayProcess(config) as process:
        yield process


def anthropic_error(reply: Reply, status: int, kind: str) -> str:
    assert reply.status == status, reply.raw[:300]
    body = orjson.loads(reply.body)
    assert body["type"] == "error" and set(body["error"]) == {"type", "message"}, body
    assert body["error"]["type"] == kind and reply.closed
    return body["error"]["message"]


def openai_error(reply: Reply, status: int, code: str) -> None:
    assert reply.status == status, reply.raw[:300]
    assert orjson.loads(reply.body)["error"]["code"] == code


def post_head(path: str, extra: bytes = b"") -> bytes:
    return (
        b"POST "
        + path.encode()
        + b" HTTP/1.1\r\nHost: grid\r\nx-api-key: "
        + MASTER_KEY.encode()
        + b"\r\n"
        + extra
    )


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages?beta=true", "/messages/count_tokens"])
def test_headers_too_large_is_anthropic_shaped_on_the_messages_paths(gw, path):
    data = post_head(path, b"x-filler: " + b"a" * 70_000 + b"\r\n\r\n")
    assert "exceed" in anthropic_error(exchange(gw.port, data), 431, "invalid_request_error")


def test_headers_too_large_stays_openai_shaped_elsewhere(gw):
    data = post_head("/v1/chat/completions", b"x-filler: " + b"a" * 70_000 + b"\r\n\r\n")
    openai_error(exchange(gw.port, data), 431, "headers_too_large")


def test_a_slow_head_gets_an_anthropic_408(gw):
    reply = exchange(gw.port, post_head("/v1/messages"), timeout=8 * READ_TIMEOUT)  # no blank line
    assert "headers" in anthropic_error(reply, 408, "invalid_request_error")


def test_a_slow_body_gets_an_anthropic_408(gw):
    body = orjson.dumps({"model": "claude", "max_tokens": 8, "messages": HELLO})
    data = post_head(
        "/v1/messages", b"content-type: application/json\r\ncontent-length: %d\r\n\r\n" % (len(body) + 100)
    )
    reply = exchange(gw.port, data + body, timeout=8 * READ_TIMEOUT)
    assert "body" in anthropic_error(reply, 408, "invalid_request_error")


def test_the_body_limit_through_the_anthropic_sdk(gw):  # (401: test_messages_api)
    with (
        anthropic.Anthropic(
            base_url=gw.url, api_key=MASTER_KEY, max_retries=0, timeout=CLIENT_TIMEOUT
        ) as sdk,
        pytest.raises(anthropic.APIStatusError) as too_large,
    ):
        sdk.messages.create(
            model="claude", max_tokens=8, messages=[{"role": "user", "content": "x" * 20_000}]
        )
    assert too_large.value.status_code == 413
    assert too_large.value.body["type"] == "error"
    assert too_large.value.body["error"]["type"] == "request_too_large"


def test_over_the_connection_cap_messages_get_an_anthropic_503(mock):
    config = {
        "model_list": [anthropic_deployment("claude", mock.url, "claude-a", model="claude-upstream")],
        "general_settings": {"master_key": MASTER_KEY, "max_connections": 1, "header_read_timeout": 30},
    }
    with GatewayProcess(config) as gw, socket.create_connection(("127.0.0.1", gw.port), timeout=10) as held:
        held.sendall(b"GET /health/live HTTP/1.1\r\n")  # holds the one connection served
        with (
            anthropic.Anthropic(
                base_url=gw.url, api_key=MASTER_KEY, max_retries=0, timeout=CLIENT_TIMEOUT
            ) as sdk,
            pytest.raises(anthropic.APIStatusError) as refused,
        ):
            sdk.messages.create(model="claude", max_tokens=8, messages=HELLO)
        assert refused.value.status_code == 503
        assert refused.value.response.headers["retry-after"] == "1"
        assert refused.value.body["type"] == "error"
        assert refused.value.body["error"]["type"] == "overloaded_error"
        openai_error(exchange(gw.port, b"GET /v1/models HTTP/1.1\r\nHost: grid\r\n\r\n"), 503, "overloaded")
        silent = exchange(gw.port, b"")  # no request line: answered after a moment, OpenAI-shaped
        openai_error(silent, 503, "overloaded")
