"""What a chat request asks for: a pure function of its body.

`analyse(body)` reads the messages once and returns the task (the classifier's verdict on the last
user turn, the system prompt and the earlier turns), a complexity score in [0, 1], an estimate of
the prompt's tokens, and the requirements any model serving it must meet: tools, vision (image
parts), JSON output (`response_format`) and `max_tokens`. Legacy completions (`prompt`) are read as
one user turn.

Nothing here calls the network or keeps state; the token counter is passed in (tests give their own).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.selector.classifier import Signals, classify
from gateway.selector.tokens import COUNTER, TokenCounter

MESSAGE_OVERHEAD = 4  # tokens the chat format adds per message (role, separators), as OpenAI counts
REPLY_PRIMER = 3
IMAGE_TOKENS = 765  # a 1024x1024 image at high detail; "low" detail costs 85
IMAGE_TOKENS_LOW = 85
JSON_CHARS_PER_TOKEN = 3.0  # tool schemas are punctuation-heavy

# How hard a task is before its length and wording say more.
TASK_BASE = {
    "code_generation": 0.45,
    "code_review": 0.4,
    "math": 0.45,
    "reasoning": 0.5,
    "creative_writing": 0.3,
    "roleplay": 0.25,
    "extraction": 0.2,
    "summarization": 0.25,
    "translation": 0.15,
    "analysis": 0.4,
    "question_answering": 0.2,
    "general_chat": 0.05,
}
LONG_PROMPT = 8000  # tokens: prompt length adds up to LENGTH_WEIGHT, logarithmically, until here
LENGTH_WEIGHT = 0.25
_LOG_LONG = math.log1p(LONG_PROMPT / 40)


@dataclass(slots=True)
class Requirements:
    """What any model serving the request must support. (This and `Analysis` are values, built on
    every new request: not frozen, for the reason `scoring` gives.)"""

    tools: bool = False  # `tools`/`functions` given, or the conversation already holds tool calls
    vision: bool = False  # an image part in a message
    json: bool = False  # response_format json_object or json_schema
    json_schema: bool = False  # response_format json_schema (structured output)
    max_tokens: int | None = None  # max_completion_tokens, else max_tokens

    def as_dict(self) -> dict[str, Any]:
        return {
            "tools": self.tools,
            "vision": self.vision,
            "json": self.json,
            "json_schema": self.json_schema,
            "max_tokens": self.max_tokens,
        }


@dataclass(slots=True)
class Analysis:
    task: str
    complexity: float
    prompt_tokens: int
    exact_tokens: bool  # False: estimated from samples of a long prompt, or by the heuristic
    requires: Requirements
    turns: int  # messages in the conversation
    signals: Signals


@dataclass(slots=True)
class _Conversation:
    """The parts of the messages the analysis reads, gathered in one pass."""

    last_user: str = ""
    system: str = ""
    earlier_users: list[str] | None = None
    prior_code: bool = False
    texts: list[str] | None = None
    images: int = 0
    low_images: int = 0
    tool_traffic: bool = False
    turns: int = 0


def analyse(body: Mapping[str, Any], counter: TokenCounter = COUNTER) -> Analysis:
    """Task, complexity, token estimate and requirements of a chat (or legacy completion) request."""
    convo = _read(body)
    task, signals = classify(convo.last_user, convo.system, convo.earlier_users or (), convo.prior_code)
    tokens, exact = _tokens(body, convo, counter)
    requires = _requirements(body, convo)
    complexity = _complexity(task, signals, tokens, convo.turns, requires)
    return Analysis(task, complexity, tokens, exact, requires, convo.turns, signals)


def exact_tokens(body: Mapping[str, Any], counter: TokenCounter = COUNTER) -> int:
    """The prompt's token count, exactly: for the rare prompt close to a context window."""
    convo = _read(body)
    return _overhead(body, convo) + counter.count("\n".join(convo.texts or ()))


