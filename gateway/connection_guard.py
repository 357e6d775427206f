"""What the HTTP protocol needs to bound a client connection: the limits in force, canned error
responses written straight to the socket, the one timer that closes slow connections, and the
open-file limit.

One `Watchdog` per server (per worker process) walks the connections a few times per timeout and
expires those past their deadline: no timer is armed or cancelled per request, so the hot path pays
one clock read and two attribute writes per request for both read timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import resource
import time
from collections.abc import Callable, Iterable
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from gateway.config.connection import OPEN_FILES_RESERVE, ConnectionLimits
from gateway.errors import GatewayError, HeadersTooLarge, Overloaded, RequestTimeout, ShuttingDown
from gateway.middleware import anthropic_errors

# the Anthropic Messages paths, as the raw request line spells them
ANTHROPIC_PATHS = frozenset(path.encode() for path in anthropic_errors.ANTHROPIC_PATHS)

log = logging.getLogger("grid.connections")

__all__ = ["HeadersTooLarge", "Overloaded", "RequestTimeout", "ShuttingDown"]  # answered from here

LINGER_SECONDS = 2.0  # after an error answer: how long the rest of the request is read and dropped


def response_bytes(error: GatewayError, path: bytes = b"") -> bytes:
    """A whole HTTP/1.1 response for `error`, closing the connection; in Anthropic's error shape
    when `path` (the request's, if known) is an Anthropic Messages path, as the app answers there."""
    body = error.body_bytes()
    if path in ANTHROPIC_PATHS:
        body = anthropic_errors.reshape(error.status, body)
    head = [
        STATUS_LINE[error.status],
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n",
    ]
    head += [b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in error.headers().items()]
    return b"".join(head) + b"\r\n" + body


def request_line_path(data: bytes) -> bytes:
    """The path of the request line at the start of `data` (b"" when it is not all there)."""
    line = data.split(b"\r\n", 1)[0]
    parts = line.split(b" ", 2)
    return parts[1].split(b"?", 1)[0] if len(parts) == 3 else b""


class _Limits:
    """The limits in force in this process, with the connection caps resolved against the open-file
    limit. Set at start and on every config reload (new connections see the new values).

    `max_connections` connections are served; past it, up to `accept_cap`, a new connection is
    answered 503 at once; past `accept_cap` none is accepted (they wait in the listen backlog).
    `accept_cap` never exceeds what the open files allow beside the upstream pool and a reserve."""

    def __init__(self) -> None:
        self.set(ConnectionLimits())

    def set(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self.max_connections, self.accept_cap = connection_caps(limits, open_files_limit())


def connection_caps(limits: ConnectionLimits, open_files: int) -> tuple[int, int]:
    """(connections served, connections accepted) for this open-file limit."""
    budget = max(32, open_files - limits.upstream_max_connections - OPEN_FILES_RESERVE)
    if limits.max_connections is None:
        served = budget - max(8, budget // 10)
        return served, budget
    served = limits.max_connections
    return served, min(budget, served + max(8, served // 10))


def open_files_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def raise_open_files_limit() -> tuple[int, int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard one (the kernel allows it unprivileged).
    Returns (soft before, soft after, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        # (an infinite hard limit is refused by some kernels as the soft one: then it stays)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    after = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return soft, after, hard


LIMITS = _Limits()


def apply(limits: ConnectionLimits) -> None:
    LIMITS.set(limits)


class Watchdog:
    """Calls `expired()` on every connection whose `deadline` (loop time) has passed; checks
    `tick` seconds apart, so a deadline is met late by at most one tick."""

    def __init__(self, connections: Iterable[Any], loop: asyncio.AbstractEventLoop) -> None:
        self.connections = connections
        self.loop = loop
        self._handle: asyncio.TimerHandle | None = None

    @staticmethod
    def tick() -> float:
        limits = LIMITS.limits
        return min(
            1.0, max(0.05, min(limits.header_read_timeout, limits.body_read_timeout, LINGER_SECONDS) / 4)
        )

    def start(self) -> None:
        if self._handle is None:
            self._handle = self.loop.call_later(self.tick(), self._sweep)

    def _sweep(self) -> None:
        now = self.loop.time()
        for conn in [c for c in self.connections if c.deadline is not None and c.deadline <= now]:
            try:
                conn.expired()
            except Exception:  # one broken connection must not stop the others' timeouts
                log.exception("closing an expired connection failed")
        self._handle = self.loop.call_later(self.tick(), self._sweep)


def watchdog_for(server_state: Any, loop: asyncio.AbstractEventLoop) -> Watchdog:
    """The server's watchdog (made and started on its first connection)."""
    dog = getattr(server_state, "grid_watchdog", None)
    if dog is None:
        dog = server_state.grid_watchdog = Watchdog(server_state.connections, loop)
        dog.start()
    return dog


class RateLimitedLog:
    """At most one warning a second per reason, with how many were not written: a flood of bad
    connections must not become a flood of log lines."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last: dict[str, float] = {}
        self.skipped: dict[str, int] = {}

    def warning(self, reason: str, message: str) -> None:
        now = self.clock()
        if now - self.last.get(reason, -1e9) < 1.0:
            self.skipped[reason] = self.skipped.get(reason, 0) + 1
            return
        self.last[reason] = now
        skipped = self.skipped.pop(reason, 0)
        suffix = f" ({skipped} more since the last such line)" if skipped else ""
        log.warning("%s%s", message, suffix, extra={"reason": reason})


REJECTIONS = RateLimitedLog()
