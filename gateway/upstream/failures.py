"""Turn what an upstream said (status, body, exception) into a `GatewayError` the chain can judge.

Every error carries `upstream_status` (None for connect errors and timeouts) and `retryable`, which the
fallback chain and the breaker read; the client sees the OpenAI-shaped error.
"""

from __future__ import annotations

import time
from datetime import UTC
from email.utils import parsedate_to_datetime

import orjson

from gateway.config.model import Deployment
from gateway.errors import (
    GatewayError,
    RateLimited,
    UpstreamError,
    UpstreamRejected,
    UpstreamTimeout,
)
from gateway.secrets import REDACTED, deployment_secrets, scrub

CONTEXT_MARKERS = ("context_length_exceeded", "maximum context length", "context window", "too many tokens")


class ContextWindowExceeded(UpstreamRejected):
    """The prompt does not fit the deployment's context window: `context_window_fallbacks` apply."""


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: a number of seconds, or an HTTP date (RFC 9110),
    counted from `now` (the wall clock by default). None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a zone-less one is read as such
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _upstream_message(body: bytes) -> tuple[str | None, bool]:
    """(message, openai_shaped) from an upstream error body."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, False
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"], True
        if isinstance(err, str):
            return err, False
        if isinstance(data.get("message"), str):
            return data["message"], False
    return None, False


def mark(exc: GatewayError, status: int | None, retryable: bool) -> GatewayError:
    exc.upstream_status = status  # type: ignore[attr-defined]
    exc.retryable = retryable  # type: ignore[attr-defined]
    return exc


def from_status(status: int, body: bytes, retry_after: str | None, deployment: str) -> GatewayError:
    message, shaped = _upstream_message(body)
    detail = f": {message}" if message else ""
    if status == 429:
        exc: GatewayError = RateLimited(
            f"Upstream deployment {deployment} is rate limited{detail}",
            retry_after=parse_retry_after(retry_after),
        )
        return mark(exc, status, True)
    if status in (408, 504):
        return mark(UpstreamTimeout(f"Upstream deployment {deployment} timed out{detail}"), status, True)
    if status >= 500:
        return mark(
            UpstreamError(f"Upstream deployment {deployment} failed with {status}{detail}"), status, True
        )
    if status in (401, 403, 404):
        # The deployment's own key or model is wrong: the client's request is not at fault.
        text = f"Upstream deployment {deployment} refused the gateway's request ({status}){detail}"
        return mark(UpstreamError(text), status, False)
    text = message or f"Upstream deployment {deployment} rejected the request ({status})"
    lowered = text.lower()
    cls = ContextWindowExceeded if any(m in lowered for m in CONTEXT_MARKERS) else UpstreamRejected
    return mark(cls(status, text, body if shaped else None), status, False)


def connect_failed(deployment: str, reason: str) -> GatewayError:
    return mark(UpstreamError(f"Upstream deployment {deployment} is unreachable: {reason}"), None, True)


def timed_out(deployment: str, what: str = "response") -> GatewayError:
    return mark(
        UpstreamTimeout(f"Upstream deployment {deployment} timed out waiting for the {what}"), None, True
    )


def malformed(deployment: str, what: str) -> GatewayError:
    return mark(UpstreamError(f"Upstream deployment {deployment} answered garbage: {what}"), 200, True)


def redact(exc: GatewayError, dep: Deployment) -> GatewayError:
    """Remove the deployment's secrets from an error bound for the client and the logs: some providers
    repeat the key they were sent in their error messages, and those messages are passed on."""
    secrets = deployment_secrets(dep)
    exc.message = scrub(exc.message, secrets)
    exc.args = (exc.message,)
    raw = getattr(exc, "raw", None)
    if isinstance(raw, bytes):
        for secret in secrets:
            raw = raw.replace(secret.encode(), REDACTED.encode())
        exc.raw = raw  # type: ignore[attr-defined]
    return exc


def is_retryable(exc: BaseException) -> bool:
    return bool(getattr(exc, "retryable", False))
