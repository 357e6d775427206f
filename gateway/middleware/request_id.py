"""Give every request an id: the client's `X-Request-ID` if it sent a sane one, else a fresh one.

The id is stored in the scope (`grid.request_id`) and in a contextvar for log lines, and echoed on the
response as `x-request-id`.
"""

from __future__ import annotations

import random
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.context import request_id_var

_SANE = re.compile(rb"^[A-Za-z0-9._:/+=-]{1,128}$")


def new_request_id() -> str:
    # 96 random bits from the process's PRNG: an id must be unique, not unguessable, and os.urandom
    # cost a system call per request.
    return f"req_{random.getrandbits(96):024x}"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                if _SANE.match(value):
                    rid = value.decode()
                break
        if rid is None:
            rid = new_request_id()
        scope["grid.request_id"] = rid
        token = request_id_var.set(rid)
        header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                if not any(k == b"x-request-id" for k, _ in headers):
                    headers.append(header)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
