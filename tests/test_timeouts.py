"""Issue 17, timeouts: per-attempt timeouts (first byte, between chunks, also for a non-streamed body)
and one deadline per request across retries, fallbacks and streaming, which a client may shorten only.

Real gateway processes, the openai SDK and httpx as clients, the mock upstream's delays and stalls.
Where the behaviour under test is a deadline, an upper bound on the time is stated with its margin.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest
import yaml

from gateway.config import ConfigError, load_config
from gateway.deadline import request_timeout
from gateway.errors import InvalidRequest
from tests.conftest import MASTER_KEY, PROVIDER_KEY, deployment
from tests.harness import LITELLM_ENV, GatewayProcess, wait_for

HI = [{"role": "user", "content": "hi"}]
AUTH = {"Authorization": f"Bearer {MASTER_KEY}"}


def config(mock_url: str, **router: Any) -> dict[str, Any]:
    return {
        "model_list": [
            deployment("stalls", mock_url, dep_id="stalls-1", model="openai/stalls-up", stream_timeout=0.5),
            deployment("slow", mock_url, dep_id="slow-1", model="openai/slow-up"),
            deployment("chain-a", mock_url, dep_id="chain-a-1", model="openai/chain-up", timeout=0.6),
            deployment("chain-a", mock_url, dep_id="chain-a-2", model="openai/chain-up", timeout=0.6),
            deployment("chain-b", mock_url, dep_id="chain-b-1", model="openai/chain-up", timeout=0.6),
            deployment("chain-b", mock_url, dep_id="chain-b-2", model="openai/chain-up", timeout=0.6),
        ],
        "router_settings": {
            "num_retries": 0,
            "retry_after": 0,
            "allowed_fails": 1000,
            "fallbacks": [{"chain-a": ["chain-b"]}],
            **router,
        },
        "general_settings": {"master_key": MASTER_KEY},
    }


@pytest.fixture(scope="module")
def gw(mock):
    """The default deadline (600 s)."""
    with GatewayProcess(config(mock.url)) as process:
        yield process


@pytest.fixture(scope="module")
def short(mock):
    """router_settings.request_timeout: 1.5 s, and 2 retries per group."""
    with GatewayProcess(config(mock.url, request_timeout=1.5, num_retries=2)) as process:
        yield process


def post(gw: GatewayProcess, body: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(f"{gw.base_url}/chat/completions", json=body, headers={**AUTH, **headers}, timeout=30)


def deployment_stats(gw: GatewayProcess, dep_id: str) -> dict[str, Any]:
    stats = httpx.get(f"{gw.url}/admin/load-balancer/stats", headers=AUTH, timeout=15).json()
    for group in stats["groups"].values():
        for dep in group["deployments"]:
            if dep["id"] == dep_id:
                return dep
    raise AssertionError(dep_id)


def assert_timeout_error(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 504, resp.text
    error = resp.json()["error"]
    assert error["type"] == "api_error" and error["code"] == "upstream_timeout"
    return error


# -- per-attempt timeouts ------------------------------------------------------------------------------


def test_a_non_streamed_body_that_stalls_after_its_headers_times_out_at_stream_timeout(gw, mock):
    mock.add_fault({"match": {"model": "stalls-up"}, "stall": 5, "times": 1})
    resp = post(gw, {"model": "stalls", "messages": HI})
    error = assert_timeout_error(resp)
    assert "stalls-1" in error["message"]
    assert resp.headers["x-grid-deployment"] == "stalls-1"
    assert deployment_stats(gw, "stalls-1")["failures"] >= 1  # an upstream stall is the upstream's fault
    assert post(gw, {"model": "stalls", "messages": HI}).status_code == 200


# -- the per-request deadline --------------------------------------------------------------------------


def test_the_request_timeout_ends_a_slow_request_and_does_not_blame_the_deployment(short, mock):
    mock.add_fault({"match": {"model": "slow-up"}, "delay": 4, "times": 1})
    resp = post(short, {"model": "slow", "messages": HI})
    error = assert_timeout_error(resp)
    assert "1.5 s" in error["message"] and "request_timeout" in error["message"]
    assert resp.headers["x-grid-attempts"] == "1" and resp.headers["x-grid-deployment"] == "slow-1"
    stats = deployment_stats(short, "slow-1")
    assert stats["failures"] == 0 and stats["in_flight"] == 0 and stats["state"] == "closed"
    assert post(short, {"model": "slow", "messages": HI}).status_code == 200


def test_the_deadline_bounds_retries_and_fallbacks_together(short, mock):
    # every attempt times out at 0.6 s: 3 attempts on each of 2 groups would take 3.6 s and more
    mock.add_fault({"match": {"model": "chain-up"}, "delay": 10})
    started = time.monotonic()
    resp = post(short, {"model": "chain-a", "messages": HI})
    elapsed = time.monotonic() - started
    error = assert_timeout_error(resp)
    assert "deadline of 1.5 s" in error["message"]
    assert int(resp.headers["x-grid-attempts"]) < 6
    assert elapsed < 3.4, elapsed  # the deadline is 1.5 s: a generous margin, well short of 3.6 s


def test_a_client_may_shorten_the_deadline(gw, mock):
    mock.add_fault({"match": {"model": "slow-up"}, "delay": 4})
    by_header = post(gw, {"model": "slow", "messages": HI}, **{"x-grid-timeout": "0.5"})
    assert "x-grid-timeout" in assert_timeout_error(by_header)["message"]
    by_body = post(gw, {"model": "slow", "messages": HI, "timeout": 0.5})
    assert "deadline of 0.5 s" in assert_timeout_error(by_body)["message"]
    client = openai.OpenAI(base_url=gw.base_url, api_key=MASTER_KEY, max_retries=0, timeout=30)
    with client, pytest.raises(openai.InternalServerError) as info:
        client.chat.completions.create(model="slow", messages=HI, extra_body={"timeout": 0.5})
    assert info.value.status_code == 504
    mock.clear_faults()
    assert post(gw, {"model": "slow", "messages": HI, "timeout": 10}).status_code == 200
    # the client's timeout is the gateway's to honour: it does not go upstream
    assert all("timeout" not in r["body"] for r in mock.requests("/v1/chat/completions"))


def test_a_client_cannot_lengthen_the_deadline(short, mock):
    mock.add_fault({"match": {"model": "slow-up"}, "delay": 4, "times": 2})
    resp = post(short, {"model": "slow", "messages": HI}, **{"x-grid-timeout": "100"})
    assert "deadline of 1.5 s" in assert_timeout_error(resp)["message"]
    resp = post(short, {"model": "slow", "messages": HI, "timeout": 100})
    assert "deadline of 1.5 s" in assert_timeout_error(resp)["message"]


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf", ""])
def test_a_malformed_client_timeout_is_a_400(gw, mock, value):
    resp = post(gw, {"model": "slow", "messages": HI}, **{"x-grid-timeout": value})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["param"] == "x-grid-timeout"
    resp = post(gw, {"model": "slow", "messages": HI, "timeout": value})
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "timeout"
    assert not mock.requests("/v1/chat/completions")


def test_a_stream_past_the_deadline_ends_with_an_sse_error_event(short, mock):
    mock.add_fault({"match": {"model": "slow-up"}, "chunks": 40, "chunk_delay": 0.1, "times": 1})
    body = {"model": "slow", "messages": HI, "stream": True}
    with httpx.stream(
        "POST", f"{short.base_url}/chat/completions", json=body, headers=AUTH, timeout=30
    ) as resp:
        assert resp.status_code == 200
        events = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]
    assert events[-1] != "[DONE]"
    error = json.loads(events[-1])["error"]
    assert error["code"] == "upstream_timeout" and "deadline of 1.5 s" in error["message"]
    assert 5 < len(events) < 40  # it was cut mid-way, after some content
    stats = deployment_stats(short, "slow-1")
    assert stats["failures"] == 0 and stats["in_flight"] == 0


# -- configuration -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -5, "nan", "soon"])
def test_a_request_timeout_that_is_not_a_positive_number_is_a_config_error(tmp_path, value):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config("http://127.0.0.1:9", request_timeout=value)))
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    assert any("router_settings.request_timeout" in str(p) for p in info.value.problems.errors)


def test_request_timeout_defaults_to_600_seconds(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config("http://127.0.0.1:9")))
    snapshot, _ = load_config(str(path))
    assert snapshot.router.request_timeout == 600.0


# -- the LiteLLM path ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def translated(mock):
    """An anthropic/ deployment (LiteLLM translates) behind a 1.5 s request_timeout."""
    cfg = {
        "model_list": [
            {
                "model_name": "claude",
                "litellm_params": {
                    "model": "anthropic/claude-slow",
                    "api_base": mock.url,
                    "api_key": PROVIDER_KEY,
                },
                "model_info": {"id": "claude-1"},
            }
        ],
        "router_settings": {"num_retries": 0, "allowed_fails": 1000, "request_timeout": 1.5},
        "general_settings": {"master_key": MASTER_KEY},
    }
    env = dict(LITELLM_ENV)
    with GatewayProcess(cfg, env=env) as process:
        # A call first: LiteLLM's first call to a provider imports and builds what it needs, which
        # took longer than the 1.5 s deadline on a busy machine (a stream test then got its 504 before
        # the stream began, instead of the stream cut by the deadline that the test is about). Until
        # one is answered: what a call that ran out of time had imported stays imported.
        assert wait_for(lambda: post(process, {"model": "claude", "messages": HI}).status_code == 200, 60)
        yield process


def test_the_deadline_ends_a_slow_litellm_call_without_blaming_the_deployment(translated, mock):
    mock.add_fault({"match": {"model": "claude-slow"}, "delay": 4, "times": 1})
    resp = post(translated, {"model": "claude", "messages": HI})
    assert "deadline of 1.5 s" in assert_timeout_error(resp)["message"]
    stats = deployment_stats(translated, "claude-1")
    assert stats["failures"] == 0 and stats["in_flight"] == 0
    assert post(translated, {"model": "claude", "messages": HI}).status_code == 200


def test_the_deadline_ends_a_long_litellm_stream_with_an_sse_error_event(translated, mock):
    mock.add_fault({"match": {"model": "claude-slow"}, "chunks": 40, "chunk_delay": 0.1, "times": 1})
    body = {"model": "claude", "messages": HI, "stream": True}
    with httpx.stream(
        "POST", f"{translated.base_url}/chat/completions", json=body, headers=AUTH, timeout=30
    ) as resp:
        assert resp.status_code == 200
        events = [line[6:] for line in resp.iter_lines() if line.startswith("data: ")]
    error = json.loads(events[-1])["error"]
    assert error["code"] == "upstream_timeout" and "deadline of 1.5 s" in error["message"]
    assert deployment_stats(translated, "claude-1")["failures"] == 0


# -- the pure decision ---------------------------------------------------------------------------------


def test_request_timeout_keeps_the_shortest_bound_and_takes_the_field_out_of_the_body():
    body = {"model": "m", "timeout": 5}
    assert request_timeout(600.0, [(b"x-grid-timeout", b"2.5")], body) == (2.5, "x-grid-timeout")
    assert "timeout" not in body  # never sent upstream
    assert request_timeout(600.0, [], {"timeout": 5}) == (5.0, "the request's timeout")
    assert request_timeout(1.0, [(b"x-grid-timeout", b"9")], {"timeout": 8}) == (
        1.0,
        "router_settings.request_timeout",
    )
    assert request_timeout(600.0, [], {"timeout": None}) == (600.0, "router_settings.request_timeout")
    for bad in (10**400, True, "soon", [], -0.0):
        with pytest.raises(InvalidRequest):
            request_timeout(600.0, [], {"timeout": bad})
