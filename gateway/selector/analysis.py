"""What a chat request asks for: a pure function of its body.

`analyse(body)` reads the messages once and returns the task and the probability of every task
(the configured classifier of `gateway.router_model.choice` over the last user turn, the system
prompt, the earlier turns and the conversation's shape), a complexity score in [0, 1], an estimate of
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

from gateway.router_model.choice import Classify
from gateway.router_model.choice import lexicon as lexicon_classifier
from gateway.router_model.complexity_cues import EASY_CUES, HARD_CUES
from gateway.router_model.tasks import TASKS
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
    choices: bool = False  # n > 1: several choices asked for

    def as_dict(self) -> dict[str, Any]:
        return {
            "choices": self.choices,
            "tools": self.tools,
            "vision": self.vision,
            "json": self.json,
            "json_schema": self.json_schema,
            "max_tokens": self.max_tokens,
        }


class _Cues:
    """A cue list: words, word prefixes (`optimi*`) and phrases (`edge case*`), counted in a text.
    A dictionary and a few substring tests: a regex alternation of them cost ~30 us a request."""

    def __init__(self, spec: str) -> None:
        items = [c.strip() for c in spec.split(",") if c.strip()]
        self.words = frozenset(c for c in items if " " not in c and not c.endswith("*"))
        self.prefixes = tuple(c[:-1] for c in items if " " not in c and c.endswith("*"))
        self.heads = frozenset(p[:3] for p in self.prefixes)
        self.phrases = tuple(c.rstrip("*") for c in items if " " in c)

    def count(self, text: str, words: list[str]) -> float:
        n = 0
        for w in words:
            if not w[-1].isalpha():
                w = w.rstrip(_PUNCTUATION)
                if not w:
                    continue
            if w in self.words or (w[:3] in self.heads and w.startswith(self.prefixes)):
                n += 1
        for phrase in self.phrases:
            if phrase in text:
                n += 1
        return float(n)


_PUNCTUATION = ".,;:!?)]}\"'…"
_HARD = _Cues(HARD_CUES)
_EASY = _Cues(EASY_CUES)
CUE_CHARS = 600


@dataclass(slots=True)
class Signals:
    """What the analysis read besides the task: the task probabilities and the evidence that moves
    complexity. A value built on every new request (not frozen: see `scoring`)."""

    probabilities: tuple[float, ...]  # per task, in `TASKS` order
    code: float  # 0..1: code in the turn (fence, code-shaped lines)
    math: float  # 0..1: density of mathematical notation
    hard: float  # cues that make a request harder ("prove", "edge cases")
    easy: float  # ... and lighter ("quick", "one sentence")

    def top(self, n: int = 3) -> list[tuple[str, float]]:
        """The `n` likeliest tasks with their probabilities, likeliest first."""
        order = sorted(range(len(TASKS)), key=lambda i: -self.probabilities[i])
        return [(TASKS[i], self.probabilities[i]) for i in order[:n]]


def classifier_inputs(body: Mapping[str, Any]) -> dict[str, Any]:
    """The classifier's inputs from a request body (training reads its corpus through this too)."""
    last_user, system, earlier, prior_code, _, images, _, tool_traffic, turns = _read(body)
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    return {
        "last_user": last_user,
        "system": system,
        "previous": earlier[-1] if earlier else "",
        "earlier": len(earlier),
        "prior_code": prior_code,
        "turns": turns,
        "tools": _tools(body) is not None or tool_traffic,
        "images": images > 0,
        "json": kind == "json_object" or kind == "json_schema",
    }


MIX_FLOOR = 0.15  # a task this likely or more enters the expected score
MIX_TASKS = 3
SURE = 0.9  # a task this likely is the request's only one


