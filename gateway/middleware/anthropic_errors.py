"""Errors in Anthropic's shape on the Anthropic Messages paths.

Every layer of the gateway (auth, body limit, routing, the chain) answers errors OpenAI-shaped. An
Anthropic-SDK client reads `{"type": "error", "error": {"type": "not_found_error", "message": ...}}`
instead, so on these paths, and only there, an error answer's JSON body is rewritten on its way out:
same status and headers, Anthropic's type for the status. Other paths pay one set lookup.
"""

from __future__ import annotations

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.translate.anthropic_chat import error_body

ANTHROPIC_PATHS = frozenset(
    {"/v1/messages", "/messages", "/v1/messages/count_tokens", "/messages/count_tokens"}
)


def reshape(status: int, body: bytes) -> bytes:
    """The Anthropic error body for an OpenAI-shaped one (a body already Anthropic's is kept)."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(payload, dict) or payload.get("type") == "error":
        return body
    error = payload.get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return orjson.dumps(error_body(status, message if isinstance(message, str) else "Request failed."))


class AnthropicErrorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in ANTHROPIC_PATHS:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def reshaping(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start = message  # held until its body is complete
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = reshape(start["status"], b"".join(chunks))
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, reshaping)
