"""OpenTelemetry traces, end to end: a real gateway exports over OTLP/HTTP to a real receiver started here
(the protobuf decoded with opentelemetry-proto), in front of a real mock upstream with faults."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import textwrap

import pytest

from bench.otlp_receiver import OtlpReceiver, ReceivedSpan
from gateway.mock_upstream import MockUpstream
from tests.harness import MASTER_KEY, PROVIDER_KEY, GatewayProcess, http_client, openai_client, user, wait_for

SERVER, CLIENT = 2, 3  # opentelemetry.proto.trace.v1.Span.SpanKind
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "50"}  # the batch processor's wait, in ms (default 5 s)
PROMPT = "the secret prompt words 7f3a"


def _config(mock: MockUpstream, **general) -> dict:
    def dep(group: str, model: str) -> dict:
        return {
            "model_name": group,
            "litellm_params": {
                "model": f"openai/{model}",
                "api_base": f"{mock.url}/v1",
                "api_key": PROVIDER_KEY,
            },
            "model_info": {"id": f"{group}-dep"},
        }

    return {
        "model_list": [dep("primary", "primary-model"), dep("backup", "backup-model")],
        "router_settings": {
            "num_retries": 1,
            "retry_after": 0.01,
            "allowed_fails": 100,
            "fallbacks": [{"primary": ["backup"]}],
        },
        "general_settings": {"master_key": MASTER_KEY, **general},
    }


def _traceparent() -> tuple[str, str, str]:
    trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
    return f"00-{trace_id}-{parent}-01", trace_id, parent


def _wait_spans(receiver: OtlpReceiver, trace_id: str, count: int) -> list[ReceivedSpan]:
    assert wait_for(lambda: len(receiver.spans(trace_id)) >= count), receiver.spans(trace_id)
    return receiver.spans(trace_id)


@pytest.fixture(scope="module")
def traced():
    with MockUpstream("traced") as mock, OtlpReceiver() as receiver:
        env = {
            **FAST_EXPORT,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_SERVICE_NAME": "grid-under-test",
        }
        with GatewayProcess(_config(mock), env=env) as gw:
            yield gw, mock, receiver


def test_a_retried_then_fallback_request_has_its_span_tree(traced):
    gw, mock, receiver = traced
    header, trace_id, client_span = _traceparent()
    mock.add_fault({"match": {"model": "primary-model"}, "status": 503, "times": 2})
    client = openai_client(gw, default_headers={"traceparent": header, "tracestate": "vendor=abc"})
    raw = client.chat.completions.with_raw_response.create(model="primary", messages=user(PROMPT))
    assert raw.headers["x-grid-fallbacks"] == "1"
    spans = _wait_spans(receiver, trace_id, 5)  # the request, its route, three attempts

    (root,) = [s for s in spans if s.kind == SERVER]
    assert root.parent_span_id == client_span  # the client's trace continues
    assert root.service == "grid-under-test"
    assert root.attributes["gen_ai.request.model"] == "primary"
    assert root.attributes["grid.model_group"] == "backup"
    assert root.attributes["grid.deployment"] == "backup-dep"
    assert root.attributes["gen_ai.system"] == "openai"
    assert root.attributes["gen_ai.usage.input_tokens"] > 0
    assert root.attributes["gen_ai.usage.output_tokens"] > 0
    assert root.attributes["grid.fallbacks"] == 1 and root.attributes["grid.attempts"] == 3
    assert root.attributes["http.response.status_code"] == 200

    (route,) = [s for s in spans if s.name == "grid.route"]
    assert route.parent_span_id == root.span_id
    assert route.attributes["grid.chain"] == ["primary", "backup"]

    attempts = sorted((s for s in spans if s.kind == CLIENT), key=lambda s: s.start_ns)
    assert [s.parent_span_id for s in attempts] == [root.span_id] * 3
    got = [
        (
            a.attributes["grid.deployment"],
            a.attributes["grid.retry"],
            a.attributes["grid.fallback"],
            a.attributes["http.response.status_code"],
        )
        for a in attempts
    ]
    assert got == [("primary-dep", 0, 0, 503), ("primary-dep", 1, 0, 503), ("backup-dep", 0, 1, 200)]
    assert [a.status for a in attempts] == [2, 2, 0]
    assert attempts[2].attributes["gen_ai.response.model"] == "backup-model"
    assert attempts[2].name == "chat backup-model"

    # each attempt's own span context went upstream, with the client's tracestate
    sent = [
        r["headers"]
        for r in mock.requests("/v1/chat/completions")
        if trace_id in r["headers"].get("traceparent", "")
    ]
    assert [h["traceparent"] for h in sent] == [f"00-{trace_id}-{a.span_id}-01" for a in attempts]
    assert {h.get("tracestate") for h in sent} == {"vendor=abc"}

    # the access line carries the trace id; no prompt text, no key anywhere in the spans
    access = [
        ln for ln in gw.logs().splitlines() if raw.headers["x-request-id"] in ln and "grid.access" in ln
    ]
    assert json.loads(access[-1])["trace_id"] == trace_id
    paths = {s.attributes.get("url.path") for s in receiver.spans()}
    assert not {"/health/liveliness", "/metrics"} & paths  # the harness polls both: probes are not traced
    exported = json.dumps([s.attributes for s in spans])
    assert PROMPT not in exported and PROVIDER_KEY not in exported and MASTER_KEY not in exported


def test_a_stream_has_a_first_token_span_and_its_tokens(traced):
    gw, _, receiver = traced
    header, trace_id, _ = _traceparent()
    client = openai_client(gw, default_headers={"traceparent": header})
    stream = client.chat.completions.create(model="backup", messages=user("stream please"), stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    spans = _wait_spans(receiver, trace_id, 4)
    (root,) = [s for s in spans if s.kind == SERVER]
    (first,) = [s for s in spans if s.name == "grid.first_token"]
    assert first.parent_span_id == root.span_id
    assert first.attributes["grid.deployment"] == "backup-dep"
    assert root.end_ns >= first.end_ns  # the request's span lasts to the stream's end
    assert root.attributes["gen_ai.usage.output_tokens"] > 0


def test_a_request_without_traceparent_starts_a_trace_and_a_malformed_one_is_ignored(traced):
    gw, _, receiver = traced
    with http_client(gw) as http:
        for header in ({}, {"traceparent": "00-zzzz-not-a-trace-01"}):
            r = http.post(
                "/v1/chat/completions", json={"model": "backup", "messages": user("hi")}, headers=header
            )
            assert r.status_code == 200
            request_id = r.headers["x-request-id"]
            assert wait_for(
                lambda rid=request_id: any(
                    s.attributes.get("grid.request_id") == rid for s in receiver.spans()
                )
            )
            (root,) = [s for s in receiver.spans() if s.attributes.get("grid.request_id") == request_id]
            assert root.parent_span_id == "" and len(root.trace_id) == 32


def test_an_unsampled_parent_is_not_exported_but_still_propagated(traced):
    gw, mock, receiver = traced
    unsampled_header, unsampled, _ = _traceparent()
    unsampled_header = unsampled_header[:-2] + "00"
    sampled_header, sampled, _ = _traceparent()
    for header in (unsampled_header, sampled_header):
        openai_client(gw, default_headers={"traceparent": header}).chat.completions.create(
            model="backup", messages=user("hi")
        )
    _wait_spans(receiver, sampled, 3)  # exported after the unsampled one would have been
    assert receiver.spans(unsampled) == []
    forwarded = [r["headers"].get("traceparent", "") for r in mock.requests("/v1/chat/completions")]
    assert any(h.startswith(f"00-{unsampled}-") and h.endswith("-00") for h in forwarded)
    traced_lines = [json.loads(ln) for ln in gw.logs().splitlines() if unsampled in ln]
    assert any(line.get("logger") == "grid.access" and line["trace_id"] == unsampled for line in traced_lines)


def test_general_settings_otel_and_log_bodies_put_the_prompt_on_the_span():
    with MockUpstream("bodies") as mock, OtlpReceiver() as receiver:
        otel = {"otel": {"endpoint": receiver.url, "service_name": "from-the-file"}}
        with GatewayProcess(_config(mock, **otel), env={**FAST_EXPORT, "GRID_LOG_BODIES": "true"}) as gw:
            header, trace_id, _ = _traceparent()
            openai_client(gw, default_headers={"traceparent": header}).chat.completions.create(
                model="backup", messages=user(PROMPT)
            )
            spans = _wait_spans(receiver, trace_id, 3)
    (root,) = [s for s in spans if s.kind == SERVER]
    assert root.service == "from-the-file"
    assert PROMPT in root.attributes["grid.request.body"]
    assert PROVIDER_KEY not in json.dumps([s.attributes for s in spans])


def test_tracing_off_imports_no_opentelemetry_while_serving():
    """Off by default: create the app, serve a request through it, and opentelemetry was never imported."""
    code = textwrap.dedent(
        """
        import sys
        from starlette.testclient import TestClient
        from gateway.app import create_app
        from gateway.config.loader import build_from_dict
        from gateway.config.problems import Problems
        config = {"model_list": [{"model_name": "m", "litellm_params":
                  {"model": "openai/m", "api_base": "http://127.0.0.1:9/v1", "api_key": "k"}}]}
        snapshot = build_from_dict(config, {}, Problems())
        with TestClient(create_app(snapshot)) as client:
            assert client.get("/health/liveliness").status_code == 200
            answer = client.post("/v1/chat/completions", json={"model": "m", "messages": []})
            assert answer.status_code in (400, 502, 503), answer.status_code
        loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry") or m.startswith("gateway.tracing"))
        assert not loaded, loaded
        print("clean")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "clean" in result.stdout, result.stdout + result.stderr


