"""The deployment files agree with each other and with the repo (no Docker engine needed).

docker-compose.yml is parsed and checked against the files it mounts and builds from, the Prometheus
config is checked by `promtool` (from the Debian `prometheus` package, installed by .ci/run), the
gateway config compose runs is checked by `gateway check`, and the Grafana provisioning is checked
against the dashboard JSON.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from gateway import demo_traffic
from gateway.config import load_config
from gateway.errors import ModelNotFound
from gateway.mock_upstream.runner import MockUpstream
from gateway.routing.resolve import resolve
from tests.harness import free_port, openai_client, user, wait_for

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
PROMETHEUS_CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"
GATEWAY_CONFIG = REPO / "deploy" / "gateway" / "config.yaml"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "grid.json"
PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"
DOCKERFILE = REPO / "Dockerfile"

GATEWAY_PORT = 8000
MOCK_PORT = 8100
CONTRACT_METRICS = (  # DESIGN.md section 1: the dashboard shows every one of them
    "grid_requests_total",
    "grid_request_duration_seconds",
    "grid_upstream_latency_seconds",
    "grid_time_to_first_token_seconds",
    "grid_overhead_seconds",
    "grid_retry_attempts",
    "grid_fallbacks_total",
    "grid_model_override_total",
    "grid_deployment_state",
    "grid_in_flight_requests",
    "grid_tokens_total",
    "grid_cost_usd_total",
    "grid_auto_route_total",
    "grid_experiment_assignments_total",
)
PANEL_TYPES = {"row", "timeseries", "stat", "state-timeline", "bargauge", "table"}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def services() -> dict[str, Any]:
    return compose()["services"]


def interpolate(value: str) -> str:
    """Compose's `${NAME:-default}` / `${NAME}`, with the defaults (the environment is not used)."""
    return re.sub(r"\$\{(\w+)(?::?-([^}]*))?\}", lambda m: m.group(2) or "", value)


