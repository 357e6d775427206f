"""Issue 19 across replicas: two gateway processes (no balancer in front) share one real Redis
(Debian's `redis-server`, started on a free port without persistence). Limits, spend and admin-created
keys are shared; a Redis outage fails no request (`grid_state_backend_up` drops to 0 and recovers when
Redis is back) and the spend recorded meanwhile is written afterwards. A guardrail that trips on one
replica stops the experiment on every replica, and judges on both replicas' outcomes.

Clients are the openai SDK and httpx; the upstream is the mock (gpt-4o-mini prices its usage).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from gateway.config.loader import build_from_dict
from gateway.config.problems import Problems
from gateway.experiments.middleware import unit_of
from gateway.experiments.registry import ExperimentRegistry
from tests.conftest import MASTER_KEY, deployment
from tests.harness import CHAT, HI, GatewayProcess, http_client, metric_value, openai_client, wait_for
from tests.redis_server import RedisServer

RPM10 = "sk-grid-rpm-ten"
PAIR = "sk-grid-two-at-once"
BUDGET = "sk-grid-small-budget"
OTHER = "sk-grid-other"
MODEL = "gpt-4o-mini"
GUARD_MIN = 10  # the guardrail experiments' min_requests


def config(mock_url: str, redis_url: str) -> dict[str, Any]:
    return {
        "model_list": [
            deployment(MODEL, mock_url),
            deployment("slow", mock_url, model="openai/slow-up"),
            deployment("flaky", mock_url, dep_id="flaky-1", model="openai/flaky-up"),
            deployment("exp-a", mock_url, model="openai/exp-a-up"),
            deployment("exp-b", mock_url, model="openai/exp-b-up"),
            deployment("capped", mock_url, dep_id="cap-1", model="openai/cap-up", rpm=3),
            deployment("exp-c", mock_url, model="openai/exp-c-up"),
            deployment("exp-d", mock_url, model="openai/exp-d-up"),
            deployment("exp-e", mock_url, model="openai/exp-e-up"),
            # the guardrail tests: a control each and a variant whose upstream answers 500s
            *(deployment(g, mock_url, model=f"openai/{g}-up") for g in ("guard-ctl", "guard-bad")),
            *(deployment(g, mock_url, model=f"openai/{g}-up") for g in ("pool-ctl", "pool-bad")),
        ],
        "router_settings": {
            "num_retries": 0,
            "redis_url": redis_url,
            "allowed_fails": 1,
            "cooldown_time": 300,
        },
        "model_routing": {
            "experiments": [
                {
                    "id": "shared-exp",
                    "models": ["exp-a", "exp-b"],
                    "weights": [50, 50],
                    "traffic_percentage": 100,
                    "applies_to": ["exp-a"],
                },
                {
                    "id": "count-exp",
                    "models": ["exp-c", "exp-d"],
                    "weights": [50, 50],
                    "traffic_percentage": 100,
                    "applies_to": ["exp-c"],
                },
                *(
                    {
                        "id": f"{name}-exp",
                        "models": [f"{name}-ctl", f"{name}-bad"],
                        "applies_to": [f"{name}-ctl"],
                        "guardrail": {"min_requests": GUARD_MIN},
                    }
                    for name in ("guard", "pool")
                ),
                {
                    "id": "fb-exp",
                    "models": ["exp-e", "exp-d"],
                    "weights": [50, 50],
                    "traffic_percentage": 100,
                    "applies_to": ["exp-e"],
                },
            ]
        },
        "general_settings": {
            "master_key": MASTER_KEY,
            "api_keys": [
                {"key": RPM10, "name": "rpm-ten", "rpm_limit": 10},
                {"key": PAIR, "name": "two-at-once", "max_parallel_requests": 2},
                {"key": BUDGET, "name": "small-budget", "max_budget": 0.000001, "budget_duration": "30d"},
                {"key": OTHER, "name": "other"},
            ],
        },
    }


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="module")
def replicas(mock, redis_server: RedisServer) -> Iterator[tuple[GatewayProcess, GatewayProcess]]:  # noqa: ANN001
    cfg = config(mock.url, redis_server.url)
    with GatewayProcess(cfg) as a, GatewayProcess(cfg) as b:
        yield a, b


def _chat(gw: GatewayProcess, key: str, model: str = MODEL) -> httpx.Response:
    with http_client(gw, key) as client:
        return client.post(CHAT, json={"model": model, "messages": HI})


def test_rpm_limit_of_10_admits_exactly_10_across_both_replicas(replicas) -> None:  # noqa: ANN001
    a, b = replicas
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda i: _chat((a, b)[i % 2], RPM10), range(16)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: 10, 429: 6}
    for response in responses:
        assert response.headers["x-ratelimit-limit-requests"] == "10"
    refused = [r for r in responses if r.status_code == 429]
    assert all(
        r.headers["x-ratelimit-remaining-requests"] == "0" and "retry-after" in r.headers for r in refused
    )
    assert refused[0].json()["error"]["code"] == "rate_limit_exceeded"
    for gw in (a, b):  # later, one at a time, on either replica: still refused
        with pytest.raises(openai.RateLimitError) as later:
            openai_client(gw, RPM10).chat.completions.create(model=MODEL, messages=HI)
        assert later.value.code == "rate_limit_exceeded"


def test_max_parallel_requests_2_holds_across_both_replicas(replicas, mock) -> None:  # noqa: ANN001
    a, b = replicas
    mock.add_fault({"match": {"model": "slow-up"}, "delay": 2.0, "times": 2})
    held: list[httpx.Response] = []
    workers = [threading.Thread(target=lambda gw=gw: held.append(_chat(gw, PAIR, "slow"))) for gw in (a, b)]
    for worker in workers:
        worker.start()
    assert wait_for(lambda: len(mock.requests("/v1/chat/completions")) >= 2)
    third = [_chat(gw, PAIR) for gw in (a, b)]
    for worker in workers:
        worker.join(timeout=20)
    assert [r.status_code for r in held] == [200, 200]
    assert [r.status_code for r in third] == [429, 429]
    assert "parallel" in third[0].json()["error"]["message"]
    assert wait_for(lambda: _chat(b, PAIR).status_code == 200)  # both slots freed on Redis


def test_a_budget_spent_on_one_replica_is_refused_on_the_other(replicas) -> None:  # noqa: ANN001
    a, b = replicas
    assert _chat(a, BUDGET).status_code == 200
    assert wait_for(lambda: _chat(b, BUDGET).status_code == 429)
    refused = _chat(b, BUDGET).json()["error"]
    assert (refused["type"], refused["code"]) == ("insufficient_quota", "budget_exceeded")


def test_a_key_created_on_one_replica_works_on_the_other_and_revoked_there_is_refused_here(replicas) -> None:  # noqa: ANN001
    a, b = replicas
    with http_client(a) as admin_a:
        created = admin_a.post("/admin/keys", json={"name": "shared-app", "rpm_limit": 100}).json()
    key = created["key"]
    assert wait_for(lambda: _chat(b, key).status_code == 200)
    assert _chat(a, key).status_code == 200
    with http_client(b) as admin_b:
        usage = admin_b.get(f"/admin/keys/{created['id']}").json()
        assert usage["requests_in_window"] == 2  # counted on both replicas, seen from either
        assert admin_b.delete(f"/admin/keys/{created['id']}").status_code == 204
    assert wait_for(lambda: _chat(a, key).status_code == 401)
    with http_client(a) as admin_a:
        assert wait_for(lambda: admin_a.get(f"/admin/keys/{created['id']}").status_code == 404)


def _deployment_state(gw: GatewayProcess, dep_id: str) -> float | None:
    text = httpx.get(f"{gw.url}/metrics", timeout=10).text
    return metric_value(text, "grid_deployment_state", deployment=dep_id)


def test_a_breaker_opened_on_one_replica_is_skipped_by_the_other(replicas, mock) -> None:  # noqa: ANN001
    a, b = replicas
    mock.add_fault({"match": {"model": "flaky-up"}, "status": 500, "times": 1})
    assert _chat(a, MASTER_KEY, "flaky").status_code == 502  # opens flaky-1 on A (allowed_fails 1)
    assert _deployment_state(a, "flaky-1") == 2
    assert wait_for(lambda: _deployment_state(b, "flaky-1") == 2)
    refused = _chat(b, MASTER_KEY, "flaky")
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "no_healthy_deployment"
    assert len([r for r in mock.requests("/v1/chat/completions") if r["body"]["model"] == "flaky-up"]) == 1


def _experiment_of(gw: GatewayProcess) -> str | None:
    with http_client(gw) as client:
        response = client.post(CHAT, json={"model": "exp-a", "messages": HI, "user": "u-1"})
    assert response.status_code == 200
    return response.headers.get("x-grid-experiment")


def test_an_experiment_stopped_through_one_replica_stops_on_the_other(replicas) -> None:  # noqa: ANN001
    a, b = replicas
    assert _experiment_of(b) is not None  # enrolled while it runs
    with http_client(a) as admin:
        assert admin.post("/admin/experiments/shared-exp/stop").json()["status"] == "stopped"
    with http_client(b) as admin:
        assert wait_for(lambda: admin.get("/admin/experiments/shared-exp").json()["status"] == "stopped")
    assert _experiment_of(b) is None
    assert _experiment_of(a) is None


def _guarded_chat(gw: GatewayProcess, model: str, user: str) -> tuple[int, dict[str, str]]:
    """One request through the openai SDK: its status and response headers (a 5xx is an answer)."""
    with openai_client(gw) as client:
        try:
            raw = client.chat.completions.with_raw_response.create(model=model, messages=HI, user=user)
        except openai.APIStatusError as exc:
            return exc.status_code, dict(exc.response.headers)
    return raw.http_response.status_code, dict(raw.headers)


def _report(gw: GatewayProcess, experiment_id: str) -> dict[str, Any]:
    with http_client(gw) as admin:
        listed = admin.get("/admin/experiments").json()["experiments"]
    return next(e for e in listed if e["id"] == experiment_id)


def _drive_until_stopped(gw: GatewayProcess, model: str, experiment_id: str, users: Iterator[str]) -> None:
    """Requests to `gw` one at a time until its guardrail stops the experiment (a generous deadline:
    the other replica's counts reach `gw` with its next once-a-second read)."""

    def step() -> bool:
        _guarded_chat(gw, model, next(users))
        return _report(gw, experiment_id)["status"] == "stopped"

    assert wait_for(step, timeout=40, interval=0.05), _report(gw, experiment_id)


def test_a_guardrail_stop_on_one_replica_stops_the_experiment_on_the_other(replicas, mock) -> None:  # noqa: ANN001
    a, b = replicas
    mock.add_fault({"match": {"model": "guard-bad-up"}, "status": 500})
    users = (f"guard-user-{i}" for i in range(10_000))
    statuses = Counter()
    for _ in range(4 * GUARD_MIN):  # only A serves: its own outcomes trip its guardrail
        status, headers = _guarded_chat(a, "guard-ctl", next(users))
        statuses[headers.get("x-grid-experiment"), status >= 500] += 1
        if _report(a, "guard-exp")["status"] == "stopped":
            break
    on_a = _report(a, "guard-exp")
    assert on_a["status"] == "stopped", (on_a, statuses)
    assert on_a["status_reason"].startswith("guardrail: variant guard-bad error rate 100.0%")
    # B served none of it: it stops because A announced the stop, with A's reason
    with http_client(b) as admin:
        assert wait_for(lambda: _report(b, "guard-exp")["status"] == "stopped", timeout=30)
        single = admin.get("/admin/experiments/guard-exp").json()
    on_b = _report(b, "guard-exp")
    assert on_b["status_reason"] == on_a["status_reason"] == single["status_reason"]
    assert on_b["verdict"].startswith("stopped by the guardrail: variant guard-bad")
    for i in range(6):  # B's next requests are not enrolled: the control serves them
        status, headers = _guarded_chat(b, "guard-ctl", f"after-{i}")
        assert status == 200 and "x-grid-experiment" not in headers and headers["x-grid-model"] == "guard-ctl"


def _users_of(cfg: dict[str, Any], experiment_id: str, index: int) -> Iterator[str]:
    """Users the experiment assigns to variant `index` (the assignment is a pure hash of the unit)."""
    problems = Problems()
    registry = ExperimentRegistry()
    registry.reload(build_from_dict(cfg, {}, problems))
    run = registry.get(experiment_id)
    assert run is not None and not problems.errors
    return (
        user
        for i in range(100_000)
        if run.assign(unit_of(run, {}, {"user": (user := f"pool-user-{i}")})) == index
    )


def test_the_guardrail_judges_on_the_outcomes_of_both_replicas(replicas, mock, redis_server) -> None:  # noqa: ANN001
    a, b = replicas
    mock.add_fault({"match": {"model": "pool-bad-up"}, "status": 500})
    cfg = config(mock.url, redis_server.url)
    control, variant = _users_of(cfg, "pool-exp", 0), _users_of(cfg, "pool-exp", 1)
    # B: enough control outcomes, too few of the variant for its guardrail to judge
    for _ in range(GUARD_MIN + 2):
        got = _guarded_chat(b, "pool-ctl", next(control))
        assert got[0] == 200, got
    for _ in range(GUARD_MIN // 2):
        status, headers = _guarded_chat(b, "pool-ctl", next(variant))
        assert status >= 500 and headers["x-grid-experiment"] == "pool-exp=pool-bad"
    assert _report(b, "pool-exp")["status"] == "running"
    # A: only the failing variant, so A alone never has a control sample; B's outcomes complete it
    _drive_until_stopped(a, "pool-ctl", "pool-exp", variant)
    reason = _report(a, "pool-exp")["status_reason"]
    assert reason.startswith("guardrail: variant pool-bad error rate 100.0%")
    assert f"vs control 0.0% (0/{GUARD_MIN + 2})" in reason, reason  # B's control outcomes
    assert wait_for(lambda: _report(b, "pool-exp")["status"] == "stopped", timeout=30)
    assert _report(b, "pool-exp")["status_reason"] == reason


def test_a_deployments_rpm_holds_across_both_replicas(replicas) -> None:  # noqa: ANN001
    a, b = replicas
    statuses = []
    for i in range(5):  # more than the reconciliation interval (0.1 s) apart: exact
        statuses.append(_chat((a, b)[i % 2], MASTER_KEY, "capped").status_code)
        time.sleep(0.3)
    assert statuses == [200, 200, 200, 429, 429]
    for gw in (a, b):
        refused = _chat(gw, MASTER_KEY, "capped")
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limit_exceeded"


def test_admin_experiments_on_either_replica_counts_the_traffic_of_both(replicas) -> None:  # noqa: ANN001
    a, b = replicas
    for i, gw in enumerate([a] * 6 + [b] * 4):
        with http_client(gw) as client:
            response = client.post(CHAT, json={"model": "exp-c", "messages": HI, "user": f"user-{i}"})
        assert response.headers["x-grid-experiment"].startswith("count-exp=")

    def counted(gw: GatewayProcess) -> int:
        with http_client(gw) as admin:
            report = admin.get("/admin/experiments/count-exp").json()
        return sum(v["requests"] for v in report["variants"])

    assert wait_for(lambda: counted(a) == 10 and counted(b) == 10)
    with http_client(b) as admin:
        listed = {e["id"]: e for e in admin.get("/admin/experiments").json()["experiments"]}
    assert sum(v["requests"] for v in listed["count-exp"]["variants"]) == 10


def test_the_workers_of_one_gateway_share_a_keys_limit_through_redis(mock, redis_server: RedisServer) -> None:  # noqa: ANN001
    cfg = config(mock.url, redis_server.url)
    cfg["general_settings"]["api_keys"] = [{"key": "sk-grid-workers", "name": "workers", "rpm_limit": 6}]
    with GatewayProcess(cfg, workers=2) as gw, ThreadPoolExecutor(4) as pool:
        statuses = Counter(pool.map(lambda _: _chat(gw, "sk-grid-workers").status_code, range(10)))
    assert statuses == {200: 6, 429: 4}


def test_feedback_for_a_request_served_by_one_replica_is_taken_once_by_any(replicas) -> None:  # noqa: ANN001
    a, b = replicas
    with http_client(a) as client:
        served = client.post(CHAT, json={"model": "exp-e", "messages": HI, "user": "rater"})
    assert served.headers["x-grid-experiment"].startswith("fb-exp=")
    request_id = served.headers["x-request-id"]
    with http_client(b) as client_b, http_client(a) as client_a:
        first = client_b.post("/v1/feedback", json={"request_id": request_id, "value": 5})
        assert first.status_code == 200 and first.json()["experiment"] == "fb-exp"
        assert client_a.post("/v1/feedback", json={"request_id": request_id, "value": 1}).status_code == 409
        assert client_b.post("/v1/feedback", json={"request_id": request_id, "value": 1}).status_code == 409
    for gw in (a, b):  # another key cannot rate it, on any replica
        with http_client(gw, OTHER) as other_key:
            unknown = other_key.post("/v1/feedback", json={"request_id": request_id, "value": 1})
        assert unknown.status_code == 404


TWINS = {  # two near-equal groups: `cheap` wins by a hair until its history says otherwise
    "cheap": {"quality": 0.8, "input_cost_per_million": 1.0, "output_cost_per_million": 1.0},
    "strong": {"quality": 0.8, "input_cost_per_million": 1.2, "output_cost_per_million": 1.2},
}


def test_failures_one_replica_saw_move_the_other_replicas_auto_choice(
    mock, redis_server: RedisServer
) -> None:  # noqa: ANN001
    cfg = {
        "model_list": [
            deployment("cheap", mock.url, dep_id="cheap-1", model="openai/cheap-1"),
            deployment("strong", mock.url, dep_id="strong-1", model="openai/strong-1"),
        ],
        # breakers stay closed (allowed_fails): only the shared history can move B's choice
        "router_settings": {"num_retries": 0, "allowed_fails": 100, "redis_url": redis_server.url},
        "general_settings": {"master_key": MASTER_KEY},
        "model_routing": {"tradeoff": 5, "capabilities": TWINS},
    }

    def auto(gw: GatewayProcess) -> httpx.Response:
        with http_client(gw) as client:
            return client.post(CHAT, json={"model": "auto", "messages": HI})

    with GatewayProcess(cfg) as a, GatewayProcess(cfg) as b:
        assert auto(b).headers["x-grid-model"] == "cheap"  # B's own view: cheap first
        mock.add_fault({"match": {"model": "cheap-1"}, "status": 500})
        for _ in range(3):
            assert _chat(a, MASTER_KEY, "cheap").status_code == 502  # only A sees cheap fail
        mock.clear_faults()
        with http_client(b) as admin:

            def seen_on_b() -> bool:
                others = admin.get("/admin/model-selector/stats").json()["other_replicas"]
                return any(track["errors"] >= 3 for track in others.get("cheap", []))

            assert wait_for(seen_on_b)
            chosen = auto(b)
            assert chosen.headers["x-grid-model"] == "strong"
            assert chosen.headers["x-grid-fallbacks"] == "0"  # chosen first, not fallen back to
            states = admin.get("/admin/load-balancer/stats").json()
        assert states["groups"]["cheap"]["deployments"][0]["state"] == "closed"  # history, not a breaker


def test_the_backend_gauge_is_1_while_redis_answers(replicas) -> None:  # noqa: ANN001
    for gw in replicas:
        text = httpx.get(f"{gw.url}/metrics", timeout=10).text
        assert metric_value(text, "grid_state_backend_up") == 1


def _up(gw: GatewayProcess) -> float | None:
    return metric_value(httpx.get(f"{gw.url}/metrics", timeout=10).text, "grid_state_backend_up")


def test_redis_killed_mid_load_fails_no_request_and_the_outages_spend_is_kept(mock) -> None:  # noqa: ANN001
    server = RedisServer().start()
    cfg = config(mock.url, server.url)
    cfg["general_settings"]["api_keys"] = [{"key": "sk-grid-busy", "name": "busy", "max_budget": 1000}]
    a = GatewayProcess(cfg).start()
    b = GatewayProcess(cfg).start()
    try:
        assert _chat(a, "sk-grid-busy").status_code == 200
        with http_client(a) as admin:
            key_id = admin.get("/admin/keys").json()["data"][0]["id"]
            assert wait_for(lambda: admin.get(f"/admin/keys/{key_id}").json()["spend"] > 0)
            unit = admin.get(f"/admin/keys/{key_id}").json()["spend"]  # one request's cost
        statuses: Counter[int] = Counter()
        phase = {"outage": False}
        during_outage = Counter()
        stop = threading.Event()

        def load(gw: GatewayProcess) -> None:
            with http_client(gw, "sk-grid-busy") as client:
                while not stop.is_set():
                    outage = phase["outage"]
                    status = client.post(CHAT, json={"model": MODEL, "messages": HI}).status_code
                    statuses[status] += 1
                    if outage:
                        during_outage[status] += 1

        workers = [threading.Thread(target=load, args=(gw,)) for gw in (a, b)]
        for worker in workers:
            worker.start()
        assert wait_for(lambda: statuses[200] >= 20)
        server.stop()  # mid-load
        killed = time.monotonic()
        assert wait_for(lambda: _up(a) == 0 and _up(b) == 0)
        phase["outage"] = True
        with http_client(b) as admin:  # keys cannot change while the shared store is away
            refused = admin.post("/admin/keys", json={"name": "during-outage"})
        assert refused.status_code == 503
        assert refused.json()["error"]["code"] == "state_backend_unavailable"
        assert wait_for(lambda: during_outage[200] >= 20)
        stop.set()
        for worker in workers:
            worker.join(timeout=20)
        outage_requests = during_outage[200]
        assert set(statuses) == {200}, statuses  # no request failed because Redis went away
        server.start()  # same port, empty (no persistence): what it holds next is what was flushed
        assert wait_for(lambda: _up(a) == 1 and _up(b) == 1)
        with http_client(a) as admin:

            def spend() -> float:
                return admin.get(f"/admin/keys/{key_id}").json()["spend"]

            assert wait_for(lambda: spend() >= outage_requests * unit * 0.999)
            assert spend() <= sum(statuses.values()) * unit * 1.001
        warnings = [line for line in a.logs().splitlines() if "unreachable" in line]
        assert 1 <= len(warnings) <= 1 + (time.monotonic() - killed) // 60  # at most one a minute
        assert "127.0.0.1:" in warnings[0] and "redis://" not in warnings[0]
    finally:
        a.stop()
        b.stop()
        server.stop()


def test_a_gateway_whose_redis_is_down_at_start_serves_with_per_process_limits(mock) -> None:  # noqa: ANN001
    down = RedisServer()  # a free port nobody listens on
    cfg = config(mock.url, down.url)
    cfg["general_settings"]["api_keys"] = [{"key": "sk-grid-alone", "name": "alone", "rpm_limit": 2}]
    with GatewayProcess(cfg) as gw:
        assert [_chat(gw, "sk-grid-alone").status_code for _ in range(3)] == [200, 200, 429]
        assert _up(gw) == 0
        warnings = [line for line in gw.logs().splitlines() if "unreachable" in line and "grid.state" in line]
        assert len(warnings) == 1 and f"127.0.0.1:{down.port}" in warnings[0]


def test_gateway_check_warns_naming_an_unreachable_redis_and_passes_a_reachable_one(
    mock,
    redis_server: RedisServer,
    tmp_path_factory,  # noqa: ANN001
) -> None:
    down = RedisServer()  # a free port nobody listens on
    for url, expect_warning in ((down.url, True), (redis_server.url, False)):
        gw = GatewayProcess(config(mock.url, url))
        gw.write_config(gw.config)
        result = subprocess.run(
            [sys.executable, "-m", "gateway", "check", "--config", str(gw.config_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout
        warned = f"Redis at 127.0.0.1:{down.port} unreachable" in result.stdout
        assert warned is expect_warning, result.stdout
