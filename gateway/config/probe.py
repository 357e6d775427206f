"""Whether each deployment's api_base answers at all (`gateway check`), and the URL helpers the
configuration rules share: an http(s) URL test and a redaction that drops the places secrets hide.
This is the only network I/O of config loading; `validate` turns what it finds into warnings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import httpx

PROBE_TIMEOUT = 5.0

T = TypeVar("T")


def is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a malformed IPv6 host or port
        return False


def redact_url(url: str) -> str:
    """`url` without user info, query or fragment: the places secrets hide in base URLs."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
    except ValueError:
        return "<invalid URL>"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def unreachable(bases: list[str]) -> list[tuple[str, str]]:
    """(base, why) for each of `bases` that gives no HTTP answer at all within PROBE_TIMEOUT.

    Any status (401, 404, ...) proves the host is there; only connection errors and timeouts count.
    No key is sent: reachability needs none. All bases are tried at once, so the check takes at most
    about PROBE_TIMEOUT however many are down.
    """
    if not bases:
        return []
    reasons = run_sync(lambda: _probe_all(bases))
    return [(base, reason) for base, reason in zip(bases, reasons, strict=True) if reason is not None]


async def _probe_all(bases: list[str]) -> list[str | None]:
    limits = httpx.Limits(max_connections=max(10, len(bases)), max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=PROBE_TIMEOUT, limits=limits, trust_env=False) as client:
        return list(await asyncio.gather(*(_probe_one(client, base) for base in bases)))


async def _probe_one(client: httpx.AsyncClient, base: str) -> str | None:
    """None when `base` answered anything, else why not."""
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            await client.get(_models_url(base))
    except (TimeoutError, httpx.TimeoutException):
        return f"no answer within {PROBE_TIMEOUT:g} s"
    except Exception as exc:  # any failure is a finding to report, never a crash of the check
        return str(exc) or type(exc).__name__
    return None


def _models_url(base: str) -> str:
    """`<api_base>/models`, keeping a query string (Azure's `?api-version=`) where it belongs."""
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/models"))


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop is already running.

    `load_config` is called both from the CLI (no loop) and from a reload endpoint (inside the
    server's loop, where `asyncio.run` refuses to nest), so the latter gets its own thread and loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="grid-config-probe") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()
