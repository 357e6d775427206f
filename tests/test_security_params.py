"""Client bodies are data, never configuration: no body field can choose where a request goes, with
which key or headers, or what the upstream receives beyond the OpenAI request parameters.

For every option LiteLLM's `acompletion`, `embedding` and `text_completion` accept that is not an
OpenAI request parameter (enumerated from their signatures at test time, plus LiteLLM's list of its
own params and the known kwargs), a body carrying it changes nothing: the mock upstream receives
exactly what it receives without it (same path, body and headers, the deployment's own key), an
attacker server on another port receives nothing, and the answer is the normal one. Both upstream
paths (pass-through and LiteLLM), chat streamed and not, embeddings and completions.
"""

from __future__ import annotations

import inspect
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, PROVIDER_KEY
from tests.harness import LITELLM_ENV, GatewayProcess

ATTACKER_KEY = "sk-attacker-own-key"

# The OpenAI request parameters, from the API reference (not from the gateway's own lists: a name
# added there by mistake must fail this test).
OPENAI_CHAT = {
    "messages", "model", "audio", "frequency_penalty", "function_call", "functions", "logit_bias",
    "logprobs", "max_completion_tokens", "max_tokens", "metadata", "modalities", "n",
    "parallel_tool_calls", "prediction", "presence_penalty", "prompt_cache_key", "reasoning_effort",
    "response_format", "safety_identifier", "seed", "service_tier", "stop", "store", "stream",
    "stream_options", "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user",
    "verbosity", "web_search_options",
}  # fmt: skip
OPENAI_EMBEDDINGS = {"model", "input", "dimensions", "encoding_format", "user"}
OPENAI_COMPLETIONS = {
    "model", "prompt", "best_of", "echo", "frequency_penalty", "logit_bias", "logprobs", "max_tokens",
    "n", "presence_penalty", "seed", "stop", "stream", "stream_options", "suffix", "temperature",
    "top_p", "user",
}  # fmt: skip
# kwargs LiteLLM reads from **kwargs (not in the signatures) that redirect, authenticate or fake a call
KNOWN_KWARGS = {
    "api_base", "base_url", "api_key", "api_version", "api_type", "organization", "extra_headers",
    "headers", "extra_body", "extra_query", "custom_llm_provider", "mock_response", "mock_tool_calls",
    "mock_timeout", "azure_ad_token", "aws_access_key_id", "aws_secret_access_key", "aws_region_name",
    "aws_bedrock_runtime_endpoint", "vertex_project", "vertex_location", "vertex_credentials",
    "input_cost_per_token", "output_cost_per_token", "litellm_logging_obj", "client", "proxy_server_request",
    "model_info", "metadata", "litellm_metadata", "num_retries", "max_retries", "fallbacks", "caching",
    "cache", "no-log", "callbacks", "success_callback", "failure_callback", "tpm", "rpm", "weight",
    "stream_timeout", "allowed_openai_params", "drop_params", "ssl_verify",
}  # fmt: skip
# `timeout` belongs to the request deadline (the client's bound within the router's), not to LiteLLM
NOT_POISONED = {"args", "kwargs", "timeout"}


def _litellm_options(openai_names: set[str]) -> tuple[list[str], list[str]]:
    """(options tried one by one: the call signatures and the known kwargs; every option of LiteLLM's
    own list, tried all at once), none of them an OpenAI request parameter."""
    import litellm
    from litellm.types.utils import all_litellm_params

    names = set(KNOWN_KWARGS)
    for fn in (litellm.acompletion, litellm.embedding, litellm.text_completion):
        names |= set(inspect.signature(fn).parameters)
    each = sorted(names - openai_names - NOT_POISONED)
    bulk = sorted((set(all_litellm_params) | names) - openai_names - NOT_POISONED)
    return each, bulk


def poison(name: str, attacker: str) -> Any:
    """A value for option `name` that would show if it took effect: a URL of the attacker's, a key of
    the attacker's, headers of the attacker's, or a string where LiteLLM expects anything else."""
    lowered = name.lower()
    if any(w in lowered for w in ("base", "url", "endpoint", "host", "api_type", "provider")):
        return attacker if "provider" not in lowered else "openai"
    if any(w in lowered for w in ("key", "token", "secret", "password", "credential")):
        return ATTACKER_KEY
    if "header" in lowered:
        return {"x-attacker": "1", "authorization": f"Bearer {ATTACKER_KEY}", "x-api-key": ATTACKER_KEY}
    if lowered.startswith("mock") or lowered == "mock_response":
        return "POISONED"
    return f"poison-{name}"


