"""uvicorn's httptools protocol, sending a response's header block together with its first body part.

uvicorn writes the status line and headers with one `transport.write` and the body with another: for
every small JSON answer that is two send() system calls and two TCP segments, the client woken twice.
`HeldHeaders` wraps the connection's transport and holds a header block until the next write, which
normally follows in the same step of the same task (the body), and sends both at once. If nothing
follows within the loop iteration (a stream still waiting for its first event), the headers go out
on their own at the end of it. Order is never changed: held bytes always precede later ones.
"""

from __future__ import annotations

import asyncio
from typing import Any

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
