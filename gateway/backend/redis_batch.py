"""Script calls to Redis, batched: every call made during one turn of the event loop goes out in one
write on one dedicated connection (`gateway.backend.resp`). Under load, the admissions of many
concurrent requests and the releases of those that just ended share one round trip, while each
request still waits for exactly one.

Scripts are sent as EVALSHA; when Redis does not know one (it restarted, or was flushed) the call that
got NOSCRIPT is sent again as EVAL, which also loads the script for the next calls. A caller that
sends the same keys again and again (a limited key's admissions) passes them as `Keys`, encoded once.

A call nobody waits for (`send`: a release, an enrolment) does not start a write of its own: it joins
the next batch of awaited calls, or goes after SEND_DELAY at the latest. Under load a request's
release rides with a later request's admission, so a request costs about one write and one read of
the connection, not two; sent in order, a release still comes before any later admission of its key.

The connection opens on the first call; when it fails (refused, lost, no answer in time) the calls
waiting on it get the error and `on_error` is told once, so the backend serves from per-process state
until its poll finds Redis again. Reconnecting backs off (BACKOFF_MIN doubling to BACKOFF_MAX), and
calls made while it waits fail at once instead of queueing behind a dead address.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from redis.exceptions import ConnectionError, RedisError, ResponseError

from gateway import metrics
from gateway.backend.resp import RespConnection, bulk, connection_params, encode

BACKOFF_MIN, BACKOFF_MAX = 0.05, 1.0  # seconds between attempts to (re)connect
SEND_DELAY = 0.01  # seconds a call nobody waits for may wait for company


class Keys:
    """A script call's KEYS, encoded once for every call that names them."""

    __slots__ = ("blob", "names")

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)
        self.blob = b"".join([bulk(name) for name in names])


# name, keys (a sequence or Keys), args, the future awaiting the result (call) or None (send), failed() (send) or None
_Call = tuple[str, Sequence[Any], Sequence[Any], "asyncio.Future[Any] | None", "Callable[[], None] | None"]


class ScriptBatch:
    def __init__(
        self,
        url: str,
        scripts: Mapping[str, str],
        on_error: Callable[[BaseException], None],
        timeout: float,
        send_delay: float = SEND_DELAY,
    ) -> None:
        self._params = connection_params(url)
        self.scripts = dict(scripts)
        self.shas = {name: hashlib.sha1(text.encode()).hexdigest() for name, text in scripts.items()}
        self.on_error = on_error
        self.timeout = timeout
        self.send_delay = send_delay
        self._calls: list[_Call] = []
        self._scheduled = False  # a write is due this turn of the loop
        self._timer: asyncio.TimerHandle | None = None  # ... or after SEND_DELAY
        self._conn: RespConnection | None = None
        self._opening: asyncio.Task | None = None
        self._retry_at = 0.0
        self._backoff = BACKOFF_MIN
        self._closed = False
        self._heads: dict[tuple[str, int, int], bytes] = {}

    def call(self, name: str, keys: Sequence[Any], args: Sequence[Any]) -> asyncio.Future[Any]:
        """The script's result (or its error) once the batch it joins has been answered."""
        future = asyncio.get_running_loop().create_future()
        self._calls.append((name, keys, args, future, None))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._go)
        return future

    def send(
        self,
        name: str,
        keys: Sequence[Any],
        args: Sequence[Any],
        failed: Callable[[], None],
        soon: bool = False,
    ) -> None:
        """Run the script without waiting for it; `failed()` when it could not be run. `soon`: in
        this turn's write, not after SEND_DELAY (what another replica may be asked for at once, such
        as a feedback id: the response that names it leaves after this turn)."""
        self._calls.append((name, keys, args, None, failed))
        if soon:
            if not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._go)
        elif not self._scheduled and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.send_delay, self._go)

    async def drain(self, timeout: float) -> None:
        """Wait (at most `timeout` seconds) for the calls under way to be answered: at shutdown."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._busy() and loop.time() < deadline:
            await asyncio.sleep(0.01)

    def close(self) -> None:
        """Close the connection; calls still waiting fail (a release's `failed()` keeps it)."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._opening is not None:
            self._opening.cancel()
        if self._conn is not None:
            self._conn.close()
        calls, self._calls = self._calls, []
        for call in calls:
            self._reply(call, ConnectionError("the state backend is stopping"))

    def _busy(self) -> bool:
        return bool(self._calls or self._opening or (self._conn is not None and self._conn.pending))

    def _go(self) -> None:
        self._scheduled = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._calls:  # the timer and a turn's write both came: the first took everything
            return
        conn = self._conn
        if conn is not None and conn.ready:
            calls, self._calls = self._calls, []
            self._write(conn, calls)
        elif self._opening is None:
            loop = asyncio.get_running_loop()
            if loop.time() < self._retry_at:
                self._fail(ConnectionError("Redis unreachable: waiting to reconnect"))
            else:
                self._opening = loop.create_task(self._open())

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            conn = await RespConnection.open(self._params, self._reply, self._lost, self.timeout)
        except (RedisError, OSError) as exc:
            self._retry_at = loop.time() + self._backoff
            self._backoff = min(self._backoff * 2, BACKOFF_MAX)
            self._fail(exc)
            return
        finally:
            self._opening = None
        self._conn, self._backoff = conn, BACKOFF_MIN
        if self._calls:
            calls, self._calls = self._calls, []
            self._write(conn, calls)

    def _write(self, conn: RespConnection, calls: list[_Call]) -> None:
        heads, out = self._heads, []
        for name, keys, args, _, _ in calls:
            if keys.__class__ is Keys:
                count, blob = len(keys.names), keys.blob  # type: ignore[union-attr]
            else:
                count, blob = len(keys), b"".join([bulk(k) for k in keys])
            head = heads.get((name, count, len(args)))
            if head is None:
                head = heads[(name, count, len(args))] = self._head(name, count, len(args))
            out.append(head)
            out.append(blob)
            out += [bulk(arg) for arg in args]
        conn.write(b"".join(out), calls)
        metrics.child(metrics.STATE_ROUND_TRIPS, "request").inc()

    def _head(self, name: str, keys: int, args: int) -> bytes:
        """`EVALSHA sha numkeys` and the array's length: the same for every call of that shape."""
        return b"*%d\r\n%b" % (
            3 + keys + args,
            b"".join([bulk(p) for p in ("EVALSHA", self.shas[name], keys)]),
        )

    def _reply(self, call: tuple, reply: Any) -> None:
        """One call's reply (or the error that ended its connection), in the order they were sent."""
        if reply.__class__ is ResponseError and str(reply).startswith("NOSCRIPT"):
            conn = self._conn
            if conn is not None and conn.ready:
                name, keys, args = call[0], call[1], call[2]
                keys = keys.names if keys.__class__ is Keys else keys
                conn.write(encode(["EVAL", self.scripts[name], len(keys), *keys, *args]), [call])
                return
        future, failed = call[3], call[4]
        if future is not None:
            if not future.done():
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        elif failed is not None and isinstance(reply, Exception):
            failed()

    def _lost(self, exc: Exception) -> None:
        if not self._closed:
            self.on_error(exc)

    def _fail(self, exc: Exception) -> None:
        """The calls waiting for a connection that could not be had: each gets the error."""
        calls, self._calls = self._calls, []
        for call in calls:
            self._reply(call, exc)
        if not self._closed:
            self.on_error(exc)
