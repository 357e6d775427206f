"""Deterministic text helpers: what the mock "says", how it counts tokens and cuts streams.

Everything here is a pure function so the answers are predictable in tests: the same request always
gets the same words, split into the same stream pieces, with the same usage numbers.
"""

from __future__ import annotations

import re
from typing import Any

ECHO_LIMIT = 200
"""Echoed user text is cut to this many characters so huge prompts don't make huge answers."""

_WORD = re.compile(r"\S+")
_PIECE = re.compile(r"\s*\S+|\s+")


def content_text(content: Any) -> str:
    """The text of a message `content`: a string, or the `text` of its parts joined with a space.

    Parts without text (images, audio) contribute nothing. Anthropic `tool_result` blocks nest their
    own content, which is read the same way.
    """
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict):
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "tool_result":
                texts.append(content_text(part.get("content")))
    return " ".join(texts)


def last_user_text(messages: Any) -> str:
    """The text of the last `user` message (empty when there is none), cut to ECHO_LIMIT."""
    if isinstance(messages, list):
        for message in reversed(messages):
            if isinstance(message, dict) and message.get("role") == "user":
                return content_text(message.get("content"))[:ECHO_LIMIT]
    return ""


def word_count(text: str) -> int:
    """The mock's "token" count: whitespace-separated words."""
    return len(text.split())


def messages_word_count(messages: Any) -> int:
    """Words across all message contents; used as prompt tokens (at least 1, as a real API)."""
    total = 0
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                total += word_count(content_text(message.get("content")))
    return max(1, total)


def truncate_words(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut after `limit` words (whitespace kept as is); True when something was cut."""
    if limit <= 0:
        return "", bool(text)
    for i, match in enumerate(_WORD.finditer(text)):
        if i + 1 == limit:
            end = match.end()
            return text[:end], bool(text[end:].strip())
    return text, False


def split_pieces(text: str, chunks: int | None = None) -> list[str]:
    """Stream pieces whose concatenation is `text`.

    By default one piece per word with its leading whitespace ("mock", " reply:", " hi"), like a
    tokenizer would. With `chunks`, exactly that many pieces of near-equal length (some are empty when
    the text has fewer characters than `chunks`), so stream length is controllable in tests.
    """
    if chunks is not None:
        n = len(text)
        return [text[k * n // chunks : (k + 1) * n // chunks] for k in range(chunks)]
    return _PIECE.findall(text)
