"""The alert rules (deploy/prometheus/alerts.yml) are valid, unit-tested, documented and loaded.

`promtool` (Debian's `prometheus` package, installed by scripts/test-deps.sh) checks the rules and
runs their unit tests (deploy/prometheus/alerts_test.yml: series in, alert out, and the silent cases).
The rest pins what promtool cannot see: every rule has both kinds of case, every series a rule or a
test names is one the gateway really exports, every rule is in docs/observability.md, and the compose
Prometheus loads the file where its config says.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway import metrics

REPO = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = REPO / "deploy" / "prometheus"
ALERTS = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST = PROMETHEUS_DIR / "alerts_test.yml"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
COMPOSE = REPO / "docker-compose.yml"
OBSERVABILITY = REPO / "docs" / "observability.md"
DASHBOARD = REPO / "deploy" / "grafana" / "dashboards" / "grid.json"

GRID_NAME = re.compile(r"\bgrid_[a-z_]+\b")


def promtool() -> str:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail(
            "promtool is not installed: scripts/test-deps.sh installs the Debian package 'prometheus'"
        )
    return binary


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(ALERTS.read_text())["groups"] for rule in group["rules"]]


def alert_names() -> list[str]:
    return [rule["alert"] for rule in rules() if "alert" in rule]


def unit_tests() -> list[dict[str, Any]]:
    return yaml.safe_load(ALERTS_TEST.read_text())["tests"]


def exported_series() -> set[str]:
    """Every series name the gateway's registry can expose (histograms with their three suffixes)."""
    names = set()
    for family in metrics.REGISTRY.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"}
        else:
            names.add(family.name)
    return names


def test_alert_rules_pass_promtool_check() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", str(ALERTS)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout + result.stderr


def test_alert_rule_unit_tests_pass() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", ALERTS_TEST.name],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROMETHEUS_DIR,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_unit_tests_load_the_shipped_rules() -> None:
    assert yaml.safe_load(ALERTS_TEST.read_text())["rule_files"] == [ALERTS.name]


def test_every_alert_has_a_firing_case_and_a_silent_case() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for case in unit_tests():
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = set(alert_names())
    assert names == firing, (
        f"rules without a firing case: {sorted(names - firing)}; unknown: {firing - names}"
    )
    assert names <= silent, f"rules without a silent case: {sorted(names - silent)}"


def test_alert_rules_name_only_series_the_gateway_exports() -> None:
    exported = exported_series()
    for rule in rules():
        used = set(GRID_NAME.findall(rule["expr"]))
        assert used or 'up{job="grid"}' in rule["expr"], f"{rule['alert']} reads no gateway series"
        assert used <= exported, (
            f"{rule['alert']} reads series the gateway does not export: {used - exported}"
        )


def test_unit_test_series_are_series_the_gateway_exports() -> None:
    exported = exported_series() | {"up"}
    for case in unit_tests():
        for series in case["input_series"]:
            name = series["series"].split("{")[0]
            assert name in exported, f"alerts_test.yml feeds {name}, which the gateway does not export"


def test_every_alert_has_a_severity_and_a_documented_runbook() -> None:
    text = OBSERVABILITY.read_text()
    assert "\n## Alerts\n" in text, "docs/observability.md has no Alerts section"
    section = text.split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]
    for rule in rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        assert rule["annotations"]["runbook"] == "docs/observability.md#alerts", name
        assert rule["annotations"]["summary"], name
        row = next((line for line in section.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert row is not None, f"docs/observability.md#alerts has no row for {name}"
        assert f"| {rule['for']} |" in row, f"the documented `for` of {name} is not {rule['for']}"


def test_compose_prometheus_loads_the_alert_rules_where_its_config_says() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    assert config["rule_files"] == [ALERTS.name]
    prometheus = yaml.safe_load(COMPOSE.read_text())["services"]["prometheus"]
    mounts = {}
    for volume in prometheus["volumes"]:
        source, target = volume.split(":")[:2]
        mounts[(REPO / source).resolve()] = target
    config_dir = Path(mounts[PROMETHEUS_CONFIG.resolve()]).parent
    assert mounts.get(ALERTS.resolve()) == str(config_dir / ALERTS.name)


def test_dashboard_lists_every_firing_grid_alert() -> None:
    board = json.loads(DASHBOARD.read_text())
    panels = [inner for p in board["panels"] for inner in [p, *p.get("panels", [])]]
    exprs = [t["expr"] for p in panels for t in p.get("targets", []) if t["expr"].startswith("ALERTS{")]
    assert len(exprs) == 1, "one dashboard panel lists the firing alerts"
    (expr,) = exprs
    assert 'alertstate="firing"' in expr
    pattern = re.search(r'alertname=~"([^"]+)"', expr)
    if pattern is not None:
        for name in alert_names():
            assert re.fullmatch(pattern.group(1), name), f"the alerts panel hides {name}"
