"""`gateway check`: every problem at once, errors exit 1, warnings alone exit 0, secrets never printed.

Each case runs the real command in a subprocess against a config file. The runs are independent, so
they are started together once per module and the tests read their results; an HTTP server on
localhost stands in for every reachable upstream.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gateway import model_map
from gateway.config import probe, validate
from gateway.config.model import Deployment
from gateway.config.problems import Problems

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = Path(__file__).parent / "configs"

# Values that must never show up in `gateway check` output, whatever goes wrong.
SECRETS = {
    "GRID_TEST_OPENAI_KEY": "sk-openai-SECRET-4f1d9a",
    "GRID_TEST_ANTHROPIC_KEY": "sk-ant-SECRET-77c2e0",
    "GRID_TEST_MASTER_KEY": "sk-master-SECRET-0b5e31",
    "GRID_TEST_ADMIN_KEY": "sk-admin-SECRET-a9d4c8",
    "GRID_TEST_TEAM_KEY": "sk-team-SECRET-61f0b2",
    "GRID_TEST_LIMITED_KEY": "sk-interns-SECRET-3e8a7d",
    "OPENAI_API_KEY": "sk-proj-SECRET-openai-5c2",
    "AZURE_API_KEY": "SECRET-azure-0f9e8d7c",
    "ANTHROPIC_API_KEY": "sk-ant-api03-SECRET-d41",
    "LITELLM_MASTER_KEY": "sk-1234-SECRET-litellm",
}
# Variables the configs read; cleared from the inherited environment so a developer's shell can't leak in.
CLEARED = ("GRID_", "OPENAI_", "AZURE_", "ANTHROPIC_", "LITELLM_")

CHAT = """\
model_list:
  - model_name: chat
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: os.environ/GRID_TEST_UPSTREAM
      api_key: os.environ/GRID_TEST_OPENAI_KEY
"""


@dataclass(frozen=True)
class Case:
    config: str  # YAML text, or "@name.yaml" for a file in tests/configs
    env: dict[str, str] = field(default_factory=dict)


def inline(extra: str = "", models: str = CHAT) -> str:
    return models + textwrap.dedent(extra)


CASES: dict[str, Case] = {
    "good": Case(
        "@good.yaml", {"GRID_AI_MODEL": "default", "GRID_MODEL_FALLBACK_CHAIN": '["gpt-4o", "fast"]'}
    ),
    "litellm_proxy": Case("@litellm_proxy.yaml"),
    "standby": Case("@standby.yaml"),
    "many_errors": Case("@many_errors.yaml", {"GRID_AI_MODEL": "nowhere"}),
    "unreachable_api_base": Case(
        inline(
            models="""\
model_list:
  - model_name: chat
    litellm_params: {model: openai/gpt-4o-mini, api_base: "http://127.0.0.1:9/v1", api_key: mock}
"""
        )
    ),
    "bad_group_name": Case(
        inline(
            models="""\
model_list:
  - model_name: chat
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/GRID_TEST_UPSTREAM}
  - model_name: "gpt 4o@home"
    litellm_params: {model: openai/gpt-4o, api_base: os.environ/GRID_TEST_UPSTREAM}
"""
        )
    ),
    "long_group_name": Case(
        inline(
            models=f"""\
model_list:
  - model_name: {"m" * 257}
    litellm_params: {{model: openai/gpt-4o, api_base: os.environ/GRID_TEST_UPSTREAM}}
"""
        )
    ),
    "bad_alias_name": Case(inline("router_settings:\n  model_group_alias: {'my alias!': chat}\n")),
    "default_model_bad_chars": Case(inline(), {"GRID_AI_MODEL": "chat model?"}),
    "default_model_unknown": Case(inline(), {"GRID_AI_MODEL": "gpt-5"}),
    "default_model_auto": Case(inline(), {"GRID_AI_MODEL": "auto"}),
    "duplicate_deployment_id": Case(
        inline(
            models="""\
model_list:
  - model_name: chat
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/GRID_TEST_UPSTREAM}
    model_info: {id: shared}
  - model_name: chat
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/GRID_TEST_UPSTREAM}
    model_info: {id: shared}
"""
        )
    ),
    "negative_weight_rpm_tpm": Case(
        inline(
            models="""\
