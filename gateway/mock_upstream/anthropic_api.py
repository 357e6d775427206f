"""`POST /v1/messages`: Anthropic's Messages API, JSON and SSE, so LiteLLM's `anthropic/` provider can
be exercised for real against the mock (it posts to `<api_base>/v1/messages`).

Same deterministic rules as chat: `"mock reply: " + last user text`, a `tool_use` block when tools are
offered, `"mock reply: tool said ..."` after a `tool_result`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from aiohttp import web

from gateway.mock_upstream.errors import error_response
from gateway.mock_upstream.responses import Call, named_event, send_json, stream_events
from gateway.mock_upstream.text import (
    ECHO_LIMIT,
    content_text,
    last_user_text,
    messages_word_count,
    split_pieces,
    truncate_words,
    word_count,
)


def _tool_result_text(message: Any) -> str | None:
    """The text of the `tool_result` blocks of a user message, or None when it has none."""
    if not isinstance(message, dict) or message.get("role") != "user":
        return None
    content = message.get("content")
    if not isinstance(content, list):
        return None
    results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
    if not results:
        return None
    return " ".join(content_text(b.get("content")) for b in results)[:ECHO_LIMIT]


def _tool_to_use(body: dict[str, Any]) -> str | None:
    tools = body.get("tools")
    choice = body.get("tool_choice") if isinstance(body.get("tool_choice"), dict) else {}
    if not isinstance(tools, list) or not tools or choice.get("type") == "none":
        return None
    if choice.get("type") == "tool" and isinstance(choice.get("name"), str):
        return choice["name"]
    first = tools[0] if isinstance(tools[0], dict) else {}
    return first.get("name") if isinstance(first.get("name"), str) else "tool"


def _wants_json(body: dict[str, Any]) -> bool:
    """Structured outputs: `output_format` (beta name) or `output_config.format` of type json_schema."""
    fmt = body.get("output_format")
    if not isinstance(fmt, dict):
        config = body.get("output_config")
        fmt = config.get("format") if isinstance(config, dict) else None
    return isinstance(fmt, dict) and fmt.get("type") == "json_schema"


def plan_message(body: dict[str, Any], tool_id: str) -> tuple[dict[str, Any], str]:
    """The single content block of the answer and its stop_reason."""
    messages = body["messages"]
    user_text = last_user_text(messages)
    tool_said = _tool_result_text(messages[-1])
    tool = _tool_to_use(body) if tool_said is None else None
    if tool is not None:
        return {"type": "tool_use", "id": tool_id, "name": tool, "input": {"echo": user_text}}, "tool_use"
    subject = user_text if tool_said is None else tool_said
    if _wants_json(body):
        text = orjson.dumps({"echo": subject}).decode()
    else:
        text = "mock reply: " + (subject if tool_said is None else "tool said " + subject)
    text, cut = truncate_words(text, body["max_tokens"])
    return {"type": "text", "text": text}, "max_tokens" if cut else "end_turn"


def _usage(body: dict[str, Any], block: dict[str, Any]) -> dict[str, int]:
    prompt = messages_word_count(body["messages"]) + word_count(content_text(body.get("system")))
    if block["type"] == "text":
        output = word_count(block["text"])
    else:
        output = word_count(orjson.dumps(block["input"]).decode())
    return {"input_tokens": prompt, "output_tokens": output}


def _validate(body: dict[str, Any]) -> web.Response | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return error_response(400, "model: Field required", anthropic=True)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return error_response(400, "messages: at least one message is required", anthropic=True)
    limit = body.get("max_tokens")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        return error_response(400, "max_tokens: Field required (a positive integer)", anthropic=True)
    return None


async def messages(call: Call) -> web.StreamResponse:
    body = call.body
    invalid = _validate(body)
    if invalid is not None:
        return invalid
    seq = call.state.next_seq()
    block, stop_reason = plan_message(body, f"toolu_mock{seq}")
    usage = _usage(body, block)
    message = {
        "id": f"msg_mock{seq}",
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": [block],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }
    if body.get("stream"):
        return await stream_events(call, _events(call, message))
    return await send_json(call, message)


def _events(call: Call, message: dict[str, Any]) -> Iterator[bytes]:
    """The event sequence Anthropic streams: start, block start, ping, deltas, stops, message delta."""
    block = message["content"][0]
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
    yield named_event("message_start", {"type": "message_start", "message": start})
    if block["type"] == "text":
        opening, text, delta_type, key = {"type": "text", "text": ""}, block["text"], "text_delta", "text"
    else:
        opening = {**block, "input": {}}
        text, delta_type, key = orjson.dumps(block["input"]).decode(), "input_json_delta", "partial_json"
    yield named_event(
        "content_block_start", {"type": "content_block_start", "index": 0, "content_block": opening}
    )
    yield named_event("ping", {"type": "ping"})
    for piece in split_pieces(text, call.fault.chunks if call.fault else None):
        delta = {"type": "content_block_delta", "index": 0, "delta": {"type": delta_type, key: piece}}
        yield named_event("content_block_delta", delta)
    yield named_event("content_block_stop", {"type": "content_block_stop", "index": 0})
    yield named_event(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"]},
        },
    )
    yield named_event("message_stop", {"type": "message_stop"})


async def count_tokens(call: Call) -> web.StreamResponse:
    """`POST /v1/messages/count_tokens`: the mock's count (words of `system` + messages), as `usage`."""
    body = call.body
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        return error_response(400, "messages: at least one message is required", anthropic=True)
    words = messages_word_count(body["messages"]) + word_count(content_text(body.get("system")))
    return await send_json(call, {"input_tokens": words})
