"""Resolution and load balancing, end to end: the openai SDK against a real gateway process, with the
mock upstream behind it. Each deployment sends a distinct upstream model name, so the mock's request
log tells exactly which deployment received what.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY, PROVIDER_KEY
from tests.e2e import CHAT, HI, admin_stats, client, config, dep, hits_by_model, metric
from tests.harness import GatewayProcess


def chat(sdk: openai.OpenAI, model: str, **kwargs: Any):
    """One chat call; returns (response headers, parsed completion)."""
    raw = sdk.chat.completions.with_raw_response.create(model=model, messages=HI, **kwargs)
    return raw.headers, raw.parse()


# -- resolution (one gateway for the module: these tests leave no routing state behind) -----------

FILE_ALIASES = {"fast": "cheap", "cheap": "gpt-small", "smart": "gpt-big", "swap": "gpt-small"}
ENV_ALIASES = {"swap": "gpt-big", "envy": "smart"}  # env wins over the file, and may chain into it


@pytest.fixture(scope="module")
def resolving(mock) -> Iterator[GatewayProcess]:
    cfg = config(
        [dep("gpt-small", "small-1", mock.url), dep("gpt-big", "big-1", mock.url)],
        model_group_alias=FILE_ALIASES,
    )
    cfg["general_settings"]["api_keys"] = [{"key": "sk-intern", "name": "interns", "allow_override": False}]
    with GatewayProcess(cfg, env={"GRID_MODEL_ALIASES": json.dumps(ENV_ALIASES)}) as gw:
        yield gw


def test_alias_chain_from_config_reaches_the_group(resolving, mock):
    with client(resolving) as sdk:
        headers, completion = chat(sdk, "fast")
        assert headers["x-grid-model"] == "gpt-small"
        assert headers["x-grid-deployment"] == "small-1"
        assert completion.choices[0].message.content == "mock reply: hi"
        assert chat(sdk, "cheap")[0]["x-grid-model"] == "gpt-small"
        assert chat(sdk, "gpt-big")[0]["x-grid-model"] == "gpt-big"
    assert hits_by_model(mock) == {"small-1": 2, "big-1": 1}


def test_env_aliases_win_over_the_file(resolving, mock):
    with client(resolving) as sdk:
        assert chat(sdk, "swap")[0]["x-grid-model"] == "gpt-big"
        assert chat(sdk, "envy")[0]["x-grid-model"] == "gpt-big"
    assert hits_by_model(mock) == {"big-1": 2}


def test_unknown_model_is_404_naming_it(resolving, mock):
    with client(resolving) as sdk:
        with pytest.raises(openai.NotFoundError) as info:
            sdk.chat.completions.create(model="gpt-nope", messages=HI)
        assert info.value.body["code"] == "model_not_found"
        assert "gpt-nope" in info.value.body["message"]
        with pytest.raises(openai.NotFoundError) as info:
            sdk.chat.completions.create(
                model="gpt-small", messages=HI, extra_query={"override_model": "ghost"}
            )
        assert "ghost" in info.value.body["message"]
    assert mock.requests(CHAT) == []


def test_override_by_query_and_header_is_served_and_counted(resolving, mock):
    before = {g: metric(resolving, "grid_model_override_total", model=g) for g in ("gpt-big", "gpt-small")}
    with client(resolving) as sdk:
        headers, _ = chat(sdk, "gpt-small", extra_query={"override_model": "gpt-big"})
        assert headers["x-grid-model"] == "gpt-big"
        assert headers["x-grid-deployment"] == "big-1"
        headers, _ = chat(sdk, "gpt-small", extra_headers={"x-grid-model-override": "smart"})
        assert headers["x-grid-model"] == "gpt-big"
        assert chat(sdk, "gpt-small")[0]["x-grid-model"] == "gpt-small"
    assert hits_by_model(mock) == {"big-1": 2, "small-1": 1}
    assert metric(resolving, "grid_model_override_total", model="gpt-big") == before["gpt-big"] + 2
    assert metric(resolving, "grid_model_override_total", model="gpt-small") == before["gpt-small"]


def test_key_denied_overrides_gets_403(resolving, mock):
    with client(resolving, "sk-intern") as sdk:
        for extra in (
            {"extra_query": {"override_model": "gpt-big"}},
            {"extra_headers": {"x-grid-model-override": "gpt-big"}},
        ):
            with pytest.raises(openai.PermissionDeniedError) as info:
                sdk.chat.completions.create(model="gpt-small", messages=HI, **extra)
            assert info.value.body["type"] == "permission_error"
        assert chat(sdk, "gpt-small")[0]["x-grid-model"] == "gpt-small"  # no override: fine
    with client(resolving) as sdk:  # the master key may override
        assert (
            chat(sdk, "gpt-small", extra_query={"override_model": "gpt-big"})[0]["x-grid-model"] == "gpt-big"
        )
    assert hits_by_model(mock) == {"small-1": 1, "big-1": 1}


# -- balancing ------------------------------------------------------------------------------------


def test_weights_3_to_1_split_exactly_and_interleaved(start_gateway, mock):
    gw = start_gateway(config([dep("g", "heavy", mock.url, weight=3), dep("g", "light", mock.url, weight=1)]))
    with client(gw) as sdk:
        served = [chat(sdk, "g")[0]["x-grid-deployment"] for _ in range(40)]
    assert served[:4] == ["heavy", "heavy", "light", "heavy"]  # smooth: a a b a, not a a a b
    assert Counter(served) == {"heavy": 30, "light": 10}
    assert hits_by_model(mock) == {"heavy": 30, "light": 10}


def test_simple_shuffle_follows_weights_and_weight_0_drains(start_gateway, mock):
    gw = start_gateway(
        config(
            [
                dep("g", "heavy", mock.url, weight=3),
                dep("g", "light", mock.url, weight=1),
                dep("g", "drained", mock.url, weight=0),
            ],
            routing_strategy="simple-shuffle",
        )
    )
    with client(gw) as sdk:
        served = Counter(chat(sdk, "g")[0]["x-grid-deployment"] for _ in range(200))
    assert served["drained"] == 0
    assert 125 <= served["heavy"] <= 175, served  # expected 150, sd ~6
    assert served["heavy"] + served["light"] == 200
    assert hits_by_model(mock)["drained"] == 0
    stats = admin_stats(gw)["groups"]["g"]
    assert stats["strategy"] == "simple-shuffle"
    drained = next(d for d in stats["deployments"] if d["id"] == "drained")
    assert drained["weight"] == 0 and drained["requests"] == 0


async def test_least_busy_spreads_concurrent_requests_by_in_flight(start_gateway, mock):
    # Weights 3:1:1 would give round-robin a 5:2:2 split; least-busy ignores them except for ties.
    gw = start_gateway(
        config(
            [
                dep("g", "lb-a", mock.url, weight=3),
                dep("g", "lb-b", mock.url, weight=1),
                dep("g", "lb-c", mock.url, weight=1),
            ],
            routing_strategy="least-busy",
        )
    )
    # long enough that all nine are upstream at once even on a busy machine
    mock.add_fault({"match": {"path": CHAT}, "delay": 5.0})
    async with openai.AsyncOpenAI(base_url=gw.base_url, api_key=MASTER_KEY, max_retries=0, timeout=20) as sdk:

        async def one() -> str:
            raw = await sdk.chat.completions.with_raw_response.create(model="g", messages=HI)
            return raw.headers["x-grid-deployment"]

        tasks = [asyncio.create_task(one()) for _ in range(9)]
        deadline = time.monotonic() + 15
        while mock.stats()["open_requests"] < 9 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        in_flight = {
            d["id"]: d["in_flight"]
            for d in (await asyncio.to_thread(admin_stats, gw))["groups"]["g"]["deployments"]
        }
        served = Counter(await asyncio.gather(*tasks))
    assert in_flight == {"lb-a": 3, "lb-b": 3, "lb-c": 3}
    assert served == {"lb-a": 3, "lb-b": 3, "lb-c": 3}
    assert mock.stats()["max_open_requests"] == 9


def test_latency_based_routing_prefers_the_fast_deployment(start_gateway, mock):
    gw = start_gateway(
        config(
            [dep("g", "slow", mock.url), dep("g", "fast", mock.url)],
            routing_strategy="latency-based-routing",
        )
    )
    mock.add_fault({"match": {"model": "slow"}, "delay": 0.25})
    with client(gw) as sdk:
        served = Counter(chat(sdk, "g")[0]["x-grid-deployment"] for _ in range(12))
    # each is measured once (unmeasured counts as fastest), then the faster of the two always wins
    assert served == {"slow": 1, "fast": 11}
    rows = {d["id"]: d for d in admin_stats(gw)["groups"]["g"]["deployments"]}
    assert rows["slow"]["ewma_latency_ms"] >= 250
    assert rows["fast"]["ewma_latency_ms"] < rows["slow"]["ewma_latency_ms"]


def test_usage_based_routing_follows_rpm_headroom(start_gateway, mock):
    gw = start_gateway(
        config(
            [dep("g", "tight", mock.url, rpm=4), dep("g", "roomy", mock.url, rpm=1000)],
            routing_strategy="usage-based-routing",
        )
    )
    with client(gw) as sdk:
        served = Counter(chat(sdk, "g")[0]["x-grid-deployment"] for _ in range(12))
    # after one request `tight` has 75% headroom left, `roomy` still > 98%: it takes the rest
    # (<= 2 allows for a minute bucket rolling over mid-test)
    assert served["tight"] <= 2 and served["roomy"] >= 10, served
    rows = {d["id"]: d for d in admin_stats(gw)["groups"]["g"]["deployments"]}
    assert rows["roomy"]["requests_this_minute"] >= 1


def test_load_balancer_stats_shape_and_no_secrets(start_gateway, mock):
    gw = start_gateway(
        config(
            [dep("g", "st-a", mock.url, weight=2), dep("g", "st-b", mock.url)],
            allowed_fails=3,
            cooldown_time=1,
            num_retries=1,
        )
    )
    mock.add_fault({"match": {"model": "st-b"}, "status": 500, "message": f"bad key {PROVIDER_KEY}"})
    with client(gw) as sdk:
        for _ in range(6):
            chat(sdk, "g", stream=False)
        raw = sdk.chat.completions.with_raw_response.create(model="g", messages=HI, stream=True)
        assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices) == "mock reply: hi"
    resp = httpx.get(f"{gw.url}/admin/load-balancer/stats", headers={"Authorization": f"Bearer {MASTER_KEY}"})
    text = resp.text
    assert PROVIDER_KEY not in text and mock.url not in text and str(mock.port) not in text
    group = resp.json()["groups"]["g"]
    assert group["strategy"] == "weighted-round-robin"
    rows = {d["id"]: d for d in group["deployments"]}
    assert set(rows) == {"st-a", "st-b"}
    a, b = rows["st-a"], rows["st-b"]
    expected = {
        "id",
        "weight",
        "state",
        "state_changes_in_s",
        "in_flight",
        "requests",
        "failures",
        "ewma_latency_ms",
        "ewma_ttft_ms",
        "last_error",
    }
    assert expected <= set(a)
    assert a["weight"] == 2 and a["state"] == "closed" and a["state_changes_in_s"] is None
    assert a["failures"] == 0 and a["in_flight"] == 0 and a["requests"] >= 5
    assert a["ewma_latency_ms"] > 0 and a["ewma_ttft_ms"] is not None  # the stream measured TTFT
    assert b["failures"] == b["requests"] >= 1 and b["ewma_latency_ms"] is None
    assert "[redacted]" in b["last_error"] and len(b["last_error"]) <= 200
    assert httpx.get(f"{gw.url}/admin/load-balancer/stats").status_code == 401  # admin key only