model_list:
  - model_name: chat
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/GRID_TEST_UPSTREAM, weight: -2}
  - model_name: chat
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/GRID_TEST_UPSTREAM, rpm: -1, tpm: -5}
"""
        )
    ),
    "fallback_unknown_target": Case(inline("router_settings:\n  fallbacks: [{chat: [gpt-5]}]\n")),
    "fallback_unknown_source": Case(inline("router_settings:\n  fallbacks: [{ghost: [chat]}]\n")),
    "context_window_fallback_unknown": Case(
        inline("router_settings:\n  context_window_fallbacks: [{chat: [long-context]}]\n")
    ),
    "generic_fallback_and_alias_targets": Case(
        inline("router_settings:\n  fallbacks: [{'*': [quick]}]\n  model_group_alias: {quick: chat}\n")
    ),
    "alias_unknown_target": Case(inline("router_settings:\n  model_group_alias: {quick: chta}\n")),
    "alias_cycle": Case(inline("router_settings:\n  model_group_alias: {b: c, a: b, c: a, d: a}\n")),
    "alias_shadows_group": Case(
        inline(
            "router_settings:\n  model_group_alias: {chat: big}\n",
            models=CHAT
            + "  - model_name: big\n    litellm_params: {model: openai/gpt-4o, api_base: os.environ/GRID_TEST_UPSTREAM}\n",
        )
    ),
    "alias_naming_its_own_group": Case(
        inline("router_settings:\n  model_group_alias: {chat: chat, solo: solo}\n")
    ),
    "env_alias_unknown_target": Case(inline(), {"GRID_MODEL_ALIASES": '{"envalias": "missing-group"}'}),
    "env_alias_overrides_file": Case(
        inline("router_settings:\n  model_group_alias: {quick: retired-group}\n"),
        {"GRID_MODEL_ALIASES": '{"quick": "chat"}'},
    ),
    "env_fallback_chain_unknown": Case(inline(), {"GRID_MODEL_FALLBACK_CHAIN": '["chat", "gpt-5"]'}),
    "bad_routing_strategy": Case(inline("router_settings:\n  routing_strategy: round-robin-ish\n")),
    "negative_router_numbers": Case(
        inline("router_settings:\n  num_retries: -1\n  allowed_fails: -3\n  cooldown_time: -0.5\n")
    ),
    "no_live_deployment": Case(
        inline(
            models="""\
model_list:
  - model_name: chat
    litellm_params: {model: openai/gpt-4o-mini, api_key: os.environ/GRID_TEST_UNSET_KEY}
"""
        )
    ),
    "empty_model_list": Case("model_list: []\n"),
    "bad_api_base_and_timeouts": Case(
        inline(
            models="""\
model_list:
  - model_name: chat
    litellm_params: {model: openai/gpt-4o-mini, api_base: "ftp://files.example/v1", timeout: -1}
  - model_name: chat
    litellm_params: {model: openai/gpt-4o-mini, api_base: os.environ/GRID_TEST_UPSTREAM, stream_timeout: 0}