def bind_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of each bind mount, short or long syntax."""
    mounts = []
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            if volume.get("type") != "bind":
                continue
            source, target = volume["source"], volume["target"]
        if source.startswith((".", "/")):
            mounts.append((source, target))
    return mounts


def mount_target(service: dict[str, Any], repo_path: Path) -> str:
    for source, target in bind_mounts(service):
        if (REPO / source).resolve() == repo_path.resolve():
            return target
    raise AssertionError(f"{repo_path.relative_to(REPO)} is not mounted")


def published(service: dict[str, Any]) -> dict[int, int]:
    """{container port: host port} from short-syntax port strings."""
    ports = {}
    for port in service.get("ports", []):
        host, _, container = str(port).rpartition(":")
        ports[int(container)] = int(host.rpartition(":")[2])
    return ports


def gateway_env() -> dict[str, str]:
    return {k: interpolate(str(v)) for k, v in services()["gateway"]["environment"].items()}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict[str, Any]]:
    return [inner for p in dashboard()["panels"] for inner in [p, *p.get("panels", [])]]


def datasource_uids(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = set()
        ds = node.get("datasource")
        if isinstance(ds, dict) and ds.get("type") == "prometheus":
            found.add(ds.get("uid"))
        for value in node.values():
            found |= datasource_uids(value)
        return found
    if isinstance(node, list):
        return set().union(*(datasource_uids(v) for v in node)) if node else set()
    return set()


# --- docker-compose.yml ---------------------------------------------------------------------------


def test_compose_has_the_stack_services() -> None:
    assert {"gateway", "mock-a", "mock-b", "prometheus", "grafana"} <= set(services())


def test_compose_bind_mounts_exist_in_the_repo() -> None:
    for name, service in services().items():
        for source, target in bind_mounts(service):
            assert (REPO / source).exists(), f"{name}: mount source {source} does not exist"
            assert target.startswith("/"), f"{name}: mount target {target} is not absolute"


def test_compose_builds_the_repo_image_from_the_dockerfile() -> None:
    built = {name: s for name, s in services().items() if "build" in s}
    assert {"gateway", "mock-a", "mock-b"} <= set(built)
    images = set()
    for service in built.values():
        build = service["build"]
        context = build if isinstance(build, str) else build.get("context", ".")
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (REPO / context / dockerfile).resolve() == DOCKERFILE.resolve()
        images.add(service.get("image"))
    assert len(images) == 1, "services built from the Dockerfile share one image"


def test_compose_ports() -> None:
    s = services()
    assert published(s["gateway"]) == {GATEWAY_PORT: GATEWAY_PORT}
    assert published(s["prometheus"]) == {9090: 9090}
    assert published(s["grafana"]) == {3000: 3000}
    assert published(s["mock-a"]).keys() == published(s["mock-b"]).keys() == {MOCK_PORT}
    assert published(s["mock-b"])[MOCK_PORT] == 8101, "make demo-traffic injects faults at localhost:8101"
    command = s["gateway"]["command"]
    assert command[command.index("--port") + 1] == str(GATEWAY_PORT)
    for mock in ("mock-a", "mock-b"):
        command = s[mock]["command"]
        assert command[:3] == ["python", "-m", "gateway.mock_upstream"]
        assert command[command.index("--port") + 1] == str(MOCK_PORT)
        assert command[command.index("--host") + 1] == "0.0.0.0"


def test_compose_gateway_runs_the_mounted_config_with_every_variable_it_reads() -> None:
    gateway = services()["gateway"]
    command = gateway["command"]
    assert command[:2] == ["gateway", "serve"]
    config_path = command[command.index("--config") + 1]
    assert mount_target(gateway, GATEWAY_CONFIG) == config_path
    wanted = set(re.findall(r"os\.environ/(\w+)", GATEWAY_CONFIG.read_text()))
    env = gateway_env()
    assert wanted <= set(env), f"compose does not set {sorted(wanted - set(env))}"
    for name in ("GRID_MOCK_A_URL", "GRID_MOCK_B_URL", "GRID_OFFLINE_URL"):
        url = urlsplit(env[name])
        assert url.hostname in services(), f"{name} names no compose service"
        assert url.path == "/v1"
    assert urlsplit(env["GRID_MOCK_A_URL"]).port == urlsplit(env["GRID_MOCK_B_URL"]).port == MOCK_PORT
    assert urlsplit(env["GRID_OFFLINE_URL"]).port != MOCK_PORT, "the offline deployment must refuse"


def test_compose_demo_traffic_service_talks_to_the_stack() -> None:
    demo = services()["demo-traffic"]
    assert demo["profiles"] == ["demo"]
    args = dict(arg.split("=", 1) for arg in demo["command"] if arg.startswith("--"))
    assert urlsplit(args["--base-url"]).hostname == "gateway"
    assert urlsplit(args["--base-url"]).port == GATEWAY_PORT
    assert urlsplit(args["--mock-url"]).hostname == "mock-b"
    assert interpolate(args["--api-key"]) == gateway_env()["GRID_MASTER_KEY"]


# --- Prometheus -----------------------------------------------------------------------------------


def test_prometheus_config_passes_promtool() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: .ci/run installs the Debian package 'prometheus'")
    result = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS_CONFIG)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_the_gateway_service_and_is_mounted_where_it_reads() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = [
        (job.get("metrics_path", "/metrics"), target)
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    ]
    assert ("/metrics", f"gateway:{GATEWAY_PORT}") in targets
    prometheus = services()["prometheus"]
    flags = dict(arg.split("=", 1) for arg in prometheus.get("command", []) if "=" in arg)
    read = flags.get("--config.file", "/etc/prometheus/prometheus.yml")  # the image's default
    assert mount_target(prometheus, PROMETHEUS_CONFIG) == read


# --- Grafana --------------------------------------------------------------------------------------


def test_grafana_mounts_provisioning_and_dashboards_where_the_provider_reads() -> None:
    grafana = services()["grafana"]
    assert mount_target(grafana, PROVISIONING) == "/etc/grafana/provisioning"
    dashboards_dir = mount_target(grafana, DASHBOARD.parent)
    providers = [
        provider
        for path in (PROVISIONING / "dashboards").glob("*.y*ml")
        for provider in yaml.safe_load(path.read_text())["providers"]
    ]
    assert [p["options"]["path"] for p in providers] == [dashboards_dir]
    home = grafana.get("environment", {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        assert home == f"{dashboards_dir}/{DASHBOARD.name}"


def test_grafana_datasource_is_the_compose_prometheus_with_the_dashboards_uid() -> None:
    sources = [
        source
        for path in (PROVISIONING / "datasources").glob("*.y*ml")
        for source in yaml.safe_load(path.read_text())["datasources"]
    ]
    assert len(sources) == 1
    (source,) = sources
    assert source["type"] == "prometheus"
    url = urlsplit(source["url"])
    assert url.hostname == "prometheus" and url.port in published(services()["prometheus"])
    assert datasource_uids(dashboard()) == {source["uid"]}


# --- the dashboard JSON ---------------------------------------------------------------------------


def test_dashboard_is_well_formed() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 36 and board["uid"] and board["title"]
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in panels():
        assert panel["type"] in PANEL_TYPES, panel["title"]
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"{panel['title']} has no query"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            # every query reads the gateway's series, or the firing state of GRID's alert rules
            assert expr.strip() and ("grid_" in expr or expr.startswith("ALERTS{")), panel["title"]
    assert "${DS_" not in DASHBOARD.read_text(), "datasource by fixed uid, not an import placeholder"


def test_dashboard_shows_every_contract_metric() -> None:
    exprs = " ".join(t["expr"] for p in panels() for t in p.get("targets", []))
    missing = [m for m in CONTRACT_METRICS if not re.search(rf"\b{m}(_bucket|_sum|_count)?\b", exprs)]
    assert not missing, f"no panel shows {missing}"


def test_dashboard_model_variable_queries_a_label_the_panels_filter_on() -> None:
    (variable,) = dashboard()["templating"]["list"]
    assert variable["name"] == "model" and variable["allValue"] == ".*"
    assert "label_values(grid_requests_total, model)" in json.dumps(variable)


# --- the gateway config compose runs, and the demo traffic against it -----------------------------


def test_compose_gateway_config_passes_gateway_check() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRID_")} | gateway_env()
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "check", "--config", str(GATEWAY_CONFIG)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s)" in result.stdout
    assert "8 live deployment(s)" in result.stdout, result.stdout


def test_demo_traffic_names_models_the_compose_config_serves() -> None:
    snapshot, _ = load_config(str(GATEWAY_CONFIG), env=gateway_env())
    for model in sorted(demo_traffic.served_models()):
        resolve(snapshot, model)  # raises ModelNotFound
    for model in demo_traffic.UNKNOWN_MODELS:
        with pytest.raises(ModelNotFound):
            resolve(snapshot, model)
    on_faulty_mock = {
        dep.upstream_model: dep.group
        for dep in snapshot.deployments
        if (dep.api_base or "").rstrip("/") == gateway_env()["GRID_MOCK_B_URL"]
    }
    for upstream, asked in (demo_traffic.RETRY, demo_traffic.FALLBACK, demo_traffic.RATE_LIMITED):
        assert on_faulty_mock.get(upstream) == resolve(snapshot, asked).group, (upstream, asked)


# --- Dockerfile -----------------------------------------------------------------------------------


def dockerfile_instructions() -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    joined, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1].strip() + " "
            continue
        joined.append(current + line)
        current = ""
    return joined


def test_dockerfile_describes_a_non_root_gateway_image() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0] == "FROM python:3.11-slim"
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert "EXPOSE 8000" in instructions
    cmd = json.loads(next(line for line in instructions if line.startswith("CMD "))[4:])
    assert cmd == ["gateway", "serve", "--config", "/etc/grid/config.yaml"]
    runs = [line for line in instructions if line.startswith("RUN ")]
    lock = next(i for i, run in enumerate(runs) if "pip install --require-hashes -r requirements.lock" in run)
    package = next(i for i, run in enumerate(runs) if "pip install --no-deps ." in run)
    assert lock < package  # the lock, exactly, then the package with nothing resolved beyond it
    # the lock's layer comes before the code is copied: a change to gateway/ reuses it from the cache
    before_lock = instructions.index(runs[lock])
    copied_before = [line for line in instructions[:before_lock] if line.startswith("COPY ")]
    assert copied_before == ["COPY requirements.lock ./"], copied_before
    ignored = {
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines() if not line.startswith("#")
    }
    for line in instructions:
        if line.startswith("COPY "):
            *sources, _ = line.split()[1:]
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: not in the repo"
                assert source.rstrip("/") not in ignored, f"COPY {source}: excluded by .dockerignore"


@pytest.mark.timeout(600)  # installs the whole lock into a new virtualenv (from uv's cache once warm)
def test_the_images_build_steps_install_the_lock_and_its_command_serves(tmp_path: Path) -> None:
    """The image's install steps, replayed outside Docker within the ordinary suite (`make test-image`
    builds and runs the image itself, on a stand-in base image, in minutes): the build context is
    assembled from the COPY lines, the RUN lines' `pip install` commands run with the same arguments
    (through uv's pip, for its cache) into a fresh virtualenv standing in for the base image's Python,
    and the CMD is started from that virtualenv, outside the source tree, with the ENV lines'
    environment. What is not replayed: the base image itself and `useradd`."""
    instructions = dockerfile_instructions()
    workdir = Path(next(line.split()[1] for line in instructions if line.startswith("WORKDIR ")))
    root = tmp_path / "root"

    def inside(path: str) -> Path:
        target = Path(path) if path.startswith("/") else workdir / path
        return root / target.relative_to("/")

    for line in instructions:
        if line.startswith("COPY "):
            *sources, dest = line.split()[1:]
            for source in sources:
                target = inside(dest) / source if dest.endswith("/") else inside(dest)
                if (REPO / source).is_dir():
                    shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy(REPO / source, target)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("GRID_", "OPENAI_", "ANTHROPIC_", "PIP_"))
    }
    for line in instructions:
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in line[4:].split())
    uv = Path(sys.executable).parent / "uv"
    venv = tmp_path / "venv"
    subprocess.run(
        [str(uv), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, timeout=120
    )
    runs = [line[4:] for line in instructions if line.startswith("RUN ")]
    for command in (part.strip() for run in runs for part in run.split("&&")):
        if command.startswith("pip install "):
            args = [str(uv), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python")]
            done = subprocess.run(
                args + command.split()[2:],
                cwd=inside("."),
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert done.returncode == 0, f"{command}:\n{done.stderr}"
    frozen = subprocess.run(
        [str(uv), "pip", "freeze", "--python", str(venv / "bin" / "python")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout

    def normal(pin: str) -> str:
        return pin.lower().replace("_", "-")

    pins = re.findall(r"^([A-Za-z0-9_.-]+==[^ \\]+)( ;)?", (REPO / "requirements.lock").read_text(), re.M)
    allowed = {normal(pin) for pin, _ in pins}
    everywhere = {normal(pin) for pin, marker in pins if not marker}  # no platform marker
    installed = {
        normal(line.strip()) for line in frozen.splitlines() if "==" in line and "grid-gateway" not in line
    }
    assert everywhere <= installed <= allowed, (
        everywhere - installed,
        installed - allowed,
    )  # the lock, exactly

    cmd = json.loads(next(line for line in instructions if line.startswith("CMD "))[4:])
    port = free_port()
    config = str(inside(cmd[cmd.index("--config") + 1]))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    with MockUpstream("image-mock") as upstream:  # as docker-compose does: the standby deployments
        env |= {"GRID_MOCK_URL": f"{upstream.url}/v1", "GRID_MOCK_ANTHROPIC_URL": upstream.url}
        server = subprocess.Popen(
            [str(venv / "bin" / cmd[0]), *cmd[1 : cmd.index("--config")], "--config", config]
            + ["--host", "127.0.0.1", "--port", str(port)],
            cwd=elsewhere,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            # a start-up deadline (LiteLLM imported on a busy machine), not a measurement
            assert wait_for(lambda: server.poll() is not None or _answers(f"{base}/health/liveliness"), 180)
            assert server.poll() is None
            models = httpx.get(f"{base}/v1/models", timeout=20).json()
            assert {m["id"] for m in models["data"]} >= {"gpt-4o-mini", "claude-haiku-4-5"}
            with openai_client(f"{base}/v1", key="unused") as sdk:  # no master key set: auth is off
                reply = sdk.chat.completions.create(model="gpt-4o-mini", messages=user("from the image"))
            assert reply.choices[0].message.content == "mock reply: from the image"
        finally:
            server.terminate()
            try:
                output = server.communicate(timeout=30)[0].decode(errors="replace")
            except subprocess.TimeoutExpired:
                server.kill()
                output = server.communicate()[0].decode(errors="replace")
    assert "GRID listening on http://127.0.0.1" in output, output
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import gateway; print(gateway.__file__)"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert where.startswith(str(venv)), where  # the installed package served, not the source tree


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
