"""A pass-through stream is relayed only as valid server-sent events, and always ends visibly.

An upstream that answers 200 and then sends bytes that are not SSE, an event that is not JSON, or
stops without `data: [DONE]` was relayed as a 200 stream that simply ended: the client could not tell
it from a complete answer. Now the stream ends with the OpenAI-shaped SSE error event, and the
garbage is not passed on; a broken first event fails the attempt before anything is sent (retried).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, deployment
from tests.harness import GatewayProcess

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
BODY = {"model": "gpt", "messages": [{"role": "user", "content": "one two three four"}], "stream": True}


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [deployment("gpt", mock.url, dep_id="gpt-a", model="openai/gpt-up")],
        "router_settings": {"num_retries": 1, "allowed_fails": 1000},
        "general_settings": {"master_key": MASTER_KEY},
    }
    with GatewayProcess(config) as process:
        yield process


@pytest.fixture
def http(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=30, headers={"Authorization": f"Bearer {MASTER_KEY}"}) as c:
        yield c


def stream(http: httpx.Client, path: str = CHAT, body: dict = BODY) -> tuple[int, str]:
    with http.stream("POST", path, json=body) as response:
        return response.status_code, response.read().decode()


def data_events(raw: str) -> list[str]:
    return [line[6:] for line in raw.splitlines() if line.startswith("data: ")]


def assert_ends_with_error_event(raw: str) -> dict:
    events = data_events(raw)
    assert "[DONE]" not in events, raw
    last = json.loads(events[-1])
    assert set(last) == {"error"}, raw
    error = last["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "api_error" and error["code"] == "upstream_error"
    assert "gpt-a" in error["message"]
    return error


def test_garbage_after_the_first_events_ends_the_stream_with_an_error_event(
    http: httpx.Client, mock: MockUpstream
) -> None:
    # events 20 ms apart, so the stream has started (its first event relayed) when the garbage comes
    mock.add_fault({"match": {"stream": True}, "garbage_after": 3, "chunk_delay": 0.02})
    status, raw = stream(http)
    assert status == 200
    error = assert_ends_with_error_event(raw)
    assert "not server-sent events" in error["message"]
    assert "<html>" not in raw  # the garbage itself is not relayed
    content = [json.loads(e) for e in data_events(raw)[:-1]]
    assert len(content) == 3  # everything valid before the garbage was relayed
    assert all(c["object"] == "chat.completion.chunk" for c in content)


def test_a_stream_that_stops_without_done_ends_with_an_error_event(
    http: httpx.Client, mock: MockUpstream
) -> None:
    mock.add_fault({"match": {"stream": True}, "end_after": 2, "chunk_delay": 0.02})
    for path, body in ((CHAT, BODY), (COMPLETIONS, {"model": "gpt", "prompt": "one two", "stream": True})):
        status, raw = stream(http, path, body)
        assert status == 200
        error = assert_ends_with_error_event(raw)
        assert "[DONE]" in error["message"]


def test_a_broken_first_event_fails_the_attempt_before_anything_is_sent(
    http: httpx.Client, mock: MockUpstream
) -> None:
    mock.add_fault({"match": {"stream": True}, "malformed": True, "times": 1})
    status, raw = stream(http)
    assert status == 200
    events = data_events(raw)
    assert events[-1] == "[DONE]"
    assert all("error" not in json.loads(e) for e in events[:-1])
    assert len(mock.requests(CHAT)) == 2  # the broken answer was retried, not relayed

    mock.add_fault({"match": {"stream": True}, "malformed": True})
    response = http.post(CHAT, json=BODY)
    assert response.status_code == 502, response.text
    assert response.json()["error"]["code"] == "upstream_error"


def test_a_healthy_stream_is_relayed_unchanged(http: httpx.Client, mock: MockUpstream) -> None:
    status, raw = stream(http)
    assert status == 200
    events = data_events(raw)
    assert events[-1] == "[DONE]"
    text = "".join(json.loads(e)["choices"][0]["delta"].get("content") or "" for e in events[:-1])
    assert text == "mock reply: one two three four"
