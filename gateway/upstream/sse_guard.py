"""Check an OpenAI-wire event stream as it is relayed: every event well-formed, `[DONE]` at the end.

An upstream that answers 200 and then sends garbage (bytes that are not SSE, an event whose data is
not JSON) or stops without `data: [DONE]` must not reach the client as a clean stream that simply
ends: the client could not tell a complete answer from a cut one. The guard frames the bytes into
events (on blank lines), passes on only complete, valid ones, and raises `MalformedStream` at the
first bad event or at an end without `[DONE]`; the relay turns that into the OpenAI-shaped SSE
error event.

Cost: one `rfind` and one compiled-regex match per chunk. The regex accepts, at C speed, what
OpenAI-wire servers send: events that are one `data: {...}` line (a JSON object on one line) or
`data: [DONE]`. Anything else (comments, `event:` lines, CRLF line ends, an event that does not close
its object) is checked event by event, parsing the data with orjson. So a truncated or garbled event
is caught; an event shaped `data: {…}` whose inside is not JSON is passed on as the upstream sent it.
"""

from __future__ import annotations

import re

import orjson

_FIELDS = (b"event:", b"id:", b"retry:", b":")  # SSE lines other than data (":" is a comment)
_DONE = b"[DONE]"
_DONE_EVENT = b"data: [DONE]"
# a run of well-formed OpenAI events: `data: {...}` on one line, or `data: [DONE]`, each ending in \n\n
_PLAIN = re.compile(rb"(?:data: ?(?:\{[^\n]*\}|\[DONE\])\n\n)*")


class MalformedStream(ValueError):
    """The stream broke the SSE / OpenAI framing; the message says how. `valid` holds the complete,
    valid events that came before the bad one in the same chunk (to be relayed before the error)."""

    valid: bytes = b""


class SseGuard:
    __slots__ = ("carry", "done")

    def __init__(self) -> None:
        self.carry = b""
        self.done = False

    def feed(self, chunk: bytes) -> bytes:
        """The complete events in `carry + chunk`, checked; a partial event waits for its end."""
        data = self.carry + chunk if self.carry else chunk
        cut = data.rfind(b"\n\n")
        if cut < 0:
            self.carry = data
            return b""
        end = cut + 2
        complete, self.carry = (data, b"") if end == len(data) else (data[:end], data[end:])
        if _PLAIN.fullmatch(complete) is not None:
            # a raw newline before `data: [DONE]` is an event boundary (JSON strings escape theirs)
            if not self.done and (complete.startswith(_DONE_EVENT) or b"\n" + _DONE_EVENT in complete):
                self.done = True
            return complete
        checked = 0
        for event in complete.split(b"\n\n"):
            if event:
                try:
                    self._check(event)
                except MalformedStream as exc:
                    exc.valid = complete[:checked]
                    raise
            checked += len(event) + 2
        return complete

    def finish(self) -> bytes:
        """At the end of the upstream body: what is left, checked; raises if the stream never ended."""
        rest, self.carry = self.carry, b""
        if rest.strip():
            self._check(rest.strip())
        if not self.done:
            raise MalformedStream("the stream ended without [DONE]")
        return rest

    def _check(self, event: bytes) -> None:
        for line in event.split(b"\n"):
            line = line.rstrip(b"\r")
            if not line:
                continue
            if line.startswith(b"data:"):
                self._check_data(line[5:].strip())
            elif not line.startswith(_FIELDS):
                raise MalformedStream("the stream sent bytes that are not server-sent events")

    def _check_data(self, data: bytes) -> None:
        if data == _DONE:
            self.done = True
            return
        try:
            payload = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise MalformedStream("the stream sent an event that is not JSON") from None
        if not isinstance(payload, dict):
            raise MalformedStream("the stream sent an event that is not a JSON object")
        if "error" in payload:
            self.done = True  # the upstream ended the stream with its own error event: relayed as is
