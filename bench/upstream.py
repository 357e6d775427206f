"""The fast upstream every scenario talks to: nginx serving canned answers, else the project's mock.

nginx (`apt-get install -y nginx`) answers from memory in a few microseconds, so what the benchmark
measures is the gateway, not the upstream. Without nginx the harness falls back to
`python -m gateway.mock_upstream`, which is much slower: figures taken against it are labelled so.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import payloads
from bench.procs import Proc, free_port, wait_port

TEMPLATE = Path(__file__).with_name("nginx.conf.tmpl")
INSTALL_HINT = "apt-get install -y nginx wrk"


@dataclass(frozen=True)
class Upstream:
    """Where the upstream listens and which paths give JSON or SSE answers."""

    kind: str  # "nginx" or "mock"
    port: int
    version: str

    def api_base(self, stream: bool, chunks: int = payloads.STREAM_CHUNKS) -> str:
        """The `api_base` a deployment uses; nginx picks SSE (and how many events) by path, the mock by
        the request body (the mock streams one event per word whatever `chunks` says)."""
        prefix = ""
        if stream and self.kind == "nginx":
            prefix = "/stream" if chunks == payloads.STREAM_CHUNKS else f"/stream{chunks}"
        return f"http://127.0.0.1:{self.port}{prefix}/v1"

    def chat_path(self, stream: bool, chunks: int = payloads.STREAM_CHUNKS) -> str:
        return self.api_base(stream, chunks).split(str(self.port), 1)[1] + "/chat/completions"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None
    )


def render_nginx_conf(prefix: Path, port: int) -> str:
    long_set, long_vars = _nginx_pieces("long", payloads.chat_stream(payloads.LONG_STREAM_CHUNKS))
    values = {
        "PREFIX": str(prefix),
        "PORT": str(port),
        "CHAT": _nginx_quote(payloads.chat_completion()),
        "STREAM": _nginx_quote(payloads.chat_stream()),
        "MODELS": _nginx_quote(payloads.models_list()),
        "LONG_STREAM_SET": long_set,
        "LONG_STREAM_VARS": long_vars,
    }
    text = TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace(f"@{name}@", value)
    return text


def start_upstream(workdir: Path, cpus: set[int] | None, kind: str = "auto") -> tuple[Upstream, Proc]:
    """Start nginx (if installed, for "auto") or the mock upstream; return once it accepts connections."""
    port = free_port()
    binary = nginx_binary() if kind in ("auto", "nginx") else None
    if kind == "nginx" and binary is None:
        raise RuntimeError(f"nginx is not installed; install it with: {INSTALL_HINT}")
    if binary:
        prefix = workdir / "nginx"
        prefix.mkdir(parents=True, exist_ok=True)
        conf = prefix / "nginx.conf"
        conf.write_text(render_nginx_conf(prefix, port))
        argv = [binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf)]
        upstream = Upstream("nginx", port, _nginx_version(binary))
    else:
        argv = [sys.executable, "-m", "gateway.mock_upstream", "--host", "127.0.0.1", "--port", str(port)]
        upstream = Upstream("mock", port, "gateway.mock_upstream")
    proc = Proc(upstream.kind, argv, workdir / f"{upstream.kind}.log", cpus=cpus).start()
    if not wait_port(port):
        proc.stop()
        raise RuntimeError(f"{upstream.kind} did not start on port {port}:\n{proc.log_tail()}")
    return upstream, proc


def _nginx_quote(text: str) -> str:
    """`text` inside a single-quoted nginx string (nginx turns `\\n` back into a newline)."""
    return text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")


def _nginx_pieces(name: str, text: str, size: int = 2000) -> tuple[str, str]:
    """`set` directives holding `text` in pieces under nginx's 4 KB limit per config string, and the
    string that concatenates them again (`${long0}${long1}...`)."""
    pieces = [text[i : i + size] for i in range(0, len(text), size)]
    sets = "\n".join(f"            set ${name}{i} '{_nginx_quote(p)}';" for i, p in enumerate(pieces))
    return sets, "".join(f"${{{name}{i}}}" for i in range(len(pieces)))


def _nginx_version(binary: str) -> str:
    done = subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
    return (done.stderr or done.stdout).strip().split(":", 1)[-1].strip()
