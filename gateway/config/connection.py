"""`general_settings` limits on client connections: header size and count, read timeouts, caps.

They are read here, once per load, into `ConnectionLimits`; the HTTP protocol (`gateway.http_protocol`)
enforces them while it parses, before anything is buffered or handed to the application.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.config.problems import Problems
from gateway.config.values import number

OPEN_FILES_RESERVE = 64  # descriptors kept for everything but connections: logs, epoll, metrics, DNS


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_header_bytes: int = 64 * 1024  # request line and headers together
    max_header_count: int = 100
    header_read_timeout: float = 10.0  # from the connection (or the request's first byte) to its blank line
    body_read_timeout: float = 60.0  # from the end of the headers to the end of the body
    max_connections: int | None = None  # None: what the open-file limit leaves (connection_guard)
    upstream_max_connections: int = 500  # the pass-through path's pool, all upstreams together


_INTEGERS = {
    "max_header_bytes": (1024, "at least 1024"),
    "max_header_count": (1, "at least 1"),
    "max_connections": (1, "at least 1"),
    "upstream_max_connections": (1, "at least 1"),
}
_SECONDS = ("header_read_timeout", "body_read_timeout")


def connection_limits(gs: dict[str, Any], problems: Problems) -> ConnectionLimits:
    """The limits named in `general_settings`; a bad value is an error naming the key, and its
    default stands."""
    given: dict[str, Any] = {}
    for key, (least, wording) in _INTEGERS.items():
        value = number(gs.get(key), f"general_settings.{key}", problems, None)
        if value is None:
            continue
        if value != int(value) or value < least:
            problems.error(f"general_settings.{key}", f"must be a whole number, {wording}")
            continue
        given[key] = int(value)
    for key in _SECONDS:
        value = number(gs.get(key), f"general_settings.{key}", problems, None)
        if value is None:
            continue
        if not value > 0 or value == float("inf"):
            problems.error(f"general_settings.{key}", "must be a positive number of seconds")
            continue
        given[key] = value
    return ConnectionLimits(**given)
