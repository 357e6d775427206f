"""`gateway serve` and `gateway check` (also `python -m gateway`)."""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import shutil
import sys
import tempfile

from gateway.config import ConfigError, Snapshot, load_config
from gateway.config.problems import Problems

log = logging.getLogger("grid.cli")

CONFIG_ENV = "GRID_CONFIG"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description="GRID: an OpenAI-compatible LLM gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", required=True, help="path to config.yaml")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        help="seconds requests in flight get to finish on SIGTERM (default 30); streams still open "
        "then end with an SSE error event",
    )
    check = sub.add_parser("check", help="validate a config and exit (1 on any error)")
    check.add_argument("--config", required=True, help="path to config.yaml")
    return parser


def _print_problems(problems: Problems) -> None:
    for problem in problems:
        print(problem)
    errors, warnings = len(problems.errors), len(problems.warnings)
    print(f"{errors} error(s), {warnings} warning(s)")


def check(path: str) -> int:
    try:
        snapshot, problems = load_config(path, probe=True)
    except ConfigError as exc:
        _print_problems(exc.problems)
        return 1
    _print_problems(problems)
    print(f"ok: {len(snapshot.groups)} model group(s), {len(snapshot.deployments)} live deployment(s)")
    return 0


def log_deployments(snapshot: Snapshot) -> None:
    for dep in snapshot.deployments:
        kind = "bundled mock upstream (standby)" if dep.standby else dep.provider
        log.info(
            "deployment %s live: group %s via %s (%s path)",
            dep.id,
            dep.group,
            kind,
            dep.path,
            extra={"deployment": dep.id, "model_served": dep.group},
        )


def log_connection_limits(snapshot: Snapshot) -> None:
    from gateway import connection_guard

    connection_guard.apply(snapshot.general.connection)
    limits = snapshot.general.connection
    log.info(
        "client connections: %d served per worker (503 overloaded up to %d, then accept() waits); "
        "headers %d bytes / %d headers; "
        "header read timeout %gs, body read timeout %gs; upstream pool %d",
        connection_guard.LIMITS.max_connections,
        connection_guard.LIMITS.accept_cap,
        limits.max_header_bytes,
        limits.max_header_count,
        limits.header_read_timeout,
        limits.body_read_timeout,
        limits.upstream_max_connections,
    )


def _multiprocess_metrics_dir() -> None:
    """Workers inherit PROMETHEUS_MULTIPROC_DIR; a fresh directory so no stale samples are summed."""
    from gateway.metrics import MULTIPROC_ENV

    path = tempfile.mkdtemp(prefix="grid-metrics-")
    os.environ[MULTIPROC_ENV] = path
    atexit.register(shutil.rmtree, path, ignore_errors=True)


def app_factory():
    """Used by uvicorn in each worker: load the config named by GRID_CONFIG."""
    from gateway.app import create_app
    from gateway.logs import setup_logging

    setup_logging()
    path = os.environ[CONFIG_ENV]
    snapshot, _ = load_config(path)
    return create_app(snapshot, config_path=path)


def _raise_open_files() -> None:
    from gateway.connection_guard import raise_open_files_limit

    before, after, hard = raise_open_files_limit()
    log.info(
        "open-file limit: soft %d -> %d (hard %d)",
        before,
        after,
        hard,
        extra={"nofile_soft_before": before, "nofile_soft": after, "nofile_hard": hard},
    )


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from gateway import serving
    from gateway.http_protocol import GridHttpProtocol
    from gateway.logs import setup_logging

    setup_logging()
    if args.graceful_timeout < 0:
        log.error("--graceful-timeout must be 0 or more seconds")
        return 2
    _raise_open_files()  # before the workers start: they inherit it
    try:
        snapshot, problems = load_config(args.config, probe=True)
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("config %s", problem)
        log.error("configuration invalid: not starting")
        return 1
    for problem in problems.warnings:
        log.warning("config %s", problem)
    log_deployments(snapshot)
    if not snapshot.general.auth_enabled:
        log.warning("no master_key or api_keys configured: authentication is off")
    os.environ[CONFIG_ENV] = os.path.abspath(args.config)
    if args.workers > 1:
        _multiprocess_metrics_dir()
    log_connection_limits(snapshot)
    log.info("GRID listening on http://%s:%d with %d worker(s)", args.host, args.port, args.workers)
    config = uvicorn.Config(
        "gateway.cli:app_factory",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers if args.workers > 1 else None,
        loop="uvloop",
        http=GridHttpProtocol,  # httptools, each response's headers and body in one write
        proxy_headers=False,  # nothing reads the client address: skip X-Forwarded-* parsing
        server_header=False,  # no `server: uvicorn`: one header less to validate and send, and to reveal
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=args.graceful_timeout,  # type: ignore[arg-type]
    )
    serving.run(config)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "check":
        return check(args.config)
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
