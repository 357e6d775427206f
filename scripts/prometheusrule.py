"""Write deploy/kubernetes/base/prometheusrule.yaml from deploy/prometheus/alerts.yml (`make prometheusrule`).

The compose Prometheus reads alerts.yml; the Prometheus Operator reads a PrometheusRule. One source:
edit alerts.yml, run this, commit both. tests/test_kubernetes.py fails when they differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
TARGET = REPO / "deploy" / "kubernetes" / "base" / "prometheusrule.yaml"

HEADER = """\
# GENERATED from deploy/prometheus/alerts.yml by `make prometheusrule`: edit that file, not this one.
# The alert rules (docs/observability.md#alerts) for the Prometheus Operator.
"""


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def prometheus_rule() -> dict:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "grid-gateway",
            "labels": {
                "app.kubernetes.io/name": "grid",
                "app.kubernetes.io/component": "gateway",
                "app.kubernetes.io/part-of": "grid",
            },
        },
        "spec": {"groups": groups},
    }


def render() -> str:
    body = yaml.dump(prometheus_rule(), Dumper=_Dumper, sort_keys=False, width=200, allow_unicode=True)
    return HEADER + body


def main() -> int:
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