def _read(body: Mapping[str, Any]) -> _Conversation:
    convo = _Conversation(earlier_users=[], texts=[])
    messages = body.get("messages")
    if not isinstance(messages, list):
        prompt = body.get("prompt")
        if isinstance(prompt, list):
            prompt = "\n".join(p for p in prompt if isinstance(p, str))
        if isinstance(prompt, str):
            convo.last_user = prompt
            convo.texts.append(prompt)
            convo.turns = 1
        return convo
    systems: list[str] = []
    users: list[str] = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        convo.turns += 1
        role = message.get("role")
        content = message.get("content")
        text = content if type(content) is str else _text_of(content, convo)
        if text:
            convo.texts.append(text)
        if role in ("system", "developer"):
            systems.append(text)
        elif role == "user":
            users.append(text)
        elif role == "assistant":
            if message.get("tool_calls") or message.get("function_call"):
                convo.tool_traffic = True
            if "```" in text:
                convo.prior_code = True
        elif role in ("tool", "function"):
            convo.tool_traffic = True
    if users:
        convo.last_user = users[-1]
        convo.earlier_users = users[:-1]
    convo.system = "\n".join(s for s in systems if s)
    return convo


def _text_of(content: Any, convo: _Conversation) -> str:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = []
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("text", "input_text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("image_url", "input_image", "image"):
            convo.images += 1
            detail = part.get("image_url") if isinstance(part.get("image_url"), dict) else part
            if isinstance(detail, dict) and detail.get("detail") == "low":
                convo.low_images += 1
    return " ".join(texts)


def _overhead(body: Mapping[str, Any], convo: _Conversation) -> int:
    tokens = convo.turns * MESSAGE_OVERHEAD + REPLY_PRIMER
    tokens += (convo.images - convo.low_images) * IMAGE_TOKENS + convo.low_images * IMAGE_TOKENS_LOW
    tools = body.get("tools") or body.get("functions")
    if isinstance(tools, list) and tools:
        with contextlib.suppress(TypeError):  # not JSON-serialisable: the upstream will say so
            tokens += int(len(orjson.dumps(tools)) / JSON_CHARS_PER_TOKEN)
    return tokens


def _tokens(body: Mapping[str, Any], convo: _Conversation, counter: TokenCounter) -> tuple[int, bool]:
    text = "\n".join(convo.texts or ())
    counted, exact = counter.estimate(text)
    return _overhead(body, convo) + counted, exact


def _requirements(body: Mapping[str, Any], convo: _Conversation) -> Requirements:
    tools = body.get("tools") or body.get("functions")
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    limit = body.get("max_completion_tokens")
    if not _positive_int(limit):
        limit = body.get("max_tokens")
    return Requirements(
        tools=bool(isinstance(tools, list) and tools) or convo.tool_traffic,
        vision=convo.images > 0,
        json=kind in ("json_object", "json_schema"),
        json_schema=kind == "json_schema",
        max_tokens=limit if _positive_int(limit) else None,
    )


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _complexity(task: str, signals: Signals, tokens: int, turns: int, requires: Requirements) -> float:
    """How capable a model the request needs, in [0, 1]: the task's base, the prompt's length
    (logarithmic: the 10th thousand tokens matter less than the first), words that make it harder or
    lighter, code and notation density, conversation depth, and structured-output demands."""
    value = TASK_BASE.get(task, 0.3)
    value += LENGTH_WEIGHT * min(1.0, math.log1p(tokens / 40) / _LOG_LONG)
    value += min(0.3, 0.07 * signals.hard) - min(0.15, 0.05 * signals.easy)
    if task in ("code_generation", "code_review"):
        value += 0.08 * signals.code
    value += 0.08 * signals.math
    value += min(0.05, 0.01 * max(0, turns - 1))
    if requires.tools:
        value += 0.05
    if requires.json_schema:
        value += 0.05
    return round(min(1.0, max(0.0, value)), 3)
