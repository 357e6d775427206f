"""JSON logs that trace a request across modules, and metrics after a scripted mix of traffic."""

from __future__ import annotations

import json
import re
import time

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY, PROVIDER_KEY, deployment
from tests.harness import CLIENT_TIMEOUT, GatewayProcess, metric_map

ACCESS_FIELDS = {
    "timestamp", "level", "logger", "message", "request_id", "model", "model_served", "deployment",
    "status", "duration_ms", "upstream_ms", "attempts", "fallbacks", "stream", "prompt_tokens",
    "completion_tokens",
}  # fmt: skip


def _config(mock_url: str) -> dict:
    return {
        "model_list": [
            # group "duo": one deployment the mock fails (model bad-model), one healthy
            deployment("duo", mock_url, dep_id="duo-bad", model="openai/bad-model"),
            deployment("duo", mock_url, dep_id="duo-good"),
            deployment("primary", mock_url, dep_id="primary-1", model="openai/primary-model"),
            deployment("backup", mock_url, dep_id="backup-1"),
            deployment("solo", mock_url, dep_id="solo-1"),
        ],
        "router_settings": {
            "num_retries": 1,
            "retry_after": 0,
            "allowed_fails": 100,
            "fallbacks": [{"primary": ["backup"]}],
        },
        "general_settings": {"master_key": MASTER_KEY},
    }


@pytest.fixture(scope="module")
def gw(mock):
    with GatewayProcess(_config(mock.url)) as process:
        yield process


def _client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20)


def _lines(gw) -> list[dict]:
    lines = [line for line in gw.logs().splitlines() if line.strip()]
    parsed = []
    for line in lines:
        parsed.append(json.loads(line))  # every line the process writes is one JSON object
    return parsed


def _wait_lines(gw, predicate, seconds: float = 5.0) -> list[dict]:
    """The log, once `predicate(lines)` holds: the access line is written just after the last byte
    reaches the client, so a test that reads the log at once can be a little early."""
    deadline = time.monotonic() + seconds
    while True:
        lines = _lines(gw)
        if predicate(lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def _access(lines: list[dict], **match) -> list[dict]:
    return [x for x in lines if x["logger"] == "grid.access" and all(x.get(k) == v for k, v in match.items())]


def _hello(model: str) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "hello log"}]}


def test_every_line_is_json_and_a_retried_request_is_traced_by_its_id(gw, mock):
    mock.add_fault({"match": {"model": "bad-model"}, "status": 500})
    client = _client(gw)
    ids = []
    for _ in range(2):  # round-robin: one of the two requests starts on the failing deployment
        raw = client.chat.completions.with_raw_response.create(**_hello("duo"))
        assert raw.parse().choices[0].message.content == "mock reply: hello log"
        ids.append(raw.headers["x-request-id"])
    lines = _wait_lines(gw, lambda ls: all(_access(ls, request_id=rid) for rid in ids))
    assert any(line["logger"] == "uvicorn.error" for line in lines)  # uvicorn's own lines are JSON too
    retried = [
        rid for rid in ids if any("failed" in x["message"] and x.get("request_id") == rid for x in lines)
    ]
    assert len(retried) == 1
    mine = [x for x in lines if x.get("request_id") == retried[0]]
    loggers = {x["logger"] for x in mine}
    assert "grid.fallback" in loggers and "grid.access" in loggers
    access = [x for x in mine if x["logger"] == "grid.access"]
    assert len(access) == 1  # one access line per request
    assert access[0].keys() >= ACCESS_FIELDS
    assert access[0]["attempts"] == 2 and access[0]["deployment"] == "duo-good"
    assert access[0]["status"] == 200 and access[0]["model_served"] == "duo"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", access[0]["timestamp"])


def test_stream_access_line_comes_after_the_last_byte_with_usage(gw):
    client = _client(gw)
    chunks = list(client.chat.completions.create(**_hello("solo"), stream=True))
    assert all(c.usage is None for c in chunks)  # usage was asked upstream for metrics, then stripped
    line = _access(_wait_lines(gw, lambda ls: _access(ls, stream=True)), stream=True)[-1]
    assert line["prompt_tokens"] == 2 and line["completion_tokens"] == 4


def test_secrets_and_bodies_stay_out_of_the_logs(gw):
    client = _client(gw)
    client.chat.completions.create(
        model="solo", messages=[{"role": "user", "content": "very-private-prompt"}]
    )
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=gw.base_url, api_key="sk-wrong-key-xyz", max_retries=0, timeout=20
        ).models.list()
    text = gw.logs()
    for secret in (PROVIDER_KEY, MASTER_KEY, "sk-wrong-key-xyz", "Bearer", "very-private-prompt"):
        assert secret not in text


