"""`gateway.upstream.*` directly, in the test process: the pass-through client and the LiteLLM client
against the real mock upstream (HTTP on loopback, fault injection), and the stream relay driven as an
ASGI app. What each sends upstream, what it returns, and which `GatewayError` each failure becomes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from gateway.config.loader import build_from_dict
from gateway.config.model import Deployment
from gateway.config.problems import Problems
from gateway.errors import GatewayError, RateLimited, UpstreamError, UpstreamRejected, UpstreamTimeout
from gateway.upstream.litellm_path import LiteLLMClient, _kwargs
from gateway.upstream.passthrough import PassthroughClient, new_session
from gateway.upstream.relay import StreamRelay
from gateway.upstream.stream import OpenStream
from gateway.upstream.usage_tap import UsageTap
from tests.conftest import PROVIDER_KEY
from tests.harness import CHAT, user


def deployments(mock_url: str, **params: Any) -> dict[str, Deployment]:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    down = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
    closed.close()
    entries = [
        ("wire", "openai/wire", f"{mock_url}/v1"),
        ("down", "openai/down", down),
        ("claude", "anthropic/claude-unit", mock_url),
    ]
    raw = {
        "model_list": [
            {
                "model_name": name,
                "litellm_params": {"model": model, "api_base": base, "api_key": PROVIDER_KEY, **params},
                "model_info": {"id": f"{name}-1"},
            }
            for name, model, base in entries
        ]
    }
    problems = Problems()
    snapshot = build_from_dict(raw, {}, problems)
    assert not problems.errors, problems.errors
    return {d.group: d for d in snapshot.deployments}


@contextlib.asynccontextmanager
async def passthrough_client() -> AsyncIterator[PassthroughClient]:
    """A client on its own aiohttp session, made in the test's own event loop."""
    session = new_session()
    try:
        yield PassthroughClient(session)
    finally:
        await session.close()


