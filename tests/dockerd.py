"""A Docker daemon of the tests' own, and a stand-in for `python:3.11-slim` built from Debian packages.

Registry images cannot be pulled where the suite runs, so tests/test_image.py builds GRID's Dockerfile
on a base made here: `debootstrap --variant=minbase` of Debian bookworm with python3 (3.11) and venv,
`docker import`ed, with a venv on PATH (so `pip install .` and the `gateway` script work as on the
official image), tagged `python:3.11-slim`.

The daemon is started on its own socket with no bridge and no iptables rules (every container runs
with `--network host`), and stopped afterwards. Its data root is a stable directory
(`GRID_TEST_DOCKER_ROOT`, default /var/lib/grid-test-docker) so the stand-in and the build cache
survive between runs; a lock file next to it keeps two test runs from sharing one data root at once.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

DATA_ROOT = Path(os.environ.get("GRID_TEST_DOCKER_ROOT", "/var/lib/grid-test-docker"))
DEBIAN_MIRROR = os.environ.get("GRID_DEBIAN_MIRROR", "http://deb.debian.org/debian")
BASE_TAG = "python:3.11-slim"
ROOTFS_TAG = "grid-standin/debian-python:bookworm"
STANDIN_LABEL = "org.grid.standin"

# The venv on PATH plays the official image's /usr/local/bin python: `pip`, `python` and the scripts
# pip installs (`gateway`) are found there, and pip installs into it as root without touching Debian's.
# The host's CA bundle goes in, and pip is told to use it: where TLS to PyPI passes through a proxy with
# its own CA (as here), `pip install` in a build on this base trusts what the host trusts. (The official
# image's pip would use its own certifi bundle and fail behind such a proxy.)
STANDIN_DOCKERFILE = f"""\
FROM {ROOTFS_TAG}
COPY host-ca-bundle.crt /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null \\
    && printf '[global]\\ncert = /etc/ssl/certs/ca-certificates.crt\\n' > /etc/pip.conf \\
    && python3 -m venv /usr/local/python