"""
        )
    ),
    "duplicate_client_keys": Case(
        inline(
            """\
            general_settings:
              master_key: os.environ/GRID_TEST_MASTER_KEY
              api_keys:
                - {key: os.environ/GRID_TEST_MASTER_KEY, name: copy, models: [chat, gpt-9]}
            """
        )
    ),
}


@dataclass(frozen=True)
class CheckRun:
    code: int
    output: str

    @property
    def lines(self) -> list[str]:
        return self.output.splitlines()

    def errors(self) -> list[str]:
        return [line for line in self.lines if line.startswith("error:")]

    def warnings(self) -> list[str]:
        return [line for line in self.lines if line.startswith("warning:")]

    def has(self, level: str, where: str, text: str = "") -> bool:
        return any(line.startswith(f"{level}: {where}:") and text in line for line in self.lines)


class _AnyAnswer(BaseHTTPRequestHandler):
    """A reachable upstream: answers every GET, as a real provider answers /models."""

    def do_GET(self) -> None:
        body = b'{"object": "list", "data": []}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AnyAnswer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _command(config: Path) -> list[str]:
    return [sys.executable, "-m", "gateway", "check", "--config", str(config)]


def _check(config: Path, extra_env: dict[str, str]) -> CheckRun:
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
    env.update(SECRETS)
    env.update(extra_env)
    proc = subprocess.run(_command(config), cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    return CheckRun(proc.returncode, proc.stdout + proc.stderr)


@pytest.fixture(scope="module")
def runs(upstream: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, CheckRun]:
    tmp = tmp_path_factory.mktemp("configs")
    jobs: dict[str, tuple[Path, dict[str, str]]] = {}
    for name, case in CASES.items():
        if case.config.startswith("@"):
            path = CONFIGS / case.config[1:]
        else:
            path = tmp / f"{name}.yaml"
            path.write_text(case.config, encoding="utf-8")
        env = {"GRID_TEST_UPSTREAM": upstream, "AZURE_API_BASE": upstream, **case.env}
        jobs[name] = (path, env)
    with ThreadPoolExecutor(max_workers=min(len(jobs), (os.cpu_count() or 2) * 2)) as pool:
        futures = {name: pool.submit(_check, path, env) for name, (path, env) in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


# --- whole configs ---------------------------------------------------------------------------------


def test_good_config_passes_without_any_problem(runs: dict[str, CheckRun]) -> None:
    run = runs["good"]
    assert run.code == 0, run.output
    assert run.errors() == [] and run.warnings() == [], run.output


def test_litellm_proxy_config_loads_unchanged_with_warnings_only(runs: dict[str, CheckRun]) -> None:
    run = runs["litellm_proxy"]
    assert run.code == 0, run.output
    assert run.errors() == []
    assert run.has("warning", "litellm_settings.success_callback", "ignored")
    assert run.has("warning", "model_list[0].litellm_params.model", "not in LiteLLM's model map")
    # model_info.base_model names the priced model, as in LiteLLM: no warning for the embedding entry
    assert not run.has("warning", "model_list[3].litellm_params.model")


def test_standby_mock_behind_a_missing_key_is_only_warned_about(runs: dict[str, CheckRun]) -> None:
    run = runs["standby"]
    assert run.code == 0, run.output
    assert run.has("warning", "model_list", "skipped: GRID_TEST_MISSING_OPENAI_KEY not set")
    assert run.has(
        "warning", "model_list[1].litellm_params.model", "'openai/mock-chat' not in LiteLLM's model map"
    )


def test_every_error_in_a_file_is_listed_at_once(runs: dict[str, CheckRun]) -> None:
    run = runs["many_errors"]
    assert run.code == 1
    expected = [
        "model_list[0].model_name",
        "model_list[1].litellm_params.weight",
        "model_list[2].litellm_params.rpm",
        "model_list[2].model_info.id",
        "router_settings.routing_strategy",
        "router_settings.num_retries",
        "router_settings.fallbacks.gpt-4o",
        "router_settings.model_group_alias.ping",
        "GRID_AI_MODEL",
    ]
    missing = [where for where in expected if not run.has("error", where)]
    assert missing == [], run.output


def test_unreachable_api_base_is_a_warning_not_an_error(runs: dict[str, CheckRun]) -> None:
    run = runs["unreachable_api_base"]
    assert run.code == 0, run.output
    assert run.has(
        "warning", "model_list[0].litellm_params.api_base", "api_base http://127.0.0.1:9/v1 unreachable"
    )


def test_no_secret_ever_appears_in_check_output(runs: dict[str, CheckRun]) -> None:
    for name, run in runs.items():
        for secret in SECRETS.values():
            assert secret not in run.output, f"{name} printed a secret"


# --- one rule per config ---------------------------------------------------------------------------

ERROR_CASES = {
    "bad_group_name": [("model_list[1].model_name", "'@'")],
    "long_group_name": [("model_list[0].model_name", "at most 256")],
    "bad_alias_name": [("router_settings.model_group_alias.my alias!", "'!'")],
    "default_model_bad_chars": [("GRID_AI_MODEL", "' '")],
    "default_model_unknown": [("GRID_AI_MODEL", "'gpt-5' is not a model group or alias")],
    "duplicate_deployment_id": [("model_list[1].model_info.id", "duplicate deployment id 'shared'")],
    "negative_weight_rpm_tpm": [
        ("model_list[0].litellm_params.weight", "negative"),
        ("model_list[1].litellm_params.rpm", "negative"),
        ("model_list[1].litellm_params.tpm", "negative"),
    ],
    "fallback_unknown_target": [("router_settings.fallbacks.chat", "'gpt-5'")],
    "fallback_unknown_source": [("router_settings.fallbacks.ghost", "'ghost'")],
    "context_window_fallback_unknown": [("router_settings.context_window_fallbacks.chat", "'long-context'")],
    "alias_unknown_target": [("router_settings.model_group_alias.quick", "'chta'")],
    "alias_cycle": [("router_settings.model_group_alias.a", "alias cycle: a -> b -> c -> a")],
    "alias_shadows_group": [("router_settings.model_group_alias.chat", "ambiguous")],
    "alias_naming_its_own_group": [("router_settings.model_group_alias.solo", "alias cycle: solo -> solo")],
    "env_alias_unknown_target": [("router_settings.model_group_alias.envalias", "'missing-group'")],
    "env_fallback_chain_unknown": [("GRID_MODEL_FALLBACK_CHAIN[1]", "'gpt-5'")],
    "bad_routing_strategy": [("router_settings.routing_strategy", "'round-robin-ish'")],
    "negative_router_numbers": [
        ("router_settings.num_retries", "negative"),
        ("router_settings.allowed_fails", "negative"),
        ("router_settings.cooldown_time", "negative"),
    ],
    "no_live_deployment": [("model_list", "no deployment is live")],
    "empty_model_list": [("model_list", "no deployment is live")],
    "bad_api_base_and_timeouts": [
        ("model_list[0].litellm_params.api_base", "'ftp://files.example/v1' is not an http(s) URL"),
        ("model_list[0].litellm_params.timeout", "positive"),
        ("model_list[1].litellm_params.stream_timeout", "positive"),
    ],
    "duplicate_client_keys": [("general_settings.api_keys", "key 'copy' has the same value as key 'master'")],
}


@pytest.mark.parametrize("case", sorted(ERROR_CASES))
def test_rule_violation_is_an_error_naming_the_field(runs: dict[str, CheckRun], case: str) -> None:
    run = runs[case]
    assert run.code == 1, run.output
    for where, text in ERROR_CASES[case]:
        assert run.has("error", where, text), f"no error for {where} mentioning {text!r}:\n{run.output}"


def test_alias_cycle_is_reported_once(runs: dict[str, CheckRun]) -> None:
    assert sum("alias cycle" in line for line in runs["alias_cycle"].errors()) == 1


def test_alias_naming_its_own_group_is_only_a_warning(runs: dict[str, CheckRun]) -> None:
    run = runs["alias_naming_its_own_group"]
    assert run.has("warning", "router_settings.model_group_alias.chat", "no effect")
    assert not run.has("error", "router_settings.model_group_alias.chat")


def test_client_key_allowed_an_unknown_model_is_a_warning(runs: dict[str, CheckRun]) -> None:
    assert runs["duplicate_client_keys"].has("warning", "general_settings.api_keys", "'gpt-9'")


def test_skipped_deployment_is_named_with_its_missing_variable(runs: dict[str, CheckRun]) -> None:
    assert runs["no_live_deployment"].has(
        "warning", "model_list", "chat-0 skipped: GRID_TEST_UNSET_KEY not set"
    )


@pytest.mark.parametrize(
    "case", ["default_model_auto", "generic_fallback_and_alias_targets", "env_alias_overrides_file"]
)
def test_valid_references_pass(runs: dict[str, CheckRun], case: str) -> None:
    run = runs[case]
    assert run.code == 0 and run.errors() == [], run.output


# --- the probe, in process -------------------------------------------------------------------------


def _deployment(i: int, api_base: str) -> Deployment:
    return Deployment(
        id=f"d{i}", group="g", model="openai/m", provider="openai", upstream_model="m",
        path="passthrough", api_base=api_base, api_key="sk-probe-SECRET", index=i,
    )  # fmt: skip


@pytest.fixture
def silent_upstream() -> Iterator[int]:
    """Accepts connections and never answers: the worst case for a probe."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