def body(text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": "what-the-client-asked", "messages": user(text), **extra}


def content_of(sse: bytes) -> str:
    events = [orjson.loads(line[6:]) for line in sse.splitlines() if line.startswith(b"data: {")]
    return "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e.get("choices"))


async def drain(stream: OpenStream) -> bytes:
    return stream.first + b"".join([chunk async for chunk in stream.rest])


# -- pass-through ---------------------------------------------------------------------------------


async def test_passthrough_sends_the_deployments_model_key_and_request_id_only(mock):
    async with passthrough_client() as passthrough:
        dep = deployments(mock.url)["wire"]
        raw, parsed = await passthrough.call(dep, "chat/completions", body("hello"), "req-unit-1")
        assert parsed["choices"][0]["message"]["content"] == "mock reply: hello"
        assert orjson.loads(raw) == parsed
        (sent,) = mock.requests(CHAT)
        assert sent["body"]["model"] == "wire"  # the client's model name was rewritten
        assert sent["headers"]["authorization"] == f"Bearer {PROVIDER_KEY}"
        assert sent["headers"]["x-request-id"] == "req-unit-1"
        assert "accept" not in sent["headers"] or sent["headers"]["accept"] != "text/event-stream"


@pytest.mark.parametrize(
    ("fault", "cls", "status"),
    [
        ({"status": 429, "retry_after": "4"}, RateLimited, 429),
        ({"status": 500}, UpstreamError, 502),
        ({"status": 401}, UpstreamError, 502),
        ({"status": 400, "message": "bad temperature"}, UpstreamRejected, 400),
        ({"malformed": True}, UpstreamError, 502),
    ],
)
async def test_passthrough_failures_become_gateway_errors(mock, fault, cls, status):
    async with passthrough_client() as passthrough:
        dep = deployments(mock.url)["wire"]
        mock.add_fault({"match": {"model": "wire"}, **fault})
        with pytest.raises(GatewayError) as info:
            await passthrough.call(dep, "chat/completions", body(), "req-unit-2")
        assert type(info.value) is cls and info.value.status == status
        if "retry_after" in fault:
            assert info.value.retry_after == 4.0


async def test_passthrough_timeout_and_unreachable(mock):
    async with passthrough_client() as passthrough:
        deps = deployments(mock.url, timeout=0.3)
        mock.add_fault({"match": {"model": "wire"}, "delay": 30})
        with pytest.raises(UpstreamTimeout) as info:
            await passthrough.call(deps["wire"], "chat/completions", body(), "req-unit-3")
        assert info.value.retryable and "wire-1 timed out" in info.value.message
        with pytest.raises(UpstreamError) as info:
            await passthrough.call(deps["down"], "chat/completions", body(), "req-unit-4")
        assert info.value.retryable and "down-1 is unreachable" in info.value.message


async def test_passthrough_stream_returns_after_the_first_event_and_relays_the_rest(mock):
    async with passthrough_client() as passthrough:
        dep = deployments(mock.url)["wire"]
        stream = await passthrough.open_stream(
            dep, "chat/completions", body("one two", stream=True), "req-s1"
        )
        assert stream.first.startswith(b"data: {")
        text = await drain(stream)
        assert text.rstrip().endswith(b"data: [DONE]")
        assert content_of(text) == "mock reply: one two"
        (sent,) = mock.requests(CHAT)
        assert sent["headers"]["accept"] == "text/event-stream" and sent["body"]["stream"] is True


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ({"status": 503}, "failed with 503"),
        ({"cut_after": 0}, "ClientPayloadError"),  # the connection closed mid-body, before any event
        ({"error_event": True}, "opened with an error event"),
    ],
)
async def test_passthrough_stream_failures_before_the_first_event(mock, fault, words):
    async with passthrough_client() as passthrough:
        dep = deployments(mock.url)["wire"]
        mock.add_fault({"match": {"model": "wire", "stream": True}, **fault})
        with pytest.raises(GatewayError) as info:
            await passthrough.open_stream(dep, "chat/completions", body(stream=True), "req-s2")
        assert words in info.value.message and info.value.retryable


async def test_passthrough_stream_stalled_before_the_first_byte_times_out(mock):
    async with passthrough_client() as passthrough:
        dep = deployments(mock.url, stream_timeout=0.3)["wire"]
        mock.add_fault({"match": {"model": "wire", "stream": True}, "stall": 30})
        with pytest.raises(UpstreamTimeout) as info:
            await passthrough.open_stream(dep, "chat/completions", body(stream=True), "req-s3")
        assert "first byte" in info.value.message


async def test_passthrough_stream_cut_after_it_started_raises_from_the_rest(mock):
    async with passthrough_client() as passthrough:
        dep = deployments(mock.url)["wire"]
        mock.add_fault({"match": {"model": "wire", "stream": True}, "cut_after": 2, "chunks": 6})
        stream = await passthrough.open_stream(dep, "chat/completions", body("a b c d e f", stream=True), "r")
        with pytest.raises(UpstreamError) as info:
            await drain(stream)
        assert "stream cut" in info.value.message


# -- LiteLLM --------------------------------------------------------------------------------------


def test_litellm_kwargs_carry_the_deployment_not_the_client():
    dep = deployments("http://up")["claude"]
    kwargs = _kwargs(dep, "chat/completions", body(extra_headers={"x-client": "1"}), "req-k")
    assert kwargs["model"] == "anthropic/claude-unit" and kwargs["api_key"] == PROVIDER_KEY
    # the request id goes upstream; the client's own headers do not
    assert kwargs["num_retries"] == 0 and kwargs["extra_headers"] == {"x-request-id": "req-k"}
    assert not {"weight", "rpm", "tpm", "max_retries", "stream_timeout"} & set(kwargs)