def mixture(probabilities: tuple[float, ...]) -> tuple[tuple[str, float], ...]:
    """The likely tasks with weights summing to 1, likeliest first (rounded to 0.05, so that
    requests of one kind share a kept ranking: see `memo`)."""
    order = sorted(range(len(TASKS)), key=lambda i: -probabilities[i])
    top = probabilities[order[0]]
    if top >= SURE:
        return ((TASKS[order[0]], 1.0),)
    kept = [i for i in order[:MIX_TASKS] if probabilities[i] >= MIX_FLOOR] or order[:1]
    total = sum(probabilities[i] for i in kept)
    mix = [(TASKS[i], round(probabilities[i] / total * 20) / 20) for i in kept]
    mix = [(t, w) for t, w in mix if w > 0] or [(TASKS[order[0]], 1.0)]
    scale = sum(w for _, w in mix)
    return tuple((t, w / scale) for t, w in mix)


@dataclass(slots=True)
class Analysis:
    task: str
    complexity: float
    prompt_tokens: int
    exact_tokens: bool  # False: estimated from samples of a long prompt, or by the heuristic
    requires: Requirements
    turns: int  # messages in the conversation
    signals: Signals
    mixture: tuple[tuple[str, float], ...] = ()  # the likely tasks and their weights (`mixture`)

    @property
    def confidence(self) -> float:
        """The probability of the likeliest task."""
        return max(self.signals.probabilities)


# The parts of the messages the analysis reads, gathered in one pass (`_read`), in this order:
# last_user, system, earlier_users, prior_code (an assistant turn holds a code fence), texts (every
# message's text, for the token count), images, low_images (... of them at "low" detail),
# tool_traffic (tool calls or tool results in the conversation), turns. A plain tuple: a NamedTuple
# costs three times as much to build, and the one reader that matters unpacks it at once.
_Conversation = tuple[str, str, list[str], bool, list[str], int, int, bool, int]


# Every auto-routed request is read here: one pass, in locals, few calls (each costs).
def analyse(
    body: Mapping[str, Any], counter: TokenCounter = COUNTER, classify: Classify = lexicon_classifier
) -> Analysis:
    """Task, complexity, token estimate and requirements of a chat (or legacy completion) request."""
    last_user, system, earlier, prior_code, texts, images, low_images, tool_traffic, turns = _read(body)
    get = body.get
    tools = _tools(body)
    fmt = get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    probabilities, code, notation = classify(
        last_user,
        system,
        earlier,
        prior_code,
        turns,
        tools is not None or tool_traffic,
        images > 0,
        kind == "json_object" or kind == "json_schema",
    )
    task = TASKS[probabilities.index(max(probabilities))]
    head = last_user[:CUE_CHARS].lower()
    words = head.split()
    signals = Signals(
        probabilities,
        code,
        notation,
        _HARD.count(head, words),
        _EASY.count(head, words),
    )
    counted, exact = counter.estimate(texts[0] if len(texts) == 1 else "\n".join(texts))
    if images or tools is not None:
        tokens = counted + _overhead(tools, turns, images, low_images)
    else:  # the common case, without a call
        tokens = counted + turns * MESSAGE_OVERHEAD + REPLY_PRIMER
    # max_completion_tokens, else max_tokens: a positive int (JSON's true and false are not)
    limit = get("max_completion_tokens")
    if type(limit) is not int or limit <= 0:
        limit = get("max_tokens")
        if type(limit) is not int or limit <= 0:
            limit = None
    requires = Requirements(
        tools is not None or tool_traffic,
        images > 0,
        kind == "json_object" or kind == "json_schema",
        kind == "json_schema",
        limit,
        type(get("n")) is int and get("n") > 1,
    )
    mix = mixture(probabilities)
    complexity = _complexity(mix, signals, tokens, turns, requires)
    return Analysis(task, complexity, tokens, exact, requires, turns, signals, mix)


def exact_tokens(body: Mapping[str, Any], counter: TokenCounter = COUNTER) -> int:
    """The prompt's token count, exactly: for the rare prompt close to a context window."""
    _, _, _, _, texts, images, low_images, _, turns = _read(body)
    return _overhead(_tools(body), turns, images, low_images) + counter.count("\n".join(texts))


def _tools(body: Mapping[str, Any]) -> list | None:
    """The request's tool (or legacy function) schemas; None when it gives none."""
    tools = body.get("tools") or body.get("functions")
    return tools if isinstance(tools, list) and tools else None


