"""Refuse request bodies over the configured limit with 413, without buffering them first."""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import RequestTooLarge
from gateway.middleware.respond import send_error


def _too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(f"Request body exceeds the limit of {limit} bytes.")


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: Callable[[], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        limit = self.limit()
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                if value.isdigit() and int(value) > limit:
                    await send_error(send, _too_large(limit), scope.get("grid.request_id"))
                    return
                declared = value
            elif name == b"transfer-encoding":
                declared = None  # (the parser refuses both; should one pass, the body is counted)
                break
        if declared is not None and declared.isdigit():
            # The HTTP parser delivers exactly Content-Length bytes as the body (what follows is the
            # next request), and that is within the limit: nothing to count, no receive wrapper (a
            # Python call per message, three or four a request).
            await self.app(scope, receive, send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _too_large(limit)
            return message

        await self.app(scope, limited_receive, send)
