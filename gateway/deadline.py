"""The per-request deadline: one bound on a request's whole life, across retries, fallbacks and streaming.

Per-attempt timeouts (connect, first byte, between chunks: see docs/routing.md) bound one call to one
deployment; without a deadline, 3 attempts on each of 2 groups at `timeout` each could keep a client
waiting six times that. The deadline is `router_settings.request_timeout` (default 600 s), shortened by
the client's `timeout` body field or `x-grid-timeout` header: a client may ask for less, never more.

`request_timeout` is a pure function of its inputs; `RequestDeadline` is the 504 the endpoint answers
when the deadline passes (or the SSE error event, once a stream has started). The deadline itself is
one timestamp on the event loop's clock (`asyncio.timeout_at`: a timer handle, not a task).
"""

from __future__ import annotations

import math
from typing import Any

from gateway.errors import InvalidRequest, UpstreamTimeout

TIMEOUT_HEADER = b"x-grid-timeout"
TIMEOUT_FIELD = "timeout"


class RequestDeadline(UpstreamTimeout):
    """The request's deadline passed. The deployment being tried is not at fault: the deadline may be
    the client's own, and a slow chain is not one deployment's failure. Neither retried nor counted."""

    retryable = False
    upstream_status = None
    deadline = True

    def __init__(self, seconds: float, what: str) -> None:
        super().__init__(
            f"The request did not complete within its deadline of {seconds:g} s ({what}).",
            code="upstream_timeout",
        )


def _seconds(value: Any, where: str) -> float:
    if isinstance(value, (bytes, str)):
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        try:
            value = float(text.strip())
        except ValueError:
            value = None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise InvalidRequest(f"'{where}' must be a positive number of seconds.", param=where)
    return float(value)


def request_timeout(
    configured: float, headers: list[tuple[bytes, bytes]], body: dict[str, Any]
) -> tuple[float, str]:
    """(seconds, what set them) for one request: `configured` or the client's shorter bound.

    Takes the client's `timeout` out of the body (it is the gateway's to honour, not an upstream's)."""
    seconds, what = configured, "router_settings.request_timeout"
    for name, value in headers:
        if name == TIMEOUT_HEADER:
            asked = _seconds(value, "x-grid-timeout")
            if asked < seconds:
                seconds, what = asked, "x-grid-timeout"
            break
    value = body.pop(TIMEOUT_FIELD, None) if TIMEOUT_FIELD in body else None
    if value is not None:
        asked = _seconds(value, TIMEOUT_FIELD)
        if asked < seconds:
            seconds, what = asked, "the request's timeout"
    return seconds, what
