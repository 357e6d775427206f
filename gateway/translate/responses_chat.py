"""OpenAI Responses <-> chat completions, for deployments that do not serve `/responses` themselves.

The gateway then keeps the conversation (`previous_response_id`): the chat messages of a stored
response (its input and its answer) are put before the new input. Only function tools translate;
the hosted tools (web search, file search, ...) are a 400 on such a deployment.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import orjson

from gateway.errors import InvalidRequest
from gateway.translate.chat_stream import EventTranslator, ToolCall

ECHOED = ("instructions", "max_output_tokens", "metadata", "previous_response_id", "temperature", "top_p")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def _text_part(part: Any, where: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise InvalidRequest(f"Invalid type for '{where}': expected an object.", param=where)
    kind = part.get("type")
    if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "input_image" and isinstance(part.get("image_url"), str):
        return {"type": "image_url", "image_url": {"url": part["image_url"]}}
    raise InvalidRequest(f"'{where}' of type {kind!r} cannot be sent to this model.", param=where)


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise InvalidRequest(f"Invalid value for '{where}.role'.", param=f"{where}.role")
    content = item.get("content")
    if isinstance(content, list):
        parts = [_text_part(p, f"{where}.content[{i}]") for i, p in enumerate(content)]
        if role != "user" and all(p["type"] == "text" for p in parts):
            content = "".join(p["text"] for p in parts)
        else:
            content = parts
    elif not isinstance(content, str):
        raise InvalidRequest(f"Invalid type for '{where}.content'.", param=f"{where}.content")
    return {"role": "system" if role == "developer" else role, "content": content}


def input_messages(value: Any) -> list[dict[str, Any]]:
    """The chat messages of a Responses `input` (a string, or a list of items)."""
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    if not isinstance(value, list):
        raise InvalidRequest("'input' must be a string or an array of input items.", param="input")
    messages: list[dict[str, Any]] = []
    for i, item in enumerate(value):
        where = f"input[{i}]"
        if not isinstance(item, dict):
            raise InvalidRequest(f"Invalid type for '{where}': expected an object.", param=where)
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            call = {
                "id": str(item.get("call_id") or item.get("id") or ""),
                "type": "function",
                "function": {
                    "name": str(item.get("name") or ""),
                    "arguments": str(item.get("arguments") or ""),
                },
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else orjson.dumps(output).decode()
            messages.append({"role": "tool", "tool_call_id": str(item.get("call_id") or ""), "content": text})
        elif kind != "reasoning":  # reasoning items only matter to the model that wrote them
            raise InvalidRequest(f"'{where}' of type {kind!r} cannot be sent to this model.", param=where)
    return messages


def _tools(tools: list[Any]) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tools):
        if tool.get("type") != "function" or not isinstance(tool.get("name"), str):
            where = f"tools[{i}]"
            raise InvalidRequest(f"'{where}': only function tools can be sent to this model.", param=where)
        function = {"name": tool["name"], "parameters": tool.get("parameters") or {"type": "object"}}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        out.append({"type": "function", "function": function})
    return out


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    return choice


def _response_format(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    return {"type": "json_object"}


def to_chat(body: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """The chat request for a Responses request; `history` is the stored conversation, if any."""
    messages = []
    if isinstance(body.get("instructions"), str):
        messages.append({"role": "system", "content": body["instructions"]})
    messages += history + input_messages(body.get("input", []))
    if not messages:
        raise InvalidRequest("Missing required parameter: 'input'.", param="input")
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    for name in ("temperature", "top_p", "parallel_tool_calls", "user", "top_logprobs"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    if body.get("tools"):
        chat["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    response_format = _response_format(body.get("text"))
    if response_format is not None:
        chat["response_format"] = response_format
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def chat_view(body: dict[str, Any]) -> dict[str, Any]:
    """The request as the auto selector reads a chat request: its model, user and messages (input
    items chat cannot carry are left out here; the attempt refuses them where they matter)."""
    try:
        messages = input_messages(body.get("input", []))
    except InvalidRequest:
        messages = []
    if isinstance(body.get("instructions"), str):
        messages.insert(0, {"role": "system", "content": body["instructions"]})
    return {"model": body.get("model"), "user": body.get("user"), "messages": messages}


def response_usage(usage: Any) -> dict[str, Any]:
    usage = usage if isinstance(usage, dict) else {}
    prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": prompt + completion,
    }


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else []
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": content}


def call_item(item_id: str, call: ToolCall, status: str = "completed") -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call.id,
        "name": call.name,
        "arguments": call.arguments if status == "completed" else "",
        "status": status,
    }


class Shell:
    """The fields of one translated response that do not depend on the answer."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.id = new_id("resp")
        self.created_at = int(time.time())
        self.fields = {name: body.get(name) for name in ECHOED}
        self.fields["tools"] = body.get("tools") or []
        self.fields["tool_choice"] = body.get("tool_choice") or "auto"
        self.fields["text"] = body.get("text") or {"format": {"type": "text"}}
        self.model = body.get("model")

    def response(self, status: str, output: list[Any], usage: Any, model: Any = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "model": model or self.model,
            "output": output,
            "parallel_tool_calls": True,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "usage": response_usage(usage) if usage is not None else None,
            **self.fields,
        }


