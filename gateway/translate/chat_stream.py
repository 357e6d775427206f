"""Read a chat-completions event stream as deltas, for the translators that re-emit it in another
stream format (Responses events, Anthropic events).

The chat stream has already been checked as it arrived (`sse_guard` on the pass-through path, LiteLLM's
own objects on the other); this only frames it into events and reads what each one adds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.upstream.stream import OpenStream, complete_events


@dataclass(slots=True)
class ToolCall:
    index: int
    id: str
    name: str
    arguments: str = ""


@dataclass(slots=True)
class ChatStreamReader:
    """Accumulates the answer (text, tool calls, finish reason, usage) while reporting each delta to
    `on_text(text)`, `on_tool(call, is_new, arguments_delta)`."""

    on_text: Callable[[str], None]
    on_tool: Callable[[ToolCall, bool, str], None]
    text: str = ""
    tools: dict[int, ToolCall] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None
    done: bool = False
    carry: bytes = b""

    def feed(self, chunk: bytes) -> None:
        complete, self.carry = complete_events(self.carry, chunk)
        for event in complete.split(b"\n\n"):
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self._data(line[5:].strip())

    def _data(self, data: bytes) -> None:
        if data == b"[DONE]":
            self.done = True
            return
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(payload, dict):
            return
        if isinstance(payload.get("model"), str):
            self.model = payload["model"]
        if isinstance(payload.get("usage"), dict):
            self.usage = payload["usage"]
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            return
        choice = choices[0]
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return
        content = delta.get("content")
        if isinstance(content, str) and content:
            self.text += content
            self.on_text(content)
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                self._tool(call)

    def _tool(self, call: dict[str, Any]) -> None:
        index = call.get("index") if isinstance(call.get("index"), int) else len(self.tools)
        function = call.get("function") if isinstance(call.get("function"), dict) else {}
        arguments = function.get("arguments") if isinstance(function.get("arguments"), str) else ""
        known = self.tools.get(index)
        if known is None:
            known = ToolCall(index, str(call.get("id") or f"call_{index}"), str(function.get("name") or ""))
            self.tools[index] = known
            known.arguments = arguments
            self.on_tool(known, True, arguments)
        elif arguments:
            known.arguments += arguments
            self.on_tool(known, False, arguments)


class EventTranslator:
    """What both translators share: a chat stream is read chunk by chunk, each delta queues events in
    the other format (`_text`, `_tool`), and the stream's end queues the closing ones (`_final`, once:
    at `[DONE]`, or when the chat stream ends without it on the LiteLLM path)."""

    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.finished = False
        self.reader = ChatStreamReader(self._text, self._tool)

    def _text(self, delta: str) -> None:
        raise NotImplementedError

    def _tool(self, call: ToolCall, new: bool, delta: str) -> None:
        raise NotImplementedError

    def _final(self) -> None:
        raise NotImplementedError

    def _take(self) -> bytes:
        out, self.out = b"".join(self.out), []
        return out

    def feed(self, chunk: bytes) -> bytes:
        self.reader.feed(chunk)
        if self.reader.done:
            self._close()
        return self._take()

    def finish(self) -> bytes:
        self._close()
        return self._take()

    def _close(self) -> None:
        if not self.finished:
            self.finished = True
            self._final()


def translated(
    stream: OpenStream, opening: bytes, feed: Callable[[bytes], bytes], finish: Callable[[], bytes]
) -> OpenStream:
    """The chat `stream` re-emitted in another format: `opening` first, then what `feed` makes of each
    chunk, then what `finish` adds once the chat stream has ended cleanly (a failure raises instead,
    and the relay ends the stream with the door's error event)."""

    async def rest() -> AsyncIterator[bytes]:
        async for chunk in stream.rest:
            out = feed(chunk)
            if out:
                yield out
        tail = finish()
        if tail:
            yield tail

    return OpenStream(first=opening + feed(stream.first), rest=rest(), close=stream.close)
