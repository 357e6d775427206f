"""Watch for the client going away, once per request, across the upstream call and the stream relay.

A request's task waits on the upstream (the fallback chain) and then, for a stream, relays it; the
client may leave during either. One watcher task reads the ASGI `receive` until `http.disconnect`,
then marks the watch `gone`, runs `on_gone` (the relay sets it to drop the upstream stream at once)
and cancels the request's task; whoever awaits there sees the `CancelledError`, checks `gone`, and
ends the request as a disconnect. A stream request used to start a second watcher for the relay: a
task, an ASGI receive and an event wait more per stream (~1% of a streamed request's instructions).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from starlette.types import Receive


class DisconnectWatch:
    __slots__ = ("gone", "on_gone", "_task", "_watcher")

    def __init__(self, receive: Receive) -> None:
        """Start watching `receive` for the current task (call it from the request's task)."""
        self.gone = False
        self.on_gone: Callable[[], None] | None = None
        self._task = asyncio.current_task()
        self._watcher = asyncio.get_running_loop().create_task(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone = True
        if self.on_gone is not None:
            self.on_gone()
        self._task.cancel()

    def stop(self) -> None:
        """Stop watching (the request is answered, or about to be)."""
        self._watcher.cancel()