def _read(body: Mapping[str, Any]) -> _Conversation:
    messages = body.get("messages")
    if not isinstance(messages, list):
        prompt = body.get("prompt")
        if isinstance(prompt, list):
            prompt = "\n".join(p for p in prompt if isinstance(p, str))
        if isinstance(prompt, str):
            return prompt, "", [], False, [prompt], 0, 0, False, 1
        return "", "", [], False, [], 0, 0, False, 0
    systems: list[str] = []
    users: list[str] = []
    texts: list[str] = []
    images = low_images = turns = 0
    prior_code = tool_traffic = False
    for message in messages:
        if not isinstance(message, dict):
            continue
        turns += 1
        role = message.get("role")
        content = message.get("content")
        if type(content) is str:
            text = content
        else:
            text, seen, low = _text_of(content)
            images += seen
            low_images += low
        if text:
            texts.append(text)
        if role == "user":
            users.append(text)
        elif role == "system" or role == "developer":
            if text:
                systems.append(text)
        elif role == "assistant":
            if message.get("tool_calls") or message.get("function_call"):
                tool_traffic = True
            if "```" in text:
                prior_code = True
        elif role == "tool" or role == "function":
            tool_traffic = True
    system = "\n".join(systems)
    if users:
        return users[-1], system, users[:-1], prior_code, texts, images, low_images, tool_traffic, turns
    return "", system, [], prior_code, texts, images, low_images, tool_traffic, turns


def _text_of(content: Any) -> tuple[str, int, int]:
    """The text of a list of content parts, and its images (all, and at "low" detail)."""
    if not isinstance(content, list):
        return "", 0, 0
    texts = []
    images = low = 0
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind in ("text", "input_text") and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("image_url", "input_image", "image"):
            images += 1
            detail = part.get("image_url") if isinstance(part.get("image_url"), dict) else part
            if isinstance(detail, dict) and detail.get("detail") == "low":
                low += 1
    return " ".join(texts), images, low


def _overhead(tools: list | None, turns: int, images: int, low_images: int) -> int:
    """The prompt's tokens besides its texts: per message, the reply primer, images, tool schemas."""
    tokens = turns * MESSAGE_OVERHEAD + REPLY_PRIMER
    if images:
        tokens += (images - low_images) * IMAGE_TOKENS + low_images * IMAGE_TOKENS_LOW
    if tools is not None:
        with contextlib.suppress(TypeError):  # not JSON-serialisable: the upstream will say so
            tokens += int(len(orjson.dumps(tools)) / JSON_CHARS_PER_TOKEN)
    return tokens


def _complexity(
    mix: tuple[tuple[str, float], ...], signals: Signals, tokens: int, turns: int, requires: Requirements
) -> float:
    """How capable a model the request needs, in [0, 1]: the likely tasks' base, the prompt's length
    (logarithmic: the 10th thousand tokens matter less than the first), words that make it harder or
    lighter, code and notation density, conversation depth, and structured-output demands."""
    value = sum(w * TASK_BASE.get(t, 0.3) for t, w in mix)
    length = math.log1p(tokens / 40) / _LOG_LONG
    value += LENGTH_WEIGHT * (length if length < 1.0 else 1.0)
    hard, easy = 0.07 * signals.hard, 0.05 * signals.easy
    value += (hard if hard < 0.3 else 0.3) - (easy if easy < 0.15 else 0.15)
    value += 0.08 * signals.code * sum(w for t, w in mix if t == "code_generation" or t == "code_review")
    value += 0.08 * signals.math
    if turns > 1:
        value += 0.01 * (turns - 1) if turns < 6 else 0.05
    if requires.tools:
        value += 0.05
    if requires.json_schema:
        value += 0.05
    # to 3 decimals, half up (`round(value, 3)` formats the float as text and costs three times more)
    return int((value if 0.0 <= value <= 1.0 else (0.0 if value < 0.0 else 1.0)) * 1000.0 + 0.5) / 1000.0
