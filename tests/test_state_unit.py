"""Issue 19, the pure parts of shared state: a key's limit decisions over counts, the one-second window
buckets, budget windows, OpenAI's x-ratelimit header spelling, and how the config names a state backend
and a key's limits (every problem named by its field)."""

from __future__ import annotations

import pytest

from gateway.backend.windows import (
    BUDGET,
    PARALLEL,
    REQUESTS,
    TOKENS,
    Verdict,
    budget_reset,
    budget_window,
    rate_headers,
    refusal,
    retry_after,
    window_sum,
)
from gateway.config.backend import redis_address, redis_url
from gateway.config.keys import config_key_id, key_limits, parse_duration
from gateway.config.model import KeyLimits
from gateway.config.problems import Problems
from gateway.config.values import Missing


def test_refusal_names_the_first_limit_reached_budget_first() -> None:
    limits = KeyLimits(rpm_limit=10, tpm_limit=100, max_parallel_requests=2, max_budget=1.0)
    assert refusal(limits, 9, 99, 1, 0.99) is None
    assert refusal(limits, 10, 99, 1, 0.5) == REQUESTS
    assert refusal(limits, 9, 100, 1, 0.5) == TOKENS
    assert refusal(limits, 10, 100, 2, 0.5) == PARALLEL
    assert refusal(limits, 10, 100, 2, 1.0) == BUDGET


def test_a_key_without_limits_is_never_refused_and_is_not_limited() -> None:
    assert refusal(KeyLimits(), 10**9, 10**9, 10**6, 10**6) is None
    assert not KeyLimits().any
    assert KeyLimits(max_budget=0).any


def test_window_sum_counts_the_last_60_seconds_and_drops_older_buckets() -> None:
    buckets = {100: 1, 130: 2, 159: 3, 160: 4}
    assert window_sum(buckets, 160) == (9, 130)  # 100 fell out (160 - 60)
    assert 100 not in buckets
    assert window_sum({}, 160) == (0, -1)


def test_budget_windows_are_aligned_to_the_epoch_and_reset_at_their_end() -> None:
    hourly = KeyLimits(max_budget=1, budget_duration=3600)
    assert budget_window(hourly, 7200.0) == budget_window(hourly, 10799.0) == 2
    assert budget_window(hourly, 10800.0) == 3
    assert budget_reset(hourly, 7300.0) == pytest.approx(3500.0)
    lifetime = KeyLimits(max_budget=1)
    assert budget_window(lifetime, 1e9) == 0 and budget_reset(lifetime, 1e9) is None


def test_retry_after_is_when_the_oldest_counted_request_leaves_the_window() -> None:
    limits = KeyLimits(rpm_limit=1)
    verdict = Verdict(REQUESTS, requests=1, oldest_request=1000, now=1045.5)
    assert retry_after(limits, verdict) == pytest.approx(14.5)
    assert retry_after(limits, Verdict(PARALLEL, now=1.0)) == 1.0


def test_rate_headers_use_openais_names_for_the_limits_the_key_has() -> None:
    verdict = Verdict(None, requests=3, tokens=40, oldest_request=1000, oldest_token=1030, now=1000.2)
    headers = dict(rate_headers(KeyLimits(rpm_limit=10, tpm_limit=100), verdict))
    assert headers == {
        b"x-ratelimit-limit-requests": b"10",
        b"x-ratelimit-remaining-requests": b"7",
        b"x-ratelimit-reset-requests": b"1m0s",
        b"x-ratelimit-limit-tokens": b"100",
        b"x-ratelimit-remaining-tokens": b"60",
        b"x-ratelimit-reset-tokens": b"1m30s",
    }
    assert rate_headers(KeyLimits(max_parallel_requests=1), verdict) == []


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("10m", 600), ("1h", 3600), ("1d", 86400), ("30d", 30 * 86400), ("1mo", 30 * 86400)],
)
def test_budget_duration_reads_litellms_syntax(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "h", "-1h", "0d", "1w", "1 hour"])
def test_a_bad_budget_duration_is_none(text: str) -> None:
    assert parse_duration(text) is None