async def test_litellm_call_and_stream_through_the_anthropic_wire(mock, monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    dep = deployments(mock.url)["claude"]
    client = LiteLLMClient()
    raw, parsed = await client.call(dep, "chat/completions", body("hello", max_tokens=16), "req-l1")
    assert parsed["choices"][0]["message"]["content"] == "mock reply: hello"
    sent = mock.requests("/v1/messages")[-1]
    assert sent["headers"]["x-api-key"] == PROVIDER_KEY and sent["body"]["model"] == "claude-unit"
    stream = await client.open_stream(
        dep, "chat/completions", body("streamed", max_tokens=16, stream=True), "r"
    )
    text = await drain(stream)
    assert text.endswith(b"data: [DONE]\n\n") and b"streamed" in text
    mock.add_fault({"match": {"model": "claude-unit"}, "status": 429, "retry_after": "5"})
    with pytest.raises(RateLimited) as info:
        await client.call(dep, "chat/completions", body(max_tokens=16), "req-l2")
    assert info.value.retry_after == 5.0
    mock.clear_faults()
    mock.add_fault({"match": {"model": "claude-unit"}, "status": 401, "message": f"bad key {PROVIDER_KEY}"})
    with pytest.raises(UpstreamError) as info:
        await client.call(dep, "chat/completions", body(max_tokens=16), "req-l3")
    assert info.value.status == 502 and not info.value.retryable


# -- the stream relay -----------------------------------------------------------------------------


def open_stream(chunks: list[bytes], fail: GatewayError | None = None, stall: bool = False) -> tuple:
    closed: list[bool] = []

    async def rest() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk
        if stall:
            await asyncio.sleep(3600)
        if fail is not None:
            raise fail

    return OpenStream(first=b'data: {"n":0}\n\n', rest=rest(), close=lambda: closed.append(True)), closed


async def relay(stream: OpenStream, disconnect_after: int | None = None) -> tuple[list[dict], list[tuple]]:
    ends: list[tuple] = []
    sent: list[dict] = []
    gone = asyncio.Event()

    async def receive():
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)
        if disconnect_after is not None and len(sent) >= disconnect_after:
            gone.set()
            await asyncio.sleep(0)

    app = StreamRelay(
        stream, [(b"x-grid-model", b"g")], lambda *verdict: ends.append(verdict), UsageTap(False)
    )
    await asyncio.wait_for(app({"type": "http"}, receive, send), timeout=30)
    return sent, ends


async def test_relay_sends_headers_then_every_event_and_reports_success_once():
    stream, closed = open_stream([b'data: {"n":1}\n\n', b"data: [DONE]\n\n"])
    sent, ends = await relay(stream)
    assert sent[0]["status"] == 200 and (b"x-grid-model", b"g") in sent[0]["headers"]
    assert (b"content-type", b"text/event-stream; charset=utf-8") in sent[0]["headers"]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert body == b'data: {"n":0}\n\ndata: {"n":1}\n\ndata: [DONE]\n\n'
    assert sent[-1]["more_body"] is False
    assert ends == [(True, None, False)] and closed


async def test_relay_ends_a_failed_stream_with_an_openai_error_event():
    stream, _ = open_stream([b'data: {"n":1}\n\n'], fail=UpstreamError("cut mid-way"))
    sent, ends = await relay(stream)
    body = b"".join(m.get("body", b"") for m in sent[1:])
    last = body.rstrip().split(b"\n\n")[-1]
    assert orjson.loads(last[6:]) == {
        "error": {"message": "cut mid-way", "type": "api_error", "param": None, "code": "upstream_error"}
    }
    ((ok, error, disconnected),) = ends
    assert not ok and isinstance(error, UpstreamError) and not disconnected


async def test_relay_drops_the_upstream_when_the_client_goes_away():
    stream, closed = open_stream([], stall=True)
    sent, ends = await relay(stream, disconnect_after=2)  # headers and the first event, then gone
    assert closed  # the upstream connection was closed at once, not after the hour-long stall
    assert ends == [(False, None, True)]
