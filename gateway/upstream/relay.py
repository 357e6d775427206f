"""The ASGI response that relays an upstream event stream to the client as it arrives.

It watches for the client going away and then drops the upstream connection at once, so an abandoned
stream never keeps an upstream busy. A failure after the first byte ends the stream with an
OpenAI-shaped SSE error event, and so do a shutdown that outlasts its grace period
(`end_all_streams`) and the request's deadline.

The deadline of a stream that is relaying is enforced here, not by a timer per request (an aiohttp
`total` timeout cost 1.5% of a streamed request's instructions under `make icount`): while streams
are live, one sweep every `SWEEP_SECONDS` ends those whose deadline has passed, so a stream is ended
at most that late. Before the first byte, the upstream call's own timeouts are bounded by the deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable

from starlette.types import Receive, Scope, Send

from gateway import deadline
from gateway.disconnect import DisconnectWatch
from gateway.errors import GatewayError, UpstreamTimeout
from gateway.upstream.stream import OpenStream, error_event
from gateway.upstream.usage_tap import UsageTap

log = logging.getLogger("grid.stream")

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


SHUTDOWN_MESSAGE = "The gateway is shutting down: this stream was ended before it finished."

SHUTDOWN = GatewayError(SHUTDOWN_MESSAGE, code="shutting_down")
SWEEP_SECONDS = 0.1  # how late, at most, a relaying stream is ended at its deadline

_LIVE: set[StreamRelay] = set()  # relays that have sent their headers and not yet ended
_sweeping = False  # a sweep is scheduled (while any stream is live)


def end_all_streams() -> int:
    """Shutdown, past the grace period: every live stream ends with an SSE error event (code
    `shutting_down`) instead of being cut. Returns how many were told."""
    relays = list(_LIVE)
    for relay in relays:
        relay.end_now(SHUTDOWN)
    return len(relays)


def _sweep() -> None:
    """End the live streams whose deadline has passed; again in `SWEEP_SECONDS` while any is live."""
    global _sweeping
    if not _LIVE:
        _sweeping = False
        return
    now = time.monotonic()
    for relay in [r for r in _LIVE if r.deadline_at <= now]:
        relay.end_now(deadline.expired(relay.deadline))
    asyncio.get_running_loop().call_later(SWEEP_SECONDS, _sweep)


def _live(relay: StreamRelay) -> None:
    global _sweeping
    _LIVE.add(relay)
    if not _sweeping:
        _sweeping = True
        asyncio.get_running_loop().call_later(SWEEP_SECONDS, _sweep)


class StreamRelay:
    """`on_end(ok, error, disconnected)` is called exactly once, before the last byte is sent (or when
    the client went away): ok=True when the upstream finished cleanly."""

    def __init__(
        self,
        stream: OpenStream,
        headers: list[tuple[bytes, bytes]],
        on_end: Callable[[bool, GatewayError | None, bool], None],
        tap: UsageTap,
        error_event: Callable[[str, str, str], bytes] = error_event,
        watch: DisconnectWatch | None = None,
    ) -> None:
        self.stream = stream
        self.error_event = error_event  # the stream's own error shape (OpenAI's, Anthropic's, ...)
        self.headers = SSE_HEADERS + headers
        self.on_end = on_end
        self.tap = tap
        self.watch = watch  # the request's disconnect watch, when it already has one (else made here)
        self.deadline = deadline.current()  # the request's (read here, in the request's context)
        self.deadline_at = self.deadline[0] if self.deadline is not None else math.inf
        self._task: asyncio.Task | None = None
        self._ending: GatewayError | None = None  # why end_now() ended it: the cancellation is ours

    def end_now(self, error: GatewayError) -> None:
        """End the stream from outside with `error`'s SSE event: `SHUTDOWN` (the client is not told
        a deployment failed) or the request's deadline (the stream's verdict, not the deployment's)."""
        if self._task is not None and self._ending is None:
            self._ending = error
            self._task.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        disconnected = False
        relay = asyncio.current_task()
        self._task = relay
        watcher = self.watch if self.watch is not None else DisconnectWatch(receive)
        watcher.on_gone = self.stream.close  # the client went away: drop the upstream at once
        ok, error = False, None
        ended = False

        def end() -> None:
            nonlocal ended
            if not ended:
                ended = True
                self.on_end(ok, error, disconnected or watcher.gone)

        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            if _sweeping:  # `_live(self)`, inlined while the sweep runs (nearly always, under load)
                _LIVE.add(self)
            else:
                _live(self)
            tap = self.tap
            await send({"type": "http.response.body", "body": tap.feed(self.stream.first), "more_body": True})
            try:
                async for chunk in self.stream.rest:
                    out = tap.feed(chunk)
                    if out:
                        await send({"type": "http.response.body", "body": out, "more_body": True})
                ok = True
            except GatewayError as exc:
                if isinstance(exc, UpstreamTimeout) and deadline.passed():
                    exc = deadline.expired()  # the request's deadline, not the upstream's stall
                error = exc
                log.warning("stream failed after it started: %s", exc.message)
                event = self.error_event(exc.message, exc.type, exc.code or "upstream_error")
                await send({"type": "http.response.body", "body": tap.flush() + event, "more_body": True})
            tail = tap.flush()
            end()  # the verdict is in before the last byte leaves: logs and metrics are complete by then
            await send({"type": "http.response.body", "body": tail, "more_body": False})
        except asyncio.CancelledError:
            disconnected = watcher.gone
            ending = self._ending
            if not (disconnected or ending):
                raise
            relay.uncancel()
            if not disconnected:  # ended by end_now: the shutdown or the deadline
                if ending is SHUTDOWN:
                    disconnected = True  # a client gone's verdict: the deployment is not blamed
                else:
                    error = ending
                    log.warning("stream ended at its deadline: %s", ending.message)
                end()
                await self._end_event(send, ending)
            # else the client went away: the upstream was already dropped by the watcher
        finally:
            _LIVE.discard(self)
            watcher.stop()
            self.stream.close()
            end()

    async def _end_event(self, send: Send, error: GatewayError) -> None:
        """`error`'s event, then the end of the body."""
        self.stream.close()
        event = self.error_event(error.message, error.type, error.code or "upstream_error")
        with contextlib.suppress(Exception):  # the client may be gone too: nothing more to tell it
            await send({"type": "http.response.body", "body": self.tap.flush() + event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
