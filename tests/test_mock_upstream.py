"""The bundled mock upstream, over real HTTP: wire formats, fault injection, recording and stats.

Clients are the real openai SDK, httpx and LiteLLM, pointed straight at a running mock.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from gateway.mock_upstream import MockUpstream
from tests.harness import user, wait_for

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")

CHAT = "/v1/chat/completions"
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}},
]


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    with MockUpstream("alpha") as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(mock: MockUpstream) -> None:
    mock.reset()


@pytest.fixture
def client(mock: MockUpstream) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=mock.url + "/v1", api_key="sk-test", max_retries=0, timeout=20) as sdk:
        yield sdk


@pytest.fixture
def http(mock: MockUpstream) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mock.url, timeout=5) as session:
        yield session


def sse_data(text: str) -> list[str]:
    return [line[len("data: ") :] for line in text.splitlines() if line.startswith("data: ")]


def fault(**rule: object) -> dict[str, str]:
    return {"x-mock-fault": json.dumps(rule)}


# -- OpenAI wire format ----------------------------------------------------------------------------


def test_models_are_listed_and_retrievable(client: openai.OpenAI) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["mock-gpt", "mock-gpt-mini", "mock-embedding"]
    assert client.models.retrieve("mock-gpt").id == "mock-gpt"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("nope")
    assert info.value.body["code"] == "model_not_found"


def test_chat_echoes_last_user_text_and_requested_model(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="any-model",
        messages=[{"role": "system", "content": "be brief"}, *user("first"), *user("hello there")],
    )
    assert raw.headers["x-mock-name"] == "alpha"
    reply = raw.parse()
    assert reply.model == "any-model"
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.content == "mock reply: hello there"
    assert reply.choices[0].finish_reason == "stop"
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (5, 4, 9)


def test_chat_joins_content_parts_and_truncates_long_text(client: openai.OpenAI) -> None:
    parts = [
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "x"}},
        {"type": "text", "text": "here"},
    ]
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": parts}])
    assert reply.choices[0].message.content == "mock reply: look here"
    long = client.chat.completions.create(model="m", messages=user("x" * 500))
    assert long.choices[0].message.content == "mock reply: " + "x" * 200


def test_chat_n_gives_numbered_choices(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="m", messages=user("hi"), n=3)
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert [c.message.content for c in reply.choices] == [
        "mock reply: hi",
        "mock reply: hi #1",
        "mock reply: hi #2",
    ]
    assert reply.usage.completion_tokens == 3 + 4 + 4


def test_chat_calls_first_tool_or_the_named_one(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="m", messages=user("in Paris"), tools=TOOLS)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"echo": "in Paris"}
    named = client.chat.completions.create(
        model="m",
        messages=user("now"),
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    )
    assert named.choices[0].message.tool_calls[0].function.name == "get_time"
    none = client.chat.completions.create(
        model="m", messages=user("no tools"), tools=TOOLS, tool_choice="none"
    )
    assert none.choices[0].message.content == "mock reply: no tools"


def test_chat_after_tool_result_answers_with_its_content(client: openai.OpenAI) -> None:
    messages = [
        *user("weather?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ]
    reply = client.chat.completions.create(model="m", messages=messages, tools=TOOLS)
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content == "mock reply: tool said sunny"


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_object"},
        {"type": "json_schema", "json_schema": {"name": "e", "schema": {"type": "object"}}},
    ],
)
def test_chat_response_format_gives_json_object(client: openai.OpenAI, response_format: dict) -> None:
    reply = client.chat.completions.create(
        model="m", messages=user("data please"), response_format=response_format
    )
    assert json.loads(reply.choices[0].message.content) == {"echo": "data please"}


def test_chat_max_tokens_cuts_words_with_length(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(model="m", messages=user("a b c d e"), max_tokens=3)
    assert reply.choices[0].message.content == "mock reply: a"
    assert reply.choices[0].finish_reason == "length"
    newer = client.chat.completions.create(model="m", messages=user("a"), max_completion_tokens=10)
    assert newer.choices[0].finish_reason == "stop"


def test_chat_stream_with_usage_matches_openai_framing(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="m", messages=user("stream me please"), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    assert {c.id for c in chunks} == {chunks[0].id}
    assert all(c.object == "chat.completion.chunk" and c.model == "m" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "mock reply: stream me please"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.total_tokens == 3 + 5


def test_chat_stream_raw_events_end_with_done(http: httpx.Client) -> None:
    r = http.post(CHAT, json={"model": "m", "messages": user("hi"), "stream": True})
    assert r.headers["content-type"] == "text/event-stream"
    assert r.headers["x-mock-name"] == "alpha"
    assert r.text.endswith("data: [DONE]\n\n")
    events = sse_data(r.text)
    assert [json.loads(e)["choices"][0]["delta"].get("content") for e in events[1:-2]] == [
        "mock",
        " reply:",
        " hi",
    ]
    assert "usage" not in json.loads(events[0])


def test_chat_stream_tool_call_is_split_like_openai(client: openai.OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="m", messages=user("go"), tools=TOOLS, stream=True))
    first = chunks[0].choices[0].delta.tool_calls[0]
    assert (first.index, first.function.name, first.function.arguments) == (0, "get_weather", "")
    assert first.id
    arguments = "".join(c.choices[0].delta.tool_calls[0].function.arguments for c in chunks[1:-1])
    assert json.loads(arguments) == {"echo": "go"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_embeddings_sdk_default_base64_equals_float(client: openai.OpenAI) -> None:
    packed = client.embeddings.create(model="e", input=["alpha", "beta"])  # SDK asks for base64
    floats = client.embeddings.create(model="e", input=["alpha", "beta"], encoding_format="float")
    assert [d.index for d in packed.data] == [0, 1]
    for a, b in zip(packed.data, floats.data, strict=True):
        assert len(b.embedding) == 16
        assert a.embedding == pytest.approx(b.embedding, abs=1e-6)
        assert math.isclose(math.fsum(v * v for v in b.embedding), 1.0, abs_tol=1e-9)
    assert floats.data[0].embedding != floats.data[1].embedding
    assert floats.usage.prompt_tokens == floats.usage.total_tokens == 2


def test_embeddings_are_deterministic_and_honour_dimensions(http: httpx.Client) -> None:
    body = {"model": "e", "input": "same text", "dimensions": 8, "encoding_format": "base64"}
    first, second = (
        http.post("/v1/embeddings", json=body).json(),
        http.post("/v1/embeddings", json=body).json(),
    )
    assert first["data"] == second["data"]
    raw = base64.b64decode(first["data"][0]["embedding"])
    got = struct.unpack("<8f", raw)
    # the documented function of the text (SHAKE-128), computed here independently: the same vector
    # in every process and on every machine, not merely twice in a row
    halves = struct.unpack("<8H", hashlib.shake_128(b"same text").digest(16))
    values = [v / 32767.5 - 1.0 for v in halves]
    norm = math.sqrt(sum(v * v for v in values))
    assert got == pytest.approx([v / norm for v in values], abs=1e-6)
    tokens = http.post("/v1/embeddings", json={"model": "e", "input": [[1, 2, 3], [4, 5]]}).json()
    assert len(tokens["data"]) == 2 and tokens["usage"]["prompt_tokens"] == 5
    assert http.post("/v1/embeddings", json={"model": "e", "input": []}).status_code == 400


def test_legacy_completions_plain_n_and_stream(client: openai.OpenAI) -> None:
    reply = client.completions.create(model="c", prompt="say this", n=2)
    assert [c.text for c in reply.choices] == ["mock completion: say this", "mock completion: say this #1"]
    assert reply.usage.prompt_tokens == 2
    chunks = list(client.completions.create(model="c", prompt="say this", stream=True))
    assert all(c.object == "text_completion" for c in chunks)
    assert "".join(c.choices[0].text for c in chunks) == "mock completion: say this"
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_bad_json_is_an_openai_shaped_400(http: httpx.Client) -> None:
    for content in (b"{not json", b"[1, 2]"):
        r = http.post(CHAT, content=content, headers={"content-type": "application/json"})
        assert r.status_code == 400
        assert set(r.json()["error"]) == {"message", "type", "param", "code"}
        assert r.json()["error"]["type"] == "invalid_request_error"
    assert http.post(CHAT, json={"model": "m"}).json()["error"]["param"] == "messages"


def test_unknown_path_is_an_openai_shaped_404(http: httpx.Client) -> None:
    r = http.get("/v1/nope")
    assert r.status_code == 404
    assert r.json()["error"]["message"] == "Invalid URL (GET /v1/nope)"


def test_paths_without_v1_prefix_are_served(http: httpx.Client) -> None:
    r = http.post("/chat/completions", json={"model": "m", "messages": user("bare")})
    assert r.json()["choices"][0]["message"]["content"] == "mock reply: bare"


def test_required_key_rejects_missing_or_wrong_key() -> None:
    with MockUpstream("locked", require_key="sk-right") as locked:
        bad = openai.OpenAI(base_url=locked.url + "/v1", api_key="sk-wrong", max_retries=0, timeout=20)
        with pytest.raises(openai.AuthenticationError) as info:
            bad.chat.completions.create(model="m", messages=user("hi"))
        assert info.value.body["code"] == "invalid_api_key"
        good = openai.OpenAI(base_url=locked.url + "/v1", api_key="sk-right", max_retries=0, timeout=20)
        assert good.chat.completions.create(model="m", messages=user("hi")).choices[0].message.content
        anthropic_body = {"model": "c", "max_tokens": 10, "messages": user("hi")}
        r = httpx.post(locked.url + "/v1/messages", json=anthropic_body, headers={"x-api-key": "sk-right"})
        assert r.status_code == 200
        r = httpx.post(locked.url + "/v1/messages", json=anthropic_body)
        assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error"


# -- faults ----------------------------------------------------------------------------------------


def test_status_fault_applies_times_then_drops(
    mock: MockUpstream, client: openai.OpenAI, http: httpx.Client
) -> None:
    r = http.post("/_mock/faults", json={"status": 500, "times": 2})
    assert r.json()["faults"] == [{"status": 500, "times": 2}]
    for _ in range(2):
        with pytest.raises(openai.InternalServerError) as info:
            client.chat.completions.create(model="m", messages=user("x"))
        assert info.value.body["type"] == "api_error"
    assert http.get("/_mock/faults").json() == {"faults": []}
    assert client.chat.completions.create(model="m", messages=user("x")).choices[0].message.content
    assert mock.stats()["faults_applied"] == 2


def test_rate_limit_fault_sends_retry_after(http: httpx.Client) -> None:
    http.post("/_mock/faults", json={"status": 429, "retry_after": "2"})
    r = http.post(CHAT, json={"model": "m", "messages": user("x")})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2"
    assert r.json()["error"]["type"] == "rate_limit_error"
    assert http.delete("/_mock/faults").json() == {"faults": []}
    assert http.post(CHAT, json={"model": "m", "messages": user("x")}).status_code == 200


def test_fault_match_filters_on_path_model_and_stream(mock: MockUpstream, http: httpx.Client) -> None:
    mock.add_fault({"match": {"path": CHAT, "model": "bad", "stream": True}, "status": 503})
    assert http.post(CHAT, json={"model": "good", "messages": user("x"), "stream": True}).status_code == 200
    assert http.post(CHAT, json={"model": "bad", "messages": user("x")}).status_code == 200
    assert (
        http.post("/v1/completions", json={"model": "bad", "prompt": "x", "stream": True}).status_code == 200
    )
    assert http.post(CHAT, json={"model": "bad", "messages": user("x"), "stream": True}).status_code == 503


def test_first_matching_rule_wins(mock: MockUpstream, http: httpx.Client) -> None:
    mock.add_fault({"match": {"model": "a"}, "status": 502})
    mock.add_fault({"status": 504})
    assert http.post(CHAT, json={"model": "a", "messages": user("x")}).status_code == 502
    assert http.post(CHAT, json={"model": "b", "messages": user("x")}).status_code == 504


def test_invalid_fault_rules_are_rejected_naming_the_field(http: httpx.Client) -> None:
    r = http.post("/_mock/faults", json={"status": 500, "bogus": 1})
    assert r.status_code == 400 and "bogus" in r.json()["error"]["message"]
    r = http.post("/_mock/faults", json={"delay": "slow"})
    assert "'delay'" in r.json()["error"]["message"]
    r = http.post(CHAT, json={"model": "m", "messages": user("x")}, headers={"x-mock-fault": "{nope"})
    assert r.status_code == 400
    assert http.get("/_mock/faults").json() == {"faults": []}


def test_delay_fault_waits_before_answering(http: httpx.Client) -> None:
    started = time.monotonic()
    r = http.post(CHAT, json={"model": "m", "messages": user("x")}, headers=fault(delay=0.2))
    assert r.status_code == 200
    assert time.monotonic() - started >= 0.2


def test_stall_fault_sends_headers_then_waits_for_first_byte(http: httpx.Client) -> None:
    body = {"model": "m", "messages": user("x"), "stream": True}
    with http.stream("POST", CHAT, json=body, headers=fault(stall=2.0)) as r:
        headers_at = time.monotonic()
        assert r.status_code == 200
        first = next(r.iter_lines())
        # the headers came a stall before the first event (had they waited with the body, they would
        # arrive together); lower bounds only, half the stall, so a slow machine cannot fail it
        assert time.monotonic() - headers_at >= 1.0
    assert first.startswith("data: ")


def test_cut_after_closes_connection_mid_stream(mock: MockUpstream, http: httpx.Client) -> None:
    lines: list[str] = []
    body = {"model": "m", "messages": user("one two three"), "stream": True}
    with (
        pytest.raises(httpx.RemoteProtocolError),
        http.stream("POST", CHAT, json=body, headers=fault(cut_after=2)) as r,
    ):
        lines.extend(r.iter_lines())
    assert len([line for line in lines if line.startswith("data: ")]) == 2
    assert "data: [DONE]" not in lines
    assert mock.stats()["cut_streams"] == 1


def test_error_event_is_the_first_and_last_event(http: httpx.Client) -> None:
    body = {"model": "m", "messages": user("x"), "stream": True}
    r = http.post(CHAT, json=body, headers=fault(error_event=True, status=429))
    assert r.status_code == 200
    (event,) = sse_data(r.text)
    assert json.loads(event)["error"]["type"] == "rate_limit_error"


def test_malformed_fault_breaks_json_and_sse(client: openai.OpenAI, http: httpx.Client) -> None:
    r = http.post(CHAT, json={"model": "m", "messages": user("x")}, headers=fault(malformed=True))
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        r.json()
    r = http.post(
        CHAT, json={"model": "m", "messages": user("x"), "stream": True}, headers=fault(malformed=True)
    )
    assert r.status_code == 200 and r.headers["content-type"] == "text/event-stream"
    with pytest.raises(json.JSONDecodeError):
        [json.loads(e) for e in sse_data(r.text)]


def test_chunks_fault_sets_number_of_content_chunks(client: openai.OpenAI, mock: MockUpstream) -> None:
    mock.add_fault({"chunks": 50})
    chunks = list(client.chat.completions.create(model="m", messages=user("tiny"), stream=True))
    content = [c for c in chunks if c.choices and c.choices[0].delta.content is not None][1:]
    assert len(content) == 50
    assert "".join(c.choices[0].delta.content for c in content) == "mock reply: tiny"


def test_chunk_delay_spaces_out_events(http: httpx.Client) -> None:
    body = {"model": "m", "messages": user("a b"), "stream": True}
    started = time.monotonic()
    r = http.post(CHAT, json=body, headers=fault(chunk_delay=0.02))
    events = sse_data(r.text)
    assert time.monotonic() - started >= 0.02 * (len(events) - 1)


def test_header_fault_applies_to_that_request_only(http: httpx.Client) -> None:
    body = {"model": "m", "messages": user("x")}
    assert http.post(CHAT, json=body, headers=fault(status=418)).status_code == 418
    assert http.post(CHAT, json=body).status_code == 200


# -- recording and stats ---------------------------------------------------------------------------


def test_requests_are_recorded_newest_last_and_clearable(mock: MockUpstream, http: httpx.Client) -> None:
    http.post(CHAT, json={"model": "m", "messages": user("one")}, headers={"Authorization": "Bearer k1"})
    http.post("/v1/embeddings", json={"model": "e", "input": "two"}, headers={"X-Request-ID": "rid-2"})
    http.get("/_mock/stats")
    recorded = http.get("/_mock/requests").json()
    assert [r["path"] for r in recorded] == [CHAT, "/v1/embeddings"]
    assert recorded[0]["method"] == "POST"
    assert recorded[0]["headers"]["authorization"] == "Bearer k1"
    assert recorded[0]["body"]["messages"][0]["content"] == "one"
    assert recorded[1]["headers"]["x-request-id"] == "rid-2"
    assert [r["path"] for r in http.get("/_mock/requests", params={"path": CHAT}).json()] == [CHAT]
    assert mock.requests(CHAT)[0]["body"]["model"] == "m"
    assert http.delete("/_mock/requests").json() == {"cleared": 2}
    assert mock.requests() == []


def test_recording_is_bounded() -> None:
    with MockUpstream("small", record_limit=3) as small:
        for i in range(5):
            httpx.post(small.url + CHAT, json={"model": "m", "messages": user(str(i))})
        assert [r["body"]["messages"][0]["content"] for r in small.requests()] == ["2", "3", "4"]


def test_stats_count_requests_per_path(mock: MockUpstream, http: httpx.Client) -> None:
    for _ in range(3):
        http.post(CHAT, json={"model": "m", "messages": user("x")})
    http.get("/v1/models")
    stats = http.get("/_mock/stats").json()
    assert stats["requests_by_path"] == {CHAT: 3, "/v1/models": 1}
    assert stats["open_requests"] == stats["open_streams"] == 0
    assert http.delete("/_mock/stats").json()["requests_total"] == 0


def test_client_disconnect_during_stall_closes_the_stream(mock: MockUpstream, http: httpx.Client) -> None:
    body = {"model": "m", "messages": user("x"), "stream": True}
    with http.stream("POST", CHAT, json=body, headers=fault(stall=5)) as r:
        assert r.status_code == 200
        assert mock.stats()["open_streams"] == 1
    assert wait_for(lambda: mock.stats()["disconnected_streams"] == 1)
    stats = mock.stats()
    assert (stats["open_streams"], stats["open_requests"], stats["streams_completed"]) == (0, 0, 0)


def test_client_disconnect_mid_stream_is_noticed(mock: MockUpstream, http: httpx.Client) -> None:
    body = {"model": "m", "messages": user("a b c d e f"), "stream": True}
    with http.stream("POST", CHAT, json=body, headers=fault(chunk_delay=0.1)) as r:
        assert next(r.iter_lines()).startswith("data: ")
    assert wait_for(lambda: mock.stats()["disconnected_streams"] == 1)
    assert mock.stats()["open_streams"] == 0


# -- Anthropic Messages API ------------------------------------------------------------------------


def test_anthropic_messages_non_stream_shape(http: httpx.Client) -> None:
    body = {"model": "claude-x", "max_tokens": 100, "system": "be nice", "messages": user("hello claude")}
    r = http.post("/v1/messages", json=body, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"})
    msg = r.json()
    assert msg["type"] == "message" and msg["role"] == "assistant" and msg["model"] == "claude-x"
    assert msg["content"] == [{"type": "text", "text": "mock reply: hello claude"}]
    assert (msg["stop_reason"], msg["stop_sequence"]) == ("end_turn", None)
    assert msg["usage"] == {"input_tokens": 4, "output_tokens": 4}


def test_anthropic_stream_event_sequence(http: httpx.Client) -> None:
    body = {"model": "c", "max_tokens": 100, "messages": user("hi there"), "stream": True}
    r = http.post("/v1/messages", json=body)
    names = [line[len("event: ") :] for line in r.text.splitlines() if line.startswith("event: ")]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    events = [json.loads(e) for e in sse_data(r.text)]
    assert [e["type"] for e in events] == names
    assert (
        "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
        == "mock reply: hi there"
    )
    assert events[-2]["delta"]["stop_reason"] == "end_turn" and events[-2]["usage"]["output_tokens"] == 4


def test_anthropic_tool_use_and_tool_result(http: httpx.Client) -> None:
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    body = {"model": "c", "max_tokens": 100, "messages": user("find it"), "tools": tools}
    msg = http.post("/v1/messages", json=body).json()
    (block,) = msg["content"]
    assert msg["stop_reason"] == "tool_use"
    assert (block["type"], block["name"], block["input"]) == ("tool_use", "lookup", {"echo": "find it"})
    follow = body | {
        "messages": [
            *user("find it"),
            {"role": "assistant", "content": [block]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": block["id"], "content": "found"}],
            },
        ]
    }
    assert (
        http.post("/v1/messages", json=follow).json()["content"][0]["text"] == "mock reply: tool said found"
    )


def test_anthropic_stream_tool_use_sends_input_json_deltas(http: httpx.Client) -> None:
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    body = {"model": "c", "max_tokens": 100, "messages": user("find it"), "tools": tools, "stream": True}
    events = [json.loads(e) for e in sse_data(http.post("/v1/messages", json=body).text)]
    start = events[1]["content_block"]
    assert (start["type"], start["name"], start["input"]) == ("tool_use", "lookup", {})
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert {d["type"] for d in deltas} == {"input_json_delta"}
    assert json.loads("".join(d["partial_json"] for d in deltas)) == {"echo": "find it"}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_anthropic_structured_output_and_max_tokens(http: httpx.Client) -> None:
    body = {"model": "c", "max_tokens": 100, "messages": user("as json")}
    schema = {"type": "json_schema", "schema": {"type": "object"}}
    msg = http.post("/v1/messages", json=body | {"output_format": schema}).json()
    assert json.loads(msg["content"][0]["text"]) == {"echo": "as json"}
    short = http.post("/v1/messages", json=body | {"max_tokens": 2}).json()
    assert (short["content"][0]["text"], short["stop_reason"]) == ("mock reply:", "max_tokens")


def test_anthropic_faults_use_anthropic_error_shape(http: httpx.Client) -> None:
    body = {"model": "c", "max_tokens": 10, "messages": user("x")}
    r = http.post("/v1/messages", json=body, headers=fault(status=529))
    assert r.status_code == 529 and r.json()["error"]["type"] == "overloaded_error"
    r = http.post("/v1/messages", json=body | {"stream": True}, headers=fault(error_event=True))
    assert r.text.startswith("event: error\n")


async def test_litellm_anthropic_provider_non_stream_and_stream(mock: MockUpstream) -> None:
    import litellm

    model = "anthropic/claude-3-5-haiku-20241022"
    reply = await litellm.acompletion(
        model=model, api_base=mock.url, api_key="x", messages=user("via litellm")
    )
    assert reply.choices[0].message.content == "mock reply: via litellm"
    assert reply.usage.completion_tokens == 4
    stream = await litellm.acompletion(
        model=model, api_base=mock.url, api_key="x", messages=user("streamed"), stream=True
    )
    parts = [
        chunk.choices[0].delta.content
        async for chunk in stream
        if chunk.choices and chunk.choices[0].delta.content
    ]
    assert "".join(parts) == "mock reply: streamed"
    (first, second) = mock.requests()
    assert first["path"] == second["path"] == "/v1/messages"
    assert first["headers"]["x-api-key"] == "x" and "anthropic-version" in first["headers"]
    assert second["body"]["stream"] is True


# -- lifecycle -------------------------------------------------------------------------------------


def test_stopped_mock_refuses_then_restarts_on_same_port_with_state() -> None:
    upstream = MockUpstream("flaky")
    url = upstream.start()
    upstream.add_fault({"match": {"model": "z"}, "status": 500})
    upstream.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/v1/models")
    try:
        assert upstream.start() == url
        assert httpx.get(url + "/v1/models").status_code == 200
        assert upstream.faults() == [{"match": {"model": "z"}, "status": 500}]
    finally:
        upstream.stop()


# -- command line ----------------------------------------------------------------------------------


def test_cli_prints_where_it_listens_and_serves() -> None:
    cmd = [sys.executable, "-m", "gateway.mock_upstream", "--port", "0", "--name", "cli"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("mock upstream 'cli' listening on http://127.0.0.1:")
        url = line.split()[-1]
        r = httpx.get(url + "/v1/models", timeout=5)
        assert r.status_code == 200 and r.headers["x-mock-name"] == "cli"
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
