"""Only real upstream faults count against a deployment; everything else is the client's or ours.

The review's reproduction: `{"model": "claude", "messages": [1]}` was retried and opened the
deployment's breaker, so one bad request per cooldown kept a model group off for every client. Here
each deployment's breaker opens on its first counted failure (`allowed_fails: 1`, a long cooldown),
and retries are on (`num_retries: 3`): a request that moved a breaker, or was retried, shows.

Also: LiteLLM-path errors are OpenAI-shaped, with messages written for the client (no `litellm.`
class names, no advice about LiteLLM settings, no tracebacks); and running out of file descriptors
is the gateway's own 500, not an upstream fault.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.mock_upstream.runner import MockUpstream
from tests.conftest import MASTER_KEY, PROVIDER_KEY
from tests.harness import LITELLM_ENV, GatewayProcess

CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
HI = [{"role": "user", "content": "hi"}]
DEPLOYMENTS = {
    "claude": "claude-a",
    "claude-fragile": "claude-f",
    "gpt": "gpt-a",
    "embed": "embed-a",
    "instruct": "instruct-a",
}


@pytest.fixture(scope="module")
def gw(mock: MockUpstream) -> Iterator[GatewayProcess]:
    v1 = f"{mock.url}/v1"

    def entry(name: str, model: str, base: str, **info: Any) -> dict:
        return {
            "model_name": name,
            "litellm_params": {"model": model, "api_base": base, "api_key": PROVIDER_KEY, "timeout": 2},
            "model_info": {"id": DEPLOYMENTS[name], **info},
        }

    config = {
        "model_list": [
            entry("claude", "anthropic/claude-haiku-4-5", mock.url),
            entry("claude-fragile", "anthropic/claude-fragile", mock.url),
            entry("gpt", "openai/mock-gpt", v1),
            entry("embed", "openai/mock-embedding", v1, mode="embedding"),
            entry("instruct", "text-completion-openai/mock-instruct", v1),
        ],
        "router_settings": {"num_retries": 3, "allowed_fails": 1, "cooldown_time": 600},
        "general_settings": {"master_key": MASTER_KEY},
    }
    env = dict(LITELLM_ENV)
    with GatewayProcess(config, env=env) as process:
        yield process


@pytest.fixture
def http(gw: GatewayProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gw.url, timeout=30, headers={"Authorization": f"Bearer {MASTER_KEY}"}) as c:
        yield c


def deployment_row(http: httpx.Client, dep_id: str) -> dict:
    stats = http.get("/admin/load-balancer/stats").json()
    for group in stats["groups"].values():
        for row in group["deployments"]:
            if row["id"] == dep_id:
                return row
    raise AssertionError(f"no deployment {dep_id}")


def assert_untouched(http: httpx.Client, dep_id: str) -> None:
    row = deployment_row(http, dep_id)
    assert row["state"] == "closed", row
    assert row["failures"] == 0, row


def assert_error(response: httpx.Response, status: int, type_: str, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["type"] == type_, error
    if code is not None:
        assert error["code"] == code, error
    for leak in ("litellm", "Traceback", "modify_params", "drop_params", PROVIDER_KEY):
        assert leak.lower() not in error["message"].lower(), error["message"]
    return error


INVALID = [
    # (endpoint, group, body without model, param named)
    (CHAT, "claude", {"messages": [1]}, "messages[0]"),
    (CHAT, "gpt", {"messages": [1]}, "messages[0]"),
    (CHAT, "claude", {}, "messages"),
    (CHAT, "gpt", {"messages": "hi"}, "messages"),
    (CHAT, "claude", {"messages": []}, "messages"),
    (CHAT, "gpt", {"messages": [{"content": "hi"}]}, "messages[0].role"),
    (CHAT, "claude", {"messages": [{"role": "user", "content": 1}]}, "messages[0].content"),
    (CHAT, "claude", {"messages": [{"role": "user", "content": [{"text": "x"}]}]}, "messages[0].content"),
    (CHAT, "claude", {"messages": HI, "tools": [{"type": "function"}]}, "tools[0].function"),
    (CHAT, "claude", {"messages": HI, "stop": [1, 2]}, "stop"),
    (
        CHAT,
        "claude",
        {"messages": HI, "response_format": {"type": "json_schema"}},
        "response_format.json_schema",
    ),
    (CHAT, "gpt", {"messages": HI, "temperature": "hot"}, "temperature"),
    (CHAT, "gpt", {"messages": HI, "max_tokens": True}, "max_tokens"),
    (CHAT, "claude", {"messages": HI, "stream": "yes"}, "stream"),
    ("/v1/embeddings", "embed", {}, "input"),
    ("/v1/embeddings", "embed", {"input": []}, "input"),
    ("/v1/completions", "instruct", {}, "prompt"),
    ("/v1/completions", "instruct", {"prompt": 5}, "prompt"),
]


@pytest.mark.parametrize(("path", "group", "body", "param"), INVALID)
def test_a_request_that_cannot_be_valid_is_a_400_before_any_upstream_is_chosen(
    http: httpx.Client, mock: MockUpstream, path: str, group: str, body: dict, param: str
) -> None:
    for _ in range(3):  # more than allowed_fails, as the review's attacker did
        error = assert_error(http.post(path, json={"model": group, **body}), 400, "invalid_request_error")
        assert error["param"] == param, error
    assert mock.requests() == []
    assert_untouched(http, DEPLOYMENTS[group])


def test_the_reported_bad_request_leaves_the_group_serving(http: httpx.Client, mock: MockUpstream) -> None:
    for _ in range(5):
        assert_error(http.post(CHAT, json={"model": "claude", "messages": [1]}), 400, "invalid_request_error")
    reply = http.post(CHAT, json={"model": "claude", "messages": HI, "max_tokens": 16})
    assert reply.status_code == 200, reply.text
    assert reply.json()["choices"][0]["message"]["content"] == "mock reply: hi"
    assert reply.headers["x-grid-attempts"] == "1"


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        # LiteLLM's own check: Anthropic needs a non-system message (its advice was to set modify_params)
        ({"messages": [{"role": "system", "content": "be brief"}]}, "invalid_request", "non-system message"),
        # LiteLLM's own check: a parameter the provider does not take (its advice was drop_params)
        ({"messages": HI, "logit_bias": {"1": 1}}, "unsupported_parameter", "logit_bias"),
        # a tool message without its call id: LiteLLM's translation raised a KeyError
        ({"messages": [{"role": "tool", "content": "x"}]}, "invalid_request", "could not be translated"),
    ],
    ids=["system-only", "unsupported-param", "translation-error"],
)
def test_litellm_rejections_are_the_clients_400_not_retried_breaker_untouched(
    http: httpx.Client, mock: MockUpstream, body: dict, code: str, words: str
) -> None:
    for _ in range(3):
        response = http.post(CHAT, json={"model": "claude", "max_tokens": 16, **body})
        error = assert_error(response, 400, "invalid_request_error", code)
        assert words in error["message"], error
    assert mock.requests(MESSAGES) == []  # LiteLLM refused it before any call
    assert_untouched(http, "claude-a")


@pytest.mark.parametrize(("group", "path"), [("claude", MESSAGES), ("gpt", CHAT)])
def test_a_provider_400_goes_back_once_and_leaves_the_breaker_alone(
    http: httpx.Client, mock: MockUpstream, group: str, path: str
) -> None:
    mock.add_fault({"match": {"path": path}, "status": 400, "message": "max_tokens is too large"})
    for _ in range(3):
        response = http.post(CHAT, json={"model": group, "messages": HI, "max_tokens": 16})
        error = assert_error(response, 400, "invalid_request_error")
        assert "max_tokens is too large" in error["message"]
    assert len(mock.requests(path)) == 3  # one attempt each: not retried
    assert_untouched(http, DEPLOYMENTS[group])


def test_litellm_provider_faults_are_shaped_and_still_count(http: httpx.Client, mock: MockUpstream) -> None:
    """A provider 500 through LiteLLM: 502 upstream_error, and the breaker opens; the message names
    the deployment and none of LiteLLM's class names."""
    mock.add_fault(
        {"match": {"path": MESSAGES, "model": "claude-fragile"}, "status": 500, "message": "it broke"}
    )
    response = http.post(CHAT, json={"model": "claude-fragile", "messages": HI, "max_tokens": 16})
    error = assert_error(response, 502, "api_error", "upstream_error")
    assert "claude-f" in error["message"] and "it broke" in error["message"]
    assert deployment_row(http, "claude-f")["state"] == "open"


