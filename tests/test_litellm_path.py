"""The LiteLLM translation path: an `anthropic/` deployment, driven by the openai SDK through GRID.

The mock serves Anthropic's Messages API at `/v1/messages`; LiteLLM translates the OpenAI request
there and the answer back. The client sees OpenAI JSON / SSE carrying the mock's reply, and the mock
sees the deployment's own key as `x-api-key`, never the client's.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, PROVIDER_KEY, TOOLS
from tests.harness import LITELLM_ENV, GatewayProcess, openai_client, user

MESSAGES = "/v1/messages"


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [
            {
                "model_name": "claude",
                "litellm_params": {
                    "model": "anthropic/claude-haiku-4-5",
                    "api_base": mock.url,
                    "api_key": PROVIDER_KEY,
                },
                "model_info": {"id": "claude-mock"},
            },
            {  # its own group: the rate-limit test opens its breaker, and no other test uses it
                "model_name": "claude-limited",
                "litellm_params": {
                    "model": "anthropic/claude-limited",
                    "api_base": mock.url,
                    "api_key": PROVIDER_KEY,
                },
                "model_info": {"id": "claude-limited-mock"},
            },
            {
                "model_name": "claude-echo",
                "litellm_params": {
                    "model": "anthropic/claude-echo",
                    "api_base": mock.url,
                    "api_key": PROVIDER_KEY,
                },
                "model_info": {"id": "claude-echo-mock"},
            },
        ],
        "router_settings": {"num_retries": 0},
        "general_settings": {"master_key": MASTER_KEY},
    }
    env = dict(LITELLM_ENV)
    with GatewayProcess(config, env=env) as process:
        yield process


@pytest.fixture
def client(gw: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai_client(gw) as sdk:
        yield sdk


def assert_sent_with_deployment_key(mock: MockUpstream, request_id: str | None = None) -> dict:
    sent = mock.requests(MESSAGES)
    assert len(sent) == 1, [r["path"] for r in mock.requests()]
    headers = sent[0]["headers"]
    assert headers["x-api-key"] == PROVIDER_KEY
    assert "anthropic-version" in headers
    assert all(MASTER_KEY not in value for value in headers.values())
    if request_id is not None:
        assert headers["x-request-id"] == request_id
    return sent[0]


def test_non_stream_through_litellm(client: openai.OpenAI, mock: MockUpstream) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="claude",
        messages=user("hello anthropic"),
        max_tokens=64,
        extra_headers={"X-Request-ID": "ll-1"},
    )
    reply = raw.parse()
    assert reply.choices[0].message.content == "mock reply: hello anthropic"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens == 2
    assert reply.usage.completion_tokens == 4
    assert raw.headers["x-grid-model"] == "claude"
    assert raw.headers["x-grid-deployment"] == "claude-mock"
    assert raw.headers["x-request-id"] == "ll-1"
    sent = assert_sent_with_deployment_key(mock, "ll-1")
    assert sent["body"]["model"] == "claude-haiku-4-5"
    assert sent["body"]["max_tokens"] == 64
    assert sent["body"]["messages"][-1]["role"] == "user"


def test_stream_through_litellm(client: openai.OpenAI, mock: MockUpstream) -> None:
    stream = client.chat.completions.create(
        model="claude", messages=user("stream from anthropic"), max_tokens=64, stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "mock reply: stream from anthropic"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    sent = assert_sent_with_deployment_key(mock)
    assert sent["body"]["stream"] is True


def test_tools_through_litellm(client: openai.OpenAI, mock: MockUpstream) -> None:
    first = client.chat.completions.create(
        model="claude", messages=user("weather in Rome"), tools=TOOLS, max_tokens=64
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"echo": "weather in Rome"}
    sent = assert_sent_with_deployment_key(mock)
    assert sent["body"]["tools"][0]["name"] == "get_weather"
    mock.clear_requests()

    messages = [
        *user("weather in Rome"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call.id, "content": "hot"},
    ]
    second = client.chat.completions.create(model="claude", messages=messages, tools=TOOLS, max_tokens=64)
    assert second.choices[0].message.content == "mock reply: tool said hot"
    assert_sent_with_deployment_key(mock)


def test_upstream_rate_limit_through_litellm(client: openai.OpenAI, mock: MockUpstream) -> None:
    mock.add_fault({"match": {"model": "claude-limited"}, "status": 429, "retry_after": "3", "times": 1})
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="claude-limited", messages=user("too fast"), max_tokens=16)
    assert info.value.status_code == 429
    assert info.value.code == "rate_limit_exceeded"
    assert info.value.response.headers["retry-after"] == "3"
    assert PROVIDER_KEY not in info.value.response.text


def test_upstream_error_echoing_the_key_is_redacted_on_the_litellm_path(
    gw: GatewayProcess, client: openai.OpenAI, mock: MockUpstream
) -> None:
    mock.add_fault(
        {"match": {"model": "claude-echo"}, "status": 401, "message": f"invalid x-api-key {PROVIDER_KEY}"}
    )
    with pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="claude-echo", messages=user("hi"), max_tokens=16)
    assert info.value.status_code == 502
    assert info.value.code == "upstream_error"
    assert "claude-echo-mock" in info.value.message
    assert mock.requests(MESSAGES)[0]["headers"]["x-api-key"] == PROVIDER_KEY
    assert PROVIDER_KEY not in info.value.response.text
    assert PROVIDER_KEY not in gw.logs()
