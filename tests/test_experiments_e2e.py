"""Experiments end to end: the openai SDK against real gateway processes, the mock upstream behind.

Each group sends its own upstream model name, so the mock's request log and fault rules can tell the
variants apart. One gateway serves the module; each experiment in it owns an alias, so tests do not
share statistics.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import httpx
import openai
import pytest

from gateway.config.problems import Problems
from gateway.experiments.config import parse
from gateway.experiments.registry import ExperimentRun
from tests.conftest import MASTER_KEY, deployment
from tests.harness import GatewayProcess, metric_samples

USER_KEY = "sk-grid-test-user"
HI = [{"role": "user", "content": "hi"}]
ADMIN = {"Authorization": f"Bearer {MASTER_KEY}"}

EXPERIMENTS = [
    {"id": "split", "models": ["ctl", "var"], "applies_to": ["fast"]},
    {"id": "switch", "models": ["ctl", "var"], "applies_to": ["switchy"], "unit": "request"},
    # the guardrail test breaks its variant's upstream (and so its breaker): a group no other test uses
    {
        "id": "guard",
        "models": ["ctl", "failing"],
        "applies_to": ["guarded"],
        "guardrail": {"min_requests": 15},
    },
    {"id": "streams", "models": ["ctl", "var"], "applies_to": ["streamy"], "unit": "request"},
    {"id": "rated", "models": ["ctl", "var"], "applies_to": ["rated"], "unit": "request"},
]


def config(mock_url: str, experiments: list[dict] = EXPERIMENTS, **routing: Any) -> dict:
    return {
        "model_list": [
            deployment(group, mock_url, dep_id=f"{group}-1", model=f"openai/{group}-up")
            for group in ("ctl", "var", "bad", "failing")
        ],
        "router_settings": {
            "num_retries": 0,
            "retry_after": 0,
            "model_group_alias": {a: "ctl" for a in ("fast", "switchy", "guarded", "streamy", "rated")},
        },
        "general_settings": {"master_key": MASTER_KEY, "api_keys": [{"key": USER_KEY, "name": "user"}]},
        "model_routing": {"experiments": experiments, **routing},
    }


@pytest.fixture(scope="module")
def gw(mock):
    with GatewayProcess(config(mock.url)) as process:
        yield process


def sdk(gw: GatewayProcess, key: str = MASTER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0, timeout=15)


def chat(client: openai.OpenAI, model: str, **kwargs: Any) -> tuple[httpx.Headers, Any]:
    raw = client.chat.completions.with_raw_response.create(model=model, messages=HI, **kwargs)
    return raw.headers, raw.parse()


def report(gw: GatewayProcess, experiment_id: str) -> dict:
    resp = httpx.get(f"{gw.url}/admin/experiments/{experiment_id}", headers=ADMIN)
    assert resp.status_code == 200, resp.text
    return resp.json()


def variants(rep: dict) -> dict[str, dict]:
    return {v["variant"]: v for v in rep["variants"]}


def admin_post(gw: GatewayProcess, path: str) -> httpx.Response:
    return httpx.post(f"{gw.url}{path}", headers=ADMIN)


def access_lines(gw: GatewayProcess) -> list[dict]:
    lines = [json.loads(line) for line in gw.logs().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "grid.access"]


def test_a_unit_lands_in_the_same_variant_in_two_processes_as_the_pure_function_says(gw, start_gateway, mock):
    other = start_gateway(config(mock.url))
    (spec,) = parse({"experiments": EXPERIMENTS[:1]}, Problems()).experiments
    expected_run = ExperimentRun(spec, live=True)
    seen = Counter()
    with sdk(gw) as first, sdk(other) as second:
        for i in range(24):
            user = f"user-{i}"
            h1, reply = chat(first, "fast", user=user)
            h2, _ = chat(second, "fast", user=user)
            expected = spec.models[expected_run.assign(f"user:{user}")]
            assert h1["x-grid-experiment"] == h2["x-grid-experiment"] == f"split={expected}"
            assert h1["x-grid-model"] == h2["x-grid-model"] == expected  # the variant's group served
            assert reply.choices[0].message.content == "mock reply: hi"
            seen[expected] += 1
            assert chat(first, "fast", user=user)[0]["x-grid-experiment"] == f"split={expected}"  # sticky
    assert seen["ctl"] and seen["var"]
    upstream = Counter(r["body"]["model"] for r in mock.requests("/v1/chat/completions"))
    assert upstream == {"ctl-up": 3 * seen["ctl"], "var-up": 3 * seen["var"]}


def test_override_is_not_enrolled(gw, mock):
    before = sum(v["assigned"] for v in report(gw, "split")["variants"])
    with sdk(gw) as client:
        headers, _ = chat(client, "fast", user="override-user", extra_query={"override_model": "var"})
        assert "x-grid-experiment" not in headers and headers["x-grid-model"] == "var"
        headers, _ = chat(
            client, "fast", user="override-user", extra_headers={"x-grid-model-override": "bad"}
        )
        assert "x-grid-experiment" not in headers and headers["x-grid-model"] == "bad"
    assert sum(v["assigned"] for v in report(gw, "split")["variants"]) == before


def test_pause_resume_and_stop_take_effect_on_the_next_request(gw, mock):
    with sdk(gw) as client:
        assert "x-grid-experiment" in chat(client, "switchy")[0]
        resp = admin_post(gw, "/admin/experiments/switch/pause")
        assert resp.json() == {"id": "switch", "status": "paused", "previous_status": "running"}
        headers, _ = chat(client, "switchy")
        assert "x-grid-experiment" not in headers and headers["x-grid-model"] == "ctl"
        assert admin_post(gw, "/admin/experiments/switch/resume").json()["status"] == "running"
        assert "x-grid-experiment" in chat(client, "switchy")[0]
        assert admin_post(gw, "/admin/experiments/switch/stop").json()["status"] == "stopped"
        assert "x-grid-experiment" not in chat(client, "switchy")[0]
        rep = report(gw, "switch")
        assert rep["status"] == "stopped" and rep["status_reason"] == "stop by admin API (master)"
        assert admin_post(gw, "/admin/experiments/switch/start").json()["status"] == "running"
        assert "x-grid-experiment" in chat(client, "switchy")[0]
    missing = admin_post(gw, "/admin/experiments/nope/stop")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "experiment_not_found"
    refused = httpx.post(
        f"{gw.url}/admin/experiments/switch/stop", headers={"Authorization": f"Bearer {USER_KEY}"}
    )
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    assert (
        httpx.get(f"{gw.url}/admin/experiments", headers={"Authorization": f"Bearer {USER_KEY}"}).status_code
        == 403
    )


def test_feedback_is_joined_to_the_variant_that_served(gw, mock):
    served: dict[str, str] = {}
    with sdk(gw, USER_KEY) as client:
        for i in range(8):
            headers, _ = chat(client, "rated")
            experiment, variant = headers["x-grid-experiment"].split("=")
            assert experiment == "rated"
            served[headers["x-request-id"]] = variant
            answer = client.post(
                "/feedback", body={"request_id": headers["x-request-id"], "value": i % 2 == 0}, cast_to=object
            )
            assert answer == {
                "status": "recorded",
                "request_id": headers["x-request-id"],
                "experiment": "rated",
                "variant": variant,
            }
        with pytest.raises(openai.ConflictError) as info:  # one rating per request
            client.post("/feedback", body={"request_id": next(iter(served)), "value": 1}, cast_to=object)
        assert info.value.body["code"] == "feedback_already_recorded"
        with pytest.raises(openai.NotFoundError) as info:
            client.post("/feedback", body={"request_id": "req_unknown", "value": 1}, cast_to=object)
        assert info.value.body["type"] == "invalid_request_error"
        assert info.value.body["code"] == "request_not_found" and "req_unknown" in info.value.body["message"]
        headers, _ = chat(client, "ctl")  # not in any experiment
        with pytest.raises(openai.NotFoundError):
            client.post("/feedback", body={"request_id": headers["x-request-id"], "value": 1}, cast_to=object)
        with pytest.raises(openai.BadRequestError) as info:
            client.post("/feedback", body={"request_id": "x", "value": "great"}, cast_to=object)
        assert info.value.body["param"] == "value"
    # without /v1 too
    resp = httpx.post(f"{gw.url}/feedback", json={"request_id": "nope", "value": 1}, headers=ADMIN)
    assert resp.status_code == 404
    rep = variants(report(gw, "rated"))
    counts = Counter(served.values())
    for variant, n in counts.items():
        assert rep[variant]["feedback"]["count"] == n
    expected = [i % 2 == 0 for i in range(8)]
    ones = Counter(v for (rid, v), good in zip(served.items(), expected, strict=True) if good)
    for variant, n in counts.items():
        assert rep[variant]["feedback"]["mean"] == pytest.approx(ones[variant] / n)


def test_guardrail_stops_an_experiment_whose_variant_fails(gw, mock):
    mock.add_fault({"match": {"model": "failing-up"}, "status": 500})
    statuses = Counter()
    with sdk(gw) as client:
        for i in range(200):
            try:
                headers, _ = chat(client, "guarded", user=f"guard-{i}")
                statuses[headers.get("x-grid-experiment")] += 1
            except openai.APIStatusError as exc:
                assert exc.status_code >= 500
                statuses["failed"] += 1
            rep = report(gw, "guard")
            if rep["status"] == "stopped":
                break
        assert rep["status"] == "stopped", rep
        v = variants(rep)
        assert v["ctl"]["requests"] >= 15 and v["failing"]["requests"] >= 15
        assert v["failing"]["error_rate"] == 1.0
        assert rep["status_reason"].startswith("guardrail: variant failing error rate 100.0%")
        assert rep["verdict"].startswith("stopped by the guardrail")
        # the next requests are not enrolled: the ordinary route serves them
        for i in range(5):
            headers, _ = chat(client, "guarded", user=f"after-{i}")
            assert "x-grid-experiment" not in headers and headers["x-grid-model"] == "ctl"
    assert statuses["failed"] >= 15
    warnings = [json.loads(line) for line in gw.logs().splitlines() if "stopped by its guardrail" in line]
    assert warnings and warnings[0]["level"] == "WARNING" and warnings[0]["experiment"] == "guard"


def test_streaming_requests_are_enrolled_and_measured_after_the_last_byte(gw, mock):
    mock.add_fault({"match": {"stream": True}, "chunks": 4, "chunk_delay": 0.05})
    with sdk(gw) as client:
        seen = Counter()
        for _ in range(6):
            raw = client.chat.completions.with_raw_response.create(model="streamy", messages=HI, stream=True)
            experiment, variant = raw.headers["x-grid-experiment"].split("=")
            assert experiment == "streams" and raw.headers["x-grid-model"] == variant
            chunks = list(raw.parse())
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert text == "mock reply: hi"
            assert all(c.usage is None for c in chunks)  # the usage event GRID asked for was stripped
            seen[variant] += 1
    rep = variants(report(gw, "streams"))
    for variant, n in seen.items():
        stats = rep[variant]
        assert stats["requests"] == n and stats["errors"] == 0
        assert stats["ttft_ms"]["streams"] == n
        # 4 content chunks, 50 ms apart: the request is recorded after its last byte, not at the headers
        assert stats["latency_ms"]["p50"] >= 200
        assert stats["ttft_ms"]["p50"] < stats["latency_ms"]["p50"] / 2
        assert stats["tokens_per_request"] == {"prompt": 1.0, "completion": 3.0}
    lines = [x for x in access_lines(gw) if x.get("experiment") == "streams"]
    assert len(lines) == sum(seen.values())
    assert all(
        x["stream"] is True and x["variant"] == x["model_served"] and x["model"] == "streamy" for x in lines
    )


def test_logs_metrics_and_report_carry_experiment_and_variant(gw, mock):
    with sdk(gw) as client:
        headers, _ = chat(client, "fast", user="log-user")
        # both variants served here, whatever ran before (the report's intervals need requests)
        served = {headers["x-grid-experiment"]}
        for i in range(64):
            if len(served) == 2:
                break
            served.add(chat(client, "fast", user=f"log-user-{i}")[0]["x-grid-experiment"])
        assert served == {"split=ctl", "split=var"}
    variant = headers["x-grid-experiment"].split("=")[1]
    (line,) = [x for x in access_lines(gw) if x.get("request_id") == headers["x-request-id"]]
    assert line["experiment"] == "split" and line["variant"] == variant and line["model"] == "fast"
    text = httpx.get(f"{gw.url}/metrics").text
    samples = {
        (labels["experiment"], labels["variant"]): value
        for labels, value in metric_samples(text, "grid_experiment_assignments_total")
    }
    assert samples[("split", variant)] >= 1
    listing = httpx.get(f"{gw.url}/admin/experiments", headers=ADMIN).json()
    assert [e["id"] for e in listing["experiments"]] == [e["id"] for e in EXPERIMENTS]
    rep = report(gw, "split")
    assert {"comparisons", "sample_ratio", "verdict", "variants"} <= set(rep)
    assert rep["comparisons"][0]["variant"] == "var" and rep["sample_ratio"]["mismatch"] is False
    assert rep["variants"][0]["control"] is True and rep["variants"][0]["error_rate_ci95"] is not None


def test_invalid_json_is_still_a_400_and_other_endpoints_are_untouched(gw, mock):
    resp = httpx.post(f"{gw.base_url}/chat/completions", content=b'{"model": "fast", ', headers=ADMIN)
    assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error"
    with sdk(gw) as client:
        result = client.embeddings.create(model="ctl", input="hello")
        assert len(result.data[0].embedding) == 16
        assert [m.id for m in client.models.list().data]


def test_config_reload_changes_status_on_the_next_request_and_feedback_expires(start_gateway, mock):
    experiments = [{"id": "live", "models": ["ctl", "var"], "applies_to": ["fast"], "unit": "request"}]
    cfg = config(mock.url, experiments, experiment_feedback={"ttl_seconds": 0.5})
    gw = start_gateway(cfg)
    with sdk(gw) as client:
        headers, _ = chat(client, "fast")
        assert "x-grid-experiment" in headers
        time.sleep(0.6)
        with pytest.raises(openai.NotFoundError):  # expired
            client.post("/feedback", body={"request_id": headers["x-request-id"], "value": 1}, cast_to=object)
        paused = config(mock.url, [{**experiments[0], "status": "paused"}])
        gw.write_config(paused)
        assert admin_post(gw, "/admin/config/reload").status_code == 200
        assert "x-grid-experiment" not in chat(client, "fast")[0]
        assert report(gw, "live")["status_reason"] == "configuration reload"
        admin_post(gw, "/admin/experiments/live/resume")
        assert "x-grid-experiment" in chat(client, "fast")[0]
        # a reload that leaves the file's status alone does not undo the admin's change
        admin_post(gw, "/admin/experiments/live/stop")
        gw.write_config(paused)
        assert admin_post(gw, "/admin/config/reload").status_code == 200
        assert report(gw, "live")["status"] == "stopped"
        gw.write_config(config(mock.url, experiments))  # the file says running again: it wins
        assert admin_post(gw, "/admin/config/reload").status_code == 200
        assert "x-grid-experiment" in chat(client, "fast")[0]


def test_model_selector_stats_summarise_the_running_experiments(gw, mock):
    with sdk(gw) as client:
        chat(client, "fast", user="summary-user")
    stats = httpx.get(f"{gw.url}/admin/model-selector/stats", headers=ADMIN).json()
    listed = stats["experiments"]["experiments"]
    assert stats["experiments"]["running"] == len(listed) >= 1
    assert "split" in {e["id"] for e in listed}


def test_the_admin_list_holds_every_experiment_report_in_config_order(gw, mock):
    with sdk(gw) as client:
        chat(client, "fast", user="listed-user")  # some traffic, so the reports have counts in them
    listed = httpx.get(f"{gw.url}/admin/experiments", headers=ADMIN, timeout=15)
    assert listed.status_code == 200 and listed.headers["content-type"].startswith("application/json")
    reports = listed.json()["experiments"]
    assert [r["id"] for r in reports] == [e["id"] for e in EXPERIMENTS]
    for rep in reports:  # each entry is that experiment's own report, as GET /admin/experiments/{id} says
        assert rep == report(gw, rep["id"])
        assert {"status", "variants", "verdict"} <= set(rep)
    split = next(r for r in reports if r["id"] == "split")
    assert sum(v["assigned"] for v in split["variants"]) >= 1
    # admin only: a user key is refused, no key is unauthenticated; both OpenAI-shaped
    refused = httpx.get(
        f"{gw.url}/admin/experiments", headers={"Authorization": f"Bearer {USER_KEY}"}, timeout=15
    )
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "permission_error"
    anonymous = httpx.get(f"{gw.url}/admin/experiments", timeout=15)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "invalid_api_key"