ENV PATH=/usr/local/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    LANG=C.UTF-8
LABEL {STANDIN_LABEL}="debootstrap --variant=minbase bookworm + python3 python3-venv"
CMD ["python3"]
"""
HOST_CA_BUNDLE = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))


class DockerUnavailable(Exception):
    """Docker cannot start here (not root, docker.io not installed, dockerd refused): the tests skip."""


class Docker:
    """The `docker` client of Debian's docker.io, talking to one daemon's socket."""

    def __init__(self, host: str) -> None:
        self.host = host
        # Debian's client matches Debian's daemon; another `docker` earlier on PATH may be newer.
        self.cli = (
            "/usr/bin/docker"
            if os.access("/usr/bin/docker", os.X_OK)
            else (shutil.which("docker") or "docker")
        )

    def run(
        self, *args: str, timeout: float = 120, check: bool = True, stdin: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.cli, "-H", self.host, *args],
            input=stdin.decode() if stdin is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"docker {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
            )
        return result

    def ok(self, *args: str) -> bool:
        return self.run(*args, check=False).returncode == 0


class Daemon:
    """`dockerd` on a socket of its own, data root DATA_ROOT, exec root in a temp dir; no bridge."""

    def __init__(self, data_root: Path = DATA_ROOT) -> None:
        self.data_root = data_root
        self.dir = Path(tempfile.mkdtemp(prefix="grid-dockerd-", dir="/tmp"))  # short: socket paths
        self.socket = self.dir / "docker.sock"
        self.log_path = self.dir / "dockerd.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._lock: int | None = None

    def start(self, timeout: float = 60.0) -> Docker:
        if os.geteuid() != 0:
            raise DockerUnavailable("starting dockerd needs root (CI runs the suite as root)")
        if shutil.which("dockerd") is None:
            raise DockerUnavailable(
                "dockerd is not installed: run scripts/test-deps.sh as root (Debian's docker.io)"
            )
        self.data_root.mkdir(parents=True, exist_ok=True)
        self._lock = os.open(f"{self.data_root}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # another test run on this data root: wait for it
        stale = daemons_on(self.data_root)
        if stale:  # a run killed before its clean-up: two daemons must not share a data root
            self.stop()
            raise RuntimeError(
                f"a dockerd already runs on {self.data_root} (pid {stale[0]}), left by a killed run: stop it"
            )
        cmd = [
            "dockerd",
            f"--host=unix://{self.socket}",
            f"--data-root={self.data_root}",
            f"--exec-root={self.dir / 'exec'}",
            f"--pidfile={self.dir / 'dockerd.pid'}",
            "--bridge=none",  # no docker0: every container runs with --network host
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            # apart from a system containerd's other clients, should dockerd find one and use it
            "--containerd-namespace=grid-test",
            "--containerd-plugins-namespace=grid-test-plugins",
        ]
        log = open(self.log_path, "wb")  # noqa: SIM115 - the daemon's, closed when this returns
        with log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        docker = Docker(f"unix://{self.socket}")
        deadline = time.monotonic() + timeout  # a start-up timeout, generous: not a performance bound
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.stop()
                raise DockerUnavailable(f"dockerd exited with {self.proc.returncode}: {self.log_tail()}")
            if self.socket.exists() and docker.ok("version"):
                return docker
            time.sleep(0.2)
        self.stop()
        raise DockerUnavailable(f"dockerd did not answer within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # dockerd stops its containers and its containerd
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._unmount_leftovers()
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def _unmount_leftovers(self) -> None:
        """dockerd leaves mounts in its exec root (the host's network namespace bind-mounted at
        exec/netns/default): unmount them, deepest first, so the directory can go."""
        with open("/proc/self/mountinfo") as mountinfo:
            points = [line.split()[4] for line in mountinfo]
        mine = [p for p in points if p == str(self.dir) or p.startswith(f"{self.dir}/")]
        for point in sorted(set(mine), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)


def daemons_on(data_root: Path) -> list[int]:
    """Pids of the dockerd processes using `data_root`."""
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"dockerd") and f"--data-root={data_root}".encode() in args:
            pids.append(int(cmdline.parent.name))
    return pids


def ensure_python_standin(docker: Docker, note: Callable[[str], None] = print) -> None:
    """Tag the stand-in `python:3.11-slim`. The debootstrapped root filesystem is imported once per
    data root (kept as ROOTFS_TAG); the layers on it are rebuilt from the build cache every time, so a
    change to STANDIN_DOCKERFILE or to the host's CA bundle takes effect without a new debootstrap."""
    if not docker.ok("image", "inspect", ROOTFS_TAG):
        import_debian_rootfs(docker, note)
    with tempfile.TemporaryDirectory(prefix="grid-standin-") as context:
        (Path(context) / "Dockerfile").write_text(STANDIN_DOCKERFILE)
        # empty where the host has no bundle: the stand-in keeps Debian's CAs alone
        bundle = HOST_CA_BUNDLE if HOST_CA_BUNDLE.is_file() else Path("/dev/null")
        shutil.copyfile(bundle, Path(context) / "host-ca-bundle.crt")
        began = time.monotonic()
        docker.run("build", "--force-rm", "--network", "host", "-t", BASE_TAG, context, timeout=600)
        note(
            f"stand-in layers on it (CA bundle, venv; from the build cache when unchanged): {time.monotonic() - began:.0f} s"
        )


def import_debian_rootfs(docker: Docker, note: Callable[[str], None]) -> None:
    """`debootstrap --variant=minbase` of bookworm (its python3 is 3.11) with python3 and python3-venv,
    `docker import`ed as ROOTFS_TAG."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed: run scripts/test-deps.sh as root")
    with tempfile.TemporaryDirectory(prefix="grid-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        began = time.monotonic()
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv",
                "bookworm",
                str(rootfs),
                DEBIAN_MIRROR,
            ],
            check=True,
            capture_output=True,
            timeout=1200,
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (rootfs / cache).glob("*"):
                if item.is_file():
                    item.unlink()
        note(f"debootstrap (minbase bookworm + python3, python3-venv): {time.monotonic() - began:.0f} s")
        began = time.monotonic()
        tar = subprocess.Popen(
            ["tar", "-C", str(rootfs), "--numeric-owner", "-cf", "-", "."], stdout=subprocess.PIPE
        )
        try:
            imported = subprocess.run(
                [docker.cli, "-H", docker.host, "import", "-", ROOTFS_TAG],
                stdin=tar.stdout,
                capture_output=True,
                text=True,
                timeout=600,
            )
        finally:
            if tar.stdout is not None:
                tar.stdout.close()
            tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise RuntimeError(f"docker import failed: {imported.stderr}")
        note(f"docker import of the root filesystem: {time.monotonic() - began:.0f} s")
