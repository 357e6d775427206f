"""uvicorn's server and worker supervisor, with GRID's shutdown.

On SIGTERM (or SIGINT) a server stops accepting, closes idle connections and lets requests in flight
finish for up to `--graceful-timeout` seconds. Past it, every stream still relaying ends with an
OpenAI-shaped SSE error event (code `shutting_down`), every request not yet answered gets a 503
`shutting_down`, and only then are the remaining tasks cancelled (without a traceback each). The
logs are flushed and the process exits 0: a SIGTERM is an order, not a crash, so it is not raised
again once handled (uvicorn re-raises it, which ends the process with 143 before `atexit` runs).
`--workers N` runs this server in each worker; the supervisor forwards SIGTERM and waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from types import FrameType

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import multiprocess

from gateway import connection_guard
from gateway.acceptor import Acceptor
from gateway.upstream.relay import end_all_streams

log = logging.getLogger("grid.server")

CUT_GRACE = 1.0  # seconds the streams cut at the deadline get to write their ending event


def flush_logs() -> None:
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):  # a closed stream: nothing left to save
            handler.flush()


class _DropCancelledTracebacks(logging.Filter):
    """During the final cut, uvicorn logs every cancelled request as "Exception in ASGI application"
    with a CancelledError traceback: the cut is ours and already logged once."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, asyncio.CancelledError)


class GridServer(uvicorn.Server):
    """uvicorn's server, accepting through `Acceptor`s, with GRID's shutdown."""

    acceptors: list[Acceptor]

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        config = self.config

        def create_protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )

        listeners = sockets if sockets is not None else [config.bind_socket()]
        loop = asyncio.get_running_loop()
        self.servers = []
        self.acceptors = []
        for sock in listeners:
            sock.listen(config.backlog)
            self.acceptors.append(Acceptor(sock, loop, create_protocol, self.server_state.connections))
        self.server_state.grid_acceptors = self.acceptors  # type: ignore[attr-defined]
        self._own_sockets = [] if sockets is not None else listeners
        for acceptor in self.acceptors:
            acceptor.start()
        self.started = True

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM and sig in self._captured_signals:
            self._captured_signals.remove(sig)  # handled: exit 0 instead of dying by it again

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = self.server_state
        for acceptor in self.acceptors:
            acceptor.close()
        for sock in [*(sockets or []), *self._own_sockets]:
            sock.close()
        for connection in list(state.connections):
            connection.shutdown()  # idle ones close now, busy ones after their response
        grace = self.config.timeout_graceful_shutdown
        grace = 30.0 if grace is None else grace
        log.info("shutting down: %d request(s) in flight, up to %gs to finish", len(state.tasks), grace)
        if not await self._wait_tasks(grace):
            self._cut(state)
            await _cancel_after(state.tasks, CUT_GRACE)
        if not self.force_exit:
            await self.lifespan.shutdown()
        log.info("shutdown complete")
        flush_logs()

    async def _wait_tasks(self, seconds: float) -> bool:
        """Whether every request task finished within `seconds` (or a second Ctrl-C forced the exit)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while self.server_state.tasks and not self.force_exit and loop.time() < deadline:
            await asyncio.sleep(0.05)
        return not self.server_state.tasks or self.force_exit

    def _cut(self, state: uvicorn.server.ServerState) -> None:
        streams = end_all_streams()
        answered = 0
        for connection in list(state.connections):
            cycle = getattr(connection, "cycle", None)
            if cycle is not None and not cycle.response_started and hasattr(connection, "reject"):
                connection.reject(
                    connection_guard.ShuttingDown("The gateway is shutting down.", retry_after=1)
                )
                answered += 1
        log.warning(
            "graceful timeout: %d stream(s) ended with an error event, %d request(s) answered 503",
            streams,
            answered,
        )


async def _cancel_after(tasks: set[asyncio.Task], seconds: float) -> None:
    """Give the cut requests `seconds` to write their ending, then cancel whatever still runs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while tasks and loop.time() < deadline:
        await asyncio.sleep(0.05)
    if not tasks:
        return
    quiet = _DropCancelledTracebacks()
    uvicorn_log = logging.getLogger("uvicorn.error")
    uvicorn_log.addFilter(quiet)
    try:
        for task in list(tasks):
            task.cancel()
        await asyncio.wait(list(tasks), timeout=1.0)
    finally:
        uvicorn_log.removeFilter(quiet)


class GridWorker(multiprocess.Process):
    """A `--workers N` worker running `GridServer`."""

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = GridServer(config=self.config)
        return self._server


class GridSupervisor(multiprocess.Multiprocess):
    """uvicorn's supervisor, closing its copy of the listening socket on SIGTERM/SIGINT: once the
    workers close theirs, new connections are refused instead of waiting in a backlog no one reads."""

    def _stop_listening(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def handle_term(self) -> None:
        self._stop_listening()
        super().handle_term()

    def handle_int(self) -> None:
        self._stop_listening()
        super().handle_int()


def run(config: uvicorn.Config) -> None:
    """`uvicorn.run` for an already built config, with `GridServer` (and `GridWorker`s)."""
    if config.workers > 1:
        sock = config.bind_socket()
        # the supervisor builds its workers by this module-level name (start, restart, TTIN)
        multiprocess.Process = GridWorker  # type: ignore[misc]
        GridSupervisor(config, sockets=[sock]).run()
        flush_logs()
        return
    config.load_app()
    server = GridServer(config=config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    flush_logs()
    if not server.started:
        sys.exit(STARTUP_FAILURE)
