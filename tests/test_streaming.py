"""Streams are relayed as they arrive, and a client that leaves takes the upstream stream with it.

The mock counts its open streams and the streams whose client went away, so "the gateway closed the
upstream connection" is observed on the upstream itself, not inferred.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import httpx
import openai
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, deployment
from tests.harness import GatewayProcess

CHAT = "/v1/chat/completions"
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    config = {
        "model_list": [
            deployment("chat", mock.url, dep_id="chat-a"),
            deployment("stalled", mock.url, dep_id="stalled-a", stream_timeout=10),
        ],
        "router_settings": {"num_retries": 2},
        "general_settings": {"master_key": MASTER_KEY},
    }
    with GatewayProcess(config) as process:
        yield process


@pytest.fixture
def http(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, headers=AUTH, timeout=10) as session:
        yield session


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def wait_for(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def deployment_stats(http: httpx.Client, group: str) -> dict:
    return http.get("/admin/load-balancer/stats").json()["groups"][group]["deployments"][0]


def test_events_are_relayed_as_they_arrive(http: httpx.Client, mock: MockUpstream) -> None:
    mock.add_fault({"match": {"model": "chat", "stream": True}, "chunks": 10, "chunk_delay": 0.05})
    body = {"model": "chat", "messages": user("abcdefghijklmnopqrst"), "stream": True}
    started = time.monotonic()
    arrivals: list[float] = []
    pieces: list[str] = []
    with http.stream("POST", CHAT, json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: {"):
                arrivals.append(time.monotonic() - started)
                event = json.loads(line[6:])
                if event["choices"]:
                    pieces.append(event["choices"][0]["delta"].get("content") or "")
    assert "".join(pieces) == "mock reply: abcdefghijklmnopqrst"
    total = arrivals[-1]
    assert total >= 0.45  # eleven gaps of 0.05 s upstream
    assert arrivals[1] < total / 2  # the first content came long before the last: not buffered


def test_client_disconnect_closes_the_upstream_stream(http: httpx.Client, mock: MockUpstream) -> None:
    mock.add_fault({"match": {"model": "chat", "stream": True}, "chunks": 200, "chunk_delay": 0.05})
    body = {"model": "chat", "messages": user("a long answer " * 20), "stream": True}
    before = mock.stats()["disconnected_streams"]
    with http.stream("POST", CHAT, json=body) as response:
        assert response.status_code == 200
        received: list[str] = []
        for line in response.iter_lines():
            if line.startswith("data: "):
                received.append(line)
            if len(received) == 3:
                break
        assert mock.stats()["open_streams"] == 1
    # leaving the `with` closed the connection after three events, long before the 200th
    assert wait_for(
        lambda: mock.stats()["open_streams"] == 0 and mock.stats()["disconnected_streams"] > before
    ), mock.stats()
    stats = mock.stats()
    assert stats["streams_completed"] == 0
    assert stats["disconnected_streams"] == before + 1
    # the gateway released the deployment and keeps serving
    assert wait_for(lambda: deployment_stats(http, "chat")["in_flight"] == 0)
    assert deployment_stats(http, "chat")["state"] == "closed"
    after = http.post(CHAT, json={"model": "chat", "messages": user("still here")})
    assert after.status_code == 200
    assert after.json()["choices"][0]["message"]["content"] == "mock reply: still here"


def test_sdk_stream_closed_early_closes_the_upstream(gw: GatewayProcess, mock: MockUpstream) -> None:
    mock.add_fault({"match": {"model": "chat", "stream": True}, "chunks": 200, "chunk_delay": 0.05})
    with openai.OpenAI(base_url=gw.base_url, api_key=MASTER_KEY, max_retries=0) as sdk:
        stream = sdk.chat.completions.create(model="chat", messages=user("x " * 300), stream=True)
        for i, _chunk in enumerate(stream):
            if i == 2:
                break
        stream.close()
    assert wait_for(lambda: mock.stats()["open_streams"] == 0 and mock.stats()["disconnected_streams"] == 1)
    assert mock.stats()["streams_completed"] == 0


def test_client_disconnect_before_the_first_byte_closes_the_upstream(
    http: httpx.Client, mock: MockUpstream
) -> None:
    """A client giving up while the upstream stalls before its first event must not leave it waiting."""
    mock.add_fault({"match": {"model": "stalled", "stream": True}, "stall": 5})
    body = {"model": "stalled", "messages": user("hi"), "stream": True}
    with pytest.raises(httpx.ReadTimeout):
        http.post(CHAT, json=body, timeout=httpx.Timeout(10, read=0.5))
    # the request reached the upstream and stalled there (whether it is still open at this instant
    # is a race with the gateway noticing the client left, which it may already have)
    assert mock.stats()["max_open_requests"] == 1
    assert wait_for(lambda: mock.stats()["open_requests"] == 0, timeout=2.0), mock.stats()
    assert mock.stats()["streams_completed"] == 0
    assert wait_for(lambda: deployment_stats(http, "stalled")["in_flight"] == 0)
    after = http.post(CHAT, json={"model": "chat", "messages": user("next")})
    assert after.status_code == 200


def test_client_disconnect_during_a_slow_answer_closes_the_upstream(
    gw: GatewayProcess, http: httpx.Client, mock: MockUpstream
) -> None:
    """Non-streamed too: a client that gave up is not waited for, retried or fallen back for."""
    mock.add_fault({"match": {"model": "stalled", "stream": False}, "delay": 5})
    with pytest.raises(httpx.ReadTimeout):
        http.post(
            CHAT, json={"model": "stalled", "messages": user("hi")}, timeout=httpx.Timeout(10, read=0.5)
        )
    assert wait_for(lambda: mock.stats()["open_requests"] == 0, timeout=2.0), mock.stats()
    assert mock.stats()["disconnected_requests"] == 1
    assert mock.stats()["requests_total"] == 1
    assert wait_for(lambda: deployment_stats(http, "stalled")["in_flight"] == 0)
    assert deployment_stats(http, "stalled")["state"] == "closed"
    assert wait_for(lambda: '"status":499' in gw.logs())


def test_many_streams_leave_nothing_open(http: httpx.Client, mock: MockUpstream) -> None:
    for i in range(5):
        body = {"model": "chat", "messages": user(f"stream {i}"), "stream": True}
        with http.stream("POST", CHAT, json=body) as response:
            text = response.read().decode()
        assert text.rstrip().endswith("data: [DONE]")
        assert f"stream {i}" in "".join(
            json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
            for line in text.splitlines()
            if line.startswith("data: {")
        )
    stats = mock.stats()
    assert stats["streams_started"] == 5
    assert stats["streams_completed"] == 5
    assert stats["open_streams"] == 0
    assert stats["disconnected_streams"] == 0
    assert deployment_stats(http, "chat")["in_flight"] == 0
