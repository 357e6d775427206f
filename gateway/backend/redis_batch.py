"""Script calls to Redis, batched: every call made during one turn of the event loop goes out in one
pipeline. Under load, the admissions of many concurrent requests and the releases of those that just
ended share one round trip, which is most of what a Redis call costs in CPU (the client's
connection handling and framing), while each request still waits for exactly one round trip.

Scripts are sent as EVALSHA; when Redis does not know one (it restarted, or was flushed) the calls
that failed for it are sent again with EVAL, and the scripts are loaded for the next time.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from gateway import metrics

_Call = tuple[str, Sequence[Any], Sequence[Any], "asyncio.Future[Any] | None", "Callable[[], None] | None"]


class ScriptBatch:
    def __init__(
        self, client: Redis, scripts: Mapping[str, str], on_error: Callable[[BaseException], None]
    ) -> None:
        self.client = client
        self.scripts = dict(scripts)
        self.shas = {name: hashlib.sha1(text.encode()).hexdigest() for name, text in scripts.items()}
        self.on_error = on_error
        self._calls: list[_Call] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task] = set()

    def call(self, name: str, keys: Sequence[Any], args: Sequence[Any]) -> asyncio.Future[Any]:
        """The script's result (or its error) once the batch it joins has been answered."""
        future = asyncio.get_running_loop().create_future()
        self._add((name, keys, args, future, None))
        return future

    def send(self, name: str, keys: Sequence[Any], args: Sequence[Any], failed: Callable[[], None]) -> None:
        """Run the script without waiting for it; `failed()` when it could not be run."""
        self._add((name, keys, args, None, failed))

    async def drain(self, timeout: float) -> None:
        """Wait (at most `timeout` seconds) for the batches under way: at shutdown."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    def _add(self, call: _Call) -> None:
        self._calls.append(call)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._go)

    def _go(self) -> None:
        self._scheduled = False
        calls, self._calls = self._calls, []
        task = asyncio.get_running_loop().create_task(self._round_trip(calls))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _round_trip(self, calls: list[_Call]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for name, keys, args, _, _ in calls:
            pipe.evalsha(self.shas[name], len(keys), *keys, *args)
        metrics.child(metrics.STATE_ROUND_TRIPS, "request").inc()
        try:
            results = await pipe.execute(raise_on_error=False)
            missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
            if missing:
                results = await self._again(calls, results, missing)
        except (RedisError, OSError) as exc:
            results = [exc] * len(calls)
            self.on_error(exc)
        for (_, _, _, future, failed), result in zip(calls, results, strict=True):
            if future is not None:
                if not future.done():
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
            elif isinstance(result, Exception) and failed is not None:
                failed()

    async def _again(self, calls: list[_Call], results: list[Any], missing: list[int]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for text in self.scripts.values():
            pipe.script_load(text)
        for i in missing:
            name, keys, args, _, _ = calls[i]
            pipe.eval(self.scripts[name], len(keys), *keys, *args)
        again = await pipe.execute(raise_on_error=False)
        for i, result in zip(missing, again[len(self.scripts) :], strict=True):
            results[i] = result
        return results
