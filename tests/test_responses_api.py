"""OpenAI's Responses API through GRID, driven by the official `openai` SDK against a running gateway.

Two OpenAI-wire deployments of one group (on two mock servers) serve `/v1/responses` themselves: the
body is forwarded, the answer relayed, and `retrieve`/`delete` reach the deployment that made the
response. An Anthropic deployment (LiteLLM path) is served by translating to chat completions and
back, the gateway keeping the conversation for `previous_response_id`. Aliases, fallbacks, tools and
errors (JSON and mid-stream) are covered on both.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

import httpx
import openai
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, PROVIDER_KEY, anthropic_deployment, deployment
from tests.harness import LITELLM_ENV, GatewayProcess, metric_value, openai_client

TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
OTHER_KEY = "sk-grid-other-team"


@pytest.fixture(scope="module")
def gw(mock: MockUpstream, mock_b: MockUpstream) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [
            deployment("gpt-r", mock.url, dep_id="r-a"),
            deployment("gpt-r", mock_b.url, dep_id="r-b"),
            deployment("primary", mock.url, dep_id="primary-a"),
            anthropic_deployment("claude", mock.url, "claude-mock", model="claude-haiku-4-5"),
            deployment("primary-claude", mock.url, dep_id="primary-claude-a"),
        ],
        "router_settings": {
            "routing_strategy": "simple-shuffle",
            "num_retries": 0,
            "model_group_alias": {"fast": "gpt-r", "sonnet": "claude"},
            "fallbacks": [{"primary": ["gpt-r"]}, {"primary-claude": ["claude"]}],
        },
        "model_routing": {"auto_models": ["gpt-r"], "capabilities": {"gpt-r": {"quality": 0.6}}},
        "general_settings": {"master_key": MASTER_KEY, "api_keys": [{"key": OTHER_KEY, "name": "other"}]},
    }
    with GatewayProcess(config, env=dict(LITELLM_ENV)) as process:
        yield process


@pytest.fixture
def client(gw: GatewayProcess) -> Iterator[openai.OpenAI]:
    with openai_client(gw) as sdk:
        yield sdk


def _stream(client: openai.OpenAI, **kwargs) -> list:
    with client.responses.create(stream=True, **kwargs) as stream:
        return list(stream)


def _text(events: list) -> str:
    return "".join(e.delta for e in events if e.type == "response.output_text.delta")


def _assert_event_order(events: list) -> None:
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"], types
    assert types[-1] == "response.completed", types
    assert types.index("response.output_item.added") < types.index("response.output_item.done")
    assert [e.sequence_number for e in events] == list(range(len(events)))


def test_json_through_an_alias_reaches_the_openai_deployment_as_responses(client, mock, mock_b):
    raw = client.responses.with_raw_response.create(model="fast", input="hello there", max_output_tokens=50)
    response = raw.parse()
    assert response.output_text == "mock reply: hello there"
    assert response.usage.input_tokens == 2 and response.usage.output_tokens == 4
    assert raw.headers["x-grid-model"] == "gpt-r"
    sent = mock.requests("/v1/responses") + mock_b.requests("/v1/responses")
    assert len(sent) == 1
    assert sent[0]["body"]["model"] == "gpt-r" and sent[0]["body"]["max_output_tokens"] == 50
    assert sent[0]["headers"]["authorization"] == f"Bearer {PROVIDER_KEY}"


def test_stream_relays_the_responses_events_in_order_with_usage(client):
    events = _stream(client, model="gpt-r", input="stream me please")
    _assert_event_order(events)
    assert _text(events) == "mock reply: stream me please"
    assert events[-1].response.usage.output_tokens == 5


def assert_unseen_by(gw: GatewayProcess, key: str, response_ids: Iterable[str]) -> None:
    """Another key gets 404s for these ids, by id and as `previous_response_id`, as if unknown."""
    with openai_client(gw, key=key) as other:
        for response_id in response_ids:
            with pytest.raises(openai.NotFoundError):
                other.responses.retrieve(response_id)
            with pytest.raises(openai.NotFoundError):
                other.responses.create(model="gpt-r", input="go on", previous_response_id=response_id)


def test_retrieve_and_delete_reach_the_deployment_that_made_each_response(client, gw, mock, mock_b):
    made: dict[str, str] = {}
    for i in range(40):
        raw = client.responses.with_raw_response.create(model="gpt-r", input=f"number {i}")
        made.setdefault(raw.headers["x-grid-deployment"], raw.parse().id)
        if len(made) == 2:
            break
    assert set(made) == {"r-a", "r-b"}
    mocks = {"r-a": mock, "r-b": mock_b}
    for dep, response_id in made.items():
        got = client.responses.retrieve(response_id)
        assert got.id == response_id and got.output_text.startswith("mock reply: number")
        assert mocks[dep].requests(f"/v1/responses/{response_id}"), dep
        items = client.responses.input_items.list(response_id)
        assert items.data[0].content[0].text.startswith("number")
    assert_unseen_by(gw, OTHER_KEY, made.values())
    for response_id in made.values():
        client.responses.delete(response_id)
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve(response_id)


def test_tools_call_a_function_and_take_its_output(client):
    first = client.responses.create(model="gpt-r", input="weather in Paris?", tools=[TOOL])
    call = first.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    assert json.loads(call.arguments) == {"echo": "weather in Paris?"}
    output = {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
    second = client.responses.create(model="gpt-r", input=[output], tools=[TOOL])
    assert second.output_text == "mock reply: tool said sunny"


def test_a_failing_group_falls_back_for_json_and_stream(client, mock):
    mock.add_fault({"match": {"path": "/v1/responses", "model": "primary"}, "status": 500})
    raw = client.responses.with_raw_response.create(model="primary", input="fall back")
    assert raw.parse().output_text == "mock reply: fall back"
    assert raw.headers["x-grid-model"] == "gpt-r" and raw.headers["x-grid-fallbacks"] == "1"
    events = _stream(client, model="primary", input="fall back streaming")
    assert _text(events) == "mock reply: fall back streaming"


def test_translated_deployment_answers_and_keeps_the_conversation(client, mock):
    first = client.responses.create(model="sonnet", input="my name is Ada", instructions="Be brief.")
    assert first.output_text == "mock reply: my name is Ada"
    assert first.usage.input_tokens > 0 and first.usage.output_tokens > 0
    second = client.responses.create(model="claude", input="what is my name?", previous_response_id=first.id)
    assert second.output_text == "mock reply: what is my name?"
    sent = mock.requests("/v1/messages")[-1]["body"]
    texts = json.dumps(sent["messages"])
    assert "my name is Ada" in texts and "mock reply: my name is Ada" in texts
    assert client.responses.retrieve(second.id).output_text == second.output_text
    assert client.responses.input_items.list(first.id).data[0].content == "my name is Ada"
    client.responses.delete(first.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="claude", input="again", previous_response_id=first.id)


def test_translated_stream_emits_responses_events(client):
    events = _stream(client, model="claude", input="stream through anthropic")
    _assert_event_order(events)
    assert _text(events) == "mock reply: stream through anthropic"
    assert events[-1].response.output_text == "mock reply: stream through anthropic"
    assert events[-1].response.usage.output_tokens > 0


def test_translated_tools_and_fallback_to_a_translated_group(client, mock):
    mock.add_fault({"match": {"path": "/v1/responses", "model": "primary-claude"}, "status": 503})
    raw = client.responses.with_raw_response.create(model="primary-claude", input="weather?", tools=[TOOL])
    call = raw.parse().output[0]
    assert raw.headers["x-grid-model"] == "claude"
    assert call.type == "function_call" and call.name == "get_weather"
    events = _stream(client, model="claude", input="weather?", tools=[TOOL])
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert done and json.loads(done[0].arguments) == {"echo": "weather?"}


def test_errors_are_openai_shaped(client, gw):
    with pytest.raises(openai.NotFoundError) as unknown:
        client.responses.create(model="no-such-model", input="hi")
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        client.responses.create(model="gpt-r", input=5)  # type: ignore[arg-type]
    assert bad.value.param == "input"
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="claude", input="x", tools=[{"type": "web_search"}])
    with httpx.Client(timeout=10) as http:
        answer = http.post(f"{gw.url}/v1/responses", json={"model": "gpt-r", "input": "hi"})
        assert answer.status_code == 401 and answer.json()["error"]["type"] == "authentication_error"
        assert (
            http.get(
                f"{gw.url}/v1/responses/../../etc", headers={"authorization": f"Bearer {MASTER_KEY}"}
            ).status_code
            == 404
        )


def test_a_stream_cut_after_it_started_ends_with_an_error_event(client, mock, mock_b):
    for upstream in (mock, mock_b):
        upstream.add_fault({"match": {"path": "/v1/responses"}, "cut_after": 4})
    with pytest.raises(openai.APIError):
        _stream(client, model="gpt-r", input="this will be cut short")


def test_model_auto_selects_a_group_from_the_input(client):
    raw = client.responses.with_raw_response.create(model="auto", input="summarise this", instructions="hi")
    assert raw.parse().output_text == "mock reply: summarise this"
    assert raw.headers["x-grid-model"] == "gpt-r" and "x-grid-route-reason" in raw.headers


def test_tokens_are_counted_for_forwarded_streams(client, gw):
    def completion_tokens() -> float:
        with httpx.Client(timeout=10) as http:
            text = http.get(f"{gw.url}/metrics").text
        return metric_value(text, "grid_tokens_total", 0.0, model="gpt-r", type="completion")

    before = completion_tokens()
    events = _stream(client, model="gpt-r", input="count my tokens")
    assert completion_tokens() - before == events[-1].response.usage.output_tokens > 0
