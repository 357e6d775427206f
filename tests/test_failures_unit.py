"""`gateway.upstream.failures` and `gateway.upstream.stream`, directly: what an upstream's status, body
and headers become (the error the client sees, and whether the chain may retry it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import orjson
import pytest

from gateway.config.loader import build_from_dict
from gateway.config.problems import Problems
from gateway.errors import RateLimited, UpstreamError, UpstreamRejected, UpstreamTimeout
from gateway.upstream import failures
from gateway.upstream.failures import ContextWindowExceeded
from gateway.upstream.stream import error_event, starts_with_error

KEY = "sk-live-unit-secret-42"


def openai_error(message: str) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": "x", "param": None, "code": None}})


@pytest.mark.parametrize(
    ("status", "cls", "client_status", "retryable"),
    [
        (429, RateLimited, 429, True),
        (408, UpstreamTimeout, 504, True),
        (504, UpstreamTimeout, 504, True),
        (500, UpstreamError, 502, True),
        (503, UpstreamError, 502, True),
        (401, UpstreamError, 502, False),
        (403, UpstreamError, 502, False),
        (404, UpstreamError, 502, False),
        (400, UpstreamRejected, 400, False),
        (422, UpstreamRejected, 422, False),
    ],
)
def test_each_upstream_status_becomes_one_client_error(status, cls, client_status, retryable):
    exc = failures.from_status(status, openai_error("the reason"), None, "dep-1")
    assert type(exc) is cls
    assert exc.status == client_status
    assert exc.upstream_status == status and exc.retryable is retryable
    assert failures.is_retryable(exc) is retryable
    assert "the reason" in exc.message
    if status not in (400, 422):  # the gateway's own words name the deployment, never the client
        assert "dep-1" in exc.message


def test_a_rejection_passes_the_upstreams_openai_body_through_and_shapes_any_other():
    shaped = failures.from_status(400, openai_error("bad temperature"), None, "dep-1")
    assert shaped.body_bytes() == openai_error("bad temperature")
    plain = failures.from_status(400, b"<html>nope</html>", None, "dep-1")
    body = orjson.loads(plain.body_bytes())["error"]
    assert body["message"] == "Upstream deployment dep-1 rejected the request (400)"
    assert body["type"] == "invalid_request_error"
    other = failures.from_status(400, orjson.dumps({"message": "flat message"}), None, "dep-1")
    assert other.message == "flat message" and other.body_bytes() != orjson.dumps({"message": "flat message"})
    text = failures.from_status(400, orjson.dumps({"error": "just text"}), None, "dep-1")
    assert text.message == "just text"
    listed = failures.from_status(400, orjson.dumps([1, 2]), None, "dep-1")
    assert listed.message == "Upstream deployment dep-1 rejected the request (400)"


@pytest.mark.parametrize(
    "message",
    [
        "This model's maximum context length is 8192 tokens",
        "context_length_exceeded",
        "prompt is too long for the context window",
        "Too many tokens in the request",
    ],
)
def test_context_window_rejections_are_recognised(message):
    exc = failures.from_status(400, openai_error(message), None, "dep-1")
    assert isinstance(exc, ContextWindowExceeded) and not exc.retryable


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("3", 3.0), ("0.5", 0.5), ("-4", 0.0), (None, None), ("", None), ("soon", None)],
)
def test_retry_after_in_seconds(header, seconds):
    assert failures.parse_retry_after(header) == seconds
    exc = failures.from_status(429, b"{}", header, "dep-1")
    assert exc.retry_after == seconds


def test_retry_after_as_an_http_date_is_the_seconds_until_then():
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=42), usegmt=True)  # "Fri, 02 Jan 2026 03:04:47 GMT"
    assert failures.parse_retry_after(later, now=now.timestamp()) == 42.0
    earlier = format_datetime(now - timedelta(seconds=42), usegmt=True)
    assert failures.parse_retry_after(earlier, now=now.timestamp()) == 0.0  # already passed: retry now
    assert failures.parse_retry_after("Fri, 99 Foo 2026 03:04:47 GMT", now=now.timestamp()) is None
    exc = failures.from_status(429, b"{}", later, "dep-1")  # against the real clock: in the past now
    assert exc.retry_after == 0.0 and exc.headers() == {"retry-after": "1"}


def test_transport_failures_are_retryable_and_say_what_happened():
    unreachable = failures.connect_failed("dep-1", "ClientConnectorError")
    assert unreachable.status == 502 and unreachable.retryable and unreachable.upstream_status is None
    assert unreachable.message == "Upstream deployment dep-1 is unreachable: ClientConnectorError"
    slow = failures.timed_out("dep-1", "first byte")
    assert slow.status == 504 and slow.retryable and slow.upstream_status is None
    assert slow.message == "Upstream deployment dep-1 timed out waiting for the first byte"
    garbage = failures.malformed("dep-1", "the body is not JSON")
    assert garbage.status == 502 and garbage.retryable and garbage.upstream_status == 200
    assert not failures.is_retryable(ValueError("not ours"))


def test_redact_removes_the_deployments_secrets_from_message_and_raw_body():
    problems = Problems()
    snapshot = build_from_dict(
        {
            "model_list": [
                {
                    "model_name": "g",
                    "litellm_params": {"model": "openai/g", "api_base": "http://up/v1", "api_key": KEY},
                    "model_info": {"id": "g-1"},
                }
            ]
        },
        {},
        problems,
    )
    assert not problems.errors
    (dep,) = snapshot.groups["g"].deployments
    exc = failures.from_status(400, openai_error(f"invalid key {KEY}"), None, "g-1")
    failures.redact(exc, dep)
    assert KEY not in exc.message and KEY not in str(exc) and KEY.encode() not in exc.body_bytes()
    assert "invalid key" in exc.message
    other = failures.from_status(500, openai_error(f"echo {KEY}"), None, "g-1")
    assert KEY not in failures.redact(other, dep).message


def test_error_events_and_how_a_first_event_is_judged():
    event = error_event("upstream went away", "api_error", "upstream_error")
    assert event.startswith(b"data: ") and event.endswith(b"\n\n")
    assert orjson.loads(event[6:]) == {
        "error": {
            "message": "upstream went away",
            "type": "api_error",
            "param": None,
            "code": "upstream_error",
        }
    }
    assert starts_with_error(event)
    assert starts_with_error(b"\n\nevent: error\ndata: {}\n\n")
    assert not starts_with_error(b'data: {"id":"c1","choices":[]}\n\n')
    assert not starts_with_error(b'data: {"choices":[{"delta":{"content":"data: {\\"error"}}]}\n\n')
