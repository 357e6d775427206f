"""`gateway.endpoints.batched`: the calls of one event-loop turn run together, each answering its own
caller (its result, its exception, its context)."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from gateway.endpoints.batched import Batcher

WHO: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="nobody")


async def test_the_calls_of_one_turn_run_back_to_back_before_any_caller_resumes():
    batcher, events = Batcher(), []

    def work(n: int) -> int:
        events.append(f"call {n}")
        return n * 10

    async def caller(n: int) -> int:
        result = await batcher.run(work, n)
        events.append(f"resumed {n}")
        return result

    assert await asyncio.gather(*(caller(n) for n in range(4))) == [0, 10, 20, 30]
    assert events == [
        "call 0",
        "call 1",
        "call 2",
        "call 3",
        "resumed 0",
        "resumed 1",
        "resumed 2",
        "resumed 3",
    ]
    assert not batcher._pending  # nothing is kept once the turn's calls ran


async def test_each_caller_gets_its_own_exception_and_context():
    batcher = Batcher()

    def work(n: int) -> str:
        if n == 1:
            raise ValueError("bad request 1")
        return WHO.get()

    async def caller(n: int) -> str:
        WHO.set(f"request {n}")  # each task has its own context, as each served request does
        return await batcher.run(work, n)

    results = await asyncio.gather(*(caller(n) for n in range(3)), return_exceptions=True)
    assert results[0] == "request 0" and results[2] == "request 2"
    assert isinstance(results[1], ValueError) and str(results[1]) == "bad request 1"


async def test_a_caller_cancelled_while_waiting_is_skipped():
    batcher, called = Batcher(), []
    waiting = asyncio.ensure_future(batcher.run(called.append, "gone"))
    kept = batcher.run(called.append, "kept")
    waiting.cancel()
    await kept
    assert called == ["kept"]
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_later_turns_make_new_batches():
    batcher, seen = Batcher(), []
    for n in range(3):
        assert await batcher.run(seen.append, n) is None
    assert seen == [0, 1, 2] and not batcher._pending
