"""Errors in Anthropic's shape on the Anthropic Messages paths.

Every layer of the gateway (auth, body limit, routing, the chain) answers errors OpenAI-shaped. An
Anthropic-SDK client reads `{"type": "error", "error": {"type": "not_found_error", "message": ...}}`
instead, so on these paths, and only there, an error answer's JSON body is rewritten on its way out:
same status and headers, Anthropic's type for the status (`reshaping`, applied by the request-id
middleware). Other paths pay one set lookup.
"""

from __future__ import annotations

import orjson
from starlette.types import Message, Send

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


def reshaping(send: Send) -> Send:
    """`send`, with an error answer's JSON body rewritten into Anthropic's shape (the request-id
    middleware wraps the client's `send` in it on the Anthropic paths: no middleware layer of its own,
    which every other request would pay for on each await)."""
    start: Message | None = None
    chunks: list[bytes] = []

    async def reshaped(message: Message) -> None:
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

    return reshaped
