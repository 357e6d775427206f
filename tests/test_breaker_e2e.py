"""Circuit breakers, end to end: a real gateway process in front of the mock upstream with faults.

Each deployment sends a distinct upstream model name, so the mock's request log proves which
deployment got traffic (and that an open one got none). Timings are short: cooldowns of a few seconds,
waited for by polling the admin stats with a deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import openai
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, PROVIDER_KEY
from tests.e2e import CHAT, HI, admin_stats, client, config, dep, hits, metric
from tests.harness import GatewayProcess


def chat(sdk: openai.OpenAI, model: str = "g"):
    raw = sdk.chat.completions.with_raw_response.create(model=model, messages=HI)
    assert raw.parse().choices[0].message.content == "mock reply: hi"
    return raw.headers


def row(gw: GatewayProcess, dep_id: str) -> dict:
    for group in admin_stats(gw)["groups"].values():
        for d in group["deployments"]:
            if d["id"] == dep_id:
                return d
    raise AssertionError(f"no deployment {dep_id}")


def cooling(gw: GatewayProcess, dep_id: str, margin: float = 1.5) -> bool:
    """The deployment's breaker is open with more than `margin` seconds of its cooldown left."""
    d = row(gw, dep_id)
    return d["state"] == "open" and (d["state_changes_in_s"] or 0) > margin


def wait_state(gw: GatewayProcess, dep_id: str, state: str, timeout: float) -> float:
    """Poll until the deployment's breaker is in `state`; returns the seconds waited."""
    started = time.monotonic()
    while True:
        if row(gw, dep_id)["state"] == state:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{dep_id} not {state} after {timeout}s: {row(gw, dep_id)}")
        time.sleep(0.05)


def until_hit(sdk: openai.OpenAI, mock: MockUpstream, model: str, count: int, limit: int = 6) -> list:
    """Send requests until the mock has seen `count` requests for `model` (at most `limit` requests)."""
    headers = []
    for _ in range(limit):
        if hits(mock, model) >= count:
            break
        headers.append(chat(sdk))
    assert hits(mock, model) == count, (hits(mock, model), [h["x-grid-deployment"] for h in headers])
    return headers


def test_breaker_opens_blocks_traffic_half_opens_and_recovers(start_gateway, mock):
    gw = start_gateway(
        config(
            [dep("g", "brk-a", mock.url), dep("g", "brk-b", mock.url)],
            allowed_fails=2,
            cooldown_time=8,  # room for the requests sent while open, on a busy machine
            num_retries=1,
        )
    )
    mock.add_fault({"match": {"model": "brk-a"}, "status": 500})
    with client(gw) as sdk:
        # closed -> open after allowed_fails consecutive failures (the client never notices: retried on b)
        until_hit(sdk, mock, "brk-a", 2)
        a = row(gw, "brk-a")
        assert a["state"] == "open" and 0 < a["state_changes_in_s"] <= 8.0
        assert a["failures"] == 2 and "500" in a["last_error"]
        assert (
            metric(gw, "grid_deployment_state", default=None, deployment="brk-a") == 2
            and metric(gw, "grid_deployment_state", default=None, deployment="brk-b") == 0
        )

        # open: no traffic at all (each request is sent while the cooldown has over a second to run, so a
        # slow machine cannot turn the breaker half-open under it)
        sent = 0
        while sent < 6 and cooling(gw, "brk-a"):
            headers = chat(sdk)
            assert headers["x-grid-deployment"] == "brk-b" and headers["x-grid-attempts"] == "1"
            sent += 1
        assert sent >= 1 and hits(mock, "brk-a") == 2

        # half-open after the cooldown; a failing probe opens it again for a fresh cooldown
        wait_state(gw, "brk-a", "half_open", timeout=15)
        assert metric(gw, "grid_deployment_state", default=None, deployment="brk-a") == 1
        until_hit(sdk, mock, "brk-a", 3)
        assert row(gw, "brk-a")["state"] == "open"
        sent = 0
        while sent < 3 and cooling(gw, "brk-a"):
            assert chat(sdk)["x-grid-deployment"] == "brk-b"
            sent += 1
        assert sent >= 1 and hits(mock, "brk-a") == 3

        # half-open again; the upstream recovered (slowly): exactly one probe goes through, then closed
        mock.clear_faults()
        mock.add_fault({"match": {"model": "brk-a"}, "delay": 0.5, "times": 1})
        wait_state(gw, "brk-a", "half_open", timeout=15)

    async def burst() -> list[str]:
        async with openai.AsyncOpenAI(
            base_url=gw.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20
        ) as asdk:
            raws = await asyncio.gather(
                *(asdk.chat.completions.with_raw_response.create(model="g", messages=HI) for _ in range(4))
            )
        return [r.headers["x-grid-deployment"] for r in raws]

    served = Counter(asyncio.run(burst()))
    assert served == {"brk-a": 1, "brk-b": 3}  # one probe at a time while half-open
    assert hits(mock, "brk-a") == 4
    assert (
        row(gw, "brk-a")["state"] == "closed"
        and metric(gw, "grid_deployment_state", default=None, deployment="brk-a") == 0
    )
    with client(gw) as sdk:
        served = Counter(chat(sdk)["x-grid-deployment"] for _ in range(4))
    assert served == {"brk-a": 2, "brk-b": 2}  # back in the rotation


