"""Anthropic's Messages API through GRID, driven by the official `anthropic` SDK against a running gateway.

An Anthropic deployment gets the request forwarded as bytes (the mock's `/v1/messages`, with the
deployment's own `x-api-key`); an OpenAI-wire group is served by translating to chat completions and
back. Both with `messages.create` and `messages.stream`, tools, an alias, a fallback, `model="auto"`,
and errors in Anthropic's shape, before and after a stream has started.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, PROVIDER_KEY, anthropic_deployment, deployment
from tests.harness import CLIENT_TIMEOUT, GatewayProcess, metric_value

TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [
            anthropic_deployment("claude", mock.url, "claude-a", model="claude-upstream"),
            deployment("gpt", mock.url, dep_id="gpt-a"),
            anthropic_deployment("primary", mock.url, "primary-a", model="primary-upstream"),
            deployment("primary-gpt", mock.url, dep_id="primary-gpt-a"),
        ],
        "router_settings": {
            "num_retries": 0,
            "model_group_alias": {"sonnet": "claude", "mini": "gpt"},
            "fallbacks": [{"primary": ["gpt"]}, {"primary-gpt": ["claude"]}],
        },
        "model_routing": {"auto_models": ["gpt"], "capabilities": {"gpt": {"quality": 0.6}}},
        "general_settings": {"master_key": MASTER_KEY},
    }
    with GatewayProcess(config) as process:
        yield process


@pytest.fixture
def client(gw: GatewayProcess) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=gw.url, api_key=MASTER_KEY, max_retries=0, timeout=CLIENT_TIMEOUT
    ) as sdk:
        yield sdk


def test_an_anthropic_group_gets_the_request_as_bytes_with_its_own_key(client, mock):
    raw = client.messages.with_raw_response.create(model="sonnet", max_tokens=64, messages=HELLO)
    message = raw.parse()
    assert message.content[0].text == "mock reply: hello there"
    assert message.usage.input_tokens == 2 and message.stop_reason == "end_turn"
    assert raw.headers["x-grid-model"] == "claude" and raw.headers["x-grid-deployment"] == "claude-a"
    sent = mock.requests("/v1/messages")
    assert len(sent) == 1 and sent[0]["body"]["model"] == "claude-upstream"
    assert sent[0]["headers"]["x-api-key"] == PROVIDER_KEY and "anthropic-version" in sent[0]["headers"]
    assert all(MASTER_KEY not in value for value in sent[0]["headers"].values())


def test_an_openai_group_is_translated_both_ways(client, mock):
    message = client.messages.create(model="mini", max_tokens=64, system="be brief", messages=HELLO)
    assert message.content[0].text == "mock reply: hello there"
    assert message.usage.output_tokens > 0 and message.stop_reason == "end_turn"
    sent = mock.requests("/v1/chat/completions")
    assert len(sent) == 1 and not mock.requests("/v1/messages")
    assert sent[0]["body"]["messages"][0] == {"role": "system", "content": "be brief"}
    assert sent[0]["body"]["max_tokens"] == 64


@pytest.mark.parametrize("model", ["claude", "gpt"])
def test_stream_reassembles_text_with_usage(client, model):
    with client.messages.stream(
        model=model, max_tokens=64, messages=[{"role": "user", "content": "stream it"}]
    ) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == "mock reply: stream it"
    assert final.content[0].text == text and final.usage.output_tokens > 0
    assert final.stop_reason == "end_turn"


@pytest.mark.parametrize("model", ["claude", "gpt"])
def test_tools_use_and_results(client, model):
    ask = [{"role": "user", "content": "weather in Oslo?"}]
    first = client.messages.create(model=model, max_tokens=64, messages=ask, tools=[TOOL])
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "get_weather" and use.input == {"echo": "weather in Oslo?"}
    assert first.stop_reason == "tool_use"
    turn = [
        *ask,
        {"role": "assistant", "content": [b.model_dump() for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "snow"}]},
    ]
    second = client.messages.create(model=model, max_tokens=64, messages=turn, tools=[TOOL])
    assert second.content[0].text == "mock reply: tool said snow"
    with client.messages.stream(model=model, max_tokens=64, messages=ask, tools=[TOOL]) as s:
        final = s.get_final_message()
    streamed = next(b for b in final.content if b.type == "tool_use")
    assert streamed.input == {"echo": "weather in Oslo?"}


def test_fallbacks_cross_formats(client, mock):
    mock.add_fault({"match": {"path": "/v1/messages", "model": "primary-upstream"}, "status": 529})
    raw = client.messages.with_raw_response.create(model="primary", max_tokens=64, messages=HELLO)
    assert raw.parse().content[0].text == "mock reply: hello there"
    assert raw.headers["x-grid-model"] == "gpt" and raw.headers["x-grid-fallbacks"] == "1"
    mock.add_fault({"match": {"path": "/v1/chat/completions", "model": "primary-gpt"}, "status": 500})
    with client.messages.stream(model="primary-gpt", max_tokens=64, messages=HELLO) as s:
        assert "".join(s.text_stream) == "mock reply: hello there"


def test_model_auto_selects_a_group(client, mock):
    raw = client.messages.with_raw_response.create(model="auto", max_tokens=64, messages=HELLO)
    assert raw.parse().content[0].text == "mock reply: hello there"
    assert raw.headers["x-grid-model"] == "gpt" and "x-grid-route-reason" in raw.headers


def test_count_tokens_asks_an_anthropic_group_and_estimates_for_others(client, mock):
    counted = client.messages.count_tokens(model="sonnet", system="be brief", messages=HELLO)
    assert counted.input_tokens == 4  # the mock's count: words of system and messages
    sent = mock.requests("/v1/messages/count_tokens")
    assert len(sent) == 1 and sent[0]["body"]["model"] == "claude-upstream"
    assert sent[0]["headers"]["x-api-key"] == PROVIDER_KEY
    assert client.messages.count_tokens(model="mini", messages=HELLO).input_tokens > 0
    assert len(mock.requests("/v1/messages/count_tokens")) == 1  # an OpenAI group: estimated here
    mock.add_fault({"match": {"path": "/v1/messages/count_tokens"}, "status": 500})
    assert client.messages.count_tokens(model="claude", messages=HELLO).input_tokens > 0  # estimated
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="nope", messages=HELLO)


def test_errors_are_anthropic_shaped(client, gw):
    with pytest.raises(anthropic.NotFoundError) as unknown:
        client.messages.create(model="no-such-model", max_tokens=8, messages=HELLO)
    assert unknown.value.body["type"] == "error"
    assert unknown.value.body["error"]["type"] == "not_found_error"
    assert "no-such-model" in unknown.value.body["error"]["message"]
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model="claude", max_tokens=0, messages=HELLO)
    assert bad.value.body["error"]["type"] == "invalid_request_error"
    with (
        anthropic.Anthropic(base_url=gw.url, api_key="wrong", max_retries=0, timeout=CLIENT_TIMEOUT) as other,
        pytest.raises(anthropic.AuthenticationError) as denied,
    ):
        other.messages.create(model="claude", max_tokens=8, messages=HELLO)
    assert denied.value.body["error"]["type"] == "authentication_error"
    with httpx.Client(timeout=CLIENT_TIMEOUT) as http:
        answer = http.post(f"{gw.url}/v1/messages", content=b"{not json", headers={"x-api-key": MASTER_KEY})
    assert answer.status_code == 400 and answer.json()["type"] == "error"


@pytest.mark.parametrize(("model", "path"), [("claude", "/v1/messages"), ("gpt", "/v1/chat/completions")])
def test_a_stream_cut_after_it_started_ends_with_an_anthropic_error_event(client, mock, model, path):
    mock.add_fault({"match": {"path": path}, "cut_after": 3})
    stream = client.messages.stream(model=model, max_tokens=64, messages=HELLO)
    with pytest.raises(anthropic.APIStatusError) as cut, stream as s:
        "".join(s.text_stream)
    assert cut.value.body["type"] == "error" and cut.value.body["error"]["type"] == "api_error"
    assert "Upstream deployment" in cut.value.body["error"]["message"]


@pytest.mark.parametrize("model", ["claude", "gpt"])
def test_tokens_are_counted_for_json_and_streams(client, gw, model):
    def completion_tokens() -> float:
        with httpx.Client(timeout=CLIENT_TIMEOUT) as http:
            text = http.get(f"{gw.url}/metrics").text
        return metric_value(text, "grid_tokens_total", 0.0, model=model, type="completion")

    before = completion_tokens()
    message = client.messages.create(model=model, max_tokens=64, messages=HELLO)
    with client.messages.stream(model=model, max_tokens=64, messages=HELLO) as s:
        streamed = s.get_final_message()
    expected = message.usage.output_tokens + streamed.usage.output_tokens
    assert expected > 0 and completion_tokens() - before == expected


BETA = "prompt-caching-2024-07-31,token-efficient-tools-2025-02-19"


def test_anthropic_beta_and_version_reach_an_anthropic_deployment_and_nothing_else(client, mock):
    headers = {"anthropic-beta": BETA, "anthropic-version": "2023-06-01", "x-stray": "not forwarded"}
    message = client.messages.create(model="claude", max_tokens=64, messages=HELLO, extra_headers=headers)
    assert message.content[0].text == "mock reply: hello there"
    with client.messages.stream(model="claude", max_tokens=64, messages=HELLO, extra_headers=headers) as s:
        assert s.get_final_text() == "mock reply: hello there"
    client.messages.count_tokens(model="claude", messages=HELLO, extra_headers=headers)
    sent = mock.requests("/v1/messages") + mock.requests("/v1/messages/count_tokens")
    assert len(sent) == 3
    for request in sent:
        assert request["headers"]["anthropic-beta"] == BETA
        assert request["headers"]["anthropic-version"] == "2023-06-01"
        assert "x-stray" not in request["headers"] and request["headers"]["x-api-key"] == PROVIDER_KEY


def test_a_translated_group_gets_no_anthropic_headers(client, mock):
    client.messages.create(model="gpt", max_tokens=64, messages=HELLO, extra_headers={"anthropic-beta": BETA})
    sent = mock.requests("/v1/chat/completions")
    assert len(sent) == 1 and "anthropic-beta" not in sent[0]["headers"]


def test_a_client_anthropic_version_replaces_the_gateways(client, mock):
    client.messages.create(
        model="claude", max_tokens=64, messages=HELLO, extra_headers={"anthropic-version": "2099-01-01"}
    )
    assert mock.requests("/v1/messages")[0]["headers"]["anthropic-version"] == "2099-01-01"


@pytest.mark.parametrize("value", [b"x" * 1025, b"b\xe9ta"])
def test_an_unprintable_or_overlong_anthropic_header_is_a_400_that_reaches_no_upstream(gw, mock, value):
    with httpx.Client(timeout=CLIENT_TIMEOUT) as http:
        answer = http.post(
            f"{gw.url}/v1/messages",
            json={"model": "claude", "max_tokens": 8, "messages": HELLO},
            headers={"x-api-key": MASTER_KEY, "anthropic-beta": value},
        )
    assert answer.status_code == 400
    assert answer.json()["type"] == "error" and answer.json()["error"]["type"] == "invalid_request_error"
    assert not mock.requests("/v1/messages")
