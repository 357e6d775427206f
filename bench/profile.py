"""`python -m bench.profile` (`make profile`): where a proxied request's CPU goes, under load.

Starts nginx and one gateway worker (pinned, as in `make bench`), warms it up with wrk, then profiles
it during a wrk run of the chosen scenario (default `gateway`: non-streaming, 1 deployment, logs at
INFO, metrics and auth on) and writes a text summary:

- py-spy (the default when installed; needs ptrace, i.e. root or `kernel.yama.ptrace_scope=0`):
  samples the running process from outside, adding next to no overhead, so the shares are faithful;
- pyinstrument (`--tool pyinstrument`, in the `dev` extra; the fallback): the gateway runs under
  `bench/profiled.py`, which starts and stops the profiler on signals around the measured run. Its
  hook on every call slows the gateway ~4x and inflates code that makes many small calls.

The summary has the share of samples by component (the code the sample was in: a gateway module, a
library, the stdlib) and by function including callees. Outputs go to `.bench/`: `profile.txt` (the
summary) and the raw samples: `profile.py-spy.txt` (collapsed stacks, with C frames: garbage collection
and syscalls show up) or `profile.pyisession` (`pyinstrument --load FILE -r html` opens it).

    python -m bench.profile [--tool auto|py-spy|pyinstrument] [--scenario gateway] [--duration 15]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from bench import grid, payloads, scenarios
from bench.cpu import wait_quiet
from bench.load import LoadSpec, run_load
from bench.procs import Proc
from bench.upstream import start_upstream

ROOT = Path(__file__).resolve().parent.parent
Frame = tuple[str, str, int]  # (function, file, line being run; 0 when unknown)
Stack = tuple[Frame, ...]  # root first

# The frames above a request: the server's loop. They are in every sample, so they say nothing.
ROOT_SHARE = 0.9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tool",
        choices=("auto", "py-spy", "pyinstrument"),
        default="auto",
        help="auto (default): py-spy when installed and allowed to attach, else pyinstrument",
    )
    parser.add_argument("--scenario", default="gateway", help="a `make bench` scenario (default gateway)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of profiled load (default 15)")
    parser.add_argument(
        "--native",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="py-spy: also sample C code, to see garbage collection and syscalls (slower sampling)",
    )
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--top", type=int, default=30, help="functions to list (default 30)")
    parser.add_argument("--quiet-wait", type=float, default=30.0)
    parser.add_argument("--output", default=str(ROOT / ".bench" / "profile.txt"))
    args = parser.parse_args(argv)
    scenario = scenarios.select(args.scenario)[0]
    if scenario.config is None or scenario.workers != 1:
        raise SystemExit(
            "profile a one-worker gateway scenario (gateway, gateway-3, auto, experiment, stream...)"
        )
    if args.tool == "auto":
        args.tool = "py-spy" if _py_spy() else "pyinstrument"
    if args.tool == "py-spy" and not _py_spy():
        raise SystemExit("py-spy is not installed: pip install py-spy (or use --tool pyinstrument)")
    cpus = sorted(os.sched_getaffinity(0))
    gateway_cpus, other_cpus = ({cpus[0]}, set(cpus[1:])) if len(cpus) >= 2 else (None, None)
    if other_cpus:
        os.sched_setaffinity(0, other_cpus)
    workdir = Path(tempfile.mkdtemp(prefix="grid-profile-"))
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    upstream, upstream_proc = start_upstream(workdir, other_cpus)
    try:
        config = grid.write_config(workdir, scenario.name, scenario.config(upstream))
        session = output.with_suffix(".pyisession")
        wrapper = ["-m", "bench.profiled", str(session), "--"] if args.tool == "pyinstrument" else ()
        proc, port = grid.start(config, workdir, 1, gateway_cpus, wrapper=wrapper)
        try:
            spec = LoadSpec(
                url=f"http://127.0.0.1:{port}/v1/chat/completions",
                body=payloads.chat_request(scenario.model, scenario.stream),
                key=grid.MASTER_KEY,
                connections=args.connections,
                duration=args.duration,
            )
            run_load(spec, workdir, other_cpus, 0)  # warm-up, as long as the profiled run
            if args.quiet_wait > 0:
                wait_quiet(args.quiet_wait)
            if args.tool == "pyinstrument":
                stacks, rps = _profile_pyinstrument(proc, spec, workdir, other_cpus, session)
            else:
                stacks, rps = _profile_py_spy(
                    proc, spec, workdir, other_cpus, output.with_suffix(".py-spy.txt"), args.native
                )
        finally:
            proc.stop()
    finally:
        upstream_proc.stop()
    head = (
        f"profile of the `{scenario.name}` scenario ({scenario.summary}) by {args.tool}, {args.duration:g} s"
        f" of wrk at {args.connections} connections: {rps:,.0f} req/s while profiled"
    )
    text = summarize(stacks, head, args.top)
    output.write_text(text)
    print(text)
    extra = session if args.tool == "pyinstrument" else output.with_suffix(".py-spy.txt")
    print(f"written to {output}; raw samples: {extra}")
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


def _profile_pyinstrument(
    proc: Proc, spec: LoadSpec, workdir: Path, cpus: set[int] | None, session: Path
) -> tuple[list[tuple[Stack, float]], float]:
    from pyinstrument.session import Session

    session.unlink(missing_ok=True)
    os.kill(proc.pid, signal.SIGUSR1)
    load = run_load(spec, workdir, cpus, 0)
    os.kill(proc.pid, signal.SIGUSR2)
    deadline = time.monotonic() + 60
    while not (session.exists() and not _growing(session)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"pyinstrument wrote no session to {session}:\n{proc.log_tail()}")
        time.sleep(0.3)
    loaded = Session.load(str(session))
    stacks = [(tuple(_pyinstrument_frame(f) for f in stack), t) for stack, t in loaded.frame_records]
    return stacks, load.rps


def _growing(path: Path) -> bool:
    size = path.stat().st_size
    time.sleep(0.3)
    return path.stat().st_size != size


def _pyinstrument_frame(identifier: str) -> Frame:
    """`function NUL file NUL first-line [SOH l<line> ...]` -> (function, file, line)."""
    function, file, rest = (identifier.split("\x00") + ["", ""])[:3]
    line = next((a[1:] for a in rest.split("\x01")[1:] if a.startswith("l")), "0")
    return function, file, int(line) if line.isdigit() else 0


def _profile_py_spy(
    proc: Proc, spec: LoadSpec, workdir: Path, cpus: set[int] | None, keep: Path, native: bool
) -> tuple[list[tuple[Stack, float]], float]:
    binary = _py_spy() or "py-spy"
    raw = workdir / "py-spy.txt"
    # Unwinding C stacks is slow: sample less often with --native, or the gateway does little else.
    rate = "200" if native else "500"
    # --nonblocking: without it py-spy stops the gateway for every sample, which halved its speed.
    argv = [binary, "record", "--pid", str(proc.pid), "--rate", rate, "--format", "raw", "--nonblocking"]
    argv += ["--native"] if native else []
    argv += ["--output", str(raw), "--duration", str(round(spec.duration))]
    spy = Proc("py-spy", argv, workdir / "py-spy.log", cpus=cpus).start()
    time.sleep(0.5)
    load = run_load(spec, workdir, cpus, 0)
    try:
        spy.wait(timeout=spec.duration + 30)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"py-spy did not finish:\n{spy.log_tail()}") from exc
    finally:
        spy.stop()
    if not raw.exists():
        raise RuntimeError(f"py-spy wrote nothing:\n{spy.log_tail()}")
    shutil.copyfile(raw, keep)  # the collapsed stacks, for a flame graph or a closer look
    return list(_parse_py_spy(raw.read_text().splitlines())), load.rps


def _parse_py_spy(lines: Iterable[str]) -> Iterable[tuple[Stack, float]]:
    frame_re = re.compile(r"^(.*) \((.*?)(?::(\d+))?\)$")
    for line in lines:
        stack_text, _, count = line.rpartition(" ")
        if not stack_text or not count.strip().isdigit():
            continue  # --nonblocking reads a running process: now and then a sample is torn
        frames = []
        for part in stack_text.split(";"):
            match = frame_re.match(part)
            if match:
                frames.append((match.group(1), match.group(2), int(match.group(3) or 0)))
            else:
                frames.append((part, "", 0))
        yield tuple(frames), float(count)


def _py_spy() -> str | None:
    """py-spy's path, if installed (and this process may trace others: root, or ptrace_scope 0)."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(binary).exists():
        return None
    try:
        scope = int(Path("/proc/sys/kernel/yama/ptrace_scope").read_text())
    except (OSError, ValueError):
        scope = 0
    return binary if os.geteuid() == 0 or scope == 0 else None


