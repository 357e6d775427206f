"""The ASGI response that relays an upstream event stream to the client as it arrives.

It watches for the client going away and then drops the upstream connection at once, so an abandoned
stream never keeps an upstream busy. A failure after the first byte ends the stream with an
OpenAI-shaped SSE error event.
"""

from __future__ import annotations

import asyncio
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
            if not disconnected:
                raise
            # the client went away: the upstream was already dropped by the watcher
            relay.uncancel()
        finally:
            watcher.cancel()
            self.stream.close()
            end()
