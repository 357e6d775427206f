"""The rendered Kubernetes manifests (deploy/kubernetes/) and what tests ask of them.

Shared by tests/test_kubernetes.py (the manifests themselves) and tests/test_kubernetes_pod.py (a
gateway run the way the pod runs it).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import kubernetes_validate

from tests.kustomize import pod_spec, render

REPO = Path(__file__).resolve().parents[1]
KUBERNETES = REPO / "deploy" / "kubernetes"
OVERLAYS = ("single", "ha")
DOCKERFILE = REPO / "Dockerfile"
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
CLI = REPO / "gateway" / "cli.py"
SCHEMA_VERSIONS = ("1.27.0", kubernetes_validate.latest_version())
SECRET = "grid-keys"
FAKE_SECRET_VALUES = {  # what `kubectl create secret generic grid-keys ...` would hold
    "GRID_MASTER_KEY": "sk-grid-k8s-test",
    "OPENAI_API_KEY": "sk-openai-k8s-test",
    "ANTHROPIC_API_KEY": "sk-ant-k8s-test",
    "REDIS_PASSWORD": "redis-k8s-test",
}
EXPECTED_OBJECTS = {
    "single": {
        ("Namespace", "grid"),
        ("ConfigMap", "grid-config"),
        ("Deployment", "grid-gateway"),
        ("Service", "grid-gateway"),
        ("PodDisruptionBudget", "grid-gateway"),
        ("ServiceMonitor", "grid-gateway"),
        ("PrometheusRule", "grid-gateway"),
    },
}
EXPECTED_OBJECTS["ha"] = EXPECTED_OBJECTS["single"] | {
    ("HorizontalPodAutoscaler", "grid-gateway"),
    ("Deployment", "grid-redis"),
    ("Service", "grid-redis"),
    ("NetworkPolicy", "grid-redis"),
}


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    return tuple(render(KUBERNETES / "overlays" / overlay))


def objects(overlay: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [o for o in rendered(overlay) if kind is None or o["kind"] == kind]


def one(overlay: str, kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects(overlay, kind) if o["metadata"]["name"] == name]
    return found


def gateway_deployment(overlay: str) -> dict[str, Any]:
    return one(overlay, "Deployment", "grid-gateway")


def gateway_container(overlay: str) -> dict[str, Any]:
    (container,) = pod_spec(gateway_deployment(overlay))["containers"]
    return container


def config_map(overlay: str) -> dict[str, Any]:
    (found,) = [o for o in objects(overlay, "ConfigMap") if o["metadata"]["name"].startswith("grid-config-")]
    return found


def flag(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def dockerfile() -> list[str]:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def image_uid() -> int:
    (useradd,) = [line for line in dockerfile() if "useradd" in line]
    return int(re.search(r"--uid (\d+)", useradd).group(1))


def container_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet would set it, the Secret holding FAKE_SECRET_VALUES."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), item["value"]
            )
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == SECRET
            env[item["name"]] = FAKE_SECRET_VALUES[ref["key"]]
    return env


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return [node] if isinstance(node, str) else []


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())