def component(file: str) -> str:
    """What a source file belongs to: `gateway/x.py`, a library (its import name), `stdlib: x`, or
    `<built-in>` / `?`. Takes pyinstrument's absolute paths and py-spy's shortened ones."""
    path = file.replace("\\", "/")
    for marker in ("site-packages/", "/lib/python3."):
        if marker in path:
            path = path.split(marker, 1)[1]
            if marker.startswith("/lib"):
                path = path.split("/", 1)[1] if "/" in path else path
            break
    else:
        if "/work/" in path or path.startswith("/"):
            for top in ("gateway/", "bench/"):
                if f"/{top}" in path:
                    path = top + path.split(f"/{top}", 1)[1]
                    break
    if path.startswith("gateway/"):
        return path
    first = path.split("/", 1)[0].removesuffix(".py")
    if first in sys.stdlib_module_names:
        return f"stdlib: {first}"
    if path.startswith("<frozen"):
        return "stdlib: " + path.strip("<>").split()[-1]
    return first or "?"


def _outer(frame: Frame) -> bool:
    """Frames that hold the server loop rather than handle a request."""
    function, file, _ = frame
    name = component(file)
    return (
        name in ("stdlib: runpy", "gateway/__main__.py", "gateway/cli.py", "bench", "MainThread", "<thread>")
        or file == "<thread>"
        or (
            name == "uvicorn"
            and function.rsplit(".", 1)[-1] in ("run", "serve", "_serve", "main", "asyncio_run")
        )
        or (
            name == "stdlib: asyncio"
            and function.rsplit(".", 1)[-1] in ("run", "run_until_complete", "run_forever")
        )
    )


