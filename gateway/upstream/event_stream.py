"""Named-event streams (OpenAI Responses, Anthropic Messages): checked and tapped as they are relayed.

These streams carry an `event:` line before each `data:` line and end with a final event of their own
(`response.completed`, `message_stop`), not `data: [DONE]`. The chat guard (`sse_guard`) would call
every such stream unfinished; `EventGuard` frames and checks them the same way (garbage, an event
that is not JSON, a stream cut before its final event all raise `MalformedStream`) but knows its
stream's final events. `EventUsageTap` reads the usage these streams report (nested in the final
response, or split over Anthropic's `message_start` and `message_delta`) in chat's terms for metrics.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.upstream.sse_guard import MalformedStream, SseGuard
from gateway.upstream.stream import complete_events
from gateway.upstream.usage_tap import UsageTap

RESPONSES_FINAL = frozenset({"response.completed", "response.failed", "response.incomplete"})
MESSAGES_FINAL = frozenset({"message_stop"})


class EventGuard(SseGuard):
    def __init__(self, final: frozenset[str]) -> None:
        self.final = final

    def feed(self, chunk: bytes) -> bytes:
        complete, self.carry = complete_events(self.carry, chunk)
        if complete:
            self._check_each(complete)
            self.last = complete
        return complete

    def finish(self) -> bytes:
        rest, self.carry = self.carry, b""
        if rest.strip():
            self._check(rest.strip())
        if not self.done:
            raise MalformedStream("the stream ended before its final event")
        return rest

    def _final(self, payload: dict) -> bool:
        kind = payload.get("type")
        return kind in self.final or kind == "error" or "error" in payload


def chat_usage(usage: Any) -> dict[str, int] | None:
    """Responses / Anthropic usage (`input_tokens`, `output_tokens`) in chat's terms, for metrics."""
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("input_tokens", usage.get("prompt_tokens", 0))
    completion = usage.get("output_tokens", usage.get("completion_tokens", 0))
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class EventUsageTap(UsageTap):
    """Never strips (these APIs always report usage); records it in chat's terms."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        super().__init__(strip=False)
        self.seen: dict[str, int] = {}

    def _take_usage(self, event: bytes) -> bytes | None:
        for line in event.split(b"\n"):
            if line.startswith(b"data:"):
                try:
                    payload = orjson.loads(line[5:])
                except orjson.JSONDecodeError:
                    return event
                if isinstance(payload, dict):
                    self._record(payload)
        return event

    def _record(self, payload: dict[str, Any]) -> None:
        usage = payload.get("usage")
        for holder in ("response", "message"):  # response.completed, message_start
            inner = payload.get(holder)
            if usage is None and isinstance(inner, dict):
                usage = inner.get("usage")
        if isinstance(usage, dict):
            self.seen.update({k: v for k, v in usage.items() if isinstance(v, int)})
            self.usage = chat_usage(self.seen)
