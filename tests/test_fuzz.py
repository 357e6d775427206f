"""Fuzzing: hypothesis-generated requests against a real gateway, valid-shaped and hostile.

For every generated request the gateway must: answer (never a 5xx of its own: the upstreams here are
healthy), answer errors in the OpenAI shape, move no breaker and count no deployment failure (a
client's request is never a provider's fault), and show no secret (provider key, any client key) in
a response header or body. Nothing may reach the attacker address a body names.

Each property runs twice: once with a fixed seed (the same cases every run) and once with a random
seed, shown in the test id (`seed=...`) so a failure can be replayed with `GRID_FUZZ_SEED=...`.
`GRID_FUZZ_EXAMPLES` scales the number of cases (`make fuzz` runs many more).
"""

from __future__ import annotations

import os
import random
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, seed, settings

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, PROVIDER_KEY, deployment
from tests.fuzz_cases import ATTACKER_URL, Case, body_cases, other_cases
from tests.harness import LITELLM_ENV, GatewayProcess

USER_KEY = "sk-grid-fuzz-user-7f3a"
LIMITED_KEY = "sk-grid-fuzz-limited-91c2"
KEYS = {"master": MASTER_KEY, "user": USER_KEY, "limited": LIMITED_KEY, "none": None, "bad": "sk-wrong"}
SECRETS = (PROVIDER_KEY, MASTER_KEY, USER_KEY, LIMITED_KEY)

FIXED_SEED = 20261207
RANDOM_SEED = int(os.environ.get("GRID_FUZZ_SEED") or random.SystemRandom().randrange(2**32))
ATTACKER_HOST = ATTACKER_URL.rsplit("/", 1)[0].encode()
SCALE = float(os.environ.get("GRID_FUZZ_EXAMPLES_SCALE", "1"))
# thousands of generated requests per test, and slower under coverage: more than the suite's 60 s default
pytestmark = pytest.mark.timeout(600 * max(1.0, SCALE))

# cases per property and seed: 2 seeds x (2,000 + 2,000 + 1,000) = 10,000 per run
EXAMPLES = {"valid_shaped": 2000, "hostile": 2000, "other": 1000}


def config(mock_url: str) -> dict[str, Any]:
    return {
        "model_list": [
            deployment("gpt", mock_url, dep_id="gpt-1"),
            deployment("gpt", mock_url, dep_id="gpt-2"),
            deployment("embed", mock_url, dep_id="embed-1", model="openai/mock-embedding"),
            {
                "model_name": "claude",
                "litellm_params": {
                    "model": "anthropic/claude-haiku-4-5",
                    "api_base": mock_url,
                    "api_key": PROVIDER_KEY,
                },
                "model_info": {"id": "claude-1"},
            },
        ],
        "router_settings": {
            "num_retries": 2,
            "retry_after": 0,
            "allowed_fails": 1,
            "cooldown_time": 60,
            "model_group_alias": {"fast": "gpt", "exp": "gpt"},
            "fallbacks": [{"gpt": ["claude"]}],
        },
        "general_settings": {
            "master_key": MASTER_KEY,
            "api_keys": [
                {"key": USER_KEY, "name": "user"},
                {"key": LIMITED_KEY, "name": "limited", "models": ["gpt", "fast"]},
            ],
        },
        "model_routing": {
            "tradeoff": 5,
            "capabilities": {
                "gpt": {"quality": 0.6, "tasks": {"general_chat": 0.7}},
                "claude": {"quality": 0.8, "tasks": {"code_generation": 0.9}},
            },
            "experiments": [{"id": "exp-split", "models": ["gpt", "claude"], "applies_to": ["exp"]}],
        },
    }


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    env = dict(LITELLM_ENV)
    with GatewayProcess(config(mock.url), env=env) as process:
        yield process


@pytest.fixture(scope="module")
def http(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=30) as client:
        yield client
    _last_health.pop(id(client), None)


def deployment_health(http: httpx.Client) -> dict[str, tuple[str, int]]:
    """Every deployment's (breaker state, failures counted)."""
    stats = http.get("/admin/load-balancer/stats", headers={"authorization": f"Bearer {MASTER_KEY}"})
    assert stats.status_code == 200, stats.text
    return {
        d["id"]: (d["state"], d["failures"])
        for group in stats.json()["groups"].values()
        for d in group["deployments"]
    }


def send(http: httpx.Client, case: Case, attacker: str) -> httpx.Response:
    """Send a case; the attacker address in it becomes `attacker` (a real server that records)."""
    headers = dict(case.headers)
    key = KEYS[case.key]
    if key is not None:
        headers["authorization"] = f"Bearer {key}"
    else:
        headers.pop("authorization", None)
    headers.pop("x-api-key", None)  # a second credential header would make `key` meaningless
    body = case.body
    if body is not None:
        body = body.replace(ATTACKER_HOST, attacker.encode())
    return http.request(case.method, case.path, params=case.query, headers=headers, content=body)


ANTHROPIC_PATHS = ("/v1/messages", "/v1/messages/count_tokens")


def assert_anthropic_error_shape(raw: bytes, where: str) -> None:
    data = orjson.loads(raw)
    assert isinstance(data, dict) and data.get("type") == "error", (
        f"{where}: not Anthropic-shaped: {raw[:300]!r}"
    )
    error = data.get("error")
    assert isinstance(error, dict) and isinstance(error.get("type"), str), raw[:300]
    assert isinstance(error.get("message"), str) and error["message"], raw[:300]


