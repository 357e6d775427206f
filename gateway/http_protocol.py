"""uvicorn's httptools protocol, sending a response's header block together with its first body part.

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
import re
from typing import Any

from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

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


class GridHttpProtocol(HttpToolsProtocol):
    """`uvicorn.run(http=GridHttpProtocol)`: httptools, with each response's headers and body sent
    in one system call."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = HeldHeaders(transport, self.loop)  # type: ignore[assignment]


class ByteSet:
    """`pattern.search(data)` for a pattern that is one character class (`b"[...]"`): whether `data`
    holds a byte of the class. The bytes are translated through a table (the class's bytes to 0) and
    the result searched for a 0 byte: both in C, a few instructions a byte."""

    __slots__ = ("pattern", "_table")

    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        self.pattern = pattern  # the one it stands for
        self._table = bytes(0 if pattern.fullmatch(bytes([b])) else 1 for b in range(256))

    def search(self, data: bytes) -> bool:
        return 0 in data.translate(self._table)


def _fast_header_checks() -> None:
    """uvicorn's header name and value patterns, as `ByteSet`s (once; only while they are single
    character classes, as in the uvicorn this was measured on: anything else is left alone)."""
    for name in ("HEADER_RE", "HEADER_VALUE_RE"):
        pattern = getattr(httptools_impl, name, None)
        if isinstance(pattern, re.Pattern) and re.fullmatch(rb"\[[^\]]*(?:\\.[^\]]*)*\]", pattern.pattern):
            setattr(httptools_impl, name, ByteSet(pattern))


_fast_header_checks()
