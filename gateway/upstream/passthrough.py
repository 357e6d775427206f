"""The fast path: OpenAI-wire deployments forwarded as bytes over one pooled aiohttp session.

Only the allow-listed OpenAI parameters of the body are forwarded (`gateway.upstream.params`), with
`model` rewritten. The client's headers are not forwarded: the upstream gets the deployment's own
key, the request id, and the content type.
"""

from __future__ import annotations

import asyncio
import functools
import math
from typing import Any

import aiohttp
import orjson
from yarl import URL

from gateway import deadline
from gateway.config.model import Deployment
from gateway.upstream import failures
from gateway.upstream.params import PASSTHROUGH, allowed
from gateway.upstream.sse_guard import PLAIN_CLOSE, PLAIN_OPEN, MalformedStream, SseGuard
from gateway.upstream.stream import OpenStream, starts_with_error

CONNECT_TIMEOUT = 10.0


def new_session(limit: int = 500) -> aiohttp.ClientSession:
    """`limit`: upstream connections open at once, all hosts together; a request beyond it waits for
    one to be free (within its timeout), so a burst of clients cannot run the process out of files."""
    connector = aiohttp.TCPConnector(limit=limit, ttl_dns_cache=300, keepalive_timeout=60)
    return aiohttp.ClientSession(
        connector=connector, json_serialize=lambda o: orjson.dumps(o).decode(), auto_decompress=True
    )


@functools.lru_cache(maxsize=1024)
def _url(api_base: str, endpoint: str) -> URL:
    """The parsed upstream URL, built once per deployment and endpoint (parsing cost ~5 µs a call)."""
    return URL(f"{api_base}/{endpoint}")


def _payload(dep: Deployment, endpoint: str, body: dict[str, Any]) -> bytes:
    """The JSON sent upstream: the body's allow-listed fields, `model` the deployment's own."""
    names = PASSTHROUGH[endpoint]
    if body.keys() <= names:  # nearly every request: nothing to drop, the body itself is sent
        body["model"] = dep.upstream_model
        return orjson.dumps(body)
    payload = allowed(body, names)
    payload["model"] = dep.upstream_model
    return orjson.dumps(payload)


def _headers(dep: Deployment, request_id: str, stream: bool) -> dict[str, str]:
    headers = {"content-type": "application/json", "x-request-id": request_id}
    if stream:
        headers["accept"] = "text/event-stream"
    if dep.api_key:
        headers["authorization"] = f"Bearer {dep.api_key}"
    return headers


class PassthroughClient:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def call(
        self, dep: Deployment, endpoint: str, body: dict[str, Any], request_id: str
    ) -> tuple[bytes, Any]:
        """Non-streaming: returns (raw JSON bytes, parsed JSON)."""
        budget = deadline.bound(dep.timeout)  # the request's deadline may leave less than `timeout`
        timeout = aiohttp.ClientTimeout(total=budget, sock_connect=min(CONNECT_TIMEOUT, budget))
        try:
            async with self.session.post(
                _url(dep.api_base, endpoint),
                data=_payload(dep, endpoint, body),
                headers=_headers(dep, request_id, False),
                timeout=timeout,
            ) as resp:
                idle = dep.stream_timeout
                raw = await (resp.read() if idle is None or idle >= budget else _read_idle(resp, idle))
                if resp.status >= 400:
                    raise failures.from_status(resp.status, raw, resp.headers.get("retry-after"), dep.id)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise failures.timed_out(dep.id) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise failures.transport_failed(dep.id, exc, type(exc).__name__) from exc
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise failures.malformed(dep.id, "the body is not JSON") from exc
        if not isinstance(parsed, dict):
            raise failures.malformed(dep.id, "the body is not a JSON object")
        return raw, parsed

    async def open_stream(
        self, dep: Deployment, endpoint: str, body: dict[str, Any], request_id: str
    ) -> OpenStream:
        """Streaming: returns once the first bytes of the body have arrived (the attempt succeeded)."""
        left = deadline.remaining()  # the whole stream, relaying included, ends by the request's deadline
        wait = deadline.bound(dep.first_byte_timeout)
        timeout = aiohttp.ClientTimeout(
            total=max(left, 0.001) if left != math.inf else None,
            sock_connect=min(CONNECT_TIMEOUT, wait),
            sock_read=wait,
        )
        resp: aiohttp.ClientResponse | None = None
        try:
            resp = await self.session.post(
                _url(dep.api_base, endpoint),
                data=_payload(dep, endpoint, body),
                headers=_headers(dep, request_id, True),
                timeout=timeout,
            )
            if resp.status >= 400:
                raw = await resp.read()
                raise failures.from_status(resp.status, raw, resp.headers.get("retry-after"), dep.id)
            if not resp.content_type.startswith("text/event-stream"):
                raise failures.malformed(dep.id, f"expected an event stream, got {resp.content_type}")
            first = await resp.content.readany()
            if not first:
                raise failures.malformed(dep.id, "the stream ended before its first event")
            if starts_with_error(first):
                raise failures.malformed(dep.id, "the stream opened with an error event")
            guard = SseGuard()
            first = guard.feed(first)
        except MalformedStream as exc:
            resp.close()
            raise failures.malformed(dep.id, str(exc)) from exc
        except BaseException as exc:
            if resp is not None:
                resp.close()
            if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
                raise failures.timed_out(dep.id, "first byte") from exc
            if isinstance(exc, (aiohttp.ClientError, OSError)):
                raise failures.transport_failed(dep.id, exc, type(exc).__name__) from exc
            raise
        return OpenStream(first=first, rest=_relay(resp, dep.id, guard), close=resp.close)


async def _read_idle(resp: aiohttp.ClientResponse, idle: float) -> bytes:
    """The whole body, each read bounded by `idle` seconds (`stream_timeout` between chunks, for a
    non-streamed body as for a stream); the call's `timeout` still bounds the whole."""
    chunks: list[bytes] = []
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(idle) as timer:
        while chunk := await resp.content.readany():
            chunks.append(chunk)
            timer.reschedule(loop.time() + idle)
    return b"".join(chunks)


async def _relay(resp: aiohttp.ClientResponse, dep_id: str, guard: SseGuard):
    """The rest of the stream, event by event as the guard passes them (see `sse_guard`).

    A chunk that is one whole plain event (the common case) is recognized here, inline, by the
    guard's own three byte tests: a method call per chunk was a third of the guard's cost."""
    try:
        while True:
            chunk = await resp.content.readany()
            if not chunk:
                break
            if (
                guard.carry
                or not chunk.endswith(PLAIN_CLOSE)
                or not chunk.startswith(PLAIN_OPEN)
                or chunk.count(b"\n") != 2
            ):
                chunk = guard.feed(chunk)
                if not chunk:
                    continue
            guard.last = chunk
            yield chunk
        rest = guard.finish()
        if rest:
            yield rest
    except MalformedStream as exc:
        if exc.valid:
            yield exc.valid
        raise failures.malformed(dep_id, str(exc)) from exc
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise failures.timed_out(dep_id, "next event") from exc
    except aiohttp.ClientError as exc:
        raise failures.connect_failed(dep_id, f"stream cut ({type(exc).__name__})") from exc
    finally:
        resp.release()
