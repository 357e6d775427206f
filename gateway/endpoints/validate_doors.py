"""The shapes of a Responses and an Anthropic Messages request, checked before routing (as
`validate.check_request` does for chat): a request that cannot be valid never costs a deployment an
attempt, and the fields the translations index into are known to have their shape."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.endpoints.validate import Check, _typed
from gateway.errors import InvalidRequest

_INT, _BOOL, _STR, _OBJ, _LIST = (_typed(t) for t in (int, bool, str, dict, list))
_NUM = _typed(int, float)


def _typed_items(name: str, value: Any, need: str) -> None:
    """An array of objects, each with a string `need` field."""
    _LIST(name, value)
    for i, item in enumerate(value):
        if type(item) is not dict or type(item.get(need)) is not str:
            where = f"{name}[{i}]"
            raise InvalidRequest(f"'{where}' must be an object with a string '{need}'.", param=where)


def _input(name: str, value: Any) -> None:
    if type(value) is str:
        return
    _LIST(name, value)
    for i, item in enumerate(value):
        if type(item) is not dict:
            raise InvalidRequest(f"Invalid type for 'input[{i}]': expected an object.", param=f"input[{i}]")


def _background(name: str, value: Any) -> None:
    _BOOL(name, value)
    if value:
        raise InvalidRequest("Background responses are not supported by this gateway.", param="background")


RESPONSES: Mapping[str, Check] = {
    "input": _input,
    "instructions": _STR,
    "previous_response_id": _STR,
    "stream": _BOOL,
    "store": _BOOL,
    "background": _background,
    "parallel_tool_calls": _BOOL,
    "max_output_tokens": _INT,
    "temperature": _NUM,
    "top_p": _NUM,
    "tools": lambda n, v: _typed_items(n, v, "type"),
    "tool_choice": _typed(str, dict),
    "text": _OBJ,
    "metadata": _OBJ,
    "reasoning": _OBJ,
    "include": _LIST,
    "user": _STR,
}


def _content(where: str, content: Any) -> None:
    if type(content) is str:
        return
    if type(content) is not list or not all(type(b) is dict and type(b.get("type")) is str for b in content):
        raise InvalidRequest(
            f"Invalid type for '{where}': expected a string or an array of content blocks with a 'type'.",
            param=where,
        )


def _messages(name: str, messages: Any) -> None:
    if type(messages) is not list or not messages:
        raise InvalidRequest("'messages' must be a non-empty array of message objects.", param="messages")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if type(message) is not dict or message.get("role") not in ("user", "assistant"):
            raise InvalidRequest(f"'{where}' must be an object with role 'user' or 'assistant'.", param=where)
        _content(f"{where}.content", message.get("content"))


def _max_tokens(name: str, value: Any) -> None:
    if type(value) is not int or value < 1:
        raise InvalidRequest("'max_tokens' must be a positive integer.", param="max_tokens")


def _tool_choice(name: str, value: Any) -> None:
    if type(value) is not dict or type(value.get("type")) is not str:
        raise InvalidRequest("'tool_choice' must be an object with a string 'type'.", param=name)


def _stops(name: str, value: Any) -> None:
    if type(value) is not list or not all(type(s) is str for s in value):
        raise InvalidRequest("'stop_sequences' must be an array of strings.", param=name)


MESSAGES: Mapping[str, Check] = {
    "messages": _messages,
    "max_tokens": _max_tokens,
    "system": lambda n, v: _content(n, v),
    "stream": _BOOL,
    "temperature": _NUM,
    "top_p": _NUM,
    "top_k": _INT,
    "stop_sequences": _stops,
    "tools": lambda n, v: _typed_items(n, v, "name"),
    "tool_choice": lambda n, v: _tool_choice(n, v),
    "metadata": _OBJ,
    "thinking": _OBJ,
}


def _check(body: Mapping[str, Any], checks: Mapping[str, Check], required: tuple[str, ...]) -> None:
    for name in required:
        if body.get(name) is None:
            raise InvalidRequest(f"Missing required parameter: '{name}'.", param=name)
    for name, value in body.items():
        check = checks.get(name)
        if check is not None and value is not None:
            check(name, value)


def check_responses(body: Mapping[str, Any]) -> None:
    """Raise `InvalidRequest` (400) when `body` cannot be a valid Responses request."""
    _check(body, RESPONSES, ())
    if body.get("input") is None and body.get("previous_response_id") is None and body.get("prompt") is None:
        raise InvalidRequest("Missing required parameter: 'input'.", param="input")


def check_messages(body: Mapping[str, Any]) -> None:
    """Raise `InvalidRequest` (400) when `body` cannot be a valid Anthropic Messages request."""
    _check(body, MESSAGES, ("model", "messages", "max_tokens"))


def check_count_tokens(body: Mapping[str, Any]) -> None:
    _check(body, MESSAGES, ("model", "messages"))
