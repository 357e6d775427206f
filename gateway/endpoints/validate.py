"""Reject a request that cannot be valid before any model group or deployment is chosen.

An upstream (or LiteLLM, which crashes on some shapes) would reject it anyway, but only after the
gateway had spent an attempt, maybe retries, on it; and a request that fails upstream must never
count against a deployment. So the shapes every provider needs are checked here, cheaply: the
required field of each endpoint, the shape of each chat message, and the JSON type of the OpenAI
parameters the body carries (`null` is accepted for every optional one, as the SDKs send it).
Values inside a valid shape (a model's range for `temperature`, say) are left to the provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidRequest
from gateway.upstream.params import LITELLM, PASSTHROUGH

_NUMBER = (int, float)
_TEXT_OR_LIST = (str, list)

# parameter -> the JSON types it may have (bool is never a number here)
_TYPES: Mapping[str, tuple[type, ...]] = {
    "stream": (bool,),
    "n": (int,),
    "max_tokens": (int,),
    "max_completion_tokens": (int,),
    "best_of": (int,),
    "seed": (int,),
    "top_logprobs": (int,),
    "dimensions": (int,),
    "temperature": _NUMBER,
    "top_p": _NUMBER,
    "presence_penalty": _NUMBER,
    "frequency_penalty": _NUMBER,
    "stop": _TEXT_OR_LIST,
    "tools": (list,),
    "functions": (list,),
    "tool_choice": (str, dict),
    "function_call": (str, dict),
    "response_format": (dict,),
    "stream_options": (dict,),
    "logit_bias": (dict,),
    "metadata": (dict,),
    "user": (str,),
    "encoding_format": (str,),
    "suffix": (str,),
    "echo": (bool,),
    "parallel_tool_calls": (bool,),
}
_JSON_NAMES = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array"}
_JSON_NAMES[dict] = "an object"

_REQUIRED = {"chat/completions": "messages", "completions": "prompt", "embeddings": "input"}
# per endpoint, only its own parameters are checked: a field it does not take is dropped, not judged
_ENDPOINT_TYPES = {
    endpoint: {n: t for n, t in _TYPES.items() if n in PASSTHROUGH[endpoint] | LITELLM[endpoint]}
    for endpoint in _REQUIRED
}


def check_request(endpoint: str, body: Mapping[str, Any]) -> None:
    """Raise `InvalidRequest` (400, naming the field) when `body` cannot be a valid `endpoint` request."""
    required = _REQUIRED.get(endpoint)
    if required is not None and body.get(required) is None:
        raise InvalidRequest(f"Missing required parameter: '{required}'.", param=required)
    if endpoint == "chat/completions":
        _check_messages(body["messages"])
    elif endpoint == "completions":
        _check_prompt(body["prompt"])
    elif endpoint == "embeddings":
        _check_input(body["input"])
    checked = _ENDPOINT_TYPES.get(endpoint, _TYPES)
    for name, value in body.items():
        types = checked.get(name)
        if types is not None and value is not None and not _is(value, types):
            raise InvalidRequest(f"Invalid type for '{name}': expected {_expected(types)}.", param=name)
    if endpoint == "chat/completions":
        _check_chat_options(body)


def _check_chat_options(body: Mapping[str, Any]) -> None:
    """The nested shapes a translation (LiteLLM) indexes into without checking."""
    stop = body.get("stop")
    if isinstance(stop, list) and not all(isinstance(s, str) for s in stop):
        raise InvalidRequest(
            "Invalid type for 'stop': expected a string or an array of strings.", param="stop"
        )
    tools = body.get("tools")
    if isinstance(tools, list):
        for i, tool in enumerate(tools):
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
                raise InvalidRequest(f"'tools[{i}]' must be an object with a 'type'.", param=f"tools[{i}]")
            if tool["type"] == "function" and not (
                isinstance(function, dict) and isinstance(function.get("name"), str)
            ):
                raise InvalidRequest(
                    f"Missing required parameter: 'tools[{i}].function.name'.", param=f"tools[{i}].function"
                )
    for name in ("tool_choice", "response_format"):
        value = body.get(name)
        if isinstance(value, dict) and not isinstance(value.get("type"), str):
            raise InvalidRequest(f"Missing required parameter: '{name}.type'.", param=f"{name}.type")
    response_format = body.get("response_format")
    if (
        isinstance(response_format, dict)
        and response_format.get("type") == "json_schema"
        and not isinstance(response_format.get("json_schema"), dict)
    ):
        raise InvalidRequest(
            "Missing required parameter: 'response_format.json_schema'.", param="response_format.json_schema"
        )


def _is(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, float) and float in types:
        return value == value and value not in (float("inf"), float("-inf"))  # no NaN, no infinities
    return isinstance(value, types)


def _expected(types: tuple[type, ...]) -> str:
    return " or ".join(_JSON_NAMES[t] for t in types if not (t is int and float in types))


def _check_messages(messages: Any) -> None:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array of message objects.", param="messages")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"Invalid type for '{where}': expected an object.", param=where)
        if not isinstance(message.get("role"), str):
            raise InvalidRequest(f"Missing required parameter: '{where}.role'.", param=f"{where}.role")
        if not _content_ok(message.get("content")):
            raise InvalidRequest(
                f"Invalid type for '{where}.content': expected a string or an array of content parts with a 'type'.",
                param=f"{where}.content",
            )


def _content_ok(content: Any) -> bool:
    """A string, null, or an array of content parts, each an object with a `type`."""
    if content is None or isinstance(content, str):
        return True
    return isinstance(content, list) and all(
        isinstance(part, dict) and isinstance(part.get("type"), str) for part in content
    )


def _check_prompt(prompt: Any) -> None:
    if isinstance(prompt, str):
        return
    if isinstance(prompt, list) and prompt:
        return
    raise InvalidRequest(
        "'prompt' must be a string, an array of strings, or an array of token arrays.", param="prompt"
    )


def _check_input(value: Any) -> None:
    if isinstance(value, str) and value:
        return
    if isinstance(value, list) and value:
        return
    raise InvalidRequest(
        "'input' must be a non-empty string, an array of strings, or an array of token arrays.", param="input"
    )
