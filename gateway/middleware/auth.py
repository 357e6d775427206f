"""Client authentication: `Authorization: Bearer KEY` or `x-api-key`, compared in constant time.

Configured keys are compared first; then admin-created keys, by hash. The matched `ApiKey` is stored in the scope (`grid.key`) for per-model and admin permission checks.
The client's key is never forwarded upstream: the upstream clients build their own headers.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.backend import StateBackend
from gateway.config.model import ApiKey, GeneralSettings
from gateway.errors import AuthenticationFailed
from gateway.keys.limits import counted, serve_limited
from gateway.keys.registry import KeyRegistry
from gateway.middleware.respond import send_error

# Paths anyone may call: health probes and the metrics scrape.
PUBLIC_PATHS = frozenset(
    prefix + path
    for prefix in ("", "/v1")
    for path in ("/health/liveliness", "/health/live", "/health/readiness", "/metrics")
)


def presented_key(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
        if name == b"x-api-key" and value:
            return value.decode("latin-1").strip()
    return None


def match_key(keys: tuple[ApiKey, ...], presented: str) -> ApiKey | None:
    """Check every key (no early exit) so timing does not reveal which prefix matched."""
    found = None
    given = presented.encode()
    for candidate in keys:
        if hmac.compare_digest(candidate.key.encode(), given):
            found = candidate
    return found


class AuthMiddleware:
    """`created` holds the admin-created keys (looked up by hash when no configured key matched);
    a key with limits is handed to `gateway.keys.limits` with the state `backend`."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Callable[[], GeneralSettings],
        created: KeyRegistry | None = None,
        backend: Callable[[], StateBackend] | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.created = created or KeyRegistry()
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        general = self.settings()
        if general.auth_enabled:
            presented = presented_key(scope)
            if presented is None:
                exc = AuthenticationFailed("Missing API key: send it as 'Authorization: Bearer <key>'.")
                await send_error(send, exc, scope.get("grid.request_id"))
                return
            key = match_key(general.keys, presented) or self.created.lookup(presented)
            if key is None:
                exc = AuthenticationFailed("Incorrect API key provided.")
                await send_error(send, exc, scope.get("grid.request_id"))
                return
            scope["grid.key"] = key
            if key.limited and self.backend is not None and counted(scope):
                await serve_limited(self.backend(), key, self.app, scope, receive, send)
                return
        await self.app(scope, receive, send)
