"""Streams are relayed as they arrive, and a client that leaves takes the upstream stream with it.

The mock counts its open streams and the streams whose client went away, so "the gateway closed the
upstream connection" is observed on the upstream itself, not inferred.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, deployment
from tests.harness import CHAT, GatewayProcess, http_client, openai_client, user, wait_for


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
def http(gw: GatewayProcess, mock: MockUpstream) -> Iterator[httpx.Client]:
    # the mock is shared by the session: a stream a previous test left is closed before this one counts
    assert wait_for(lambda: mock.stats()["open_streams"] == 0 and mock.stats()["open_requests"] == 0)
    mock.reset()
    with http_client(gw) as session:
        yield session


def deployment_stats(http: httpx.Client, group: str) -> dict:
    return http.get("/admin/load-balancer/stats").json()["groups"][group]["deployments"][0]


def test_events_are_relayed_as_they_arrive(http: httpx.Client, mock: MockUpstream) -> None:
    mock.add_fault({"match": {"model": "chat", "stream": True}, "chunks": 10, "chunk_delay": 0.3})
    body = {"model": "chat", "messages": user("abcdefghijklmnopqrst"), "stream": True}
    pieces: list[str] = []
    upstream_done_at_first_event: list[int] = []
    with http.stream("POST", CHAT, json=body) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("data: {"):
                event = json.loads(line[6:])
                if not upstream_done_at_first_event:
                    upstream_done_at_first_event.append(mock.stats()["streams_completed"])
                if event["choices"]:
                    pieces.append(event["choices"][0]["delta"].get("content") or "")
    assert "".join(pieces) == "mock reply: abcdefghijklmnopqrst"
    # not buffered: the first event reached the client while the upstream was still sending the rest
    # (eleven gaps of 0.3 s); a gateway that buffered the stream would deliver it after streams_completed
    assert upstream_done_at_first_event == [0]
    assert mock.stats()["streams_completed"] == 1


def test_client_disconnect_closes_the_upstream_stream(http: httpx.Client, mock: MockUpstream) -> None:
    mock.add_fault({"match": {"model": "chat", "stream": True}, "chunks": 200, "chunk_delay": 0.05})
    body = {"model": "chat", "messages": user("a long answer " * 20), "stream": True}
    before = mock.stats()["disconnected_streams"]
    with http.stream("POST", CHAT, json=body) as response:
        assert response.status_code == 200
        received: list[str] = []
        lines = response.iter_lines()
        for line in lines:
            if line.startswith("data: "):
                received.append(line)
            if len(received) == 3:
                # checked before leaving the loop: dropping the line iterator may close the connection
                assert mock.stats()["open_streams"] == 1
                break
    # leaving the `with` closed the connection after three events, long before the 200th
    assert wait_for(
        lambda: mock.stats()["open_streams"] == 0 and mock.stats()["disconnected_streams"] > before
    ), str(mock.stats())
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
    assert wait_for(lambda: mock.stats()["open_streams"] == 0)  # none left by an earlier test
    mock.reset()
    mock.add_fault({"match": {"model": "chat", "stream": True}, "chunks": 200, "chunk_delay": 0.05})
    with openai_client(gw) as sdk:
        stream = sdk.chat.completions.create(model="chat", messages=user("x " * 300), stream=True)
        for i, _chunk in enumerate(stream):
            if i == 2:
                break
        stream.close()
    assert wait_for(
        lambda: mock.stats()["open_streams"] == 0 and mock.stats()["disconnected_streams"] == 1
    ), str(mock.stats())
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
    assert wait_for(lambda: mock.stats()["open_requests"] == 0), mock.stats()
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
    assert wait_for(lambda: mock.stats()["open_requests"] == 0), mock.stats()
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
