"""Check an OpenAI-wire event stream as it is relayed: every event well-formed, `[DONE]` at the end.

An upstream that answers 200 and then sends garbage (bytes that are not SSE, an event whose data is
not JSON) or stops without `data: [DONE]` must not reach the client as a clean stream that simply
ends: the client could not tell a complete answer from a cut one. The guard frames the bytes into
events (on blank lines), passes on only complete, valid ones, and raises `MalformedStream` at the
first bad event or at an end without `[DONE]`; the relay turns that into the OpenAI-shaped SSE
error event.

Cost, per chunk, O(1) on the common shapes: a chunk that is one whole `data: {...}` event (servers
flush event by event) is proven by three byte tests (starts `data: {`, ends `}` and a blank line,
its first newline is the blank line's: exactly two newlines, and a raw newline cannot occur inside
JSON; `find` stops at the first one, where counting them scanned the whole of a coalesced chunk). A chunk of several events
(coalesced by TCP, or a buffering upstream) has only its edges checked: it starts `data: {` and its
last event is closed (`}` or `[DONE]`); scanning every byte cost ~7 instructions a byte, a quarter of
the relay's cost on a 4 KB chunk. Whether the stream said `[DONE]` is read once, at its end, off the
last events. Anything else (comments, `event:` lines, CRLF line ends, an event cut short, bytes that
are not SSE) is checked event by event, parsing each event's data with orjson. So garbage, a
truncated event, and an end without `[DONE]` are always caught; what is not checked is the inside of
an event shaped `data: {…}`, nor the middle of a coalesced chunk whose edges are well-formed.
"""

from __future__ import annotations

import orjson

from gateway.upstream.stream import complete_events

_FIELDS = (b"event:", b"id:", b"retry:", b":")  # SSE lines other than data (":" is a comment)
_DONE = b"[DONE]"
PLAIN_OPEN = b"data: {"  # one whole plain event starts so, ends so, and holds exactly two newlines
PLAIN_CLOSE = b"}\n\n"
_DONE_EVENT = b"data: [DONE]\n\n"
_NL_DONE = b"\n" + _DONE_EVENT  # where it normally is: at the end of the last block (tested first: O(1))
_ERROR_EVENT = b'data: {"error"'


class MalformedStream(ValueError):
    """The stream broke the SSE / OpenAI framing; the message says how. `valid` holds the complete,
    valid events that came before the bad one in the same chunk (to be relayed before the error)."""

    valid: bytes = b""


class SseGuard:
    """One stream's check. Its state starts as the class's defaults (no `__init__`: one Python frame
    less per stream); each is an instance attribute once set."""

    carry = b""  # the start of an event cut by the chunk's end, waiting for the rest
    done = False  # an event checked one by one was `[DONE]` (or the upstream's error event)
    last = b""  # the last complete block passed on, where `[DONE]` is looked for at the end

    def feed(self, chunk: bytes) -> bytes:
        """The complete events in `carry + chunk`, checked; a partial event waits for its end."""
        if (
            not self.carry
            and chunk.endswith(PLAIN_CLOSE)
            and chunk.startswith(PLAIN_OPEN)
            and chunk.find(b"\n") == len(chunk) - 2
        ):
            self.last = chunk  # one whole plain event: the common case
            return chunk
        complete, self.carry = complete_events(self.carry, chunk)
        if not complete:
            return b""
        if not (
            complete.startswith(PLAIN_OPEN)
            and (complete.endswith(PLAIN_CLOSE) or complete.endswith(_DONE_EVENT))
        ):
            self._check_each(complete)
        self.last = complete
        return complete

    def _check_each(self, complete: bytes) -> None:
        checked = 0
        for event in complete.split(b"\n\n"):
            if event:
                try:
                    self._check(event)
                except MalformedStream as exc:
                    exc.valid = complete[:checked]
                    raise
            checked += len(event) + 2

    def finish(self) -> bytes:
        """At the end of the upstream body: what is left, checked; raises if the stream never ended."""
        rest, self.carry = self.carry, b""
        if rest.strip():
            self._check(rest.strip())
        last = self.last
        # a raw newline before `data: [DONE]` is an event boundary (JSON strings escape theirs)
        if last.endswith(_NL_DONE) or last.startswith(_DONE_EVENT) or _NL_DONE in last:
            self.done = True
        elif last.startswith(_ERROR_EVENT) or b"\n" + _ERROR_EVENT in last:
            self.done = True  # the upstream ended with its own error event: relayed as is
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
        if self._final(payload):
            self.done = True

    def _final(self, payload: dict) -> bool:
        """Whether the event ends the stream: the upstream's own error event (relayed as is)."""
        return "error" in payload