@pytest.mark.parametrize("status", [401, 403, 404])
def test_auth_and_not_found_open_the_breaker_at_once(start_gateway, mock, status):
    gw = start_gateway(
        config(
            [dep("g", "auth-a", mock.url), dep("g", "auth-b", mock.url)],
            allowed_fails=5,
            cooldown_time=30,
            num_retries=0,  # moving to a sibling after 401/403/404 is not a retry
        )
    )
    mock.add_fault({"match": {"model": "auth-a"}, "status": status, "message": f"key {PROVIDER_KEY} denied"})
    with client(gw) as sdk:
        headers = until_hit(sdk, mock, "auth-a", 1)
        # the request that met the refusal was served by the sibling, at once
        assert headers[-1]["x-grid-deployment"] == "auth-b" and headers[-1]["x-grid-attempts"] == "2"
        a = row(gw, "auth-a")
        assert a["state"] == "open" and a["failures"] == 1
        assert PROVIDER_KEY not in a["last_error"] and "[redacted]" in a["last_error"]
        for _ in range(5):
            assert chat(sdk)["x-grid-deployment"] == "auth-b"
    assert hits(mock, "auth-a") == 1


def test_429_retry_after_is_the_cooldown(start_gateway, mock):
    gw = start_gateway(
        config(
            [dep("g", "rl-a", mock.url), dep("g", "rl-b", mock.url)],
            allowed_fails=3,
            cooldown_time=30,  # far longer than the upstream's Retry-After: must not be used
            num_retries=1,
        )
    )
    mock.add_fault({"match": {"model": "rl-a"}, "status": 429, "retry_after": "4", "times": 1})
    with client(gw) as sdk:
        headers = until_hit(sdk, mock, "rl-a", 1)
        assert headers[-1]["x-grid-deployment"] == "rl-b" and headers[-1]["x-grid-attempts"] == "2"
        a = row(gw, "rl-a")
        # open for the Retry-After's 4 s, not 30 (half-open already, on a machine slow enough)
        assert a["state"] == "half_open" or (a["state"] == "open" and 0 < a["state_changes_in_s"] <= 4.0), a
        # no traffic while open: each request sent while the cooldown has over a second to run
        sent = 0
        while sent < 3 and cooling(gw, "rl-a", margin=1.0):
            assert chat(sdk)["x-grid-deployment"] == "rl-b"
            sent += 1
        assert hits(mock, "rl-a") == 1
        # half-open after the upstream's Retry-After, not the 30 s cooldown: wait_state gives up after
        # 15 s (a generous bound, since the behaviour here is a timeout)
        wait_state(gw, "rl-a", "half_open", timeout=15)
        until_hit(sdk, mock, "rl-a", 2)  # the probe succeeds
        assert row(gw, "rl-a")["state"] == "closed"


