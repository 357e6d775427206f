"""`POST /v1/chat/completions`: deterministic answers in OpenAI's wire format, JSON and SSE.

The answer is decided by a pure function of the request (`plan_choices`), then rendered either as
one `chat.completion` object or as `chat.completion.chunk` events, so both paths always agree.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from gateway.mock_upstream.errors import error_response
from gateway.mock_upstream.responses import DONE, Call, data_event, send_json, stream_events
from gateway.mock_upstream.text import (
    ECHO_LIMIT,
    content_text,
    last_user_text,
    messages_word_count,
    split_pieces,
    truncate_words,
    word_count,
)

MAX_N = 128


@dataclass(slots=True)
class Choice:
    """One planned choice: either text `content` or a `tool_call` (name, arguments)."""

    content: str | None
    tool_name: str | None = None
    tool_arguments: str = ""
    finish_reason: str = "stop"

    def tokens(self) -> int:
        return word_count(self.content if self.tool_name is None else self.tool_arguments)


def _tool_to_call(body: dict[str, Any]) -> str | None:
    """The function the mock will call, or None when it should answer with text."""
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if not isinstance(tools, list) or not tools or choice == "none":
        return None
    if isinstance(choice, dict):
        named = (choice.get("function") or {}).get("name")
        if isinstance(named, str) and named:
            return named
    first = tools[0] if isinstance(tools[0], dict) else {}
    name = (first.get("function") or {}).get("name") or first.get("name")
    return name if isinstance(name, str) else "tool"


def _wants_json(body: dict[str, Any]) -> bool:
    fmt = body.get("response_format")
    return isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")


def _word_limit(body: dict[str, Any]) -> int | None:
    limit = body.get("max_completion_tokens")
    if limit is None:
        limit = body.get("max_tokens")
    return limit if isinstance(limit, int) and not isinstance(limit, bool) else None


def plan_choices(body: dict[str, Any]) -> list[Choice]:
    """Decide every choice of the answer; see docs/mock-upstream.md for the exact rules."""
    messages = body["messages"]
    n = body.get("n") or 1
    user_text = last_user_text(messages)
    last = messages[-1] if messages and isinstance(messages[-1], dict) else {}
    after_tool = last.get("role") == "tool"
    tool = None if after_tool else _tool_to_call(body)
    if tool is not None:
        arguments = orjson.dumps({"echo": user_text}).decode()
        return [Choice(None, tool, arguments, "tool_calls") for _ in range(n)]
    subject = content_text(last.get("content"))[:ECHO_LIMIT] if after_tool else user_text
    limit = _word_limit(body)
    choices = []
    for i in range(n):
        if _wants_json(body):
            content = orjson.dumps({"echo": subject}).decode()
        else:
            content = ("mock reply: tool said " if after_tool else "mock reply: ") + subject
            if i:
                content += f" #{i}"
        finish = "stop"
        if limit is not None:
            content, cut = truncate_words(content, limit)
            finish = "length" if cut else "stop"
        choices.append(Choice(content, finish_reason=finish))
    return choices


def usage(body: dict[str, Any], choices: list[Choice]) -> dict[str, int]:
    prompt = messages_word_count(body["messages"])
    completion = sum(c.tokens() for c in choices)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _tool_call(call_id: str, choice: Choice, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": choice.tool_name, "arguments": arguments}}


def _validate(body: dict[str, Any]) -> web.Response | None:
    if not isinstance(body.get("model"), str) or not body["model"]:
        return error_response(400, "you must provide a model parameter", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return error_response(400, "'messages' must be a non-empty array", param="messages")
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_N):
        return error_response(400, f"'n' must be an integer from 1 to {MAX_N}", param="n")
    limit = _word_limit(body)
    if limit is not None and limit < 1:
        return error_response(400, "'max_tokens' must be at least 1", param="max_tokens")
    return None


async def chat_completions(call: Call) -> web.StreamResponse:
    body = call.body
    invalid = _validate(body)
    if invalid is not None:
        return invalid
    choices = plan_choices(body)
    seq = call.state.next_seq()
    completion_id = f"chatcmpl-mock{seq}"
    created = int(time.time())
    if body.get("stream"):
        return await stream_events(call, _chunks(call, choices, completion_id, created, seq))
    rendered = []
    for i, choice in enumerate(choices):
        message: dict[str, Any] = {"role": "assistant", "content": choice.content, "refusal": None}
        if choice.tool_name is not None:
            message["tool_calls"] = [_tool_call(f"call_mock{seq}_{i}", choice, choice.tool_arguments)]
        rendered.append(
            {"index": i, "message": message, "logprobs": None, "finish_reason": choice.finish_reason}
        )
    return await send_json(
        call,
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": created,
            "model": body["model"],
            "system_fingerprint": "fp_mock",
            "choices": rendered,
            "usage": usage(body, choices),
        },
    )


def _chunks(call: Call, choices: list[Choice], completion_id: str, created: int, seq: int) -> Iterator[bytes]:
    """The SSE events of a streamed answer, choice after choice, as OpenAI frames them."""
    body = call.body
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    pieces_wanted = call.fault.chunks if call.fault else None
    head = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": body["model"],
        "system_fingerprint": "fp_mock",
    }

    def chunk(index: int, delta: dict[str, Any], finish: str | None = None) -> bytes:
        event = {
            **head,
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            event["usage"] = None
        return data_event(event)

    for i, choice in enumerate(choices):
        if choice.tool_name is None:
            yield chunk(i, {"role": "assistant", "content": "", "refusal": None})
            for piece in split_pieces(choice.content or "", pieces_wanted):
                yield chunk(i, {"content": piece})
        else:
            opening = _tool_call(f"call_mock{seq}_{i}", choice, "")
            yield chunk(i, {"role": "assistant", "content": None, "tool_calls": [{"index": 0, **opening}]})
            for piece in split_pieces(choice.tool_arguments, pieces_wanted):
                yield chunk(i, {"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        yield chunk(i, {}, choice.finish_reason)
    if include_usage:
        yield data_event({**head, "choices": [], "usage": usage(body, choices)})
    yield DONE