def _lowest_free_fd(pid: int) -> int:
    used = {int(name) for name in os.listdir(f"/proc/{pid}/fd")}
    return next(n for n in range(len(used) + 1) if n not in used)


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
@pytest.mark.parametrize(
    ("model", "path", "grid_path"),
    [("openai/mock-gpt", CHAT, "passthrough"), ("anthropic/claude-haiku-4-5", MESSAGES, "litellm")],
    ids=["passthrough", "litellm"],
)
def test_out_of_file_descriptors_is_our_500_and_no_upstream_fault(
    mock: MockUpstream, model: str, path: str, grid_path: str
) -> None:
    """With the gateway's open-file limit lowered to what it already holds, it cannot open an upstream
    connection (EMFILE): a 500 internal_error, not retried, and the deployment stays healthy."""
    base = f"{mock.url}/v1" if grid_path == "passthrough" else mock.url
    config = {
        "model_list": [
            {
                "model_name": "m",
                "litellm_params": {"model": model, "api_base": base, "api_key": PROVIDER_KEY},
                "model_info": {"id": "fd-a", "grid_path": grid_path},
            }
        ],
        "router_settings": {"num_retries": 3, "allowed_fails": 1, "cooldown_time": 600},
        "general_settings": {"master_key": MASTER_KEY},
    }
    env = dict(LITELLM_ENV)
    body = {"model": "m", "messages": HI, "max_tokens": 16}
    with (
        GatewayProcess(config, env=env) as gw,
        httpx.Client(base_url=gw.url, timeout=30, headers={"Authorization": f"Bearer {MASTER_KEY}"}) as http,
    ):
        assert http.get("/admin/load-balancer/stats").status_code == 200  # the connection is open now
        pid = gw.proc.pid
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        # no new descriptor fits under the limit; the ones already open (the client's) keep working
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (_lowest_free_fd(pid), hard))
        try:
            response = http.post(CHAT, json=body)
        finally:
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        error = assert_error(response, 500, "api_error", "internal_error")
        assert "open files" in error["message"]
        assert mock.requests(path) == []
        assert_untouched(http, "fd-a")
        reply = http.post(CHAT, json=body)
        assert reply.status_code == 200, reply.text
        assert reply.json()["choices"][0]["message"]["content"] == "mock reply: hi"