class Attacker:
    """An HTTP server on another port that records every request it gets and answers 200."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                payload = b"{}"
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/attacker"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Attacker:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def attacker() -> Iterator[Attacker]:
    with Attacker() as server:
        yield server


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    def entry(name: str, model: str, base: str, path: str, mode: str | None = None) -> dict:
        info: dict[str, Any] = {"id": f"{name}-dep", "grid_path": path}
        if mode:
            info["mode"] = mode
        return {
            "model_name": name,
            "litellm_params": {"model": model, "api_base": base, "api_key": PROVIDER_KEY},
            "model_info": info,
        }

    v1 = f"{mock.url}/v1"
    config = {
        "model_list": [
            entry("claude", "anthropic/claude-haiku-4-5", mock.url, "litellm"),
            entry("gpt-ll", "openai/mock-gpt", v1, "litellm"),
            entry("gpt", "openai/mock-gpt", v1, "passthrough"),
            entry("embed", "openai/mock-embedding", v1, "passthrough", "embedding"),
            entry("embed-ll", "openai/mock-embedding", v1, "litellm", "embedding"),
            entry("instruct", "text-completion-openai/mock-instruct", v1, "passthrough", "completion"),
            entry("instruct-ll", "text-completion-openai/mock-instruct", v1, "litellm", "completion"),
        ],
        "router_settings": {"num_retries": 0},
        "general_settings": {"master_key": MASTER_KEY},
    }
    env = dict(LITELLM_ENV)
    with GatewayProcess(config, env=env) as process:
        yield process


@pytest.fixture
def http(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=30, headers={"Authorization": f"Bearer {MASTER_KEY}"}) as c:
        yield c


HI = [{"role": "user", "content": "hi"}]
VOLATILE_HEADERS = {"x-request-id", "x-stainless-read-timeout"}  # the id; the time left before the deadline


def send(http: httpx.Client, path: str, body: dict) -> tuple[int, str]:
    if body.get("stream"):
        with http.stream("POST", path, json=body) as response:
            return response.status_code, response.read().decode()
    response = http.post(path, json=body)
    return response.status_code, response.text


def upstream_view(mock: MockUpstream) -> dict:
    """The one request the mock received: path, body and headers (the per-request id left out)."""
    (received,) = mock.requests()
    assert (
        received["headers"]
        .get("x-api-key", received["headers"].get("authorization", ""))
        .endswith(PROVIDER_KEY)
    ), received["headers"]
    headers = {k: v for k, v in received["headers"].items() if k not in VOLATILE_HEADERS}
    return {"path": received["path"], "body": received["body"], "headers": headers}


def assert_answer(status: int, text: str, stream: bool, expected: str) -> None:
    assert status == 200, text
    if stream:
        assert "data: [DONE]" in text, text
        events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]
        assert not any("error" in e for e in events), text
        assert expected in "".join(
            (c.get("delta") or {}).get("content") or c.get("text") or ""
            for e in events
            for c in e.get("choices", [])
        )
    else:
        assert expected in text, text


CASES = [
    # (id, group, endpoint path, base body, the OpenAI parameters of the endpoint)
    ("litellm-chat", "claude", "/v1/chat/completions", {"messages": HI, "max_tokens": 16}, OPENAI_CHAT),
    ("litellm-openai-chat", "gpt-ll", "/v1/chat/completions", {"messages": HI}, OPENAI_CHAT),
    ("passthrough-chat", "gpt", "/v1/chat/completions", {"messages": HI}, OPENAI_CHAT),
]


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(
    ("group", "path", "base", "names"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_no_litellm_option_in_a_chat_body_changes_what_the_upstream_gets(
    http: httpx.Client,
    mock: MockUpstream,
    attacker: Attacker,
    group: str,
    path: str,
    base: dict,
    names: set[str],
    stream: bool,
) -> None:
    body = {"model": group, **base, "stream": stream}
    status, text = send(http, path, body)
    assert_answer(status, text, stream, "mock reply: hi")
    baseline = upstream_view(mock)
    options, bulk = _litellm_options(names)
    assert {"api_base", "base_url", "api_key", "extra_headers", "mock_response"} <= set(options)
    for name in options:
        mock.clear_requests()
        status, text = send(http, path, {**body, name: poison(name, attacker.url)})
        assert_answer(status, text, stream, "mock reply: hi")
        assert upstream_view(mock) == baseline, f"body field {name!r} changed the upstream request"
    # and every option LiteLLM knows, at once
    mock.clear_requests()
    status, text = send(http, path, {**body, **{n: poison(n, attacker.url) for n in bulk}})
    assert_answer(status, text, stream, "mock reply: hi")
    assert upstream_view(mock) == baseline
    assert attacker.received == []


@pytest.mark.parametrize(
    ("group", "path", "base", "names", "expected"),
    [
        ("embed", "/v1/embeddings", {"input": "hi"}, OPENAI_EMBEDDINGS, '"embedding"'),
        ("embed-ll", "/v1/embeddings", {"input": "hi"}, OPENAI_EMBEDDINGS, '"embedding"'),
        ("instruct", "/v1/completions", {"prompt": "hi"}, OPENAI_COMPLETIONS, "mock completion: hi"),
        ("instruct-ll", "/v1/completions", {"prompt": "hi"}, OPENAI_COMPLETIONS, "mock completion: hi"),
    ],
    ids=["passthrough-embeddings", "litellm-embeddings", "passthrough-completions", "litellm-completions"],
)
def test_no_litellm_option_in_an_embeddings_or_completions_body_changes_what_the_upstream_gets(
    http: httpx.Client,
    mock: MockUpstream,
    attacker: Attacker,
    group: str,
    path: str,
    base: dict,
    names: set[str],
    expected: str,
) -> None:
    body = {"model": group, **base}
    status, text = send(http, path, body)
    assert_answer(status, text, False, expected)
    baseline = upstream_view(mock)
    options, bulk = _litellm_options(names)
    for name in options:
        mock.clear_requests()
        status, text = send(http, path, {**body, name: poison(name, attacker.url)})
        assert_answer(status, text, False, expected)
        assert upstream_view(mock) == baseline, f"body field {name!r} changed the upstream request"
    mock.clear_requests()
    status, text = send(http, path, {**body, **{n: poison(n, attacker.url) for n in bulk}})
    assert_answer(status, text, False, expected)
    assert upstream_view(mock) == baseline
    assert attacker.received == []


def test_the_reported_attack_sends_nothing_to_the_attacker(
    http: httpx.Client, mock: MockUpstream, attacker: Attacker
) -> None:
    """The review's reproduction: `api_base` (and `base_url` with `stream: true`) in a chat body."""
    for extra in ({"api_base": attacker.url}, {"base_url": attacker.url, "stream": True}):
        mock.clear_requests()
        status, text = send(http, "/v1/chat/completions", {"model": "claude", "messages": HI, **extra})
        assert status == 200, text
        assert mock.requests("/v1/messages")[0]["headers"]["x-api-key"] == PROVIDER_KEY
    assert attacker.received == []


def test_pass_through_forwards_openai_parameters_and_documented_extensions_only(
    http: httpx.Client, mock: MockUpstream
) -> None:
    body = {
        "model": "gpt",
        "messages": HI,
        "temperature": 0.5,
        "seed": 7,
        "user": "u-1",
        "top_k": 5,
        "min_p": 0.1,
        "repetition_penalty": 1.1,
        "unknown_vendor_field": {"x": 1},
        "chat_template": "{{ evil }}",
    }
    status, text = send(http, "/v1/chat/completions", body)
    assert status == 200, text
    (received,) = mock.requests("/v1/chat/completions")
    sent = received["body"]
    assert sent["model"] == "mock-gpt"
    assert {k: sent[k] for k in ("temperature", "seed", "user", "top_k", "min_p", "repetition_penalty")} == {
        "temperature": 0.5,
        "seed": 7,
        "user": "u-1",
        "top_k": 5,
        "min_p": 0.1,
        "repetition_penalty": 1.1,
    }
    assert "unknown_vendor_field" not in sent
    assert "chat_template" not in sent
