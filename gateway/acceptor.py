"""accept() under a cap: connections beyond it wait in the listen backlog instead of being dropped.

uvloop (libuv) accepts every pending connection as soon as the listening socket is readable, and
when the process runs out of file descriptors it accepts and closes whatever is still queued: a
burst larger than the open-file limit turns into connection resets, and the process itself can no
longer open an upstream connection (EMFILE, counted against healthy deployments). `Acceptor`
accepts in Python instead, and stops while the server holds `LIMITS.accept_cap` connections: the
kernel keeps the rest queued (up to the backlog) until a connection closes. Connections past
`LIMITS.max_connections` but within the accept cap are answered 503 `overloaded` at once by the
protocol, so a client learns quickly rather than waiting.

The price is paid per new connection, not per request: Python's accept() and socket object and
uvloop's `connect_accepted_socket` cost ~50 µs of CPU more than uvloop's own accept (measured with
`Connection: close` requests: ~170 -> ~225 µs per connection); a kept-alive connection pays it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from collections.abc import Callable
from typing import Any

from gateway import connection_guard as guard

log = logging.getLogger("grid.connections")

OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
RETRY_SECONDS = 0.1  # after EMFILE and the like: accept again this much later
BATCH = 64  # connections accepted per readiness event, so one busy listener cannot starve the loop


class Acceptor:
    def __init__(
        self,
        sock: socket.socket,
        loop: asyncio.AbstractEventLoop,
        protocol_factory: Callable[[], asyncio.Protocol],
        connections: Any,
    ) -> None:
        self.sock = sock
        self.loop = loop
        self.factory = protocol_factory
        self.connections = connections
        self.pending = 0  # accepted, protocol not yet attached
        self.reading = False
        self.closed = False

    def start(self) -> None:
        self.sock.setblocking(False)
        self.resume()

    def resume(self) -> None:
        if not self.reading and not self.closed:
            self.reading = True
            self.loop.add_reader(self.sock.fileno(), self._ready)

    def pause(self) -> None:
        if self.reading:
            self.reading = False
            self.loop.remove_reader(self.sock.fileno())

    def close(self) -> None:
        self.pause()
        self.closed = True

    def _ready(self) -> None:
        cap = guard.LIMITS.accept_cap
        for _ in range(BATCH):
            if len(self.connections) + self.pending >= cap:
                self.pause()  # resumed by a connection closing (`connection_closed`)
                return
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                if exc.errno not in OUT_OF_RESOURCES:
                    raise
                guard.REJECTIONS.warning(
                    "accept_failed", f"accept() failed ({exc.strerror}): retrying shortly"
                )
                self.pause()
                self.loop.call_later(RETRY_SECONDS, self.resume)
                return
            self.pending += 1
            self.loop.create_task(self._attach(conn))

    async def _attach(self, conn: socket.socket) -> None:
        try:
            conn.setblocking(False)
            await self.loop.connect_accepted_socket(self.factory, conn)
        except Exception:  # the peer left already, or the loop refused it: nothing to serve
            with contextlib.suppress(OSError):
                conn.close()
        finally:
            self.pending -= 1


def connection_closed(server_state: Any) -> None:
    """A connection closed: paused acceptors may take another."""
    for acceptor in getattr(server_state, "grid_acceptors", ()):
        if not acceptor.reading:
            acceptor.resume()
