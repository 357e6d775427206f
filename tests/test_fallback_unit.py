"""`gateway.fallback.run_chain`, directly: the real balancer (on a fake clock) and attempts that fail the
way `upstream.failures` says upstreams fail. What is retried, on which deployment, what falls back,
what goes straight back to the client, and what the trace records."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from gateway.config.loader import build_from_dict
from gateway.config.problems import Problems
from gateway.errors import GatewayError, NoHealthyDeployment, UpstreamRejected
from gateway.fallback import Trace, run_chain
from gateway.routing.balancer import Balancer
from gateway.routing.breaker import BreakerState
from gateway.upstream import failures

KEY = "sk-live-fallback-secret-7"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def entry(group: str, dep_id: str) -> dict:
    params = {"model": f"openai/{dep_id}", "api_base": "http://up/v1", "api_key": KEY}
    return {"model_name": group, "litellm_params": params, "model_info": {"id": dep_id}}


def setup(*entries: dict, **router) -> tuple[Balancer, object]:
    problems = Problems()
    snapshot = build_from_dict(
        {"model_list": list(entries), "router_settings": {"retry_after": 0, **router}}, {}, problems
    )
    assert not problems.errors, problems.errors
    return Balancer(snapshot, clock=Clock(), rng=random.Random(3)), snapshot


class Upstream:
    """Answers per deployment id: an exception factory (raised) or a value (returned). Records calls."""

    def __init__(self, script: dict[str, Callable[[], GatewayError] | str]) -> None:
        self.script = script
        self.calls: list[str] = []

    async def __call__(self, dep) -> str:
        self.calls.append(dep.id)
        answer = self.script.get(dep.id, f"ok from {dep.id}")
        if callable(answer):
            raise answer()
        return answer


def status(code: int, message: str = "boom", retry_after: str | None = None):
    return lambda: failures.from_status(
        code, b'{"error": {"message": "%s"}}' % message.encode(), retry_after, "d"
    )


async def run(chain, balancer, snapshot, upstream, **kwargs):
    trace, successes = Trace(), []
    outcome = await run_chain(
        chain,
        snapshot.router,
        balancer,
        upstream,
        trace,
        on_success=lambda dep, seconds, result: successes.append((dep.id, result)),
        **kwargs,
    )
    return outcome, trace, successes


async def test_the_first_attempt_that_succeeds_is_the_answer():
    balancer, snapshot = setup(entry("g", "a"))
    upstream = Upstream({})
    outcome, trace, successes = await run(["g"], balancer, snapshot, upstream)
    assert outcome.result == "ok from a" and outcome.deployment.id == "a"
    assert (trace.attempts, trace.fallbacks, trace.group, trace.tried) == (1, 0, "g", ["a"])
    assert successes == [("a", "ok from a")]


class FirstCallFails(Upstream):
    """Whichever deployment the balancer picks first fails with `failure`; later calls succeed."""

    def __init__(self, failure: Callable[[], GatewayError]) -> None:
        super().__init__({})
        self.failure = failure

    async def __call__(self, dep) -> str:
        self.calls.append(dep.id)
        if len(self.calls) == 1:
            raise self.failure()
        return f"ok from {dep.id}"


async def test_a_retryable_failure_is_retried_on_another_deployment_of_the_group():
    balancer, snapshot = setup(entry("g", "a"), entry("g", "b"), num_retries=2)
    upstream = FirstCallFails(status(503))
    outcome, trace, _ = await run(["g"], balancer, snapshot, upstream)
    first, second = upstream.calls
    assert first != second and outcome.deployment.id == second
    assert (trace.attempts, trace.fallbacks, trace.tried) == (2, 0, [first, second])


async def test_retries_stop_after_num_retries_and_the_last_error_is_the_answer():
    balancer, snapshot = setup(entry("g", "a"), num_retries=2, allowed_fails=100)
    upstream = Upstream({"a": status(500, "still down")})
    with pytest.raises(GatewayError) as info:
        await run(["g"], balancer, snapshot, upstream)
    assert info.value.status == 502 and "still down" in info.value.message
    assert upstream.calls == ["a", "a", "a"]  # the first attempt and two retries


async def test_a_rejected_request_goes_straight_back_without_retry_or_fallback():
    balancer, snapshot = setup(entry("g", "a"), entry("h", "b"), num_retries=3, fallbacks=[{"g": ["h"]}])
    upstream = Upstream({"a": status(400, "bad temperature")})
    with pytest.raises(UpstreamRejected) as info:
        await run(["g", "h"], balancer, snapshot, upstream)
    assert info.value.status == 400 and upstream.calls == ["a"]
    assert balancer.state("a") is BreakerState.CLOSED  # the request's fault, not the deployment's


async def test_a_deployment_that_refuses_the_gateway_is_opened_and_its_sibling_tried_at_once():
    balancer, snapshot = setup(entry("g", "a"), entry("g", "b"), num_retries=0)
    upstream = FirstCallFails(status(401))
    outcome, trace, _ = await run(["g"], balancer, snapshot, upstream)
    refused, sibling = upstream.calls  # tried although num_retries is 0: not a retry, a misconfiguration
    assert outcome.deployment.id == sibling and trace.attempts == 2
    assert balancer.state(refused) is BreakerState.OPEN and balancer.state(sibling) is BreakerState.CLOSED

    balancer, snapshot = setup(entry("g", "a"), entry("g", "b"), num_retries=0)
    both = Upstream({"a": status(403), "b": status(404)})
    with pytest.raises(GatewayError) as info:
        await run(["g"], balancer, snapshot, both)
    assert sorted(both.calls) == ["a", "b"] and info.value.status == 502
    assert balancer.state("a") is BreakerState.OPEN and balancer.state("b") is BreakerState.OPEN


async def test_an_exhausted_group_falls_back_to_the_next_in_the_chain():
    balancer, snapshot = setup(entry("g", "a"), entry("h", "b"), num_retries=1, allowed_fails=100)
    upstream = Upstream({"a": status(500)})
    outcome, trace, successes = await run(["g", "h"], balancer, snapshot, upstream)
    assert upstream.calls == ["a", "a", "b"]
    assert outcome.deployment.id == "b" and trace.group == "h"
    assert (trace.attempts, trace.fallbacks, trace.tried) == (3, 1, ["a", "a", "b"])
    assert successes == [("b", "ok from b")]


async def test_a_group_listed_twice_is_tried_once():
    balancer, snapshot = setup(entry("g", "a"), num_retries=0, allowed_fails=100)
    upstream = Upstream({"a": status(500)})
    with pytest.raises(GatewayError):
        await run(["g", "g"], balancer, snapshot, upstream)
    assert upstream.calls == ["a"]


async def test_no_sendable_deployment_anywhere_is_503_with_the_soonest_retry_after():
    balancer, snapshot = setup(entry("g", "a"), entry("h", "b"), cooldown_time=30, allowed_fails=1)
    for dep in snapshot.deployments:
        balancer.failed(dep, status=500)
    assert balancer.state("a") is BreakerState.OPEN
    upstream = Upstream({})
    with pytest.raises(NoHealthyDeployment) as info:
        await run(["g", "h"], balancer, snapshot, upstream)
    assert upstream.calls == []
    assert info.value.status == 503 and info.value.retry_after == pytest.approx(30.0)
    assert info.value.headers() == {"retry-after": "30"}
    assert "g, h" in info.value.message


async def test_a_context_window_error_follows_context_window_fallbacks():
    balancer, snapshot = setup(entry("small", "s"), entry("big", "b"), num_retries=2)
    upstream = Upstream({"s": status(400, "This model's maximum context length is 10 tokens")})
    outcome, trace, _ = await run(
        ["small"], balancer, snapshot, upstream, context_fallbacks=lambda g: ["big"]
    )
    assert upstream.calls == ["s", "b"] and outcome.deployment.id == "b" and trace.fallbacks == 1
    # without context fallbacks the client gets the upstream's rejection
    balancer, snapshot = setup(entry("small", "s"))
    with pytest.raises(failures.ContextWindowExceeded):
        await run(["small"], balancer, snapshot, Upstream({"s": status(400, "context_length_exceeded")}))


async def test_a_group_the_prompt_cannot_fit_is_skipped_without_a_call():
    balancer, snapshot = setup(entry("small", "s"), entry("big", "b"))
    upstream = Upstream({})

    def too_long(group: str):
        return failures.ContextWindowExceeded(400, "too long for small") if group == "small" else None

    outcome, _, _ = await run(
        ["small"], balancer, snapshot, upstream, context_check=too_long, context_fallbacks=lambda g: ["big"]
    )
    assert upstream.calls == ["b"] and outcome.deployment.id == "b"


async def test_errors_are_scrubbed_of_the_deployments_key_before_anyone_sees_them():
    balancer, snapshot = setup(entry("g", "a"), num_retries=0)
    upstream = Upstream({"a": status(500, f"bad key {KEY}")})
    with pytest.raises(GatewayError) as info:
        await run(["g"], balancer, snapshot, upstream)
    assert KEY not in info.value.message and "bad key" in info.value.message
    stats = str(balancer.stats())
    assert KEY not in stats


async def test_a_429_opens_the_deployment_for_its_retry_after():
    balancer, snapshot = setup(entry("g", "a"), num_retries=0)
    upstream = Upstream({"a": status(429, "slow down", retry_after="12")})
    with pytest.raises(GatewayError) as info:
        await run(["g"], balancer, snapshot, upstream)
    assert info.value.status == 429 and info.value.headers() == {"retry-after": "12"}
    assert balancer.state("a") is BreakerState.OPEN
    assert balancer.retry_after(["g"]) == pytest.approx(12.0)