def test_429_from_the_only_deployment_reaches_the_client_with_retry_after(start_gateway, mock):
    gw = start_gateway(config([dep("solo", "solo-a", mock.url)], cooldown_time=30, num_retries=2))
    mock.add_fault({"match": {"model": "solo-a"}, "status": 429, "retry_after": "2", "times": 1})
    with client(gw) as sdk:
        with pytest.raises(openai.RateLimitError) as info:
            sdk.chat.completions.create(model="solo", messages=HI)
        assert info.value.response.headers["retry-after"] == "2"
        assert info.value.body["type"] == "rate_limit_error"
    assert hits(mock, "solo-a") == 1  # not retried into its own cooldown


def test_all_open_gives_503_with_the_soonest_retry_after(start_gateway, mock):
    gw = start_gateway(
        config(
            [dep("g", "all-a", mock.url), dep("h", "all-b", mock.url)],
            fallbacks=[{"g": ["h"]}],
            allowed_fails=1,
            cooldown_time=5,
            num_retries=0,
        )
    )
    mock.add_fault({"match": {"model": "all-a"}, "status": 429, "retry_after": "1", "times": 1})
    mock.add_fault({"match": {"model": "all-b"}, "status": 500, "times": 1})
    with client(gw) as sdk:
        with pytest.raises(openai.APIStatusError) as info:
            sdk.chat.completions.create(model="g", messages=HI)
        assert info.value.status_code == 502  # both groups tried, b's failure reported
        assert hits(mock, "all-a") == 1 and hits(mock, "all-b") == 1

        with pytest.raises(openai.InternalServerError) as info:
            sdk.chat.completions.create(model="g", messages=HI)
        assert info.value.status_code == 503
        assert info.value.body["code"] == "no_healthy_deployment"
        assert info.value.body["type"] == "api_error"
        assert info.value.response.headers["retry-after"] == "1"  # a's 1 s, not b's 5 s
        assert hits(mock, "all-a") == 1 and hits(mock, "all-b") == 1  # nothing was sent

        wait_state(gw, "all-a", "half_open", timeout=15)
        headers = chat(sdk)
        assert headers["x-grid-deployment"] == "all-a" and headers["x-grid-fallbacks"] == "0"
    assert row(gw, "all-a")["state"] == "closed"
    assert row(gw, "all-b")["state"] == "open"


def test_unreachable_deployment_trips_and_recovers_when_it_comes_back(start_gateway, mock):
    down = MockUpstream("mock-down", require_key=PROVIDER_KEY)
    down.start()
    try:
        gw = start_gateway(
            config(
                [dep("g", "down-a", down.url), dep("g", "up-b", mock.url)],
                allowed_fails=1,
                cooldown_time=5,  # long enough that four requests end before it, on a busy machine
                num_retries=1,
            )
        )
        down.stop()  # connection refused from now on
        with client(gw) as sdk:
            served = [chat(sdk)["x-grid-deployment"] for _ in range(4)]
            assert served == ["up-b"] * 4
            assert row(gw, "down-a")["state"] == "open" and row(gw, "down-a")["failures"] == 1
            down.start()  # same port, same state
            wait_state(gw, "down-a", "half_open", timeout=15)
            served = [chat(sdk)["x-grid-deployment"] for _ in range(4)]
        assert "down-a" in served
        assert row(gw, "down-a")["state"] == "closed"
        assert len(down.requests(CHAT)) == served.count("down-a")
    finally:
        down.stop()