def test_key_limits_name_each_bad_field() -> None:
    problems = Problems()
    item = {"rpm_limit": -1, "tpm_limit": "many", "max_parallel_requests": True, "max_budget": "x"}
    limits = key_limits({**item, "budget_duration": "soon"}, "general_settings.api_keys[0]", problems)
    assert limits == KeyLimits()
    fields = sorted(p.field.rsplit(".", 1)[1] for p in problems.errors)
    assert fields == ["budget_duration", "max_budget", "max_parallel_requests", "rpm_limit", "tpm_limit"]


def test_config_key_ids_are_a_hash_never_the_key() -> None:
    assert config_key_id("sk-a") == config_key_id("sk-a") != config_key_id("sk-b")
    assert "sk-a" not in config_key_id("sk-a")


def test_redis_is_named_by_litellms_host_port_password_or_a_url_and_the_env_wins() -> None:
    problems = Problems()
    rs = {"redis_host": "cache", "redis_port": 6380, "redis_password": "p@ss"}
    assert redis_url(rs, {}, problems) == "redis://:p%40ss@cache:6380/0"
    assert redis_url({"redis_url": "redis://r:1/2"}, {}, problems) == "redis://r:1/2"
    assert redis_url(rs, {"GRID_REDIS_URL": "redis://env:7/0"}, problems) == "redis://env:7/0"
    assert redis_url({}, {}, problems) is None
    assert not problems.items


def test_a_bad_redis_url_is_an_error_and_an_unset_env_a_warning() -> None:
    problems = Problems()
    assert redis_url({"redis_url": "http://x"}, {}, problems) is None
    assert redis_url({"redis_url": Missing("REDIS_URL")}, {}, problems) is None
    assert [p.field for p in problems.errors] == ["router_settings.redis_url"]
    assert "REDIS_URL not set" in problems.warnings[0].message


def test_the_redis_address_never_shows_the_password() -> None:
    assert redis_address("redis://:secret@cache:6380/0") == "cache:6380"
    assert redis_address("redis://user:secret@cache/0") == "cache:6379"


def test_a_key_with_metadata_stays_hashable() -> None:
    """Experiment assignment and permission caches hash keys; metadata is a mapping (unhashable)."""
    from types import MappingProxyType

    from gateway.config.model import ApiKey

    key = ApiKey(name="a", key="k", metadata=MappingProxyType({"team": "x"}), limits=KeyLimits(rpm_limit=1))
    assert {key: 1}[ApiKey(name="a", key="k", limits=KeyLimits(rpm_limit=1))] == 1
    assert key.limited


def test_a_breaker_opened_elsewhere_opens_a_closed_one_for_what_is_left() -> None:
    from gateway.routing import breaker as br

    opened = br.opened_elsewhere(br.CLOSED, 100.0, 130.0)
    assert opened.state is br.BreakerState.OPEN and opened.open_until == 130.0
    assert br.state_at(opened, 130.0) is br.BreakerState.HALF_OPEN
    assert br.opened_elsewhere(br.CLOSED, 100.0, 99.0) is br.CLOSED  # already over
    assert br.opened_elsewhere(opened, 100.0, 500.0) is opened  # an open breaker keeps its own cooldown


def _limits(rpm: int | None = None, tpm: int | None = None):
    from gateway.config.loader import build_from_dict
    from gateway.routing.deployment_limits import DeploymentLimits

    entry = {"model_name": "g", "litellm_params": {"model": "openai/x", "api_base": "http://h/v1"}}
    if rpm:
        entry["litellm_params"]["rpm"] = rpm
    if tpm:
        entry["litellm_params"]["tpm"] = tpm
    entry["model_info"] = {"id": "d1"}
    snapshot = build_from_dict({"model_list": [entry]}, {}, Problems())
    return DeploymentLimits(snapshot)


