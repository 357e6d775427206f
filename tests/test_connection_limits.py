"""The connection limits as configured: validation of the keys, and the caps drawn from open files."""

from __future__ import annotations

from gateway.config.connection import ConnectionLimits, connection_limits
from gateway.config.problems import Problems
from gateway.connection_guard import HeadersTooLarge, RateLimitedLog, connection_caps, response_bytes


def _load(settings: dict) -> tuple[ConnectionLimits, Problems]:
    problems = Problems()
    return connection_limits(settings, problems), problems


def test_defaults_are_the_documented_ones() -> None:
    limits, problems = _load({})
    assert not list(problems)
    assert limits == ConnectionLimits(
        max_header_bytes=65536,
        max_header_count=100,
        header_read_timeout=10.0,
        body_read_timeout=60.0,
        max_connections=None,
        upstream_max_connections=500,
    )


def test_configured_values_are_read() -> None:
    limits, problems = _load(
        {
            "max_header_bytes": 8192,
            "max_header_count": 50,
            "header_read_timeout": "2.5",
            "max_connections": 100,
        }
    )
    assert not list(problems)
    assert (limits.max_header_bytes, limits.max_header_count, limits.header_read_timeout) == (8192, 50, 2.5)
    assert limits.max_connections == 100


def test_bad_values_are_errors_naming_the_key_and_the_default_stands() -> None:
    limits, problems = _load(
        {
            "max_header_bytes": 10,
            "max_header_count": 1.5,
            "body_read_timeout": 0,
            "header_read_timeout": "nan",
        }
    )
    named = " ".join(str(p) for p in problems.errors)
    for key in ("max_header_bytes", "max_header_count", "body_read_timeout", "header_read_timeout"):
        assert f"general_settings.{key}" in named
    assert limits == ConnectionLimits()


def test_connection_caps_leave_room_for_the_upstream_pool() -> None:
    limits = ConnectionLimits(upstream_max_connections=40)
    served, accepted = connection_caps(limits, 400)
    assert accepted == 400 - 40 - 64 and served < accepted
    assert connection_caps(ConnectionLimits(max_connections=100), 1 << 20) == (100, 110)
    # a configured cap never takes the process past its open files
    assert connection_caps(ConnectionLimits(max_connections=5000, upstream_max_connections=40), 400)[1] == 296


def test_error_responses_are_whole_openai_shaped_and_close() -> None:
    raw = response_bytes(HeadersTooLarge("too large"))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 ") and b"connection: close" in head
    assert b"content-length: %d" % len(body) in head
    assert (
        body
        == b'{"error":{"message":"too large","type":"invalid_request_error","param":null,"code":"headers_too_large"}}'
    )


def test_rejections_are_logged_at_most_once_a_second_per_reason(caplog) -> None:
    now = [100.0]
    rejections = RateLimitedLog(clock=lambda: now[0])
    with caplog.at_level("WARNING", logger="grid.connections"):
        for _ in range(1000):
            rejections.warning("headers_too_large", "refused")
        now[0] += 1.5
        rejections.warning("headers_too_large", "refused")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["refused", "refused (999 more since the last such line)"]
