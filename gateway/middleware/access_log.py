"""One access line per request, written after the response's last byte (streams included)."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("grid.access")


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            self._write(scope, status, started)

    @staticmethod
    def _write(scope: Scope, status: int, started: float) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        trace = scope.get("grid.trace")
        resolution = scope.get("grid.resolution")
        extra = {
            "request_id": scope.get("grid.request_id"),
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "duration_ms": round((time.monotonic() - started) * 1000, 3),
        }
        if resolution is not None:
            extra["model"] = resolution.asked
        if trace is not None:
            extra["model_served"] = trace.group
            extra["deployment"] = trace.deployment.id if trace.deployment else None
            extra["attempts"] = trace.attempts
            extra["fallbacks"] = trace.fallbacks
            extra["upstream_ms"] = round(trace.upstream_seconds * 1000, 3)
        log.info("%s %s %s", scope["method"], scope["path"], status, extra=extra)