def test_a_deployment_at_its_rpm_is_held_back_until_the_oldest_request_leaves_the_minute() -> None:
    limits = _limits(rpm=2)
    assert limits.active
    limits.count_request("d1", 1000.0)
    assert limits.allows("d1", 1000.5) and limits.wait(["d1"], 1000.5) is None
    limits.count_request("d1", 1010.0)
    assert not limits.allows("d1", 1010.5)
    assert limits.wait(["d1"], 1010.5) == pytest.approx(49.5)
    assert limits.allows("d1", 1060.0)  # the request of second 1000 left the window


def test_a_deployment_at_its_tpm_is_held_back() -> None:
    limits = _limits(tpm=100)
    limits.count_tokens("d1", 99, 1000.0)
    assert limits.allows("d1", 1000.0)
    limits.count_tokens("d1", 1, 1000.0)
    assert not limits.allows("d1", 1000.0)


def test_counts_in_a_sync_still_count_and_a_failed_sync_gives_them_back() -> None:
    from gateway.routing.deployment_limits import Counts

    limits = _limits(rpm=2)
    limits.count_request("d1", 1000.0)
    limits.count_request("d1", 1000.0)
    taken = limits.take_local()
    assert not limits.allows("d1", 1000.0)  # in transit: still counted
    limits.give_back(taken)
    assert not limits.allows("d1", 1000.0)
    limits.take_local()
    limits.set_shared({"d1": Counts({1000: 1}, {})})  # the shared total after the sync
    assert limits.allows("d1", 1000.0)


def test_deployments_without_rpm_or_tpm_are_not_tracked() -> None:
    limits = _limits()
    assert not limits.active and limits.allows("d1") and limits.wait(["d1"]) is None


def test_a_sliding_counter_keeps_the_last_60_seconds_with_a_running_total() -> None:
    from gateway.backend.windows import SlidingCounter

    counter = SlidingCounter()
    for second, n in ((100, 1), (100, 2), (130, 3), (159, 4)):
        counter.add(second, n)
    assert counter.window(159) == (10, 100)
    assert counter.window(160) == (7, 130)  # second 100 left the window
    counter.add(150, 5)  # a clock stepping back counts in the newest bucket
    assert counter.window(160) == (12, 130)
    assert counter.window(500) == (0, -1)


def test_selector_history_blends_other_replicas_tracks_by_their_samples() -> None:
    from gateway.selector.history import History

    now = [1000.0]
    mine = History(half_life=300.0, clock=lambda: now[0])
    for _ in range(10):
        mine.record("cheap", None, 0.1, False)
    assert mine.health("cheap", None).error_rate == 0.0
    theirs = History(half_life=300.0, clock=lambda: now[0])
    for _ in range(10):
        theirs.record("cheap", None, None, True)
    epoch = mine.epoch
    mine.set_remote([(0.0, theirs.published())])
    assert mine.epoch > epoch  # a new board is due
    blended = mine.health("cheap", None)
    assert blended.error_rate == pytest.approx(theirs.health("cheap", None).error_rate / 2)
    assert blended.latency == pytest.approx(0.1)  # only this replica measured a latency
    assert mine.health("strong", None) == theirs.health("strong", None)  # no history anywhere: neutral
    mine.set_remote([(3000.0, theirs.published())])  # published long ago: it has faded
    assert mine.health("cheap", None).error_rate < 0.01


async def test_releases_held_during_an_outage_are_summed_past_the_cap_and_none_is_lost() -> None:
    """A long outage under load: the held releases stay bounded, their spend and tokens all kept."""
    from gateway.backend import redis_backend
    from gateway.backend.local import LocalBackend
    from gateway.config.model import ApiKey

    backend = redis_backend.RedisBackend("redis://127.0.0.1:1/0", fallback=LocalBackend(None))  # never up
    key = ApiKey(name="k", key="x", id="k1", limits=KeyLimits(max_budget=100.0))
    total = redis_backend.PENDING_MAX + 500
    for i in range(total):
        backend.release(key, f"r{i}", 10, 0.001, 1000.0 + i // 1000)
    assert len(backend._pending) <= redis_backend.PENDING_MAX
    assert sum(e[2] for e in backend._pending) == 10 * total
    assert sum(e[3] for e in backend._pending) == pytest.approx(0.001 * total)
    await backend.client.aclose()