def test_probe_tries_every_api_base_at_once(monkeypatch: pytest.MonkeyPatch, silent_upstream: int) -> None:
    monkeypatch.setattr(probe, "PROBE_TIMEOUT", 2.0)
    deps = [_deployment(i, f"http://127.0.0.1:{silent_upstream}/v{i}") for i in range(20)]
    problems = Problems()
    started = time.monotonic()
    validate.probe_api_bases(deps, problems)
    # the behaviour is a timeout: one by one, 20 silent bases take 20 x 2 s = 40 s; at once, about 2 s.
    # The bound is generous (half the serial time) so a busy machine does not fail it.
    assert time.monotonic() - started < 20.0
    assert len(problems.warnings) == 20
    assert "no answer within 2 s" in problems.warnings[0].message


async def test_probe_works_inside_a_running_event_loop(upstream: str) -> None:
    problems = Problems()
    validate.probe_api_bases([_deployment(0, upstream), _deployment(1, "http://127.0.0.1:9")], problems)
    assert [p.field for p in problems] == ["model_list[1].litellm_params.api_base"]


def test_probe_message_hides_url_credentials() -> None:
    problems = Problems()
    validate.probe_api_bases([_deployment(0, "http://user:hunter2@127.0.0.1:9/v1?api-key=SECRET")], problems)
    (warning,) = problems.warnings
    assert "hunter2" not in str(warning) and "SECRET" not in str(warning)
    assert "api_base http://127.0.0.1:9/v1 unreachable" in warning.message


