"""The Grafana dashboard is honest: every panel expression returns data from a real Prometheus.

A real Prometheus (the Debian package, installed by .ci/run) scrapes a real gateway every second. The
gateway runs the compose config (deploy/gateway/config.yaml) in front of two real mock upstreams, and
`gateway.demo_traffic` drives it with its full mix, faults at the second mock included, for as long as
the test polls. Every expression of every panel of deploy/grafana/dashboards/grid.json is then
queried through Prometheus's HTTP API until it returns a finite value.

The Prometheus also evaluates GRID's alert rules (deploy/prometheus/alerts.yml) with every `for` cut
to 0 s, the one change: the Alerts panel reads `ALERTS{alertstate="firing"}`, which only a firing
rule fills. The compose config's dead deployments open their breakers within seconds and its retired
group `gpt-4` is always served by its fallbacks, so the real `GridDeploymentBreakerOpen` and
`GridModelGroupUnavailable` rules fire on the real gateway's series.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from gateway import demo_traffic
from gateway.mock_upstream.runner import MockUpstream
from tests.harness import GatewayProcess, free_port

REPO = Path(__file__).resolve().parents[1]
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "grid.json"
GATEWAY_CONFIG = REPO / "deploy" / "gateway" / "config.yaml"
ALERT_RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
API_KEY = "sk-grid-dashboard-test"

# Grafana's variables, replaced by concrete values before the expressions go to Prometheus.
GRAFANA_VARIABLES = {
    "$__rate_interval": "30s",
    "$__interval": "15s",
    "$__range": "5m",
    "$model": ".*",
}

# The traffic must really have hit every scenario, not only produced (possibly zero) series.
SCENARIOS = {
    "retried attempts": "sum(grid_retry_attempts_sum) - sum(grid_retry_attempts_count) > 0",
    "fallbacks": "sum(grid_fallbacks_total) > 0",
    "upstream 429 reaching the client": 'sum(grid_requests_total{status="429"}) > 0',
    "overrides": "sum(grid_model_override_total) > 0",
    "streams (time to first token)": "sum(grid_time_to_first_token_seconds_count) > 0",
    "an open breaker": "max(grid_deployment_state) == 2",
    "tokens and cost": "sum(grid_cost_usd_total) > 0",
    'model="auto" decisions': "sum(grid_auto_route_total) > 0",
    "experiment assignments to both variants": "count(grid_experiment_assignments_total > 0) == 2",
    "the breaker alert firing for a dead deployment": (
        'ALERTS{alertname="GridDeploymentBreakerOpen", alertstate="firing", deployment=~"offline-.+"}'
    ),
    "the unavailable-group alert firing for the retired group": (
        'ALERTS{alertname="GridModelGroupUnavailable", alertstate="firing", model="gpt-4"}'
    ),
}

DATA_DEADLINE = 45.0
METRIC_NAME = re.compile(r"\bgrid_[a-z_]+")


@dataclass(frozen=True)
class Target:
    panel: str
    ref: str
    expr: str  # as written in the dashboard

    @property
    def query(self) -> str:
        expr = self.expr
        for variable, value in GRAFANA_VARIABLES.items():
            expr = expr.replace(variable, value)
        return expr

    @property
    def families(self) -> set[str]:
        return {re.sub(r"_(bucket|sum|count)$", "", name) for name in METRIC_NAME.findall(self.expr)}

    def __str__(self) -> str:
        return f"{self.panel!r} {self.ref}: {self.expr}"


def dashboard_targets() -> list[Target]:
    dashboard = json.loads(DASHBOARD.read_text())
    targets = []
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                targets.append(Target(inner["title"], target["refId"], target["expr"]))
    return targets


def immediate_alert_rules() -> dict:
    """alerts.yml with every `for` set to 0 s: a rule fires on its first true evaluation."""
    rules = yaml.safe_load(ALERT_RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                rule["for"] = "0s"
    return rules


class Prometheus:
    """A real Prometheus on a free loopback port, its own config and storage in a temporary dir."""

    def __init__(self, gateway_port: int, rules: dict | None = None) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            pytest.fail("prometheus is not installed: .ci/run installs the Debian package 'prometheus'")
        self.dir = Path(tempfile.mkdtemp(prefix="grid-prometheus-"))
        self.port = free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [
                {
                    "job_name": "grid",
                    "metrics_path": "/metrics",
                    "static_configs": [{"targets": [f"127.0.0.1:{gateway_port}"]}],
                }
            ],
        }
        if rules is not None:
            (self.dir / "alerts.yml").write_text(yaml.safe_dump(rules))
            config["rule_files"] = ["alerts.yml"]
        (self.dir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log_path = self.dir / "prometheus.log"
        self.cmd = [
            binary,
            f"--config.file={self.dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        self.proc: subprocess.Popen | None = None
        self.client = httpx.Client(base_url=self.url, timeout=5.0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> Prometheus:
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if self.client.get("/-/ready", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus did not become ready:\n{self.logs()}")

    def query(self, expr: str) -> list[float]:
        """The values of an instant query, now; raises on a query Prometheus refuses."""
        response = self.client.get("/api/v1/query", params={"query": expr})
        payload = response.json()
        if payload.get("status") != "success":
            raise AssertionError(f"Prometheus refused {expr!r}: {payload.get('error')}")
        data = payload["data"]
        if data["resultType"] == "scalar":
            return [float(data["result"][1])]
        if data["resultType"] == "vector":
            return [float(sample["value"][1]) for sample in data["result"]]
        return [float(v[1]) for series in data["result"] for v in series["values"]]

    def logs(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.client.close()
        if getattr(self, "_log", None):
            self._log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Stack:
    gateway: GatewayProcess
    prometheus: Prometheus
    tally: Counter[str]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """Mocks, the gateway on the compose config, Prometheus, and demo traffic until the module ends."""
    with MockUpstream("mock-a") as mock_a, MockUpstream("mock-b") as mock_b:
        env = {
            "GRID_MOCK_A_URL": f"{mock_a.url}/v1",
            "GRID_MOCK_B_URL": f"{mock_b.url}/v1",
            "GRID_OFFLINE_URL": f"http://127.0.0.1:{free_port()}/v1",  # nothing listens there
            "GRID_MASTER_KEY": API_KEY,
            "GRID_LOG_LEVEL": "WARNING",
        }
        gateway = GatewayProcess(yaml.safe_load(GATEWAY_CONFIG.read_text()), env=env).start()
        prometheus = None
        stop = threading.Event()
        tally: Counter[str] = Counter()
        options = demo_traffic.Options(
            base_url=gateway.url, api_key=API_KEY, mock_url=mock_b.url, concurrency=4, rps=60.0, seed=7
        )

        def traffic() -> None:
            asyncio.run(demo_traffic.run(options, stop, tally))

        thread = threading.Thread(target=traffic, name="demo-traffic", daemon=True)
        try:
            prometheus = Prometheus(gateway.port, immediate_alert_rules()).start()
            thread.start()
            yield Stack(gateway, prometheus, tally)
        finally:
            stop.set()
            thread.join(timeout=30)
            if prometheus is not None:
                prometheus.stop()
            gateway.stop()


def _has_data(values: list[float]) -> bool:
    return any(math.isfinite(v) for v in values)


def test_every_panel_expression_returns_data_from_prometheus(stack: Stack) -> None:
    targets = dashboard_targets()
    for target in targets:
        assert "$" not in target.query, f"unknown Grafana variable in {target}"
    waiting = {str(t): t.query for t in targets}
    waiting.update({f"scenario {name}: {expr}": expr for name, expr in SCENARIOS.items()})
    waiting["gateway scraped"] = 'up{job="grid"} == 1'
    deadline = time.monotonic() + DATA_DEADLINE
    while waiting and time.monotonic() < deadline:
        for label, expr in list(waiting.items()):
            if _has_data(stack.prometheus.query(expr)):
                del waiting[label]
        if waiting:
            time.sleep(1.0)
    assert not waiting, (
        f"no data within {DATA_DEADLINE:.0f} s for:\n  "
        + "\n  ".join(waiting)
        + f"\ntraffic sent so far: {dict(stack.tally)}\ngateway log tail:\n{stack.gateway.logs()[-2000:]}"
        + f"\nprometheus log tail:\n{stack.prometheus.logs()}"
    )
    gateway_down = 'ALERTS{alertname="GridGatewayDown", alertstate="firing"}'
    assert not stack.prometheus.query(gateway_down), "GridGatewayDown fires while the gateway answers"
