"""Routing decisions taken together: the requests of one event-loop turn are decided back to back.

`model="auto"` reads a request with the selector's code and tables (the task model's weights, its caches,
the plans): some hundred kilobytes. Between two requests the rest of serving (HTTP parsing, the
upstream call, the access log) pushes them out of the CPU caches, and deciding from cold caches
costs about twice what it costs warm (measured in-process with the caches flushed between
requests: ~55 against ~30 us over a fixed model, docs/performance.md). Under load several requests
arrive in the same turn of the event loop (at 20 connections, batches of 1 to 20, about 7 on
average): deciding them one after the other, at the end of that turn, pays the cold start once.

`Batcher.run(fn, *args)` is awaited by the request; `fn(*args)` runs in the callback that ends the
turn, in the request's own context (its log lines keep its request id), and its result or exception
is the request's. A lone request waits for nothing but the rest of its own turn. A request that is
cancelled while it waits (its client left) is skipped. Pending requests are kept per event loop, so
loops in different threads (test clients) never share a batch.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Pending = list[tuple[asyncio.Future, contextvars.Context, Callable[..., Any], tuple]]


class Batcher:
    __slots__ = ("_pending",)

    def __init__(self) -> None:
        self._pending: dict[asyncio.AbstractEventLoop, _Pending] = {}

    def run(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`fn(*args)`, called with the other calls of this loop turn; await the future it returns."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = []
            loop.call_soon(self._run, loop)
        pending.append((future, contextvars.copy_context(), fn, args))
        return future

    def _run(self, loop: asyncio.AbstractEventLoop) -> None:
        for future, context, fn, args in self._pending.pop(loop):
            if future.cancelled():
                continue
            try:
                result = context.run(fn, *args)
            except Exception as exc:  # the request's own error (an OpenAI-shaped one, mostly)
                future.set_exception(exc)
            else:
                future.set_result(result)
