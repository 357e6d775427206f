"""Issue 17: error answers carry the `x-grid-*` headers the README promises, as far as they are known.

A real gateway process, the openai SDK as the client (its exceptions keep the response), the mock
upstream's faults for the failures.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY, deployment
from tests.harness import GatewayProcess

HI = [{"role": "user", "content": "hi"}]


def config(mock_url: str) -> dict[str, Any]:
    return {
        "model_list": [
            deployment(g, mock_url, dep_id=f"{g}-1", model=f"openai/{g}-up")
            for g in ("first", "second", "tripping", "plain", "slow")
        ],
        "router_settings": {
            "num_retries": 0,
            "retry_after": 0,
            "allowed_fails": 1,
            "cooldown_time": 60,
            "fallbacks": [{"first": ["second"]}],
            "request_timeout": 1,
        },
        "general_settings": {"master_key": MASTER_KEY},
    }


@pytest.fixture(scope="module")
def gw(mock):
    with GatewayProcess(config(mock.url)) as process:
        yield process


def failing(gw: GatewayProcess, model: str, **kwargs: Any) -> openai.APIStatusError:
    client = openai.OpenAI(base_url=gw.base_url, api_key=MASTER_KEY, max_retries=0, timeout=15)
    with client, pytest.raises(openai.APIStatusError) as info:
        client.chat.completions.create(model=model, messages=HI, **kwargs)
    return info.value


def assert_grid_headers(headers: httpx.Headers, **expected: str) -> None:
    assert headers["x-request-id"]
    assert float(headers["x-grid-overhead-ms"]) >= 0
    for name, value in expected.items():
        header = "x-grid-" + name.replace("_", "-")
        if value is None:
            assert header not in headers, header
        else:
            assert headers.get(header) == value, (header, headers.get(header))


def test_a_502_after_a_fallback_says_what_was_tried(gw, mock):
    mock.add_fault({"match": {"model": "first-up"}, "status": 500, "times": 1})
    mock.add_fault({"match": {"model": "second-up"}, "status": 502, "times": 1})
    error = failing(gw, "first")
    assert error.status_code == 502
    assert_grid_headers(
        error.response.headers, model="second", deployment="second-1", attempts="2", fallbacks="1"
    )


def test_a_503_with_every_breaker_open_names_the_group(gw, mock):
    mock.add_fault({"match": {"model": "tripping-up"}, "status": 500, "times": 1})
    assert failing(gw, "tripping").status_code == 502  # allowed_fails 1: the breaker opens
    error = failing(gw, "tripping")
    assert error.status_code == 503 and error.body["code"] == "no_healthy_deployment"
    headers = error.response.headers
    assert int(headers["retry-after"]) >= 1
    assert_grid_headers(headers, model="tripping", deployment=None, attempts="0", fallbacks="0")


def test_a_504_at_the_deadline_names_the_deployment_tried(gw, mock):
    mock.add_fault({"match": {"model": "slow-up"}, "delay": 3, "times": 1})
    error = failing(gw, "slow")
    assert error.status_code == 504
    assert_grid_headers(
        error.response.headers, model="slow", deployment="slow-1", attempts="1", fallbacks="0"
    )


def test_an_upstream_4xx_passed_on_carries_the_headers(gw, mock):
    mock.add_fault({"match": {"model": "plain-up"}, "status": 422, "times": 1})
    error = failing(gw, "plain")
    assert error.status_code == 422
    assert_grid_headers(
        error.response.headers, model="plain", deployment="plain-1", attempts="1", fallbacks="0"
    )


def test_a_request_refused_before_routing_carries_what_is_known(gw, mock):
    error = failing(gw, "no-such-model")
    assert error.status_code == 404 and error.body["code"] == "model_not_found"
    assert_grid_headers(error.response.headers, model=None, deployment=None, attempts="0", fallbacks="0")
    assert not mock.requests("/v1/chat/completions")