def _status(finish_reason: Any) -> str:
    return "incomplete" if finish_reason == "length" else "completed"


def from_chat(shell: Shell, parsed: dict[str, Any]) -> dict[str, Any]:
    """The Responses object for a chat completion."""
    choices = parsed.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    output: list[dict[str, Any]] = []
    if isinstance(message.get("content"), str) and message["content"]:
        output.append(message_item(new_id("msg"), message["content"]))
    for i, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        tool = ToolCall(
            i, str(call.get("id")), str(function.get("name")), str(function.get("arguments") or "")
        )
        output.append(call_item(new_id("fc"), tool))
    return shell.response(
        _status(choice.get("finish_reason")), output, parsed.get("usage"), parsed.get("model")
    )


def answer_message(response: dict[str, Any]) -> dict[str, Any]:
    """The chat message of a translated response's output, for the stored conversation."""
    text = "".join(
        part["text"] for item in response["output"] if item["type"] == "message" for part in item["content"]
    )
    calls = [
        {
            "id": it["call_id"],
            "type": "function",
            "function": {"name": it["name"], "arguments": it["arguments"]},
        }
        for it in response["output"]
        if it["type"] == "function_call"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message


_EMPTY_PART = {"type": "output_text", "text": "", "annotations": []}


class ResponsesEvents(EventTranslator):
    """A chat stream re-emitted as the Responses API's events; `on_done(response)` when it completes."""

    def __init__(self, shell: Shell, on_done: Callable[[dict[str, Any]], None]) -> None:
        super().__init__()
        self.shell = shell
        self.on_done = on_done
        self.seq = 0
        self.items: list[tuple[str, Any]] = []  # (item id, None for the message or its ToolCall)
        self.message_id: str | None = None

    def _emit(self, kind: str, **fields: Any) -> None:
        payload = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        self.out.append(b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n")

    def opening(self) -> bytes:
        started = self.shell.response("in_progress", [], None)
        self._emit("response.created", response=started)
        self._emit("response.in_progress", response=started)
        return self._take()

    def _text(self, delta: str) -> None:
        if self.message_id is None:
            self.message_id = new_id("msg")
            self.items.append((self.message_id, None))
            item = message_item(self.message_id, "", "in_progress")
            self._emit("response.output_item.added", output_index=len(self.items) - 1, item=item)
            self._emit("response.content_part.added", part=_EMPTY_PART, **self._at())
        self._emit("response.output_text.delta", delta=delta, **self._at())

    def _at(self) -> dict[str, Any]:
        """Where the message's text goes: its item, its place in the output, its one content part."""
        index = next(i for i, (item_id, _) in enumerate(self.items) if item_id == self.message_id)
        return {"item_id": self.message_id, "output_index": index, "content_index": 0}

    def _tool(self, call: ToolCall, new: bool, delta: str) -> None:
        if new:
            self.items.append((new_id("fc"), call))
            item = call_item(self.items[-1][0], call, "in_progress")
            self._emit("response.output_item.added", output_index=len(self.items) - 1, item=item)
        index = next(i for i, (_, c) in enumerate(self.items) if c is call)
        if delta:
            item_id = self.items[index][0]
            self._emit(
                "response.function_call_arguments.delta", item_id=item_id, output_index=index, delta=delta
            )

    def _final(self) -> None:
        reader, output = self.reader, []
        for index, (item_id, call) in enumerate(self.items):
            if call is None:
                part = {"type": "output_text", "text": reader.text, "annotations": []}
                common = {"item_id": item_id, "output_index": index, "content_index": 0}
                self._emit("response.output_text.done", text=reader.text, **common)
                self._emit("response.content_part.done", part=part, **common)
                item = message_item(item_id, reader.text)
            else:
                self._emit(
                    "response.function_call_arguments.done",
                    item_id=item_id,
                    output_index=index,
                    arguments=call.arguments,
                )
                item = call_item(item_id, call)
            self._emit("response.output_item.done", output_index=index, item=item)
            output.append(item)
        status = _status(reader.finish_reason)
        response = self.shell.response(status, output, reader.usage, reader.model)
        self._emit(f"response.{status}", response=response)
        self.on_done(response)


def error_event(message: str, type_: str, code: str) -> bytes:
    """The Responses stream's error event (the SDKs raise on an `error` event carrying `error`)."""
    error = {"message": message, "type": type_, "param": None, "code": code}
    payload = {"type": "error", "code": code, "message": message, "param": None, "error": error}
    return b"event: error\ndata: " + orjson.dumps(payload) + b"\n\n"
