"""Running the mock: in a background thread for tests (`MockUpstream`), or in the foreground (CLI).

Tests run the gateway and the mock in one process; the mock gets its own thread and event loop so it
serves real HTTP on a real socket regardless of what loop (if any) the test itself runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from gateway.mock_upstream.faults import parse_rule
from gateway.mock_upstream.server import create_app
from gateway.mock_upstream.state import DEFAULT_RECORD_LIMIT, MockState

T = TypeVar("T")
SHUTDOWN_TIMEOUT = 0.25


def make_runner(app: web.Application) -> web.AppRunner:
    """An AppRunner set up as the mock needs: handler cancellation on disconnect, no access log."""
    return web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)


class MockUpstream:
    """A mock upstream serving on 127.0.0.1 in a daemon thread; a context manager.

    >>> with MockUpstream("a") as mock:
    ...     client = openai.OpenAI(base_url=mock.url + "/v1", api_key="x")

    The control methods (`add_fault`, `requests`, `stats`, ...) run on the server's loop, so they are
    safe to call from any thread and see exactly what the HTTP `/_mock/*` routes would.
    """

    def __init__(
        self,
        name: str = "mock",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        require_key: str | None = None,
        models: list[str] | tuple[str, ...] | None = None,
        record_limit: int = DEFAULT_RECORD_LIMIT,
    ) -> None:
        self.name = name
        self.host = host
        self._port = port
        self._state = MockState(name, require_key=require_key, models=models, record_limit=record_limit)
        self.app: web.Application | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> str:
        """Start serving and return the base URL (`http://127.0.0.1:PORT`, no `/v1`).

        After `stop()`, `start()` serves again on the same port with the same state (faults, records,
        counters): the way to test an upstream that goes down and comes back.
        """
        if self._thread is not None:
            return self.url
        ready: concurrent.futures.Future[int] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name=f"mock-upstream-{self.name}", daemon=True
        )
        self._thread.start()
        try:
            self._port = ready.result(timeout=10)
        except BaseException:
            self._thread.join(timeout=10)
            self._thread = self._loop = None
            raise
        return self.url

    def _run(self, ready: concurrent.futures.Future[int]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        self.app = create_app(state=self._state)
        runner = make_runner(self.app)
        try:
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.host, self._port, backlog=1024)
            loop.run_until_complete(site.start())
            ready.set_result(runner.addresses[0][1])
        except BaseException as exc:  # the starting thread must hear about any failure
            ready.set_exception(exc)
        else:
            loop.run_forever()
        finally:
            loop.run_until_complete(runner.cleanup())
            loop.close()

    def stop(self) -> None:
        """Stop serving; open streams are cut after a short grace period."""
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> MockUpstream:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._port}"

    # -- control (same as the /_mock/* routes) -----------------------------------------------------

    @property
    def state(self) -> MockState:
        """The live state; read it through the methods below from other threads."""
        return self._state

    def _on_loop(self, fn: Callable[[], T]) -> T:
        if self._loop is None:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    def add_fault(self, rule: dict[str, Any]) -> None:
        """Append a fault rule (same JSON shape as `POST /_mock/faults`); ValueError if invalid."""
        parsed = parse_rule(rule)
        self._on_loop(lambda: self.state.faults.add(parsed))

    def clear_faults(self) -> None:
        self._on_loop(self.state.faults.clear)

    def faults(self) -> list[dict[str, Any]]:
        return self._on_loop(self.state.faults.to_list)

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        """Recorded requests, oldest first, optionally only those to `path`."""
        recorded = self._on_loop(lambda: list(self.state.recorded))
        return [r for r in recorded if path is None or r["path"] == path]

    def clear_requests(self) -> None:
        self._on_loop(self.state.recorded.clear)

    def stats(self) -> dict[str, Any]:
        return self._on_loop(self.state.stats)

    def reset(self) -> None:
        """Forget requests, faults and counters."""
        self._on_loop(self.state.reset)


async def serve(
    host: str,
    port: int,
    name: str = "mock",
    *,
    require_key: str | None = None,
    models: list[str] | None = None,
    record_limit: int = DEFAULT_RECORD_LIMIT,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; prints one line saying where it listens."""
    app = create_app(name, require_key=require_key, models=models, record_limit=record_limit)
    runner = make_runner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = runner.addresses[0][1]
    print(f"mock upstream '{name}' listening on http://{host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # no signal support here
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
