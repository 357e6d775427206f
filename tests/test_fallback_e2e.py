"""Retries, fallback chains and context-window fallbacks, end to end, for JSON and streamed answers.

A real gateway process in front of the mock upstream; each deployment sends a distinct upstream model
name, so fault rules target one deployment and the mock's request log counts its attempts exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY
from tests.e2e import CHAT, HI, client, config, dep, hits, metric
from tests.harness import GatewayProcess, wait_for

CONTEXT_ERROR = "This model's maximum context length is 10 tokens"


def chat(sdk: openai.OpenAI, model: str = "g", messages: list | None = None):
    raw = sdk.chat.completions.with_raw_response.create(model=model, messages=messages or HI)
    return raw.headers, raw.parse()


def stream(sdk: openai.OpenAI, model: str = "g", messages: list | None = None):
    """(headers, chunks) of a streamed chat call read to its end."""
    raw = sdk.chat.completions.with_raw_response.create(
        model=model, messages=messages or HI, stream=True, stream_options={"include_usage": True}
    )
    return raw.headers, list(raw.parse())


def text_of(chunks: list) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.fixture(scope="module")
def retrying(mock) -> Iterator[GatewayProcess]:
    """Retries within a group; breakers effectively off so the tests leave no state behind."""
    groups = [
        dep("rt", "rt-a", mock.url, weight=3),
        dep("rt", "rt-b", mock.url, weight=1),
        dep("nr", "nr-a", mock.url),
        dep("bad", "bad-a", mock.url),
        dep("refused", "refused-a", mock.url),
    ]
    with GatewayProcess(config(groups, num_retries=2, allowed_fails=1000, cooldown_time=0)) as gw:
        yield gw


@pytest.fixture(scope="module")
def chained(mock) -> Iterator[GatewayProcess]:
    """g -> (fallbacks) h -> (GRID_MODEL_FALLBACK_CHAIN) k, one deployment each, num_retries 1."""
    groups = [dep("g", "fb-g", mock.url), dep("h", "fb-h", mock.url), dep("k", "fb-k", mock.url)]
    cfg = config(
        groups,
        fallbacks=[{"g": ["h"]}],
        num_retries=1,
        allowed_fails=1000,  # the chain is under test here, not the breaker
        cooldown_time=0,
        stream_timeout=0.5,
    )
    with GatewayProcess(cfg, env={"GRID_MODEL_FALLBACK_CHAIN": json.dumps(["k"])}) as gw:
        yield gw


@pytest.fixture(scope="module")
def windowed(mock) -> Iterator[GatewayProcess]:
    """small (50-token window in model_info) and small4 (openai/gpt-4: 8192 in LiteLLM's map) fall
    back to big on a too-long prompt, to other on any other failure; tight and plain have no
    context-window fallbacks."""
    groups = [
        dep("small", "cw-small", mock.url, info={"max_input_tokens": 50}),
        dep("small4", "cw-small4", mock.url, model="openai/gpt-4"),
        dep("tight", "cw-tight", mock.url, info={"max_input_tokens": 20}),
        dep("plain", "cw-plain", mock.url),
        dep("big", "cw-big", mock.url),
        dep("other", "cw-other", mock.url),
    ]
    cfg = config(
        groups,
        context_window_fallbacks=[{"small": ["big"]}, {"small4": ["big"]}],
        fallbacks=[{"small": ["other"]}],
        num_retries=1,
        allowed_fails=1000,
    )
    with GatewayProcess(cfg) as gw:
        yield gw


# -- retries and the chain, non-streamed ----------------------------------------------------------


def test_retry_goes_to_another_deployment_of_the_group(retrying, mock):
    # weights 3:1: round-robin alone would pick rt-a twice in a row (a a b a); the retry must not
    mock.add_fault({"match": {"model": "rt-a"}, "status": 503, "times": 1})
    with client(retrying) as sdk:
        headers, completion = chat(sdk, "rt")
    assert completion.choices[0].message.content == "mock reply: hi"
    assert headers["x-grid-deployment"] == "rt-b"
    assert headers["x-grid-attempts"] == "2" and headers["x-grid-fallbacks"] == "0"
    assert [(r["body"] or {}).get("model") for r in mock.requests(CHAT)] == ["rt-a", "rt-b"]


def test_num_retries_then_the_error_reaches_the_client(retrying, mock):
    mock.add_fault({"match": {"model": "nr-a"}, "status": 500})
    with client(retrying) as sdk, pytest.raises(openai.APIStatusError) as info:
        chat(sdk, "nr")
    assert info.value.status_code == 502 and info.value.body["code"] == "upstream_error"
    assert hits(mock, "nr-a") == 3  # one try and two retries


@pytest.mark.parametrize(("group", "status"), [("bad", 400), ("refused", 401)])
def test_non_retryable_failures_are_not_retried(retrying, mock, group, status):
    mock.add_fault({"match": {"model": f"{group}-a"}, "status": status, "message": "no thanks"})
    with client(retrying) as sdk, pytest.raises(openai.APIStatusError) as info:
        chat(sdk, group)
    # a bad request is the client's (passed through); a refused key is the gateway's problem (502)
    assert info.value.status_code == (400 if status == 400 else 502)
    assert hits(mock, f"{group}-a") == 1


def test_fallback_chain_non_stream(chained, mock):
    fallbacks = metric(chained, "grid_fallbacks_total", **{"from": "g", "to": "k"})
    attempts = metric(chained, "grid_retry_attempts_sum")
    mock.add_fault({"match": {"model": "fb-g"}, "status": 500})
    mock.add_fault({"match": {"model": "fb-h"}, "status": 503})
    with client(chained) as sdk:
        headers, completion = chat(sdk)
    assert completion.choices[0].message.content == "mock reply: hi"
    assert headers["x-grid-model"] == "k" and headers["x-grid-deployment"] == "fb-k"
    assert headers["x-grid-attempts"] == "5" and headers["x-grid-fallbacks"] == "2"
    assert (hits(mock, "fb-g"), hits(mock, "fb-h"), hits(mock, "fb-k")) == (2, 2, 1)
    assert metric(chained, "grid_fallbacks_total", **{"from": "g", "to": "k"}) == fallbacks + 1
    assert metric(chained, "grid_retry_attempts_sum") == attempts + 5


def test_a_bad_request_does_not_fall_back(chained, mock):
    mock.add_fault({"match": {"model": "fb-g"}, "status": 422, "message": "unprocessable"})
    with client(chained) as sdk, pytest.raises(openai.UnprocessableEntityError):
        chat(sdk)
    assert (hits(mock, "fb-g"), hits(mock, "fb-h"), hits(mock, "fb-k")) == (1, 0, 0)


# -- streams --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"status": 500}, id="status-500"),
        pytest.param({"cut_after": 0}, id="cut-before-first-event"),
        pytest.param({"error_event": True, "status": 503}, id="error-event-first"),
        pytest.param({"stall": 30}, id="stall-before-first-byte"),
    ],
)
def test_stream_falls_back_before_the_first_byte(chained, mock, fault):
    mock.add_fault({"match": {"model": "fb-g", "stream": True}, **fault})
    with client(chained) as sdk:  # its 20 s timeout is shorter than the 30 s stall: never waited out
        headers, chunks = stream(sdk)
    assert headers["x-grid-model"] == "h" and headers["x-grid-deployment"] == "fb-h"
    assert headers["x-grid-attempts"] == "3" and headers["x-grid-fallbacks"] == "1"
    # one clean stream: one role chunk, the whole text once, one finish, the usage chunk
    assert text_of(chunks) == "mock reply: hi"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.role == "assistant") == 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    assert len({c.id for c in chunks}) == 1
    assert hits(mock, "fb-g") == 2 and hits(mock, "fb-h") == 1
    if "stall" in fault:  # the stalled upstream streams were dropped, not left open
        assert wait_for(lambda: mock.stats()["open_streams"] == 0), mock.stats()
        assert mock.stats()["disconnected_streams"] >= 2


def test_stream_fallback_on_the_wire_and_in_metrics(chained, mock):
    before = metric(chained, "grid_fallbacks_total", **{"from": "g", "to": "h"})
    mock.add_fault({"match": {"model": "fb-g"}, "status": 500})
    body = {"model": "g", "messages": HI, "stream": True}
    auth = {"Authorization": f"Bearer {MASTER_KEY}"}
    with httpx.stream("POST", f"{chained.base_url}/chat/completions", json=body, headers=auth) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        assert resp.headers["x-grid-model"] == "h" and resp.headers["x-grid-fallbacks"] == "1"
        events = [line for line in resp.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    assert not any('"error"' in e for e in events)
    assert not any('"usage": {' in e or '"usage":{' in e for e in events)  # not asked for, not sent
    assert metric(chained, "grid_fallbacks_total", **{"from": "g", "to": "h"}) == before + 1


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param({"cut_after": 3}, id="cut-mid-stream"),
        pytest.param({"chunk_delay": 1.5}, id="stall-mid-stream"),
    ],
)
def test_failure_after_the_first_byte_ends_with_an_sse_error_event(chained, mock, fault):
    mock.add_fault({"match": {"model": "fb-g", "stream": True}, **fault})
    messages = [{"role": "user", "content": "one two three four"}]
    with client(chained) as sdk:
        raw = sdk.chat.completions.with_raw_response.create(model="g", messages=messages, stream=True)
        assert raw.headers["x-grid-model"] == "g"
        received = []
        with pytest.raises(openai.APIError) as info:
            for chunk in raw.parse():
                received.append(chunk)
    assert "mock reply: one two three four".startswith(text_of(received))
    assert text_of(received) != "mock reply: one two three four"
    assert "fb-g" in info.value.message
    # nothing falls back once content has reached the client
    assert hits(mock, "fb-g") == 1 and hits(mock, "fb-h") == 0 and hits(mock, "fb-k") == 0

    # the same on the wire: an OpenAI-shaped error event, then the stream ends (no [DONE])
    body = {"model": "g", "messages": messages, "stream": True}
    auth = {"Authorization": f"Bearer {MASTER_KEY}"}
    url = f"{chained.base_url}/chat/completions"
    with httpx.stream("POST", url, json=body, headers=auth, timeout=10) as resp:
        events = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]
    assert "[DONE]" not in events
    error = json.loads(events[-1])["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "api_error" and error["code"] in ("upstream_error", "upstream_timeout")
    assert all("error" not in json.loads(e) for e in events[:-1])


# -- context window -------------------------------------------------------------------------------


def test_context_window_fallback_when_the_upstream_says_too_long(windowed, mock):
    before = metric(windowed, "grid_fallbacks_total", **{"from": "small", "to": "big"})
    mock.add_fault({"match": {"model": "cw-small"}, "status": 400, "message": CONTEXT_ERROR})
    with client(windowed) as sdk:
        headers, completion = chat(sdk, "small")
        assert headers["x-grid-model"] == "big" and headers["x-grid-attempts"] == "2"
        headers, chunks = stream(sdk, "small")
        assert headers["x-grid-model"] == "big" and text_of(chunks) == "mock reply: hi"
    assert completion.choices[0].message.content == "mock reply: hi"
    assert hits(mock, "cw-small") == 2  # not retried: the prompt will not get shorter
    assert hits(mock, "cw-big") == 2 and hits(mock, "cw-other") == 0  # context fallbacks, not fallbacks
    assert metric(windowed, "grid_fallbacks_total", **{"from": "small", "to": "big"}) == before + 2


def test_context_window_error_without_fallbacks_reaches_the_client(windowed, mock):
    mock.add_fault({"match": {"model": "cw-plain"}, "status": 400, "message": CONTEXT_ERROR})
    with client(windowed) as sdk, pytest.raises(openai.BadRequestError) as info:
        chat(sdk, "plain")
    assert "maximum context length" in info.value.message
    assert hits(mock, "cw-plain") == 1


def test_context_window_checked_before_calling_with_model_info(windowed, mock):
    long = [{"role": "user", "content": "word " * 100}]  # ~500 chars: over 50 tokens by any estimate
    with client(windowed) as sdk:
        headers, _ = chat(sdk, "small")
        assert headers["x-grid-model"] == "small"  # a short prompt fits
        headers, _ = chat(sdk, "small", long)
        assert headers["x-grid-model"] == "big" and headers["x-grid-fallbacks"] == "1"
        assert headers["x-grid-attempts"] == "1"  # the small group was never called
        headers, chunks = stream(sdk, "small", long)
        assert headers["x-grid-model"] == "big" and text_of(chunks).startswith("mock reply: word")
    assert hits(mock, "cw-small") == 1 and hits(mock, "cw-big") == 2 and hits(mock, "cw-other") == 0


def test_context_window_checked_before_calling_with_the_model_map(windowed, mock):
    long = [{"role": "user", "content": "lorem ipsum " * 4000}]  # 48,000 chars: over 8192 tokens
    with client(windowed) as sdk:
        assert chat(sdk, "small4")[0]["x-grid-model"] == "small4"
        assert chat(sdk, "small4", long)[0]["x-grid-model"] == "big"
    assert hits(mock, "gpt-4") == 1 and hits(mock, "cw-big") == 1


def test_context_window_precheck_without_fallbacks_is_a_400(windowed, mock):
    with client(windowed) as sdk, pytest.raises(openai.BadRequestError) as info:
        chat(sdk, "tight", [{"role": "user", "content": "x" * 400}])
    assert info.value.body["code"] == "context_length_exceeded"
    assert "maximum context length is 20 tokens" in info.value.body["message"]
    assert hits(mock, "cw-tight") == 0
