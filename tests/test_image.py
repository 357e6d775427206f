"""GRID's image, built and run for real: the repo's Dockerfile, unchanged, on a stand-in `python:3.11-slim`.

A Docker daemon of the test's own (tests/dockerd.py: no bridge, every container on `--network host`)
builds the stand-in base from Debian packages once (it stays in the daemon's data root), builds the
Dockerfile, and runs two mock upstream containers and gateway containers on free ports of 127.0.0.1.
Through them: a chat, a stream, `model="auto"`, the LiteLLM path and `/metrics` with no provider key
(the shipped config's standby deployments serve), the image's user, docker-compose.yml's healthcheck
commands run by Docker itself, and a config mounted over the shipped one.

Marked `image`: `make test` leaves it out (from nothing it takes a few minutes: debootstrap, pip);
`make test-image` runs it, and .ci/run calls that after `make test`. Skipped, saying why, only where
Docker cannot start (not root, docker.io not installed, dockerd refused to start).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest
import yaml

from tests.dockerd import BASE_TAG, STANDIN_LABEL, Daemon, Docker, DockerUnavailable, ensure_python_standin
from tests.harness import free_port

pytestmark = pytest.mark.image

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
IMAGE = "grid-gateway:test"
IMAGE_UID = 10001  # the Dockerfile's `useradd --uid`
MASTER_KEY = "sk-grid-image-test"
# Waiting for a container to come up (the gateway imports LiteLLM first): a generous start-up bound.
STARTUP_TIMEOUT = 120.0


Note = Callable[[str], None]


@pytest.fixture(scope="module")
def note(pytestconfig: pytest.Config) -> Note:
    """Print a figure on the terminal (time to debootstrap, to build, to run the checks)."""
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")

    def write(line: str) -> None:
        if reporter is None:
            return
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            reporter.write_line(f"[image] {line}")

    return write


@pytest.fixture(scope="module")
def docker(note: Note) -> Iterator[Docker]:
    daemon = Daemon()
    try:
        client = daemon.start()
    except DockerUnavailable as exc:
        pytest.skip(f"Docker cannot start here: {exc}")
    try:
        yield client
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def image(docker: Docker, note: Note) -> dict:
    """The stand-in base (made once per data root), then GRID's Dockerfile as it is in the repo."""
    ensure_python_standin(docker, note)
    began = time.monotonic()
    docker.run("build", "--force-rm", "--network", "host", "-t", IMAGE, str(REPO), timeout=1200)
    note(f"docker build of the Dockerfile on the stand-in: {time.monotonic() - began:.0f} s")
    # the previous run's image, untagged by this build, goes: the data root stays small
    docker.run("image", "prune", "-f")
    return json.loads(docker.run("image", "inspect", IMAGE).stdout)[0]