# --- LiteLLM's bundled model map -------------------------------------------------------------------


def test_model_map_finds_models_with_or_without_provider_prefix() -> None:
    assert model_map.is_known("gpt-4o-mini")
    assert model_map.is_known("openai/gpt-4o-mini")
    assert model_map.model_info("openai/gpt-4o-mini") == model_map.model_info("gpt-4o-mini")
    assert model_map.is_known("azure/gpt-4o")
    assert not model_map.is_known("openai/no-such-model-xyz")
    assert not model_map.is_known("sample_spec")  # the file's documentation entry


def test_model_map_context_window_cost_and_features() -> None:
    assert model_map.context_window("openai/gpt-4o-mini") == 128000
    cost_in, cost_out = model_map.cost_per_token("gpt-4o-mini") or (0.0, 0.0)
    assert 0 < cost_in < cost_out
    assert model_map.supports("gpt-4o-mini", "function_calling") is True
    assert model_map.supports("gpt-4o-mini", "vision") is True
    assert model_map.supports("openai/text-embedding-3-small", "vision") is False
    assert model_map.context_window("nope/nope") is None
    assert model_map.cost_per_token("nope/nope") is None
    assert model_map.supports("nope/nope", "vision") is None


def test_model_map_is_read_without_importing_litellm_and_keeps_litellm_offline() -> None:
    code = (
        "import os, sys; from gateway import model_map; assert model_map.load_map();"
        "print('litellm' in sys.modules, os.environ['LITELLM_LOCAL_MODEL_COST_MAP'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["False", "True"]


@pytest.mark.parametrize("content", [None, b"{not json", b"[1, 2]"])
def test_model_map_missing_or_broken_file_is_empty(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / model_map.MAP_FILE
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setattr(model_map, "map_path", lambda: path)
    model_map.clear_caches()
    try:
        assert model_map.model_info("gpt-4o-mini") is None
        assert model_map.context_window("gpt-4o-mini") is None
    finally:
        model_map.clear_caches()


def test_run_sync_without_a_loop() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert probe.run_sync(answer) == 42


def test_a_group_knows_its_context_window_once_every_deployment_does() -> None:
    from gateway.config.loader import build_from_dict

    def entry(group: str, model: str, info: dict | None = None) -> dict:
        return {
            "model_name": group,
            "litellm_params": {"model": model, "api_base": "http://127.0.0.1:9/v1", "api_key": "k"},
            "model_info": info or {},
        }

    problems = Problems()
    snapshot = build_from_dict(
        {
            "model_list": [
                entry("known", "openai/gpt-4"),  # 8192 in LiteLLM's map
                entry("known", "openai/small", {"max_input_tokens": 50}),
                entry("mixed", "openai/small", {"max_input_tokens": 50}),
                entry("mixed", "openai/no-such-model"),  # unknown: might take anything
            ]
        },
        {},
        problems,
    )
    assert not problems.errors, problems.errors
    assert snapshot.groups["known"].context_window == 8192
    assert snapshot.groups["mixed"].context_window is None
