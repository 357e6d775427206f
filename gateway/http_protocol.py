"""uvicorn's httptools protocol, sending a response's header block together with its first body part,
and bounding what a client connection may cost (header size and count, read timeouts, a cap).

uvicorn writes the status line and headers with one `transport.write` and the body with another: for
every small JSON answer that is two send() system calls and two TCP segments, the client woken twice.
`HeldHeaders` wraps the connection's transport and holds a header block until the next write, which
normally follows in the same step of the same task (the body), and sends both at once. If nothing
follows within the loop iteration (a stream still waiting for its first event), the headers go out
on their own at the end of it. Order is never changed: held bytes always precede later ones.

uvicorn also checks every response header's name and value against a one-character-class regex;
`re` steps through a class at ~130 instructions a byte, ~12k instructions a response (1% of a proxied
request, more with `x-grid-route-reason`). `ByteSet` answers the same question with a table lookup
per byte, and replaces the two patterns (built from them: the same bytes are refused).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import httptools
from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway import connection_guard as guard
from gateway.acceptor import connection_closed
from gateway.errors import GatewayError, InvalidRequest

STATUS_LINE_PREFIX = b"HTTP/1.1 "  # how every header block uvicorn writes begins


class HeldHeaders:
    """A transport that delays a header block until the next write (or the end of the iteration)."""

    __slots__ = ("_transport", "_loop", "_held")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif data.startswith(STATUS_LINE_PREFIX):
            self._held = data
            self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


HEAD, BODY, LINGER = 1, 2, 3  # a connection's phase: reading a request head, its body, or closing
REFUSING = 4  # over the connection cap: waiting (briefly) for the request line, to answer its 503
REFUSE_WAIT = 1.0  # seconds a refused connection's request line is waited for


class GridHttpProtocol(HttpToolsProtocol):
    """`uvicorn.run(http=GridHttpProtocol)`: httptools, with each response's headers and body sent
    in one system call, and the connection limits of `gateway.connection_guard` enforced as bytes
    arrive:

    - the request line and headers may take `max_header_bytes` in all and `max_header_count`
      headers: past either, 431 and close. Bytes are counted before they reach the parser, which is
      handed no more than the limit allows, so a huge header is never concatenated or buffered;
    - the head must be complete `header_read_timeout` seconds after the connection opened (or,
      on a kept-alive connection, after the previous request's end, extended while it is being
      answered), and the body `body_read_timeout` seconds after the head: else 408 and close;
    - a connection beyond the cap is answered 503 `overloaded` with Retry-After at once and closed.

    An error answer is followed by a lingering close: the rest of the request is read and dropped
    for up to `LINGER_SECONDS`, so the client reads the answer instead of a connection reset.
    """

    deadline: float | None  # loop time at which `expired()` is due (the watchdog calls it)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = self.limits = guard.LIMITS.limits
        # read per request: plain attributes of the connection, not of the settings object
        self.max_head = limits.max_header_bytes
        self.max_headers = limits.max_header_count
        self.header_timeout = limits.header_read_timeout
        self.body_timeout = limits.body_read_timeout
        self.phase = HEAD
        self.deadline = None
        self.head_room = self.max_head  # bytes the current head may still take

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = HeldHeaders(transport, self.loop)  # type: ignore[assignment]
        guard.watchdog_for(self.server_state, self.loop)
        if len(self.connections) > guard.LIMITS.max_connections:
            # answered when the request line arrives (its path chooses the error's shape), or at once
            # if it does not within REFUSE_WAIT
            guard.REJECTIONS.warning("overloaded", "connection refused: the gateway is at its connection cap")
            self.phase = REFUSING
            self.deadline = self.loop.time() + min(self.header_timeout, REFUSE_WAIT)
            return
        self.deadline = self.loop.time() + self.header_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        connection_closed(self.server_state)

    def data_received(self, data: bytes) -> None:
        self._unset_keepalive_if_required()
        phase = self.phase
        if phase == HEAD:
            room = self.head_room - len(data)
            if room < 0:
                self._head_overflow(data)
                return
            self.head_room = room
        elif phase == LINGER:
            return  # answered already: the rest of the request is dropped
        elif phase == REFUSING:
            self.reject(_overloaded(), guard.request_line_path(data))
            return
        try:  # `_feed`, inlined: this is every request's path
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._upgrade()
        except httptools.HttpParserError:
            self._parse_error()

    def _head_overflow(self, data: bytes) -> None:
        """`data` is more than the head may take: feed what fits; unless the head completed in it
        (the phase moved on to the body, or the whole request ended and the room was reset), the
        head is too large. What follows a completed head is handled as usual."""
        fit = self.head_room
        self.head_room = 0
        if fit:
            self._feed(data[:fit])
        if self.phase == LINGER:
            return
        if self.phase == HEAD and self.head_room == 0:
            self._headers_too_large()
            return
        self.data_received(data[fit:])

    def _feed(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._upgrade()
        except httptools.HttpParserError:
            self._parse_error()

    def _upgrade(self) -> None:
        if self._should_upgrade():
            self.handle_websocket_upgrade()
        else:
            self._unsupported_upgrade_warning()

    def _parse_error(self) -> None:
        if self.phase == LINGER:  # a callback answered and stopped the parser
            return
        guard.REJECTIONS.warning("invalid_http", "request refused: not valid HTTP/1.1")
        self.reject(InvalidRequest("Invalid HTTP request received."))

    def _headers_too_large(self) -> None:
        guard.REJECTIONS.warning("headers_too_large", "request refused: headers over the limit")
        self.reject(
            guard.HeadersTooLarge(
                f"Request headers exceed the limit of {self.max_head} bytes or {self.max_headers} headers."
            )
        )

    def on_headers_complete(self) -> None:
        # The count is checked once the head is in (uvicorn's own `on_header` appends each header):
        # the byte cap has already bounded what the head could hold. Raising stops the parser
        # (`_parse_error` sees the LINGER phase).
        if len(self.headers) > self.max_headers:
            self._headers_too_large()
            raise OverflowError("too many headers")
        self.phase = BODY
        self.deadline = self.loop.time() + self.body_timeout
        HttpToolsProtocol.on_headers_complete(self)

    def on_message_complete(self) -> None:
        # The next request's head: its time runs from here (while this request is still being
        # answered, `expired` gives it more).
        self.phase = HEAD
        self.head_room = self.max_head
        self.deadline = self.loop.time() + self.header_timeout
        HttpToolsProtocol.on_message_complete(self)

    def expired(self) -> None:
        """The watchdog's call: the phase's deadline has passed."""
        phase, self.deadline = self.phase, None
        if phase == LINGER:
            self.transport.close()
        elif phase == REFUSING:
            self.reject(_overloaded())
        elif phase == HEAD:
            cycle = self.cycle
            if cycle is not None and not cycle.response_complete:  # still answering the last request
                self.deadline = self.loop.time() + self.header_timeout
                return
            if self.head_room == self.max_head:  # not a byte of a next request
                if self.timeout_keep_alive_task is None:  # else uvicorn's keep-alive timer closes it
                    self.transport.close()
                return
            guard.REJECTIONS.warning("request_timeout", "request refused: headers not received in time")
            self.reject(guard.RequestTimeout("The request headers were not received in time."))
        else:
            cycle = self.cycle
            if cycle is None or not cycle.response_started:
                guard.REJECTIONS.warning("request_timeout", "request refused: body not received in time")
                self.reject(guard.RequestTimeout("The request body was not received in time."))
            elif cycle.response_complete:  # answered without the body (401, 413, ...): done waiting
                self.transport.close()

    def reject(self, error: GatewayError, path: bytes | None = None) -> None:
        """Answer `error` (unless a response has started) and close: the application, if it runs,
        sees a disconnect; the rest of the request is read and dropped until the client closes or
        `LINGER_SECONDS` pass. `path` (default: the current request's, as far as it was parsed)
        chooses the error's shape: Anthropic's on the Messages paths, OpenAI's elsewhere."""
        if path is None:
            path = getattr(self, "url", b"").split(b"?", 1)[0] if self.phase != REFUSING else b""
        self.phase = LINGER
        self.deadline = self.loop.time() + guard.LINGER_SECONDS
        cycle = self.cycle
        started = cycle is not None and cycle.response_started and not cycle.response_complete
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True
            cycle.message_event.set()
        held = self.transport
        held.flush()
        raw = held._transport if isinstance(held, HeldHeaders) else held
        if raw.is_closing():
            return
        if started:
            raw.close()
            return
        raw.write(guard.response_bytes(error, path))
        if raw.can_write_eof():
            raw.write_eof()
        with contextlib.suppress(Exception):  # reading may have been paused by flow control
            raw.resume_reading()


def _overloaded() -> GatewayError:
    return guard.Overloaded("The gateway is at its connection limit; retry shortly.", retry_after=1)


class _Answers(dict):
    """data -> whether it holds a byte of the class; a miss is worked out (and kept, up to `room`
    entries: later misses, such as each response's own request id, are worked out each time)."""

    __slots__ = ("table", "room")

    def __init__(self, table: bytes, room: int) -> None:
        super().__init__()
        self.table = table
        self.room = room

    def __missing__(self, data: bytes) -> bool:
        found = 0 in data.translate(self.table)
        if len(self) < self.room:
            self[data] = found
        return found


class ByteSet:
    """`pattern.search(data)` for a pattern that is one character class (`b"[...]"`): whether `data`
    holds a byte of the class. The bytes are translated through a table (the class's bytes to 0) and
    the result searched for a 0 byte: both in C, a few instructions a byte.

    `search` is the `__getitem__` of a dict of answers: uvicorn asks twice per response header, ~22
    times a proxied request, and nearly every name and most values (the content type, the group,
    the deployment) repeat from one response to the next, so most asks are one dict lookup in C,
    no Python frame. (`bytes.translate(None, delete)` would be one C call too, but it builds a
    256-entry table on every call: dearer than the frame; an `lru_cache` costs a tuple per call.)"""

    __slots__ = ("pattern", "search")

    def __init__(self, pattern: re.Pattern[bytes], remembered: int = 4096) -> None:
        self.pattern = pattern  # the one it stands for
        table = bytes(0 if pattern.fullmatch(bytes([b])) else 1 for b in range(256))
        self.search = _Answers(table, remembered).__getitem__


def _fast_header_checks() -> None:
    """uvicorn's header name and value patterns, as `ByteSet`s (once; only while they are single
    character classes, as in the uvicorn this was measured on: anything else is left alone)."""
    for name in ("HEADER_RE", "HEADER_VALUE_RE"):
        pattern = getattr(httptools_impl, name, None)
        if isinstance(pattern, re.Pattern) and re.fullmatch(rb"\[[^\]]*(?:\\.[^\]]*)*\]", pattern.pattern):
            setattr(httptools_impl, name, ByteSet(pattern))


_fast_header_checks()