def assert_error_shape(raw: bytes, where: str) -> None:
    data = orjson.loads(raw)
    error = data.get("error") if isinstance(data, dict) else None
    assert isinstance(error, dict), f"{where}: not OpenAI-shaped: {raw[:300]!r}"
    assert isinstance(error.get("message"), str) and error["message"], raw[:300]
    assert isinstance(error.get("type"), str), raw[:300]
    assert {"message", "type", "param", "code"} <= error.keys(), raw[:300]


# the request's own deadline (docs/routing.md): the one 5xx a client can choose, by asking for less time
CLIENT_DEADLINES = (b"(x-grid-timeout)", b"(the request's timeout)")


def assert_sse(raw: bytes) -> None:
    """A stream: every event is JSON or [DONE]; an error event is OpenAI-shaped and none is a 5xx."""
    for line in raw.split(b"\n"):
        if not line.startswith(b"data: "):
            continue
        payload = line[6:].strip()
        if payload == b"[DONE]":
            continue
        event = orjson.loads(payload)
        if isinstance(event, dict) and event.get("type") == "error" and "code" not in event:
            assert_anthropic_error_shape(payload, "stream error event")
            raise AssertionError(f"a healthy upstream's stream ended in an error: {payload[:300]!r}")
        if isinstance(event, dict) and "error" in event:
            assert_error_shape(payload, "stream error event")
            if any(what in payload for what in CLIENT_DEADLINES):
                continue  # the deadline the client asked for passed mid-stream
            raise AssertionError(f"a healthy upstream's stream ended in an error: {payload[:300]!r}")


def asked_deadline(response: httpx.Response) -> bool:
    """A 504 for the deadline the client itself asked for (`timeout` field, `x-grid-timeout`)."""
    return (
        response.status_code == 504
        and b'"code":"upstream_timeout"' in response.content
        and any(what in response.content for what in CLIENT_DEADLINES)
    )


# The deployments' health after the last case that passed, per client (one gateway each): the next
# case's "before" (only this module's tests use that gateway), which saves a third of the requests.
# A failing case leaves nothing here, so the case after it (or hypothesis's shrinking) asks again.
_last_health: dict[int, dict[str, tuple[str, int]]] = {}


def check(http: httpx.Client, mock: MockUpstream, case: Case) -> None:
    before = _last_health.pop(id(http), None) or deployment_health(http)
    response = send(http, case, mock.url)
    raw = response.content
    assert response.status_code < 500 or asked_deadline(response), f"{response.status_code}: {raw[:400]!r}"
    visible = raw + repr(sorted(response.headers.items())).encode()
    for secret in SECRETS:
        assert secret.encode() not in visible, f"a secret was answered to the client: {response.status_code}"
    content_type = response.headers.get("content-type", "")
    if response.status_code >= 400:
        assert content_type.startswith("application/json"), content_type
        shape = assert_anthropic_error_shape if case.path in ANTHROPIC_PATHS else assert_error_shape
        shape(raw, f"{case.method} {case.path} -> {response.status_code}")
    elif content_type.startswith("text/event-stream"):
        assert_sse(raw)
    after = deployment_health(http)
    assert after == before, f"a client's request moved a deployment: {before} -> {after}"
    assert not [r for r in mock.requests() if "attacker" in r["path"]], "a request went to the attacker path"
    _last_health[id(http)] = after


def untraced(fn: Callable[[], None]) -> None:
    """Run `fn` in a thread of its own with no trace function, and re-raise what it raised.

    Under `coverage run` (make test) the tracer sees every call in the test process, and hypothesis
    makes millions: that doubled the test process's CPU here (11.4 s against 5.6 s for 600 cases),
    for nothing, as no `gateway/` code runs in this thread. What coverage measures is unchanged: the
    gateway subprocess and the mock upstream's own thread are traced as before."""
    raised: list[BaseException] = []

    def target() -> None:
        sys.settrace(None)  # this thread only (coverage installed its tracer as the thread started)
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread, unchanged
            raised.append(exc)

    thread = threading.Thread(target=target, name="fuzz-property", daemon=True)
    thread.start()
    thread.join()
    if raised:
        raise raised[0]


def run_property(strategy, examples: int, hypothesis_seed: int, http, mock) -> None:
    @settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(case=strategy)
    def prop(case: Case) -> None:
        check(http, mock, case)

    untraced(seed(hypothesis_seed)(prop))


SEEDS = [
    pytest.param(FIXED_SEED, id=f"seed={FIXED_SEED}"),
    pytest.param(RANDOM_SEED, id=f"seed={RANDOM_SEED}"),
]


@pytest.mark.parametrize("hypothesis_seed", SEEDS)
def test_valid_shaped_bodies_are_answered_in_shape(hypothesis_seed, gw, http, mock) -> None:
    run_property(body_cases(hostile=False), EXAMPLES["valid_shaped"], hypothesis_seed, http, mock)


@pytest.mark.parametrize("hypothesis_seed", SEEDS)
def test_hostile_bodies_are_refused_in_shape(hypothesis_seed, gw, http, mock) -> None:
    run_property(body_cases(hostile=True), EXAMPLES["hostile"], hypothesis_seed, http, mock)


@pytest.mark.parametrize("hypothesis_seed", SEEDS)
def test_other_paths_methods_and_admin_with_any_key(hypothesis_seed, gw, http, mock) -> None:
    run_property(other_cases(), EXAMPLES["other"], hypothesis_seed, http, mock)
