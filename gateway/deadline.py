"""The per-request deadline: one bound on a request's whole life, across retries, fallbacks and streaming.

Per-attempt timeouts (connect, first byte, between chunks: see docs/routing.md) bound one call to one
deployment; without a deadline, 3 attempts on each of 2 groups at `timeout` each could keep a client
waiting six times that. The deadline is `router_settings.request_timeout` (default 600 s), shortened by
the client's `timeout` body field or `x-grid-timeout` header: a client may ask for less, never more.

`request_timeout` is a pure function of its inputs; `RequestDeadline` is the 504 the endpoint answers
when the deadline passes (or the SSE error event, once a stream has started). The deadline itself is
one `time.monotonic()` timestamp in a contextvar, and costs no timer of its own: each upstream call's
own timeouts are shortened to what is left of it (`bound`), the fallback chain checks it before each
attempt and bounds its backoff by it, and a timeout that fires at the deadline is the deadline's
(`passed`), not the deployment's. (An `asyncio.timeout_at` around the chain cost 2.6% of a proxied
request's instructions under `make icount`: uvloop's timer handles are not cheap.)
"""

from __future__ import annotations

import contextlib
import math
import time
from contextvars import ContextVar
from typing import Any

from gateway.errors import InvalidRequest, UpstreamTimeout

TIMEOUT_HEADER = b"x-grid-timeout"
TIMEOUT_FIELD = "timeout"
CONFIGURED = "router_settings.request_timeout"


class RequestDeadline(UpstreamTimeout):
    """The request's deadline passed. The deployment being tried is not at fault: the deadline may be
    the client's own, and a slow chain is not one deployment's failure. Neither retried nor counted."""

    retryable = False
    upstream_status = None
    upstream_fault = False  # never counted against a deployment's breaker

    def __init__(self, seconds: float, what: str) -> None:
        super().__init__(
            f"The request did not complete within its deadline of {seconds:g} s ({what}).",
            code="upstream_timeout",
        )


def _seconds(value: Any, where: str) -> float:
    """A client's number of seconds: positive and finite, else a 400 naming `where`."""
    seconds = math.nan
    if isinstance(value, (bytes, str)):
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        with contextlib.suppress(ValueError):
            seconds = float(text.strip())
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        with contextlib.suppress(OverflowError):  # an int too large for a float
            seconds = float(value)
    if not (math.isfinite(seconds) and seconds > 0):
        raise InvalidRequest(f"'{where}' must be a positive number of seconds.", param=where)
    return seconds


def request_timeout(
    configured: float, headers: list[tuple[bytes, bytes]], body: dict[str, Any]
) -> tuple[float, str]:
    """(seconds, what set them) for one request: `configured` or the client's shorter bound.

    Takes the client's `timeout` out of the body (it is the gateway's to honour, not an upstream's)."""
    header = None
    for name, value in headers:
        if name == TIMEOUT_HEADER:
            header = value
            break
    if header is None and TIMEOUT_FIELD not in body:
        return configured, CONFIGURED
    seconds, what = configured, CONFIGURED
    if header is not None:
        asked = _seconds(header, "x-grid-timeout")
        if asked < seconds:
            seconds, what = asked, "x-grid-timeout"
    value = body.pop(TIMEOUT_FIELD, None)
    if value is not None:
        asked = _seconds(value, TIMEOUT_FIELD)
        if asked < seconds:
            seconds, what = asked, "the request's timeout"
    return seconds, what


# -- the current request's deadline ---------------------------------------------------------------------
# Set once per proxied request (each request runs in a task of its own, so the value is the request's),
# read where an upstream timeout is computed. Unset (health checks, tests of one client): no deadline.

_current: ContextVar[tuple[float, float, str] | None] = ContextVar("grid_deadline", default=None)
# a timeout that fires this close to the deadline is taken to be the deadline's (timers are not exact)
SLACK = 0.05
MINIMUM = 0.001  # the least timeout handed to a client
_monotonic = time.monotonic


def start(started: float, seconds: float, what: str) -> None:
    """The current request must be done `seconds` after `started` (a `time.monotonic()` reading)."""
    _current.set((started + seconds, seconds, what))


def begin(
    started: float, configured: float, headers: list[tuple[bytes, bytes]], body: dict[str, Any]
) -> None:
    """`start(started, *request_timeout(configured, headers, body))`, in one call when the client
    set no bound of its own (nearly every request: two Python frames less on each)."""
    for name, _ in headers:
        if name == TIMEOUT_HEADER:
            break
    else:
        if TIMEOUT_FIELD not in body:
            _current.set((started + configured, configured, CONFIGURED))
            return
    start(started, *request_timeout(configured, headers, body))


def remaining() -> float:
    """Seconds left to the current request's deadline (may be negative); infinity when there is none."""
    current = _current.get()
    return math.inf if current is None else current[0] - _monotonic()


def bound(timeout: float) -> float:
    """`timeout`, or less when the current request's deadline comes first. Never zero: aiohttp reads
    a zero timeout as none at all."""
    current = _current.get()
    if current is None:
        return timeout
    left = current[0] - _monotonic()
    return timeout if timeout <= left else left if left > MINIMUM else MINIMUM


def passed() -> bool:
    """Whether the current request's deadline has (about) passed."""
    current = _current.get()
    return current is not None and _monotonic() >= current[0] - SLACK


# The current request's deadline: (monotonic time, seconds, what set them), or None. The contextvar's
# own `get`, a C method: read once per stream, without a Python frame.
current = _current.get


def expired(current: tuple[float, float, str] | None = None) -> RequestDeadline:
    """The error that answers the current request (or the one whose deadline is `current`) once its
    deadline passed."""
    if current is None:
        current = _current.get()
    seconds, what = (current[1], current[2]) if current is not None else (math.inf, "unknown")
    return RequestDeadline(seconds, what)
