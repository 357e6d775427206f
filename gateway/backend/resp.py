"""One pipelined connection to Redis for the hot path: an `asyncio.Protocol` that writes whole
buffers of commands and hands each reply, in order, to a callback, parsed by `hiredis.Reader`.

redis-py's asyncio client cost a limited request more than everything else the limits do (a pipeline
object, packing through generic encoders, a pool checkout, asyncio locks, a stream reader per reply):
with it a request on a limited key took +67% instructions over an unlimited one, with this +16-21%
(docs/performance.md). Here a command is a few byte
concatenations, a batch is one `transport.write`, and a reply is one `Reader.gets()` and one
callback. Replies come back in the order the commands were written (RESP over one connection), so
the entries waiting for them are a FIFO. One object is one connection: after a fault the owner opens
a new one (`RespConnection.open`), so a late `connection_lost` of the old one touches nothing new.

Faults: a connection that closes, a reply that breaks the protocol, or no reply within `timeout`
while commands are outstanding fail every outstanding entry with a redis-py exception (the backend
already handles those) and close the connection; its owner opens a new one for what comes next. redis-py
stays for the cold paths (admin keys, the poll, start-up): only the per-request scripts come here.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import hiredis
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url
from redis.exceptions import ConnectionError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeout

# An entry (a tuple) waits for one reply: `on_reply(entry, reply)` gets the reply, or the exception
# that ended the connection. Handshake replies (AUTH, SELECT) wait as futures instead.
OnReply = Callable[[tuple, Any], None]


def bulk(part: str | bytes | int | float) -> bytes:
    """One argument as a RESP bulk string (numbers as redis-py writes them: repr)."""
    if part.__class__ is str:
        part = part.encode()  # type: ignore[union-attr]
    elif part.__class__ is not bytes:
        part = repr(part).encode()
    return b"$%d\r\n%b\r\n" % (len(part), part)  # type: ignore[arg-type]


def encode(parts: Sequence[str | bytes | int | float]) -> bytes:
    """One command in RESP: an array of bulk strings."""
    return b"*%d\r\n%b" % (len(parts), b"".join([bulk(part) for part in parts]))


def connection_params(url: str) -> dict[str, Any]:
    """Where and as whom to connect, from a redis://, rediss:// or unix:// URL (redis-py's parser)."""
    return parse_url(url)


def ssl_context(params: dict[str, Any]) -> ssl.SSLContext:
    """The TLS context redis-py builds for the same rediss:// URL (its defaults, its `ssl_*` options),
    so this connection verifies the server exactly as the poll's does."""
    options = {name: value for name, value in params.items() if name.startswith("ssl_")}
    return SSLConnection(**options).ssl_context.get()


class RespConnection(asyncio.Protocol):
    """One Redis connection that pipelines everything."""

    def __init__(
        self, params: dict[str, Any], on_reply: OnReply, on_lost: Callable[[Exception], None], timeout: float
    ) -> None:
        self._params = params
        self._on_reply = on_reply
        self._on_lost = on_lost
        self.timeout = timeout
        self._transport: asyncio.Transport | None = None
        self._reader = hiredis.Reader(encoding="utf-8", replyError=ResponseError)
        self.pending: deque[Any] = deque()
        self._replies = 0  # replies read: the watchdog's sign of life
        self._watchdog: asyncio.TimerHandle | None = None

    @property
    def ready(self) -> bool:
        return self._transport is not None

    @classmethod
    async def open(
        cls, params: dict[str, Any], on_reply: OnReply, on_lost: Callable[[Exception], None], timeout: float
    ) -> RespConnection:
        """A connected, authenticated connection (raises redis-py's ConnectionError and others).
        `on_lost(exc)` is told once when the connection ends with entries still waiting."""
        connection = cls(params, on_reply, on_lost, timeout)
        await connection._connect()
        return connection

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        params = self._params
        try:
            if params.get("connection_class") is UnixDomainSocketConnection:
                opening = loop.create_unix_connection(lambda: self, params["path"])
            else:
                tls = ssl_context(params) if params.get("connection_class") is SSLConnection else None
                host, port = params.get("host", "localhost"), params.get("port", 6379)
                opening = loop.create_connection(lambda: self, host, port, ssl=tls)
            transport, _ = await asyncio.wait_for(opening, self.timeout)
        except (OSError, TimeoutError) as exc:
            raise ConnectionError(f"connecting to Redis failed: {type(exc).__name__}") from None
        self._transport = transport  # type: ignore[assignment]
        setup = []
        if params.get("password"):
            auth = [params["username"]] if params.get("username") else []
            setup.append(["AUTH", *auth, params["password"]])
        if params.get("db"):
            setup.append(["SELECT", params["db"]])
        if setup:
            futures = [loop.create_future() for _ in setup]
            self.write(b"".join(encode(command) for command in setup), futures)
            try:
                for reply in await asyncio.gather(*futures):
                    if isinstance(reply, ResponseError):
                        raise reply
            except BaseException:
                self.close()
                raise

    def write(self, buffer: bytes, entries: Iterable[Any]) -> None:
        """Send commands (one buffer) whose replies go, in order, to `entries`."""
        self._transport.write(buffer)  # type: ignore[union-attr]
        self.pending.extend(entries)
        if self._watchdog is None:
            self._watch(self._replies)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._fail(ConnectionError("connection to Redis closed"))

    # -- asyncio.Protocol ---------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        reader, pending, on_reply = self._reader, self.pending, self._on_reply
        reader.feed(data)
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError:
                self._transport.close()  # type: ignore[union-attr]
                self._fail(ConnectionError("Redis answered outside the protocol"))
                return
            if reply is False:
                return
            self._replies += 1
            if not pending:  # a reply nobody asked for: the stream is out of step
                self._transport.close()  # type: ignore[union-attr]
                self._fail(ConnectionError("Redis sent an unexpected reply"))
                return
            entry = pending.popleft()
            if entry.__class__ is tuple:
                on_reply(entry, reply)
            elif not entry.done():
                entry.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"connection to Redis lost: {type(exc).__name__ if exc else 'closed'}"))

    # -- faults -------------------------------------------------------------------------------------

    def _watch(self, replies: int) -> None:
        loop = asyncio.get_running_loop()
        self._watchdog = loop.call_later(self.timeout, self._check, replies)

    def _check(self, replies: int) -> None:
        """No reply for `timeout` while commands wait: Redis counts as down (redis-py's socket_timeout)."""
        self._watchdog = None
        if not self.pending:
            return
        if self._replies == replies:
            if self._transport is not None:
                self._transport.close()
            self._fail(RedisTimeout("Redis did not answer in time"))
        else:
            self._watch(self._replies)

    def _fail(self, exc: Exception) -> None:
        """End this connection: every entry still waiting gets `exc`."""
        self._transport = None
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        pending, self.pending = self.pending, deque()
        if any(entry.__class__ is tuple for entry in pending):
            self._on_lost(exc)
        for entry in pending:
            if entry.__class__ is tuple:
                self._on_reply(entry, exc)
            elif not entry.done():
                entry.set_exception(exc)
