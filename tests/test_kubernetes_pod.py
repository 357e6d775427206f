"""A gateway run the way the Kubernetes pod runs it: the ConfigMap's config, the container's environment.

`gateway check` passes on that config; a gateway on it answers the probe paths, the ServiceMonitor's
scrape path and `/v1/models` with the Secret's client key (the Secret's values faked); and, where the
tests run as root with mount namespaces, the same gateway serves from a read-only root filesystem as
the image's uid with /tmp (the emptyDir) its only writable place, and cannot start without that /tmp.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.harness import GatewayProcess, free_port
from tests.k8s_manifests import (
    DOCKERFILE,
    FAKE_SECRET_VALUES,
    REPO,
    config_map,
    container_env,
    gateway_container,
    image_uid,
    one,
)


def test_the_config_map_config_passes_gateway_check(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(config_map("single")["data"]["config.yaml"])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRID_", "OPENAI_", "ANTHROPIC_"))}
    env |= container_env(gateway_container("single"))
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "check", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 error(s)" in result.stdout
    assert "4 live deployment(s)" in result.stdout, result.stdout


def test_a_gateway_on_the_config_map_answers_the_probe_and_scrape_paths() -> None:
    """The ConfigMap's config, the container's environment (the Secret's keys faked), and every path
    the kubelet and the ServiceMonitor will ask for; the client key from the Secret opens /v1/models."""
    container = gateway_container("single")
    config = yaml.safe_load(config_map("single")["data"]["config.yaml"])
    env = container_env(container) | {"GRID_LOG_LEVEL": "WARNING"}
    monitor = one("single", "ServiceMonitor", "grid-gateway")
    paths = [container[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")]
    paths += [endpoint["path"] for endpoint in monitor["spec"]["endpoints"]]
    with (
        GatewayProcess(config, env=env) as gateway,
        httpx.Client(base_url=gateway.url, timeout=10.0) as client,
    ):
        for path in paths:
            assert client.get(path).status_code == 200, path
        assert "grid_deployment_state" in client.get("/metrics").text
        assert client.get("/v1/models").status_code == 401
        key = FAKE_SECRET_VALUES["GRID_MASTER_KEY"]
        models = client.get("/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert models.status_code == 200
        served = {m["id"] for m in models.json()["data"]}
        assert {e["model_name"] for e in config["model_list"]} <= served


# --- the pod's filesystem: read-only root, /tmp the only writable place -------------------------------

# Run in a private mount namespace (nothing outside it changes): a fresh tmpfs on /tmp stands for the
# emptyDir, the config goes read-only beside it, the root filesystem is remounted read-only, and the
# command runs as the image's uid. CAP_DAC_READ_SEARCH (read anything, write nothing) lets that uid
# reach an interpreter under a private home such as /root/.pyenv, as the image's own would be reachable.
# A checkout (or its virtualenv) that lives under /tmp would vanish under the new tmpfs: each such
# path is bind-mounted aside first and back, read-only, on top of the emptyDir.
READ_ONLY_POD = r"""
set -e
keep=0
for path in $GRID_TEST_KEEP; do
    keep=$((keep + 1)); mkdir -p "/run/grid-keep-$keep"; mount --bind "$path" "/run/grid-keep-$keep"
done
mount -t tmpfs -o size=256m,mode=1777 tmpfs /tmp
keep=0
for path in $GRID_TEST_KEEP; do
    keep=$((keep + 1)); mkdir -p "$path"; mount --bind "/run/grid-keep-$keep" "$path"
    mount -o remount,bind,ro "$path"
done
mkdir /tmp/config
printf '%s' "$GRID_TEST_CONFIG" > /tmp/config/config.yaml
mount --bind /tmp/config /tmp/config
mount -o remount,bind,ro /tmp/config
mount -o remount,bind,ro /
if [ "$GRID_TEST_TMP_WRITABLE" != 1 ]; then mount -o remount,ro /tmp; fi
if touch /.grid-read-only-check 2>/dev/null; then echo "the root filesystem is writable" >&2; exit 97; fi
cd /
uid="$1"; shift
exec setpriv --reuid="$uid" --regid="$uid" --clear-groups \
    --inh-caps=+dac_read_search --ambient-caps=+dac_read_search -- env -i "$@"
"""


def _read_only_pods_possible() -> str | None:
    """Why this machine cannot run a read-only pod, or None when it can."""
    if os.geteuid() != 0:
        return "mount namespaces need root"
    for tool in ("unshare", "setpriv"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs tmpfs /tmp"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return None if probe.returncode == 0 else f"no mount namespace here: {probe.stderr.strip()}"


def _image_env() -> dict[str, str]:
    """The Dockerfile's ENV (`ENV A=1 \\ B=2`)."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env |= dict(item.split("=", 1) for item in line[4:].split())
    return env


def _under_tmp(*paths: Path) -> list[str]:
    """Those of `paths` that lie under /tmp, outermost only (none has a space: the script splits)."""
    inside = sorted({str(p) for p in paths if p.is_relative_to("/tmp") and p != Path("/tmp")})
    kept = [p for p in inside if not any(p.startswith(q + "/") for q in inside)]
    assert all(" " not in p for p in kept), kept
    return kept


def _start_read_only_pod(tmp_writable: bool, log: Path) -> tuple[subprocess.Popen, int]:
    reason = _read_only_pods_possible()
    if reason is not None:
        pytest.skip(f"cannot run the gateway on a read-only root here: {reason}")
    container = gateway_container("single")
    port = free_port()
    command = [sys.executable, "-m", *container["command"]]
    command[command.index("--config") + 1] = "/tmp/config/config.yaml"
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    command += ["--workers", "2"]  # the Prometheus multiprocess dir goes under TMPDIR
    env = _image_env() | container_env(container) | {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}
    env["GRID_LOG_LEVEL"] = "WARNING"
    pod_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GRID_TEST_CONFIG": config_map("single")["data"]["config.yaml"],
        "GRID_TEST_TMP_WRITABLE": "1" if tmp_writable else "0",
        "GRID_TEST_KEEP": " ".join(_under_tmp(Path(__file__).resolve().parents[1], Path(sys.prefix))),
    }
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY_POD, "sh"]
    argv += [str(image_uid()), *(f"{k}={v}" for k, v in env.items()), *command]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=pod_env)
    return proc, port


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_the_gateway_serves_from_a_read_only_root_as_the_image_user(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    proc, port = _start_read_only_pod(tmp_writable=True, log=log)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90  # generous: two workers each import LiteLLM
        while True:
            assert proc.poll() is None, (
                f"the gateway exited with {proc.returncode}:\n{log.read_text()[-3000:]}"
            )
            assert time.monotonic() < deadline, f"no answer on {url}:\n{log.read_text()[-3000:]}"
            try:
                if httpx.get(f"{url}/health/readiness", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        container = gateway_container("single")
        with httpx.Client(base_url=url, timeout=10.0) as client:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                assert client.get(container[probe]["httpGet"]["path"]).status_code == 200, probe
            assert "grid_in_flight_requests" in client.get("/metrics").text
            key = FAKE_SECRET_VALUES["GRID_MASTER_KEY"]
            assert client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    finally:
        _stop(proc)


def test_without_the_tmp_volume_the_read_only_gateway_cannot_start(tmp_path: Path) -> None:
    """The control: the same pod with /tmp read-only too fails, so the test above proves the mount."""
    log = tmp_path / "gateway.log"
    proc, _ = _start_read_only_pod(tmp_writable=False, log=log)
    try:
        proc.wait(timeout=90)
    finally:
        _stop(proc)
    assert proc.returncode not in (0, 97), log.read_text()[-3000:]
    assert "No usable temporary directory" in log.read_text(), "the multiprocess dir needs a writable /tmp"
