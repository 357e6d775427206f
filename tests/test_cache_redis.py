"""The Redis-backed response cache: an answer stored by one gateway process is a hit in another.

A real `redis-server` (Debian's, see scripts/test-deps.sh) is started on a free port for the module.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.harness import free_port
from tests.redis_server import RedisServer
from tests.test_cache import chat, config, unique, upstream_calls


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.mark.parametrize("where", ["cache's own redis_url", "the state backend's redis_url only"])
def test_a_hit_across_two_gateway_processes(
    mock: MockUpstream, start_gateway, redis_url: str, where: str
) -> None:
    if where.startswith("cache"):
        cfg = config(mock, {"type": "redis", "redis_url": redis_url, "ttl": 60})
    else:  # `cache: true` and a Redis state backend: the cache is stored there, shared by replicas
        cfg = config(mock, True, redis_url=redis_url)
    first, second = start_gateway(cfg), start_gateway(cfg)
    text = unique("shared by processes")
    state, stored = chat(first, text, temperature=0)
    assert state == "miss"
    state, replayed = chat(second, text, temperature=0)
    assert state == "hit" and replayed.id == stored.id
    assert upstream_calls(mock) == 1


def test_litellm_redis_cache_params_and_expiry(
    mock: MockUpstream, start_gateway, redis_server: RedisServer
) -> None:
    cfg = config(mock, None)
    cfg["litellm_settings"] = {
        "cache": True,
        "cache_params": {"type": "redis", "host": "127.0.0.1", "port": redis_server.port, "ttl": 1},
    }
    gw = start_gateway(cfg)
    text = unique("litellm redis")
    assert [chat(gw, text, temperature=0)[0] for _ in range(2)] == ["miss", "hit"]
    time.sleep(1.2)
    assert chat(gw, text, temperature=0)[0] == "miss"


def test_redis_down_answers_without_the_cache(mock: MockUpstream, start_gateway) -> None:
    cache = {"type": "redis", "redis_url": f"redis://127.0.0.1:{free_port()}/0"}  # nothing listens
    gw = start_gateway(config(mock, cache))
    text = unique("no redis")
    states = [chat(gw, text, temperature=0)[0] for _ in range(2)]
    assert states == ["miss", "miss"] and upstream_calls(mock) == 2
    assert "Redis unavailable" in gw.logs() and "redis://" not in gw.logs()


def test_litellm_redis_type_without_a_host_uses_the_state_backends_redis(
    mock: MockUpstream, start_gateway, redis_url: str
) -> None:
    cfg = config(mock, None, redis_url=redis_url)
    cfg["litellm_settings"] = {"cache": True, "cache_params": {"type": "redis", "ttl": 60}}
    first, second = start_gateway(cfg), start_gateway(cfg)
    text = unique("litellm type redis, no host")
    assert chat(first, text, temperature=0)[0] == "miss"
    assert chat(second, text, temperature=0)[0] == "hit"
    assert upstream_calls(mock) == 1


def test_an_explicit_local_cache_stays_in_process_beside_a_redis_state_backend(
    mock: MockUpstream, start_gateway, redis_url: str
) -> None:
    cfg = config(mock, {"type": "local"}, redis_url=redis_url)
    first, second = start_gateway(cfg), start_gateway(cfg)
    text = unique("local on purpose")
    assert chat(first, text, temperature=0)[0] == "miss"
    assert chat(second, text, temperature=0)[0] == "miss"
    assert chat(second, text, temperature=0)[0] == "hit"


def test_a_state_backend_redis_outage_turns_cached_requests_into_misses(
    mock: MockUpstream, start_gateway
) -> None:
    with RedisServer() as server:
        gw = start_gateway(config(mock, True, redis_url=server.url))
        text = unique("outage")
        assert [chat(gw, text, temperature=0)[0] for _ in range(2)] == ["miss", "hit"]
    # redis-server is gone: the same request is answered by the provider, a miss, never an error
    states = [chat(gw, text, temperature=0)[0] for _ in range(2)]
    assert states == ["miss", "miss"] and upstream_calls(mock) == 3
    assert "redis://" not in gw.logs()
