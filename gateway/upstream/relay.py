"""The ASGI response that relays an upstream event stream to the client as it arrives.

It watches for the client going away and then drops the upstream connection at once, so an abandoned
stream never keeps an upstream busy. A failure after the first byte ends the stream with an
OpenAI-shaped SSE error event, and so does a shutdown that outlasts its grace period
(`end_all_streams`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from starlette.types import Receive, Scope, Send

from gateway import deadline
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

_LIVE: set[StreamRelay] = set()  # relays that have sent their headers and not yet ended


def end_all_streams() -> int:
    """Shutdown, past the grace period: every live stream ends with an SSE error event (code
    `shutting_down`) instead of being cut. Returns how many were told."""
    relays = list(_LIVE)
    for relay in relays:
        relay.end_now()
    return len(relays)


class StreamRelay:
    """`on_end(ok, error, disconnected)` is called exactly once, before the last byte is sent (or when
    the client went away): ok=True when the upstream finished cleanly."""

    def __init__(
        self,
        stream: OpenStream,
        headers: list[tuple[bytes, bytes]],
        on_end: Callable[[bool, GatewayError | None, bool], None],
        tap: UsageTap,
    ) -> None:
        self.stream = stream
        self.headers = SSE_HEADERS + headers
        self.on_end = on_end
        self.tap = tap
        self._task: asyncio.Task | None = None
        self._ending = False  # end_now() was called: the cancellation is ours, not the client's

    def end_now(self) -> None:
        if self._task is not None and not self._ending:
            self._ending = True
            self._task.cancel()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        disconnected = False

        async def watch() -> None:
            nonlocal disconnected
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    disconnected = True
                    self.stream.close()
                    relay.cancel()
                    return

        relay = asyncio.current_task()
        self._task = relay
        watcher = asyncio.ensure_future(watch())
        ok, error = False, None
        ended = False

        def end() -> None:
            nonlocal ended
            if not ended:
                ended = True
                self.on_end(ok, error, disconnected)

        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            _LIVE.add(self)
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
                event = error_event(exc.message, exc.type, exc.code or "upstream_error")
                await send({"type": "http.response.body", "body": tap.flush() + event, "more_body": True})
            tail = tap.flush()
            end()  # the verdict is in before the last byte leaves: logs and metrics are complete by then
            await send({"type": "http.response.body", "body": tail, "more_body": False})
        except asyncio.CancelledError:
            if not (disconnected or self._ending):
                raise
            relay.uncancel()
            if not disconnected:  # ended by the shutdown (end_now)
                disconnected = True  # a client gone's verdict: the deployment is not blamed
                end()
                await self._shutdown_event(send)
            # else the client went away: the upstream was already dropped by the watcher
        finally:
            _LIVE.discard(self)
            watcher.cancel()
            self.stream.close()
            end()

    async def _shutdown_event(self, send: Send) -> None:
        """The shutdown's error event, then the end of the body."""
        self.stream.close()
        event = error_event(SHUTDOWN_MESSAGE, "api_error", "shutting_down")
        with contextlib.suppress(Exception):  # the client may be gone too: nothing more to tell it
            await send({"type": "http.response.body", "body": self.tap.flush() + event, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