class Containers:
    """`docker run -d --network host` and clean-up; a container's logs go into failure messages."""

    def __init__(self, docker: Docker) -> None:
        self.docker = docker
        self.names: list[str] = []

    def run(
        self, role: str, *args: str, env: dict[str, str] | None = None, options: tuple[str, ...] = ()
    ) -> str:
        name = f"grid-test-{role}-{uuid.uuid4().hex[:8]}"
        env_args = [a for k, v in (env or {}).items() for a in ("-e", f"{k}={v}")]
        self.docker.run("run", "-d", "--name", name, "--network", "host", *env_args, *options, IMAGE, *args)
        self.names.append(name)
        return name

    def logs(self, name: str) -> str:
        result = self.docker.run("logs", "--tail", "40", name, check=False)
        return result.stdout + result.stderr

    def wait_http(self, name: str, url: str) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if httpx.get(url, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.state(name)["Status"] != "running":
                break
            time.sleep(0.2)
        raise AssertionError(f"{name} does not answer {url}:\n{self.logs(name)}")

    def state(self, name: str) -> dict:
        return json.loads(self.docker.run("inspect", "-f", "{{json .State}}", name).stdout)

    def remove_all(self) -> None:
        for name in self.names:
            self.docker.run("rm", "-f", name, check=False)


def compose_healthcheck(service: str, port: int) -> str:
    """docker-compose.yml's healthcheck command for `service`, pointed at `port` (host networking)."""
    test = yaml.safe_load(COMPOSE.read_text())["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD", test
    container_port = {"gateway": 8000}.get(service, 8100)
    command = shlex.join(test[1:])
    assert f":{container_port}/" in command, command  # else it would probe whatever holds that port
    return command.replace(f":{container_port}/", f":{port}/")


def health_options(service: str, port: int) -> tuple[str, ...]:
    return (
        "--health-cmd",
        compose_healthcheck(service, port),
        "--health-interval",
        "1s",
        "--health-retries",
        "60",
    )


class Stack:
    def __init__(self, containers: Containers, image: dict) -> None:
        self.containers = containers
        self.image = image
        self.mock_ports = {"mock-a": free_port(), "mock-b": free_port()}
        self.gateway_port = free_port()
        self.mock = {}
        self.gateway = ""

    def mock_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.mock_ports[name]}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def serve_command(self, port: int) -> list[str]:
        """The image's own command, only the address added (port 8000 of the host may be taken)."""
        return [*self.image["Config"]["Cmd"], "--host", "127.0.0.1", "--port", str(port)]

    def mock_requests(self, name: str, path: str) -> list[dict]:
        answer = httpx.get(f"{self.mock_url(name)}/_mock/requests", params={"path": path}, timeout=10.0)
        return answer.json()


@pytest.fixture(scope="module")
def stack(docker: Docker, image: dict, note: Note) -> Iterator[Stack]:
    """Two mock containers, and the gateway on the image's own config with no provider key: only the
    mocks' addresses are given (GRID_MOCK_URL for the OpenAI-wire standby deployments,
    GRID_MOCK_ANTHROPIC_URL for Anthropic's, which LiteLLM calls)."""
    containers = Containers(docker)
    stack = Stack(containers, image)
    began = time.monotonic()
    try:
        for name, port in stack.mock_ports.items():
            command = ["python", "-m", "gateway.mock_upstream", "--host", "127.0.0.1", "--port", str(port)]
            stack.mock[name] = containers.run(
                name, *command, "--name", name, options=health_options(name, port)
            )
        env = {
            "GRID_MOCK_URL": f"{stack.mock_url('mock-a')}/v1",
            "GRID_MOCK_ANTHROPIC_URL": stack.mock_url("mock-b"),
        }
        options = health_options("gateway", stack.gateway_port)
        stack.gateway = containers.run(
            "gateway", *stack.serve_command(stack.gateway_port), env=env, options=options
        )
        for name in stack.mock_ports:
            containers.wait_http(stack.mock[name], f"{stack.mock_url(name)}/_mock/health")
        containers.wait_http(stack.gateway, f"{stack.gateway_url}/health/liveliness")
        note(f"containers up (two mocks, the gateway): {time.monotonic() - began:.0f} s")
        yield stack
    finally:
        containers.remove_all()
        note(f"containers started, checked and removed: {time.monotonic() - began:.0f} s")


@pytest.fixture
def client(stack: Stack) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{stack.gateway_url}/v1", api_key="unused", timeout=60.0, max_retries=0
    ) as c:
        yield c


def test_the_base_is_the_stand_in_and_the_image_runs_as_its_non_root_user(
    docker: Docker, stack: Stack
) -> None:
    base = json.loads(docker.run("image", "inspect", BASE_TAG).stdout)[0]
    assert STANDIN_LABEL in (base["Config"]["Labels"] or {}), "the build did not use the stand-in base"
    version = docker.run("run", "--rm", "--network", "host", BASE_TAG, "python", "--version").stdout
    assert version.startswith("Python 3.11"), version
    assert stack.image["Config"]["User"] == "grid"
    assert stack.image["Config"]["Cmd"] == ["gateway", "serve", "--config", "/etc/grid/config.yaml"]
    status = docker.run("exec", stack.gateway, "cat", "/proc/1/status").stdout
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert uids == [str(IMAGE_UID)] * 4, status  # the gateway process: real, effective, saved, fs
    cmdline = docker.run("exec", stack.gateway, "cat", "/proc/1/cmdline").stdout.split("\0")
    assert "gateway" in cmdline[1] and "serve" in cmdline, cmdline


