"""Give every request an id: the client's `X-Request-ID` if it sent a sane one, else a fresh one; and,
as the outermost middleware, give an Anthropic path's error answers Anthropic's shape.

The id is stored in the scope (`grid.request_id`) and in a contextvar for log lines, and echoed on the
response as `x-request-id`.
"""

from __future__ import annotations

import os
import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.context import request_id_var
from gateway.middleware.anthropic_errors import ANTHROPIC_PATHS, reshaping

_SANE = re.compile(rb"^[A-Za-z0-9._:/+=-]{1,128}$")


def new_request_id() -> str:
    """96 bits from the operating system's CSPRNG: an id names a request to `POST /feedback` and in
    logs, so it must not be predictable from earlier ids (the process's Mersenne Twister is, after
    624 outputs). Measured here: 0.55 us a call (a getrandom system call) against 0.30 us for the
    PRNG, on a proxied request costing ~300 us of CPU (docs/performance.md). `os.urandom` is what
    `secrets.token_hex` calls, less its three Python frames."""
    return "req_" + os.urandom(12).hex()


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
                if header not in headers:  # (whoever set it already set this request's id)
                    headers.append(header)
            await send(message)

        # the Anthropic paths answer errors in Anthropic's shape (`anthropic_errors`)
        out = reshaping(send_with_id) if scope["path"] in ANTHROPIC_PATHS else send_with_id
        try:
            await self.app(scope, receive, out)
        finally:
            request_id_var.reset(token)
