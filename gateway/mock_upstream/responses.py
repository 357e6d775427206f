"""Writing answers: JSON bodies and SSE streams, with the stream-shaped faults applied on the way.

Streams are where a gateway's hardest bugs live (stalls before the first byte, connections dropped
mid-way, clients that go away), so this is the one place that knows how to misbehave while writing
and how to notice that the peer has disconnected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from gateway.mock_upstream.faults import FaultRule
from gateway.mock_upstream.state import MockState

DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache"}


@dataclass(slots=True)
class Call:
    """One request as the endpoint functions see it: parsed body and the fault that applies."""

    request: web.Request
    state: MockState
    body: dict[str, Any]
    fault: FaultRule | None = None
    streamed: bool = False

    @property
    def model(self) -> str:
        model = self.body.get("model")
        return model if isinstance(model, str) else ""


def data_event(obj: Any) -> bytes:
    """An OpenAI-style SSE event: `data: {json}` and a blank line."""
    return b"data: " + orjson.dumps(obj) + b"\n\n"


def named_event(name: str, obj: Any) -> bytes:
    """An Anthropic-style SSE event with an `event:` line before its data."""
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(obj) + b"\n\n"


async def send_json(call: Call, obj: Any) -> web.StreamResponse:
    """A 200 JSON answer; with a `stall` fault the headers go out first and the body after the stall."""
    body = orjson.dumps(obj)
    stall = call.fault.stall if call.fault else 0.0
    if not stall:
        return web.Response(body=body, content_type="application/json")
    response = web.StreamResponse(headers={"content-type": "application/json"})
    response.content_length = len(body)
    await response.prepare(call.request)
    await asyncio.sleep(stall)
    await response.write(body)
    return response


async def stream_events(call: Call, events: Iterable[bytes]) -> web.StreamResponse:
    """Write `events` as an SSE stream, applying `stall`, `chunk_delay`, `cut_after`, `end_after` and
    `garbage_after` (the last two end the body cleanly, without `[DONE]`).

    A client that goes away shows up as ConnectionResetError on a write, or as CancelledError when
    the server runs with handler_cancellation (ours do, so a stalled stream notices at once). Either
    way the stream is counted in `disconnected_streams` and stops holding an open slot.
    """
    state, fault = call.state, call.fault
    stall = fault.stall if fault else 0.0
    delay = fault.chunk_delay if fault else 0.0
    cut_after = fault.cut_after if fault else None
    end_after = fault.end_after if fault else None
    garbage_after = fault.garbage_after if fault else None
    response = web.StreamResponse(headers=SSE_HEADERS)
    call.streamed = True
    state.streams_started += 1
    state.open_streams += 1
    try:
        await response.prepare(call.request)
        if stall:
            await asyncio.sleep(stall)
        if cut_after == 0:
            return _cut(call, response)
        for sent, event in enumerate(events, start=1):
            if delay and sent > 1:
                await asyncio.sleep(delay)
            await response.write(event)
            if cut_after is not None and sent >= cut_after:
                return _cut(call, response)
            if garbage_after is not None and sent >= garbage_after:
                await response.write(GARBAGE)
                break
            if end_after is not None and sent >= end_after:
                break
        await response.write_eof()
        state.streams_completed += 1
    except ConnectionResetError:
        state.disconnected_streams += 1
    except asyncio.CancelledError:
        state.disconnected_streams += 1
        raise
    finally:
        state.open_streams -= 1
    return response


def _cut(call: Call, response: web.StreamResponse) -> web.StreamResponse:
    """Close the TCP connection mid-body: the client sees a chunked body that never terminates."""
    call.state.cut_streams += 1
    transport = call.request.transport
    if transport is not None:
        transport.close()
    return response


GARBAGE = b"<html><body>502 Bad Gateway</body></html>\n\n"  # not SSE, as a broken proxy might send
MALFORMED_JSON = b'{"id": "mock-malformed", "choices": [{"message": {"content": "oops'
MALFORMED_SSE = (
    b'data: {"id": "mock-malformed", "choices": [{"delta": {"content": "oops\n\ndata: ]]not json[[\n\n'
)


async def send_malformed(call: Call, stream: bool) -> web.StreamResponse:
    """A 200 whose body does not parse: truncated JSON, or SSE events with broken JSON."""
    if stream:
        return await stream_events(call, [MALFORMED_SSE])
    return web.Response(body=MALFORMED_JSON, content_type="application/json")
