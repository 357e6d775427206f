"""Reject a request that cannot be valid before any model group or deployment is chosen.

An upstream (or LiteLLM, which crashes on some shapes) would reject it anyway, but only after the
gateway had spent an attempt, maybe retries, on it; and a request that fails upstream must never
count against a deployment. So the shapes every provider needs are checked here: the required field
of each endpoint, the shape of each chat message, the nested shapes a translation indexes into
(tools, `stop`, `response_format`, `tool_choice`), and the JSON type of the OpenAI parameters the
body carries (`null` is accepted for every optional one, as the SDKs send it). Values inside a valid
shape (a model's range for `temperature`, say) are left to the provider.

This runs on every request: one pass over the body's fields, each looked up in a table of checks
built at import, so only the fields present cost anything (about 1 µs for a short chat request).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.errors import InvalidRequest
from gateway.upstream.params import LITELLM, PASSTHROUGH

Check = Callable[[str, Any], None]

_JSON_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
_JSON_NAMES[dict] = "an object"
_INFINITIES = (float("inf"), float("-inf"))


def _typed(*types: type) -> Check:
    """A check that the value has one of `types` (JSON types: a bool is never a number)."""
    allowed = frozenset(types)
    expected = " or ".join(_JSON_NAMES[t] for t in types if not (t is int and float in types))

    def check(name: str, value: Any) -> None:
        kind = type(value)
        if kind not in allowed or (kind is float and (value != value or value in _INFINITIES)):
            raise InvalidRequest(f"Invalid type for '{name}': expected {expected}.", param=name)

    return check


def _messages(name: str, messages: Any) -> None:
    if type(messages) is not list or not messages:
        raise InvalidRequest("'messages' must be a non-empty array of message objects.", param="messages")
    for i, message in enumerate(messages):
        if type(message) is not dict:
            raise InvalidRequest(
                f"Invalid type for 'messages[{i}]': expected an object.", param=f"messages[{i}]"
            )
        if type(message.get("role")) is not str:
            where = f"messages[{i}].role"
            raise InvalidRequest(f"Missing required parameter: '{where}'.", param=where)
        content = message.get("content")
        if content is not None and type(content) is not str and not _parts_ok(content):
            where = f"messages[{i}].content"
            raise InvalidRequest(
                f"Invalid type for '{where}': expected a string or an array of content parts with a 'type'.",
                param=where,
            )


def _parts_ok(content: Any) -> bool:
    return type(content) is list and all(
        type(part) is dict and type(part.get("type")) is str for part in content
    )


def _stop(name: str, value: Any) -> None:
    if type(value) is str or (type(value) is list and all(type(s) is str for s in value)):
        return
    raise InvalidRequest("Invalid type for 'stop': expected a string or an array of strings.", param="stop")


def _tools(name: str, tools: Any) -> None:
    if type(tools) is not list:
        raise InvalidRequest(f"Invalid type for '{name}': expected an array.", param=name)
    for i, tool in enumerate(tools):
        if type(tool) is not dict or type(tool.get("type")) is not str:
            raise InvalidRequest(f"'{name}[{i}]' must be an object with a 'type'.", param=f"{name}[{i}]")
        function = tool.get("function")
        if tool["type"] == "function" and not (type(function) is dict and type(function.get("name")) is str):
            where = f"{name}[{i}].function"
            raise InvalidRequest(f"Missing required parameter: '{where}.name'.", param=where)


def _typed_object(*types: type) -> Check:
    """`tool_choice`, `response_format`: one of `types`, and as an object it has a string `type`."""
    typed = _typed(*types)

    def check(name: str, value: Any) -> None:
        typed(name, value)
        if type(value) is not dict:
            return
        kind = value.get("type")
        if type(kind) is not str:
            raise InvalidRequest(f"Missing required parameter: '{name}.type'.", param=f"{name}.type")
        if kind == "json_schema" and name == "response_format" and type(value.get("json_schema")) is not dict:
            where = "response_format.json_schema"
            raise InvalidRequest(f"Missing required parameter: '{where}'.", param=where)

    return check


def _prompt(name: str, prompt: Any) -> None:
    if type(prompt) is str or (type(prompt) is list and prompt):
        return
    raise InvalidRequest(
        "'prompt' must be a string, an array of strings, or an array of token arrays.", param="prompt"
    )


def _input(name: str, value: Any) -> None:
    if (type(value) is str or type(value) is list) and value:
        return
    raise InvalidRequest(
        "'input' must be a non-empty string, an array of strings, or an array of token arrays.", param="input"
    )


_INTEGER, _NUMBER, _BOOLEAN, _STRING, _OBJECT = (
    _typed(int),
    _typed(int, float),
    _typed(bool),
    _typed(str),
    _typed(dict),
)
_CHECKS: Mapping[str, Check] = {
    "messages": _messages,
    "prompt": _prompt,
    "input": _input,
    "stream": _BOOLEAN,
    "echo": _BOOLEAN,
    "parallel_tool_calls": _BOOLEAN,
    "n": _INTEGER,
    "max_tokens": _INTEGER,
    "max_completion_tokens": _INTEGER,
    "best_of": _INTEGER,
    "seed": _INTEGER,
    "top_logprobs": _INTEGER,
    "dimensions": _INTEGER,
    "temperature": _NUMBER,
    "top_p": _NUMBER,
    "presence_penalty": _NUMBER,
    "frequency_penalty": _NUMBER,
    "stop": _stop,
    "tools": _tools,
    "functions": _typed(list),
    "tool_choice": _typed_object(str, dict),
    "function_call": _typed(str, dict),
    "response_format": _typed_object(dict),
    "stream_options": _OBJECT,
    "logit_bias": _OBJECT,
    "metadata": _OBJECT,
    "user": _STRING,
    "encoding_format": _STRING,
    "suffix": _STRING,
}
_REQUIRED = {"chat/completions": "messages", "completions": "prompt", "embeddings": "input"}
# per endpoint, only its own parameters are checked: a field it does not take is dropped, not judged
_ENDPOINT_CHECKS = {
    endpoint: {n: c for n, c in _CHECKS.items() if n in PASSTHROUGH[endpoint] | LITELLM[endpoint]}
    for endpoint in _REQUIRED
}


def check_request(endpoint: str, body: Mapping[str, Any]) -> None:
    """Raise `InvalidRequest` (400, naming the field) when `body` cannot be a valid `endpoint` request."""
    required = _REQUIRED.get(endpoint)
    if required is not None and body.get(required) is None:
        raise InvalidRequest(f"Missing required parameter: '{required}'.", param=required)
    checks = _ENDPOINT_CHECKS.get(endpoint, _CHECKS)
    for name, value in body.items():
        check = checks.get(name)
        if check is not None and value is not None:
            check(name, value)
