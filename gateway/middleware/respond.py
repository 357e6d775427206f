"""Answer an error straight from middleware, before any endpoint runs."""

from __future__ import annotations

from starlette.types import Send

from gateway.errors import GatewayError


async def send_error(
    send: Send, exc: GatewayError, request_id: str | None, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = exc.body_bytes()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if request_id:
        headers.append((b"x-request-id", request_id.encode()))
    headers.extend((k.encode(), v.encode()) for k, v in exc.headers().items())
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
