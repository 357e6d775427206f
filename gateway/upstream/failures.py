"""Turn what an upstream said (status, body, exception) into a `GatewayError` the chain can judge.

Every error carries `upstream_status` (None for connect errors and timeouts), `retryable` and
`upstream_fault`, which the fallback chain and the breaker read; the client sees the OpenAI-shaped error.

Only real upstream faults count against a deployment (`upstream_fault`): transport errors, timeouts,
5xx, 429, garbage, and 401/403/404 (the deployment's own key or model is wrong). A rejection of the
request itself (400, 422, a prompt too long) is the client's; a failure on this side of the wire
(out of file descriptors, a request the translation layer could not build) is ours (500). Neither is
retried, and neither moves a breaker: a client must not be able to take a deployment out of service
for everyone by sending bad requests.
"""

from __future__ import annotations

import errno
import time
from datetime import UTC
from email.utils import parsedate_to_datetime

import orjson

from gateway.config.model import Deployment
from gateway.errors import (
    GatewayError,
    InternalError,
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


DEPLOYMENT_REFUSED = frozenset({401, 403, 404})  # the deployment's key or model is wrong
# errno values that mean this process (or host) ran out of file descriptors: our fault, not upstream's
FD_EXHAUSTED = frozenset({errno.EMFILE, errno.ENFILE})


def mark(exc: GatewayError, status: int | None, retryable: bool, fault: bool | None = None) -> GatewayError:
    """Label an error for the chain: `fault` (default: retryable, or the deployment refused us) says
    whether it counts against the deployment's breaker."""
    exc.upstream_status = status  # type: ignore[attr-defined]
    exc.retryable = retryable  # type: ignore[attr-defined]
    if fault is None:
        fault = retryable or status in DEPLOYMENT_REFUSED
    exc.upstream_fault = fault  # type: ignore[attr-defined]
    return exc


def is_upstream_fault(exc: BaseException) -> bool:
    """Whether `exc` counts against the deployment that raised it (see the module docstring)."""
    return bool(getattr(exc, "upstream_fault", False))


def local_error(deployment: str, what: str) -> GatewayError:
    """A failure on the gateway's side of the wire: 500, not retried, no breaker moved."""
    exc = InternalError(f"The gateway could not complete the request to deployment {deployment}: {what}.")
    return mark(exc, None, False, fault=False)


def fd_exhausted(exc: BaseException) -> bool:
    """Whether `exc`, or an exception it was raised from, is EMFILE/ENFILE (no file descriptors left)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for err in (current, getattr(current, "os_error", None)):
            if isinstance(err, OSError) and err.errno in FD_EXHAUSTED:
                return True
        current = current.__cause__ or current.__context__
    return False


def transport_failed(deployment: str, exc: BaseException, reason: str) -> GatewayError:
    """A connection-level failure: the upstream's (retry, count it), unless this process ran out of
    file descriptors, which says nothing about the upstream."""
    if fd_exhausted(exc):
        return local_error(deployment, "the gateway has run out of open files")
    return connect_failed(deployment, reason)


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
    """Whether the chain may try again (another deployment, or the same after a backoff)."""
    return bool(getattr(exc, "retryable", False))
