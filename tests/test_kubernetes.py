"""The Kubernetes manifests (deploy/kubernetes/) render, validate, and agree with the image and the config.

Both overlays are rendered by tests/kustomize.py (checked against `kubectl kustomize` where a kubectl
with Kustomize v5 is installed), every built-in object is validated against the Kubernetes JSON
schemas shipped in `kubernetes-validate` (strict: unknown fields are errors), and the two CRD objects
(ServiceMonitor, PrometheusRule) get a structural check of their own, since no schema for them ships
with the package. Then the Deployment is held against the Dockerfile (user, port, config path), against
`gateway serve` (graceful shutdown) and against its config; tests/test_kubernetes_pod.py runs it.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from tests.k8s_manifests import (
    ALERTS,
    CLI,
    EXPECTED_OBJECTS,
    FAKE_SECRET_VALUES,
    KUBERNETES,
    OVERLAYS,
    REPO,
    SCHEMA_VERSIONS,
    SECRET,
    _strings,
    config_map,
    container_env,
    dockerfile,
    flag,
    gateway_container,
    gateway_deployment,
    image_uid,
    matches,
    objects,
    one,
    rendered,
)
from tests.kustomize import pod_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import prometheusrule  # noqa: E402

# --- rendering ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_the_expected_objects_in_one_namespace(overlay: str) -> None:
    kinds = {(o["kind"], re.sub(r"-[a-z0-9]{10}$", "", o["metadata"]["name"])) for o in rendered(overlay)}
    assert kinds == EXPECTED_OBJECTS[overlay]
    for obj in rendered(overlay):
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "grid", obj["kind"]


def _kustomize_v5() -> str | None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    result = subprocess.run([kubectl, "version", "--client"], capture_output=True, text=True, timeout=60)
    found = re.search(r"Kustomize Version: v(\d+)", result.stdout)
    return kubectl if found and int(found.group(1)) >= 5 else None


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_renderer_agrees_with_kubectl_kustomize(overlay: str) -> None:
    kubectl = _kustomize_v5()
    if kubectl is None:
        pytest.skip(
            "no kubectl with Kustomize v5 here: the manifests are rendered by tests/kustomize.py only"
        )
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr

    def keyed(items) -> dict[tuple, dict]:
        return {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]): o for o in items if o}

    assert keyed(yaml.safe_load_all(result.stdout)) == keyed(rendered(overlay))


# --- schemas -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_built_in_object_passes_the_kubernetes_schema(overlay: str, version: str) -> None:
    for obj in rendered(overlay):
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # CRDs: no schema ships with kubernetes-validate; checked below
        kubernetes_validate.validate(obj, version, strict=True)


def test_the_schema_check_rejects_a_misspelled_field() -> None:
    deployment = yaml.safe_load(yaml.safe_dump(gateway_deployment("single")))
    container = pod_spec(deployment)["containers"][0]
    container["readinesProbe"] = container.pop("readinessProbe")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, SCHEMA_VERSIONS[-1], strict=True)


def test_service_monitor_has_the_fields_the_operator_reads() -> None:
    monitor = one("single", "ServiceMonitor", "grid-gateway")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(monitor["spec"]) <= {"jobLabel", "selector", "endpoints", "namespaceSelector"}
    assert isinstance(monitor["spec"]["selector"]["matchLabels"], dict)
    for endpoint in monitor["spec"]["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "scrapeTimeout", "scheme"}
        assert re.fullmatch(r"\d+[smh]", endpoint["interval"])


def test_prometheus_rule_holds_exactly_the_compose_alert_rules() -> None:
    rule = one("single", "PrometheusRule", "grid-gateway")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(rule["spec"]) == {"groups"}
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]
    generated = KUBERNETES / "base" / "prometheusrule.yaml"
    assert generated.read_text() == prometheusrule.render(), (
        "run `make prometheusrule` after editing alerts.yml"
    )


# --- the Deployment against the Dockerfile, the server and the config ---------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_container_runs_the_image_command_on_the_exposed_port(overlay: str) -> None:
    container = gateway_container(overlay)
    (expose,) = [int(line.split()[1]) for line in dockerfile() if line.startswith("EXPOSE ")]
    (cmd_line,) = [line for line in dockerfile() if line.startswith("CMD ")]
    cmd = yaml.safe_load(cmd_line[4:])
    command = container["command"]
    assert command[: len(cmd)] == cmd, "the image's own command, with only --host and --port added"
    assert flag(command, "--port") == str(expose)
    assert flag(command, "--host") == "0.0.0.0"
    (port,) = container["ports"]
    assert port == {"name": "http", "containerPort": expose, "protocol": "TCP"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_config_map_is_mounted_where_the_command_reads_it(overlay: str) -> None:
    container = gateway_container(overlay)
    config_path = Path(flag(container["command"], "--config"))
    volumes = {v["name"]: v for v in pod_spec(gateway_deployment(overlay))["volumes"]}
    (mount,) = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == config_path.parent]
    assert mount.get("readOnly") is True
    assert volumes[mount["name"]]["configMap"]["name"] == config_map(overlay)["metadata"]["name"]
    assert config_path.name in config_map(overlay)["data"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pod_runs_as_the_image_user_on_a_read_only_root(overlay: str) -> None:
    spec = pod_spec(gateway_deployment(overlay))
    container = gateway_container(overlay)
    assert "USER grid" in dockerfile()
    assert spec["securityContext"]["runAsUser"] == image_uid()
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    # the only writable path is /tmp, an emptyDir: temporary files and the multiprocess metrics dir
    # (`gateway serve --workers N` makes it with tempfile.mkdtemp, under TMPDIR)
    volumes = {v["name"]: v for v in spec["volumes"]}
    writable = [m for m in container["volumeMounts"] if not m.get("readOnly")]
    assert [(m["mountPath"], "emptyDir" in volumes[m["name"]]) for m in writable] == [("/tmp", True)]
    assert container_env(container)["TMPDIR"] == "/tmp"
    assert "tempfile.mkdtemp" in CLI.read_text()


def _server_graceful_timeout() -> float:
    """The default of `gateway serve --graceful-timeout` (gateway/cli.py), plus the second the
    server then takes to end the streams still open."""
    for node in ast.walk(ast.parse(CLI.read_text())):
        if (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value == "--graceful-timeout"
        ):
            (default,) = [k.value for k in node.keywords if k.arg == "default"]
            return float(ast.literal_eval(default)) + 1.0
    raise AssertionError("gateway/cli.py has no --graceful-timeout option")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_termination_grace_covers_the_pre_stop_sleep_and_the_server_drain(overlay: str) -> None:
    spec = pod_spec(gateway_deployment(overlay))
    pre_stop = gateway_container(overlay)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep" and float(pre_stop[1]) >= 3, "endpoints need a moment to drop the pod"
    assert spec["terminationGracePeriodSeconds"] > float(pre_stop[1]) + _server_graceful_timeout()
    strategy = gateway_deployment(overlay)["spec"]["strategy"]
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0, "a new pod is ready before an old one goes"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_use_the_health_endpoints_on_the_container_port(overlay: str) -> None:
    container = gateway_container(overlay)
    probes = {
        name: container[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["livenessProbe"]["path"] == "/health/liveliness"
    assert probes["startupProbe"]["path"] == "/health/liveliness"
    assert probes["readinessProbe"]["path"] == "/health/readiness"
    for probe in probes.values():
        assert probe["port"] == container["ports"][0]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_keys_come_only_from_the_secret(overlay: str) -> None:
    for deployment in objects(overlay, "Deployment"):
        for container in pod_spec(deployment)["containers"]:
            for item in container.get("env", []):
                if re.search(r"KEY|PASSWORD|TOKEN|AUTH", item["name"]):
                    ref = item["valueFrom"]["secretKeyRef"]
                    assert ref["name"] == SECRET and ref["key"] in FAKE_SECRET_VALUES, item["name"]
    master = next(i for i in gateway_container(overlay)["env"] if i["name"] == "GRID_MASTER_KEY")
    assert not master["valueFrom"]["secretKeyRef"].get("optional"), "no pod without a client key"
    config = yaml.safe_load(config_map(overlay)["data"]["config.yaml"])
    env = {item["name"]: item for item in gateway_container(overlay)["env"]}
    for entry in config["model_list"]:
        key = entry["litellm_params"]["api_key"]
        assert key.startswith("os.environ/"), entry["model_name"]
        # a provider key left out of the Secret skips its deployments; the pod still starts
        assert env[key.split("/", 1)[1]]["valueFrom"]["secretKeyRef"]["optional"] is True, key
    assert config["general_settings"]["master_key"] == "os.environ/GRID_MASTER_KEY"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_container_sets_every_variable_the_config_reads(overlay: str) -> None:
    config = yaml.safe_load(config_map(overlay)["data"]["config.yaml"])
    wanted = {m.group(1) for value in _strings(config) if (m := re.fullmatch(r"os\.environ/(\w+)", value))}
    assert wanted, "the config reads its keys from the environment"
    assert wanted <= set(container_env(gateway_container(overlay)))


# --- Service, PodDisruptionBudget, HorizontalPodAutoscaler, ServiceMonitor ------------------------------


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_budget_and_monitor_select_the_gateway_pods(overlay: str) -> None:
    deployment = gateway_deployment(overlay)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert matches(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    service = one(overlay, "Service", "grid-gateway")
    assert matches(service["spec"]["selector"], pod_labels)
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == gateway_container(overlay)["ports"][0]["name"]
    budget = one(overlay, "PodDisruptionBudget", "grid-gateway")
    assert matches(budget["spec"]["selector"]["matchLabels"], pod_labels)
    assert budget["spec"]["maxUnavailable"] == 1, "a single replica must still be drainable"
    monitor = one(overlay, "ServiceMonitor", "grid-gateway")
    assert matches(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == port["name"] and endpoint["path"] == "/metrics"


def test_the_scrape_job_is_the_one_the_alert_rules_watch() -> None:
    monitor = one("single", "ServiceMonitor", "grid-gateway")
    service = one("single", "Service", "grid-gateway")
    job = service["metadata"]["labels"][monitor["spec"]["jobLabel"]]
    assert f'up{{job="{job}"}}' in ALERTS.read_text()


def test_single_is_one_pod_without_autoscaler_or_redis() -> None:
    assert gateway_deployment("single")["spec"]["replicas"] == 1
    assert not objects("single", "HorizontalPodAutoscaler")
    assert "GRID_REDIS_URL" not in container_env(gateway_container("single"))
    assert not [o for o in rendered("single") if "redis" in o["metadata"]["name"]]


def test_ha_is_three_spread_pods_scaled_by_cpu() -> None:
    deployment = gateway_deployment("ha")
    assert deployment["spec"]["replicas"] == 3
    (spread,) = pod_spec(deployment)["topologySpreadConstraints"]
    assert matches(
        spread["labelSelector"]["matchLabels"], deployment["spec"]["template"]["metadata"]["labels"]
    )
    autoscaler = one("ha", "HorizontalPodAutoscaler", "grid-gateway")
    target = autoscaler["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "grid-gateway")
    assert autoscaler["spec"]["minReplicas"] == 3 <= autoscaler["spec"]["maxReplicas"]
    assert "resources" in gateway_container("ha") and gateway_container("ha")["resources"]["requests"]["cpu"]


def test_ha_points_the_gateway_at_its_redis() -> None:
    env = container_env(gateway_container("ha"))
    url = urlsplit(env["GRID_REDIS_URL"])
    assert url.scheme == "redis" and url.password == FAKE_SECRET_VALUES["REDIS_PASSWORD"]
    service = one("ha", "Service", "grid-redis")
    assert url.hostname == service["metadata"]["name"]
    (port,) = service["spec"]["ports"]
    assert url.port == port["port"]
    redis = one("ha", "Deployment", "grid-redis")
    (container,) = pod_spec(redis)["containers"]
    assert matches(service["spec"]["selector"], redis["spec"]["template"]["metadata"]["labels"])
    assert port["targetPort"] in [p["name"] for p in container["ports"]]
    command = container["command"]
    assert container_env(container)["REDIS_PASSWORD"] == url.password
    assert flag(command, "--requirepass") == "$(REDIS_PASSWORD)"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # only the gateway pods may connect
    policy = one("ha", "NetworkPolicy", "grid-redis")
    assert matches(
        policy["spec"]["podSelector"]["matchLabels"], redis["spec"]["template"]["metadata"]["labels"]
    )
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    pod_labels = gateway_deployment("ha")["spec"]["template"]["metadata"]["labels"]
    assert matches(peer["podSelector"]["matchLabels"], pod_labels)
    assert [p["port"] for p in rule["ports"]] == [port["targetPort"]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_image_is_the_package_version(overlay: str) -> None:
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert gateway_container(overlay)["image"] == f"grid-gateway:{version}"


def test_deploy_doc_covers_every_base_file_and_both_overlays() -> None:
    doc = (REPO / "docs" / "deploy.md").read_text()
    for path in (KUBERNETES / "base").iterdir():
        if path.name != "kustomization.yaml":
            assert f"`{path.name}`" in doc, f"docs/deploy.md does not describe base/{path.name}"
    for overlay in OVERLAYS:
        assert f"kubectl apply -k deploy/kubernetes/overlays/{overlay}" in doc
    assert "(docs/deploy.md)" in (REPO / "README.md").read_text()