def test_docker_reports_every_container_healthy_by_the_compose_healthchecks(stack: Stack) -> None:
    """Docker runs docker-compose.yml's healthcheck commands (python + urllib, in the image) itself."""
    names = [stack.gateway, *stack.mock.values()]
    deadline = time.monotonic() + STARTUP_TIMEOUT
    health = {}
    while time.monotonic() < deadline:
        health = {name: stack.containers.state(name).get("Health", {}).get("Status") for name in names}
        if set(health.values()) == {"healthy"}:
            break
        time.sleep(0.5)
    assert set(health.values()) == {"healthy"}, health


def test_with_no_provider_key_a_chat_is_served_by_the_standby_mock(
    client: openai.OpenAI, stack: Stack
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hello from the image test"}],
        user="image-chat",
    )
    reply = raw.parse()
    assert reply.choices[0].message.content
    assert raw.headers["x-grid-model"] == "gpt-4o-mini"
    assert raw.headers["x-grid-deployment"] == "mock-gpt-4o-mini"
    seen = stack.mock_requests("mock-a", "/v1/chat/completions")
    assert any(r["body"].get("user") == "image-chat" for r in seen), seen


def test_a_stream_is_relayed_from_the_standby_mock(client: openai.OpenAI) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="fast", messages=[{"role": "user", "content": "stream please"}], stream=True
    ) as response:
        assert response.headers["x-grid-deployment"] == "mock-gpt-4o-mini"
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)


def test_the_anthropic_group_goes_through_litellm_to_the_second_mock(
    client: openai.OpenAI, stack: Stack
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="claude", messages=[{"role": "user", "content": "through litellm"}], max_tokens=32
    )
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-grid-deployment"] == "mock-claude-haiku-4-5"
    assert stack.mock_requests("mock-b", "/v1/messages"), "mock-b got no Anthropic Messages request"


def test_model_auto_picks_a_group_and_says_why(client: openai.OpenAI, stack: Stack) -> None:
    prompt = "Prove that the square root of 2 is irrational, step by step, then solve x^2 - 5x + 6 = 0."
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": prompt}], max_tokens=64
    )
    assert raw.parse().choices[0].message.content
    reason = raw.headers["x-grid-route-reason"]
    chosen = raw.headers["x-grid-model"]
    assert f"chosen={chosen}" in reason, reason
    assert raw.headers["x-grid-deployment"] == f"mock-{chosen}"


def test_metrics_count_what_the_containers_served(client: openai.OpenAI, stack: Stack) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "count me"}])
    client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "translate 'hi' to French"}]
    )
    metrics = httpx.get(f"{stack.gateway_url}/metrics", timeout=10.0).text
    served = [
        line
        for line in metrics.splitlines()
        if line.startswith("grid_requests_total{")
        and 'deployment="mock-gpt-4o-mini"' in line
        and 'status="200"' in line
    ]
    assert served and float(served[0].rsplit(" ", 1)[1]) >= 1, metrics
    assert "grid_auto_route_total{" in metrics
    assert 'grid_deployment_state{deployment="mock-gpt-4o-mini"} 0.0' in metrics


def test_a_config_mounted_over_the_shipped_one_is_the_one_served(stack: Stack, tmp_path: Path) -> None:
    config = {
        "model_list": [
            {
                "model_name": "mounted-model",
                "litellm_params": {
                    "model": "openai/mounted-model",
                    "api_base": f"{stack.mock_url('mock-b')}/v1",
                },
                "model_info": {"id": "mounted-on-mock-b"},
            }
        ],
        "general_settings": {"master_key": "os.environ/GRID_MASTER_KEY"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o644)  # the image's user reads it
    port = free_port()
    name = stack.containers.run(
        "mounted",
        *stack.serve_command(port),
        env={"GRID_MASTER_KEY": MASTER_KEY},
        options=("-v", f"{path}:/etc/grid/config.yaml:ro"),
    )
    url = f"http://127.0.0.1:{port}"
    stack.containers.wait_http(name, f"{url}/health/liveliness")
    with openai.OpenAI(base_url=f"{url}/v1", api_key=MASTER_KEY, timeout=60.0, max_retries=0) as client:
        assert [m.id for m in client.models.list()] == ["mounted-model"]
        raw = client.chat.completions.with_raw_response.create(
            model="mounted-model", messages=[{"role": "user", "content": "mounted"}]
        )
        assert raw.headers["x-grid-deployment"] == "mounted-on-mock-b"
    refused = httpx.get(f"{url}/v1/models", timeout=10.0)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
