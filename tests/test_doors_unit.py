"""The pure parts of the Responses and Anthropic Messages doors: the wire-format translations (what
each request becomes, what each answer or stream comes back as), the named-event stream guard, the
usage tap, the response store, and where an Anthropic deployment is called."""

from __future__ import annotations

import orjson
import pytest

from gateway.config.model import Deployment
from gateway.endpoints.response_store import MemoryResponseStore, Stored
from gateway.errors import InvalidRequest
from gateway.translate import anthropic_chat, responses_chat
from gateway.upstream.event_stream import MESSAGES_FINAL, RESPONSES_FINAL, EventGuard, EventUsageTap
from gateway.upstream.passthrough import _target
from gateway.upstream.sse_guard import MalformedStream


def _chunk(delta: dict, finish: str | None = None, usage: dict | None = None) -> bytes:
    payload: dict = {"model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        payload = {"model": "m", "choices": [], "usage": usage}
    return b"data: " + orjson.dumps(payload) + b"\n\n"


TOOL_STREAM = [
    _chunk({"content": "let me check"}),
    _chunk({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": '{"a"'}}]}),
    _chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}, "tool_calls"),
    _chunk({}, usage={"prompt_tokens": 3, "completion_tokens": 4}),
    b"data: [DONE]\n\n",
]


def _events(raw: bytes) -> list[tuple[str, dict]]:
    out = []
    for block in raw.split(b"\n\n"):
        if block:
            name, data = block.split(b"\n", 1)
            out.append((name[len(b"event: ") :].decode(), orjson.loads(data[len(b"data: ") :])))
    return out


def test_anthropic_tool_results_become_tool_messages_before_the_user_text():
    body = {
        "model": "x",
        "max_tokens": 5,
        "system": [{"type": "text", "text": "sys"}],
        "messages": [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}],
            },
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "and?"},
                    {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "ok"}]},
                ],
            },
        ],
        "tool_choice": {"type": "any"},
        "stop_sequences": ["END"],
    }
    chat = anthropic_chat.to_chat(body)
    roles = [m["role"] for m in chat["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "user"]
    assert chat["messages"][2]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}
    assert chat["messages"][3] == {"role": "tool", "tool_call_id": "t1", "content": "ok"}
    assert chat["tool_choice"] == "required" and chat["stop"] == ["END"]


def test_anthropic_stream_opens_and_closes_one_block_per_text_run_or_tool_call():
    events = anthropic_chat.MessagesEvents("asked")
    raw = events.opening() + b"".join(events.feed(c) for c in TOOL_STREAM) + events.finish()
    kinds = [name for name, _ in _events(raw)]
    assert kinds == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    delta = _events(raw)[-2][1]
    assert delta["delta"]["stop_reason"] == "tool_use" and delta["usage"]["output_tokens"] == 4


def test_responses_input_items_and_hosted_tools():
    items = [
        {"role": "developer", "content": "rules"},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": {"ok": True}},
    ]
    messages = responses_chat.input_messages(items)
    assert [m["role"] for m in messages] == ["system", "assistant", "tool"]
    assert len(messages[1]["tool_calls"]) == 2 and messages[2]["content"] == '{"ok":true}'
    with pytest.raises(InvalidRequest):
        responses_chat.to_chat({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}, [])


def test_responses_stream_ends_with_completed_holding_every_item():
    done: list[dict] = []
    events = responses_chat.ResponsesEvents(responses_chat.Shell({"model": "m"}), done.append)
    raw = events.opening() + b"".join(events.feed(c) for c in TOOL_STREAM) + events.finish()
    parsed = _events(raw)
    assert [p["sequence_number"] for _, p in parsed] == list(range(len(parsed)))
    assert parsed[-1][0] == "response.completed"
    output = parsed[-1][1]["response"]["output"]
    assert [i["type"] for i in output] == ["message", "function_call"]
    assert output[1]["arguments"] == '{"a": 1}' and done[0]["usage"]["total_tokens"] == 7


def test_event_guard_needs_the_final_event_and_json():
    guard = EventGuard(RESPONSES_FINAL)
    guard.feed(b'event: response.created\ndata: {"type": "response.created"}\n\n')
    with pytest.raises(MalformedStream):
        guard.finish()
    with pytest.raises(MalformedStream):
        EventGuard(MESSAGES_FINAL).feed(b"event: ping\ndata: not json\n\n")
    guard = EventGuard(MESSAGES_FINAL)
    guard.feed(b'event: message_stop\ndata: {"type": "message_stop"}\n\n')
    assert guard.finish() == b""


def test_usage_tap_adds_anthropic_start_and_delta_usage():
    tap = EventUsageTap()
    tap.feed(
        b'event: message_start\ndata: {"message": {"usage": {"input_tokens": 5, "output_tokens": 1}}}\n\n'
    )
    tap.feed(b'event: message_delta\ndata: {"usage": {"output_tokens": 7}}\n\n')
    assert tap.usage == {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


def test_response_store_is_bounded_and_per_key():
    store = MemoryResponseStore(limit=2)
    for i in range(3):
        store.put(f"r{i}", Stored("dep", "team-a"))
    assert len(store) == 2 and store.get("r0", "team-a") is None
    assert store.get("r2", "team-b") is None and not store.delete("r2", "team-b") and store.known("r2")
    assert store.delete("r2", "team-a") and store.get("r2", "team-a") is None


@pytest.mark.parametrize(
    ("api_base", "url"),
    [
        (None, "https://api.anthropic.com/v1/messages"),
        ("http://proxy:9000", "http://proxy:9000/v1/messages"),
        ("http://proxy:9000/", "http://proxy:9000/v1/messages"),
        ("http://proxy:9000/v1/messages", "http://proxy:9000/v1/messages"),
    ],
)
def test_an_anthropic_api_base_is_the_host_as_for_litellm(api_base, url):
    dep = Deployment("d", "g", "anthropic/c", "anthropic", "c", "litellm", api_base)
    assert str(_target(dep, "messages")) == url
    assert str(_target(dep, "messages/count_tokens")) == url + "/count_tokens"


def test_response_store_keeps_to_its_byte_budget():
    store = MemoryResponseStore(limit=100, max_bytes=1000)
    for i in range(5):
        store.put(f"r{i}", Stored("dep", None, size=400))
    assert len(store) == 2 and store.bytes == 800 and store.known("r4") and not store.known("r2")
    store.put("r4", Stored("dep", None, size=100))  # replaced, not counted twice
    assert store.bytes == 500
    store.delete("r3", None)
    assert store.bytes == 100 and len(store) == 1