def test_check_reports_a_bad_otel_setting(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            model_list:
              - model_name: m
                litellm_params: {model: openai/m, api_base: "http://127.0.0.1:9/v1", api_key: k}
            general_settings:
              otel: {endpoint: "not a url", sampler: sometimes, sampler_arg: 2}
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    for field in (
        "general_settings.otel.endpoint",
        "general_settings.otel.sampler:",
        "general_settings.otel.sampler_arg",
    ):
        assert field in result.stdout, result.stdout


def test_the_otel_variables_win_over_the_file_and_sdk_disabled_turns_it_off():
    from gateway.config.otel import otel_settings
    from gateway.config.problems import Problems

    file = {"endpoint": "http://file:4318", "service_name": "file", "sampler": "always_on"}
    assert otel_settings(None, {}, Problems()).enabled is False
    from_file = otel_settings(file, {}, Problems())
    assert (from_file.endpoint, from_file.service_name, from_file.sampler) == (
        "http://file:4318/v1/traces",
        "file",
        "always_on",
    )
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318/",
        "OTEL_SERVICE_NAME": "env",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.25",
    }
    from_env = otel_settings(file, env, Problems())
    assert (from_env.endpoint, from_env.service_name, from_env.sampler, from_env.sampler_arg) == (
        "http://env:4318/v1/traces",
        "env",
        "parentbased_traceidratio",
        0.25,
    )
    full = otel_settings(None, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/custom"}, Problems())
    assert full.endpoint == "http://c:4318/custom"
    assert otel_settings(file, {**env, "OTEL_SDK_DISABLED": "true"}, Problems()).enabled is False
    assert otel_settings({**file, "enabled": False}, {}, Problems()).enabled is False
