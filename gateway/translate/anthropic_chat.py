"""Anthropic Messages <-> chat completions, so an Anthropic-SDK client can use every model group.

Our own small translation rather than LiteLLM's adapter: it runs on the pass-through path too (an
OpenAI-wire group answers Anthropic clients at pass-through cost, LiteLLM never imported), and it
covers what the SDKs send: text and image blocks, `system`, tools (`tool_use` / `tool_result`),
`tool_choice`, `stop_sequences`, and the streamed event sequence.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.translate.chat_stream import EventTranslator, ToolCall
from gateway.translate.responses_chat import new_id

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    return ""


def _image(block: dict[str, Any], where: str) -> dict[str, Any]:
    source = block.get("source") if isinstance(block.get("source"), dict) else {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif source.get("type") == "url" and isinstance(source.get("url"), str):
        url = source["url"]
    else:
        raise InvalidRequest(
            f"'{where}.source' must be a base64 or url image source.", param=f"{where}.source"
        )
    return {"type": "image_url", "image_url": {"url": url}}


def _user(content: Any, where: str) -> list[dict[str, Any]]:
    """A user turn: its tool results (chat `tool` messages, first) and the rest as one user message."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    results, parts = [], []
    for i, block in enumerate(content):
        kind = block.get("type")
        if kind == "tool_result":
            text = _text(block.get("content"))
            results.append({"role": "tool", "tool_call_id": str(block.get("tool_use_id")), "content": text})
        elif kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image":
            parts.append(_image(block, f"{where}.content[{i}]"))
        # documents, thinking and other blocks have no chat equivalent here: left out
    return results + ([{"role": "user", "content": parts}] if parts else [])


def _assistant(content: Any) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    calls = [
        {
            "id": str(b.get("id")),
            "type": "function",
            "function": {
                "name": str(b.get("name")),
                "arguments": orjson.dumps(b.get("input") or {}).decode(),
            },
        }
        for b in content
        if b.get("type") == "tool_use"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": _text(content) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _tool_choice(choice: dict[str, Any]) -> Any:
    kind = choice.get("type")
    if kind == "tool":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return {"any": "required", "none": "none"}.get(kind, "auto")


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The chat request for a (checked) Messages request."""
    messages: list[dict[str, Any]] = []
    system = _text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    for i, message in enumerate(body["messages"]):
        content = message["content"]
        if message["role"] == "user":
            messages += _user(content, f"messages[{i}]")
        else:
            messages.append(_assistant(content))
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    for name in ("max_tokens", "temperature", "top_p", "top_k"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("stop_sequences"):
        chat["stop"] = body["stop_sequences"]
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        chat["user"] = metadata["user_id"]
    if body.get("tools"):
        chat["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t["name"],
                    "description": t.get("description") or "",
                    "parameters": t.get("input_schema") or {"type": "object"},
                },
            }
            for t in body["tools"]
        ]
    if isinstance(body.get("tool_choice"), dict):
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def chat_view(body: dict[str, Any]) -> dict[str, Any]:
    """The request as the auto selector reads a chat request (`to_chat`, or the bare messages when a
    block cannot be translated: the attempt refuses it where it matters)."""
    try:
        return to_chat(body)
    except InvalidRequest:
        return {"model": body.get("model"), "messages": body.get("messages")}


def _arguments(text: str) -> Any:
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _usage(usage: Any) -> dict[str, int]:
    usage = usage if isinstance(usage, dict) else {}
    return {
        "input_tokens": usage.get("prompt_tokens") or 0,
        "output_tokens": usage.get("completion_tokens") or 0,
    }


def from_chat(parsed: dict[str, Any], model: str) -> dict[str, Any]:
    """The Anthropic message for a chat completion."""
    choices = parsed.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    content: list[dict[str, Any]] = []
    if isinstance(message.get("content"), str) and message["content"]:
        content.append({"type": "text", "text": message["content"]})
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append(
            {
                "type": "tool_use",
                "id": str(call.get("id")),
                "name": str(function.get("name")),
                "input": _arguments(function.get("arguments") or ""),
            }
        )
    return {
        "id": new_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASONS.get(choice.get("finish_reason"), "end_turn"),
        "stop_sequence": None,
        "usage": _usage(parsed.get("usage")),
    }


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps({"type": kind, **payload}) + b"\n\n"


class MessagesEvents(EventTranslator):
    """A chat stream re-emitted as Anthropic's event sequence: one content block per text run or
    tool call, each opened, filled with deltas and closed in order."""

    def __init__(self, model: str) -> None:
        super().__init__()
        self.model = model
        self.block = -1  # index of the open content block
        self.open_kind: Any = None  # "text" or the ToolCall of the open block

    def opening(self) -> bytes:
        message = {
            "id": new_id("msg"),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return _event("message_start", {"message": message})

    def _open(self, kind: Any, block: dict[str, Any]) -> None:
        self._close_block()
        self.block += 1
        self.open_kind = kind
        self.out.append(_event("content_block_start", {"index": self.block, "content_block": block}))

    def _close_block(self) -> None:
        if self.open_kind is not None:
            self.out.append(_event("content_block_stop", {"index": self.block}))
            self.open_kind = None

    def _text(self, delta: str) -> None:
        if self.open_kind != "text":
            self._open("text", {"type": "text", "text": ""})
        payload = {"index": self.block, "delta": {"type": "text_delta", "text": delta}}
        self.out.append(_event("content_block_delta", payload))

    def _tool(self, call: ToolCall, new: bool, delta: str) -> None:
        if new or self.open_kind is not call:
            self._open(call, {"type": "tool_use", "id": call.id, "name": call.name, "input": {}})
        if delta:
            payload = {"index": self.block, "delta": {"type": "input_json_delta", "partial_json": delta}}
            self.out.append(_event("content_block_delta", payload))

    def _final(self) -> None:
        self._close_block()
        reader = self.reader
        delta = {
            "stop_reason": STOP_REASONS.get(reader.finish_reason or "stop", "end_turn"),
            "stop_sequence": None,
        }
        usage = _usage(reader.usage)
        self.out.append(_event("message_delta", {"delta": delta, "usage": usage}))
        self.out.append(_event("message_stop", {}))


# status -> Anthropic's error type (529 is Anthropic's "overloaded"; the gateway's 503 means the same)
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def error_body(status: int, message: str) -> dict[str, Any]:
    """Anthropic's error shape for a status."""
    kind = ERROR_TYPES.get(status, "invalid_request_error" if 400 <= status < 500 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def error_event(message: str, type_: str, code: str) -> bytes:
    kind = "overloaded_error" if code in ("overloaded", "no_healthy_deployment") else "api_error"
    if type_ == "rate_limit_error":
        kind = "rate_limit_error"
    return _event("error", {"error": {"type": kind, "message": message}})
