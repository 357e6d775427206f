"""A stream that has produced its first event: the attempt has succeeded, the rest is relayed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import orjson

DONE = b"data: [DONE]\n\n"


@dataclass(slots=True)
class OpenStream:
    """`first` is already read; `rest` yields the remaining SSE bytes; `close` drops the upstream."""

    first: bytes
    rest: AsyncIterator[bytes]
    close: Callable[[], None]


def error_event(message: str, type_: str = "api_error", code: str = "upstream_error") -> bytes:
    payload = {"error": {"message": message, "type": type_, "param": None, "code": code}}
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def starts_with_error(first: bytes) -> bool:
    """An error event before any content means the attempt failed (and may fall back)."""
    head = first.lstrip()[:64]
    return head.startswith(b'data: {"error"') or head.startswith(b"event: error")


def complete_events(carry: bytes, chunk: bytes) -> tuple[bytes, bytes]:
    """(the complete events of `carry + chunk`, the start of a partial one to carry to the next chunk):
    an event ends at a blank line, and a chunk may end anywhere."""
    data = carry + chunk if carry else chunk
    cut = data.rfind(b"\n\n")
    if cut < 0:
        return b"", data
    end = cut + 2
    return (data, b"") if end == len(data) else (data[:end], data[end:])
