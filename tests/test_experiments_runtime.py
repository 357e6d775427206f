"""Experiments in process: the middleware on raw ASGI messages, the registry, guardrail, feedback log
and the report's sample-ratio check."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from starlette.requests import Request

from gateway.config.loader import build_from_dict
from gateway.config.model import ApiKey
from gateway.config.problems import Problems
from gateway.endpoints.common import json_body
from gateway.experiments import experiments_summary
from gateway.experiments.config import Guardrail
from gateway.experiments.feedback import FeedbackLog
from gateway.experiments.guardrail import Counts, breach
from gateway.experiments.middleware import ExperimentsMiddleware
from gateway.experiments.registry import ExperimentRegistry
from gateway.experiments.report import experiment_report, sample_ratio
from gateway.json_limits import DEFAULT_MAX_DEPTH
from gateway.middleware.body_limit import BodyLimitMiddleware

BASE = "http://127.0.0.1:9/v1"


def snapshot(experiments: list[dict], **general: Any):
    raw = {
        "model_list": [
            {"model_name": n, "litellm_params": {"model": f"openai/{n}", "api_base": BASE, "api_key": "k"}}
            for n in ("ctl", "var")
        ],
        "router_settings": {"model_group_alias": {"fast": "ctl"}},
        "general_settings": general,
        "model_routing": {"experiments": experiments},
    }
    problems = Problems()
    snap = build_from_dict(raw, {}, problems)
    assert not problems.errors
    return snap


def registry(**entry: Any) -> ExperimentRegistry:
    reg = ExperimentRegistry()
    reg.reload(snapshot([{"id": "e", "models": ["ctl", "var"], "applies_to": ["fast"], **entry}]))
    return reg


class Recorder:
    """An ASGI app standing in for the router: reads the body the way endpoints do."""

    def __init__(self) -> None:
        self.scope: dict | None = None
        self.body: Any = None
        self.error: Exception | None = None

    async def __call__(self, scope, receive, send) -> None:
        self.scope = scope
        try:
            self.body = await json_body(Request(scope, receive), DEFAULT_MAX_DEPTH)
        except Exception as exc:  # the endpoint would answer 400
            self.error = exc
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


def call(app, body: bytes, *, headers=(), query: bytes = b"", key: ApiKey | None = None, chunks: int = 1):
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"content-length", str(len(body)).encode()), *headers],
        "query_string": query,
        "grid.request_id": "req-1",
    }
    if key is not None:
        scope["grid.key"] = key
    size = max(1, len(body) // chunks + 1)
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    messages = [
        {"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
        for i, part in enumerate(parts)
    ]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return scope, sent


def chat(model: str = "fast", **extra: Any) -> bytes:
    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}], **extra})


def test_body_is_parsed_once_shared_with_the_endpoint_and_replayed():
    inner = Recorder()
    app = ExperimentsMiddleware(inner, registry())
    raw = chat(user="alice")
    scope, sent = call(app, raw, chunks=3)
    assert inner.body is scope["grid.body"]  # the endpoint got the middleware's dict, not a re-parse
    assert scope["grid.raw_body"] == raw
    assignment = scope["grid.experiment"]
    assert scope["grid.headers"] == {"x-grid-experiment": f"e={assignment.variant}"}
    assert sent[0]["status"] == 200


def test_bad_json_is_not_enrolled_and_the_endpoint_still_sees_the_bytes():
    inner = Recorder()
    scope, _ = call(ExperimentsMiddleware(inner, registry()), b'{"model": "fast", ')
    assert "grid.experiment" not in scope and "grid.body" not in scope
    assert "not valid JSON" in str(inner.error)


def test_override_ineligible_model_and_missing_unit_are_not_enrolled():
    reg = registry()
    for kwargs in (
        {"headers": [(b"x-grid-model-override", b"var")]},
        {"query": b"a=1&override_model=var"},
    ):
        scope, _ = call(ExperimentsMiddleware(Recorder(), reg), chat(user="alice"), **kwargs)
        assert "grid.experiment" not in scope
    scope, _ = call(ExperimentsMiddleware(Recorder(), reg), chat(user="alice"), query=b"override_model=")
    assert "grid.experiment" in scope  # an empty override is no override, as in the route step
    scope, _ = call(ExperimentsMiddleware(Recorder(), reg), chat("var", user="alice"))
    assert "grid.experiment" not in scope  # `var` is not in applies_to
    scope, _ = call(ExperimentsMiddleware(Recorder(), reg), chat())  # no user, no key: no unit
    assert "grid.experiment" not in scope


def test_units_user_else_key_session_and_request():
    key = ApiKey(name="team", key="sk-team")
    scope, _ = call(ExperimentsMiddleware(Recorder(), registry()), chat(), key=key)
    assert "grid.experiment" in scope  # default unit: the body's user, else the key
    reg = registry(unit="user")
    scope, _ = call(ExperimentsMiddleware(Recorder(), reg), chat(), key=key)
    assert "grid.experiment" not in scope  # an explicit `user` unit does not fall back
    reg = registry(unit="session")
    scope, _ = call(ExperimentsMiddleware(Recorder(), reg), chat(), headers=[(b"x-session-id", b"s-1")])
    assert "grid.experiment" in scope
    reg = registry(unit="request")
    assert "grid.experiment" in call(ExperimentsMiddleware(Recorder(), reg), chat())[0]
    limited = ApiKey(name="limited", key="sk-l", models=frozenset({"var"}))
    scope, _ = call(ExperimentsMiddleware(Recorder(), registry()), chat(user="a"), key=limited)
    assert "grid.experiment" not in scope  # the route step refuses it (403): nothing to learn


def test_body_over_the_limit_is_still_413_when_read_by_the_middleware():
    app = BodyLimitMiddleware(ExperimentsMiddleware(Recorder(), registry()), limit=lambda: 10)
    scope, sent = call(app, chat(user="alice"), headers=[], chunks=4)
    # content-length is checked first; without it the streamed body trips the limit mid-read
    assert sent[0]["status"] == 413
    app = BodyLimitMiddleware(ExperimentsMiddleware(Recorder(), registry()), limit=lambda: 10)
    body = chat(user="alice")
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [],
        "query_string": b"",
    }
    messages = [
        {"type": "http.request", "body": body[:8], "more_body": True},
        {"type": "http.request", "body": body[8:]},
    ]
    sent = []

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413 and b"request_too_large" in sent[1]["body"]


def test_nothing_running_means_the_body_is_not_touched():
    inner = Recorder()
    scope, _ = call(ExperimentsMiddleware(inner, registry(status="paused")), chat(user="alice"))
    assert "grid.body" not in scope and "grid.experiment" not in scope
    assert inner.body["model"] == "fast"  # the endpoint parsed it itself


def test_reload_keeps_statistics_and_an_admin_kill_switch_unless_the_file_changes_status():
    reg = registry()
    run = reg.get("e")
    run.variants[0].record(error=False, fallback=False, latency=0.1)
    run.variants[0].assigned = 7
    reg.set_status("e", "stopped", "stop by admin API")
    assert not reg.active
    reg.reload(snapshot([{"id": "e", "models": ["ctl", "var"], "applies_to": ["fast"]}]))
    assert reg.get("e") is run and run.status == "stopped" and run.variants[0].requests == 1
    reg.reload(snapshot([{"id": "e", "models": ["ctl", "var"], "applies_to": ["fast"], "status": "paused"}]))
    assert run.status == "paused" and run.status_reason == "configuration reload"
    reg.reload(snapshot([{"id": "e", "models": ["ctl", "var"], "applies_to": ["fast"], "weights": [3, 1]}]))
    assert run.status == "running" and reg.active
    assert run.variants[0].assigned == 0 and run.variants[0].requests == 1  # SRM restarts on a new split
    reg.reload(snapshot([{"id": "e", "models": ["ctl", "fast"], "applies_to": ["fast"]}]))
    assert reg.get("e") is not run  # other variants: a new experiment, fresh statistics


def test_guardrail_decides_on_counts():
    rule = Guardrail(min_requests=50, p_value=0.01)
    assert breach(Counts(100, 1), Counts(100, 12), rule) is not None
    assert breach(Counts(100, 1), Counts(49, 40), rule) is None  # under the minimum sample
    assert breach(Counts(100, 12), Counts(100, 1), rule) is None  # the variant is the better one
    assert breach(Counts(100, 5), Counts(100, 8), rule) is None  # not significant
    assert breach(Counts(100, 1), Counts(100, 12), Guardrail(enabled=False)) is None
    reason = breach(Counts(100, 0), Counts(100, 100), rule)
    assert reason is not None and "100.0% (100/100) vs control 0.0% (0/100)" in reason


def test_guardrail_stops_the_run_after_failures():
    reg = registry(guardrail={"min_requests": 20})
    run = reg.get("e")
    for i in range(20):
        run.variants[0].record(error=False, fallback=False, latency=0.1)
        run.check_guardrail(0)
        run.variants[1].record(error=i % 2 == 0, fallback=False, latency=0.1)
        run.check_guardrail(1)
    assert run.status == "stopped" and run.status_reason.startswith("guardrail: variant var error rate 50.0%")
    assert not reg.active
    assert experiment_report(run)["verdict"].startswith("stopped by the guardrail: variant var")


def test_feedback_log_expires_and_is_bounded():
    now = [0.0]
    log = FeedbackLog(ttl_seconds=10, max_requests=3, clock=lambda: now[0])
    log.remember("r1", "e", "a", "")
    now[0] = 5
    log.remember("r2", "e", "b", "")
    assert log.lookup("r1", "").variant == "a"
    now[0] = 10.5
    assert log.lookup("r1", "") is None and log.lookup("r2", "").variant == "b"  # r1 is 10.5 s old
    for rid in ("r3", "r4", "r5"):
        log.remember(rid, "e", "a", "")
    assert len(log) == 3 and log.lookup("r2", "") is None  # the oldest went first


def test_feedback_log_keeps_each_clients_request_ids_apart():
    log = FeedbackLog(ttl_seconds=10, max_requests=10)
    log.remember("r1", "e", "a", "alice#1")
    log.remember("r1", "e", "b", "mallory#2")  # the same id, sent by another key
    assert log.lookup("r1", "alice#1").variant == "a"
    assert log.lookup("r1", "mallory#2").variant == "b"
    assert log.lookup("r1", "") is None


def test_sample_ratio_mismatch_is_flagged_on_a_skewed_split():
    run = registry(weights=[50, 50]).get("e")
    run.variants[0].assigned, run.variants[1].assigned = 520, 480
    fine = sample_ratio(run)
    assert not fine["mismatch"] and fine["chi_square"] == pytest.approx(1.6)
    run.variants[0].assigned, run.variants[1].assigned = 600, 400
    skewed = sample_ratio(run)
    assert skewed["mismatch"] and skewed["chi_square"] == pytest.approx(40.0)
    assert skewed["expected"] == {"ctl": 500.0, "var": 500.0}
    for stats in run.variants:
        for _ in range(40):
            stats.record(error=False, fallback=False, latency=0.1)
    assert experiment_report(run)["verdict"].startswith("sample ratio mismatch")
    run.variants[0].assigned, run.variants[1].assigned = 3, 0
    assert not sample_ratio(run)["mismatch"]  # too few to tell


def test_report_figures_match_the_recorded_outcomes():
    run = registry().get("e")
    ctl, var = run.variants
    for latency in (0.1, 0.2, 0.3, 0.4, 0.5):
        ctl.record(
            error=False, fallback=False, latency=latency, prompt_tokens=10, completion_tokens=4, cost=0.002
        )
    for latency in (1.0, 2.0):
        var.record(error=True, fallback=True, latency=latency, ttft=latency / 10)
    var.record(error=False, fallback=False, rejected=True, latency=None)
    for value in (1.0, 0.0, 1.0, 1.0):
        ctl.add_feedback(value)
    var.add_feedback(4.0)
    var.add_feedback(2.0)
    report = experiment_report(run)
    c, v = report["variants"]
    assert c["latency_ms"] == {"p50": 300.0, "p95": 480.0}  # type-7 quantiles of 100..500 ms
    assert c["tokens_per_request"] == {"prompt": 10.0, "completion": 4.0}
    assert c["cost_per_request_usd"] == pytest.approx(0.002)
    # Wilson for 3 of 4: centre (0.75 + 0.4802) / 1.9604 = 0.62752, half-width 0.32688
    assert c["feedback"]["mean"] == 0.75
    assert c["feedback"]["ci95"] == [pytest.approx(0.300642, abs=1e-6), pytest.approx(0.954413, abs=1e-6)]
    assert v["requests"] == 3 and v["errors"] == 2 and v["rejected"] == 1 and v["fallbacks"] == 2
    assert v["error_rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert v["ttft_ms"]["p50"] == 150.0 and v["ttft_ms"]["streams"] == 2
    assert v["feedback"]["mean"] == 3.0 and v["feedback"]["ci95"] is not None
    comparison = report["comparisons"][0]
    assert comparison["latency"]["ratio"] > 1 and comparison["feedback"]["difference"] == 2.25


def test_experiments_summary_lists_the_running_experiments():
    reg = registry()
    reg.reload(
        snapshot(
            [
                {"id": "on", "models": ["ctl", "var"], "applies_to": ["fast"]},
                {"id": "off", "models": ["ctl", "var"], "status": "paused"},
            ]
        )
    )
    reg.get("on").variants[1].record(error=True, fallback=False, latency=0.25)
    summary = experiments_summary(SimpleNamespace(experiments=reg))
    assert summary["running"] == 1
    (entry,) = summary["experiments"]
    assert entry["id"] == "on" and entry["models"] == ["ctl", "var"]
    assert entry["requests"] == {"ctl": 0, "var": 1} and entry["error_rate"] == {"ctl": None, "var": 1.0}
    assert entry["latency_p50_ms"]["var"] == 250.0 and entry["verdict"].startswith("collecting data")
