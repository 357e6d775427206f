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


ID_BYTES = 12
_POOL_BYTES = ID_BYTES * 256  # one `getrandom` system call per 256 ids
_pool = [b"", 0]  # random bytes drawn ahead, and where the next id's start


def new_request_id() -> str:
    """96 bits from the operating system's CSPRNG: an id names a request to `POST /feedback` and in
    logs, so it must not be predictable from earlier ids (the process's Mersenne Twister is, after
    624 outputs). The bytes are drawn 256 ids at a time (a `getrandom` system call per request was
    ~6% of the gateway's system calls under `make bench`): each id is still its own 12 fresh bytes,
    which earlier ids say nothing about. Ids are made on the event loop's thread only; a forked
    child draws a pool of its own (`_redraw`), so no two processes hand out the same ids."""
    pool, at = _pool
    if at >= len(pool):
        pool = _pool[0] = os.urandom(_POOL_BYTES)
        at = 0
    _pool[1] = at + ID_BYTES
    return "req_" + pool[at : at + ID_BYTES].hex()


def _redraw() -> None:
    _pool[0], _pool[1] = b"", 0


os.register_at_fork(after_in_child=_redraw)


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