def test_bodies_are_logged_truncated_only_when_asked(mock, start_gateway):
    gw = start_gateway(_config(mock.url), env={"GRID_LOG_BODIES": "true"})
    long_text = "x" * 5000
    _client(gw).chat.completions.create(model="solo", messages=[{"role": "user", "content": long_text}])
    lines = _wait_lines(gw, lambda ls: [x for x in _access(ls) if x.get("request_body")])
    access = [x for x in _access(lines) if x.get("request_body")]
    assert access and access[-1]["request_body"].startswith('{"messages"')
    assert len(access[-1]["request_body"]) == 2048


def test_text_format_for_humans(mock, start_gateway):
    gw = start_gateway(_config(mock.url), env={"GRID_LOG_FORMAT": "text"})
    _client(gw).chat.completions.create(**_hello("solo"))
    deadline = time.monotonic() + 5
    while "grid.access" not in gw.logs() and time.monotonic() < deadline:
        time.sleep(0.02)
    lines = [line for line in gw.logs().splitlines() if "grid.access" in line]
    # the text format's own layout: time, level, logger, then the access line's words (not JSON)
    pattern = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO grid\.access: POST /v1/chat/completions 200"
    assert lines and re.fullmatch(pattern, lines[-1]), lines
    assert not any(line.lstrip().startswith("{") for line in gw.logs().splitlines())


def _samples(url: str) -> dict[str, float]:
    return metric_map(httpx.get(f"{url}/metrics", timeout=CLIENT_TIMEOUT).text)


def test_metrics_after_a_scripted_mix(mock, start_gateway):
    gw = start_gateway(_config(mock.url))
    client = _client(gw)
    for _ in range(3):
        client.chat.completions.create(**_hello("solo"))
    list(client.chat.completions.create(**_hello("solo"), stream=True))
    mock.add_fault({"match": {"model": "primary-model"}, "status": 503})
    client.chat.completions.create(**_hello("primary"))  # 2 attempts on primary, then backup
    client.chat.completions.create(**_hello("solo"), extra_headers={"x-grid-model-override": "backup"})
    mock.add_fault({"match": {"model": "solo"}, "status": 429, "retry_after": "30"})
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(**_hello("solo"))

    m = _samples(gw.url)
    assert m['grid_requests_total{deployment="solo-1",model="solo",status="200"}'] == 4
    assert m['grid_requests_total{deployment="backup-1",model="backup",status="200"}'] == 2
    assert m['grid_requests_total{deployment="solo-1",model="solo",status="429"}'] == 1
    assert m['grid_fallbacks_total{from="primary",to="backup"}'] == 1
    assert m['grid_model_override_total{model="backup"}'] == 1
    assert m["grid_retry_attempts_count"] == 7
    # 4 plain + 3 (two on primary, one on backup) + 1 (override) + 1 (a 429 opens the only deployment)
    assert m["grid_retry_attempts_sum"] == 9
    assert m['grid_time_to_first_token_seconds_count{model="solo"}'] == 1
    assert m['grid_tokens_total{model="solo",type="completion"}'] == 4 * 4  # 3 JSON + 1 stream
    assert m['grid_upstream_latency_seconds_count{deployment="primary-1"}'] == 2
    assert m['grid_request_duration_seconds_count{endpoint="chat/completions"}'] == 7
    assert m["grid_overhead_seconds_count"] == 7
    assert m['grid_deployment_state{deployment="solo-1"}'] == 2  # the 429 opened it for Retry-After
    assert m["grid_in_flight_requests"] == 0


def test_two_workers_report_one_total(mock, start_gateway):
    gw = start_gateway(_config(mock.url), workers=2)
    client = _client(gw)
    for _ in range(20):
        client.chat.completions.create(**_hello("solo"))
    for _ in range(3):  # whichever worker answers the scrape reports every worker's requests
        assert _samples(gw.url)['grid_requests_total{deployment="solo-1",model="solo",status="200"}'] == 20


def test_log_fields_writes_the_line_that_logging_with_extra_writes():
    import io
    import logging
    from datetime import UTC, datetime

    from gateway.logs import GridJsonFormatter, log_fields

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(GridJsonFormatter("%(message)s"))
    logger = logging.getLogger("grid.test-log-fields")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    fields = {"method": "POST", "status": 200, "duration_ms": 1.5, "task": "math", "model": None}
    logger.info("%s %s", "POST", 200, extra=fields)
    log_fields(logger, logging.INFO, "%s %s", ("POST", 200), fields)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    stamps = first.pop("timestamp"), second.pop("timestamp")
    assert list(first.items()) == list(second.items())  # the same fields, in the same order
    assert first == {"message": "POST 200", **fields, "level": "INFO", "logger": logger.name}
    for stamp in stamps:  # ISO 8601, UTC, milliseconds, as datetime.isoformat writes it
        parsed = datetime.fromisoformat(stamp)
        assert parsed.tzinfo == UTC and abs(parsed - datetime.now(UTC)).total_seconds() < 60
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", stamp)