def is_native(frame: Frame) -> bool:
    """A C frame (py-spy --native): its file is a C source or a shared library, not Python."""
    file = frame[1]
    return bool(file) and not file.endswith(".py") and not file.startswith("<")


def native_lines(stacks: list[tuple[Stack, float]], total: float, top: int) -> list[str]:
    """With C frames: the C functions the samples were in, and garbage collection's share."""
    leaves: Counter[str] = Counter()
    gc = 0.0
    for stack, weight in stacks:
        if any(f[0].startswith("gc_collect") for f in stack):
            gc += weight
        tail = []
        for frame in reversed(stack):
            if not is_native(frame):
                break
            tail.append(frame[0])
        if tail:
            leaves[" < ".join(tail[:2]) if tail[0].endswith("DECREF") else tail[0]] += weight
    lines = ["", "C code (py-spy --native): where the samples were, by C function (self)"]
    lines.append(f"  {100 * gc / total:5.1f}%  garbage collection (gc_collect_main and below, all of it)")
    lines += [f"  {100 * w / total:5.1f}%  {name}" for name, w in leaves.most_common(top)]
    return lines


def summarize(stacks: list[tuple[Stack, float]], head: str, top: int) -> str:
    total = sum(w for _, w in stacks)
    if total <= 0:
        return head + "\nno samples\n"
    extra: list[str] = []
    if any(is_native(f) for stack, _ in stacks[:200] for f in stack):
        extra = native_lines(stacks, total, top // 2)
        stacks = [(tuple(f for f in stack if not is_native(f)), w) for stack, w in stacks]
    own: Counter[str] = Counter()
    anywhere: Counter[str] = Counter()
    inclusive: Counter[tuple[str, str]] = Counter()
    lines_own: Counter[Frame] = Counter()
    loop_c = 0.0
    for stack, weight in stacks:
        if not stack:
            continue
        leaf = stack[-1]
        if _outer(leaf):
            loop_c += (
                weight  # C code run by the loop itself (uvloop, httptools) with no Python frame of its own
            )
        else:
            own[component(leaf[1])] += weight
            lines_own[leaf] += weight
        for name in {component(f[1]) for f in stack if not _outer(f)}:
            anywhere[name] += weight
        for function, file in {(f[0], f[1]) for f in stack if not _outer(f)}:
            inclusive[function, file] += weight

    def pct(weight: float) -> str:
        return f"{100 * weight / total:5.1f}%"

    lines = [head, ""]
    lines.append(
        "self: the code running when sampled (C code is counted with the Python frame that called it)"
    )
    lines.append(f"  {pct(loop_c)}  event loop (uvloop's C loop, under no request frame)")
    lines += [f"  {pct(w)}  {name}" for name, w in own.most_common(24)]
    lines += ["", "including callees: samples with the component anywhere on the stack"]
    lines += [f"  {pct(w)}  {name}" for name, w in anywhere.most_common(24)]
    lines += ["", f"functions including their callees (top {top}; the server loop's own frames left out)"]
    lines += [f"  {pct(w)}  {fn:<48} {component(file)}" for (fn, file), w in inclusive.most_common(top)]
    lines += ["", "hottest lines (self)"]
    lines += [
        f"  {pct(w)}  {component(file)}:{line} {fn}"
        for (fn, file, line), w in lines_own.most_common(top // 2)
    ]
    return "\n".join(lines + extra) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
