"""Error bodies in the two dialects the mock speaks.

The gateway maps upstream failures by status and by body shape, so the mock must answer exactly what
the real providers answer: OpenAI's `{"error": {message, type, param, code}}` and Anthropic's
`{"type": "error", "error": {type, message}}`.
"""

from __future__ import annotations

import orjson
from aiohttp import web

from gateway.translate.anthropic_chat import ERROR_TYPES

# status -> (type, code) as OpenAI sends them.
_OPENAI_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
    408: ("api_error", "timeout"),
    409: ("invalid_request_error", "conflict"),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", None),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    500: ("api_error", "server_error"),
    502: ("api_error", "bad_gateway"),
    503: ("api_error", "service_unavailable"),
    504: ("api_error", "timeout"),
}

# status -> type as Anthropic sends them (the gateway's table, which a 503 also maps to overloaded)
_ANTHROPIC_KINDS: dict[int, str] = ERROR_TYPES


def openai_error(status: int, message: str, *, param: str | None = None, code: str | None = None) -> dict:
    """The OpenAI error object for `status`; an explicit `code` wins over the status default."""
    kind, default_code = _OPENAI_KINDS.get(
        status, ("invalid_request_error" if status < 500 else "api_error", None)
    )
    return {"error": {"message": message, "type": kind, "param": param, "code": code or default_code}}


def anthropic_error(status: int, message: str) -> dict:
    """The Anthropic error object for `status`."""
    kind = _ANTHROPIC_KINDS.get(status, "invalid_request_error" if status < 500 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}}


def error_body(
    status: int, message: str, *, anthropic: bool = False, param: str | None = None, code: str | None = None
) -> dict:
    """The error object in the dialect of the endpoint that failed."""
    if anthropic:
        return anthropic_error(status, message)
    return openai_error(status, message, param=param, code=code)


def error_response(
    status: int,
    message: str,
    *,
    anthropic: bool = False,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A JSON error response; `headers` carries e.g. Retry-After for injected 429/503s."""
    return web.Response(
        status=status,
        body=orjson.dumps(error_body(status, message, anthropic=anthropic, param=param, code=code)),
        content_type="application/json",
        headers=headers,
    )
