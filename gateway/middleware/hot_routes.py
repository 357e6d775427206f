"""The proxied endpoints, dispatched straight from a path table instead of Starlette's router.

Starlette's routing wraps each request in its exception middleware, a scan of the routes, and two
layers of `request_response` closures: about 4% of a proxied request's CPU. For the POST endpoints
that carry the traffic, this innermost middleware looks the path up in a dict and calls the endpoint
itself, with the same error handling: a `GatewayError` becomes its OpenAI-shaped response, a client
that left while its body was read a 499 (no one to answer, nothing to log as an error), anything
else propagates to Starlette's `ServerErrorMiddleware` (the 500 handler) as it would from the router.
Every other request, and any other method on these paths (405), goes on to the router. An error
answer gets the headers `error_headers(scope)` adds (the proxied endpoints' `x-grid-*`, as far as known).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import GatewayError
from gateway.experiments.outcome import CLIENT_CLOSED

Endpoint = Callable[[Request], Awaitable[Any]]


class HotRoutesMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        routes: Mapping[str, Endpoint],
        on_error: Callable[[GatewayError], Response],
        error_headers: Callable[[Scope], Mapping[str, str]] | None = None,
    ) -> None:
        self.app = app
        self.routes = dict(routes)  # path -> endpoint, for POST
        self.on_error = on_error
        self.error_headers = error_headers  # more headers for an error answer, from what the scope knows

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = self.routes.get(scope["path"]) if scope["type"] == "http" else None
        if endpoint is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        try:
            response = await endpoint(request)
        except GatewayError as exc:
            response = self.on_error(exc)
            if self.error_headers is not None:
                response.headers.update(self.error_headers(scope))
        except ClientDisconnect:  # gone (or cut off by the body read timeout) while its body was read
            response = Response(status_code=CLIENT_CLOSED)
        await response(scope, receive, send)
