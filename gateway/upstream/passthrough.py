"""The fast path: OpenAI-wire deployments forwarded as bytes over one pooled aiohttp session.

Only the allow-listed OpenAI parameters of the body are forwarded (`gateway.upstream.params`), with
`model` rewritten. The client's headers are not forwarded: the upstream gets the deployment's own
key, the request id, and the content type.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
from yarl import URL

from gateway import deadline
from gateway.config.model import Deployment
from gateway.context import upstream_headers_var
from gateway.upstream import failures
from gateway.upstream.event_stream import MESSAGES_FINAL, RESPONSES_FINAL, EventGuard
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


ANTHROPIC_BASE = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"


def _target(dep: Deployment, endpoint: str) -> URL:
    """An Anthropic deployment's `api_base` is its host, as to LiteLLM: `/v1/<endpoint>` is appended
    (to a base that already ends in `/v1/messages`, as LiteLLM too, nothing more for `messages`)."""
    if dep.provider == "anthropic":
        base = (dep.api_base or ANTHROPIC_BASE).rstrip("/").removesuffix("/v1/messages")
        return _url(f"{base}/v1", endpoint)
    return _url(dep.api_base, endpoint)


_NAMED_EVENTS = frozenset({"responses", "messages"})  # endpoints whose streams `_guard` checks otherwise


def _guard(endpoint: str) -> SseGuard:
    """The check for the stream an endpoint answers with (named events end with their own final one)."""
    if endpoint == "responses":
        return EventGuard(RESPONSES_FINAL)
    if endpoint == "messages":
        return EventGuard(MESSAGES_FINAL)
    return SseGuard()


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
    if dep.provider == "anthropic":
        headers["anthropic-version"] = ANTHROPIC_VERSION
        if dep.api_key:
            headers["x-api-key"] = dep.api_key
    elif dep.api_key:
        headers["authorization"] = f"Bearer {dep.api_key}"
    traced = upstream_headers_var.get()
    if traced:
        headers.update(traced)
    return headers


class PassthroughClient:
    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def call(
        self,
        dep: Deployment,
        endpoint: str,
        body: dict[str, Any] | None,
        request_id: str,
        method: str = "POST",
    ) -> tuple[bytes, Any]:
        """Non-streaming: returns (raw JSON bytes, parsed JSON). Without a body, a call by id
        (`GET /responses/{id}`, ...) with `method`."""
        budget = deadline.bound(dep.timeout)  # the request's deadline may leave less than `timeout`
        timeout = aiohttp.ClientTimeout(total=budget, sock_connect=min(CONNECT_TIMEOUT, budget))
        try:
            async with self.session.request(
                method,
                _target(dep, endpoint),
                data=None if body is None else _payload(dep, endpoint, body),
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
        # Up to the first byte the deadline bounds each wait; once relaying, the relay's sweep ends
        # the stream at the deadline (no `total` here: aiohttp's is a timer per request).
        wait = deadline.bound(dep.first_byte_timeout)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(CONNECT_TIMEOUT, wait), sock_read=wait)
        resp: aiohttp.ClientResponse | None = None
        try:
            resp = await self.session.post(
                _target(dep, endpoint),
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
            guard = SseGuard() if endpoint not in _NAMED_EVENTS else _guard(endpoint)
            first = guard.feed(first)
        except MalformedStream as exc:
            resp.close()
            raise failures.malformed(dep.id, str(exc)) from exc
        except BaseException as exc:  # (not `_transport_errors`: a context manager per stream costs)
            if resp is not None:
                resp.close()
            if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
                raise failures.timed_out(dep.id, "first byte") from exc
            if isinstance(exc, (aiohttp.ClientError, OSError)):
                raise failures.transport_failed(dep.id, exc, type(exc).__name__) from exc
            raise
        return OpenStream(first=first, rest=_relay(resp, dep.id, guard), close=resp.close)

    async def open_raw(
        self,
        dep: Deployment,
        endpoint: str,
        data: Any,
        content_type: str,
        request_id: str,
        length: int | None = None,
    ) -> aiohttp.ClientResponse:
        """A POST whose body (`data`: bytes or an async iterator of bytes, e.g. a multipart upload
        relayed as it arrives) and answer are not JSON to the gateway: returns the open 2xx response
        for the caller to relay (and release); an error status raises as for `call`."""
        budget = deadline.bound(dep.timeout)
        timeout = aiohttp.ClientTimeout(total=budget, sock_connect=min(CONNECT_TIMEOUT, budget))
        headers = _headers(dep, request_id, False)
        headers["content-type"] = content_type
        if length is not None:
            headers["content-length"] = str(length)
        resp: aiohttp.ClientResponse | None = None
        try:
            with _transport_errors(dep.id, "response"):
                resp = await self.session.post(
                    _target(dep, endpoint), data=data, headers=headers, timeout=timeout
                )
                if resp.status >= 400:
                    raw = await resp.read()
                    raise failures.from_status(resp.status, raw, resp.headers.get("retry-after"), dep.id)
        except BaseException:
            if resp is not None:
                resp.close()
            raise
        return resp

    def json_payload(self, dep: Deployment, endpoint: str, body: dict[str, Any]) -> bytes:
        """The allow-listed JSON body for `endpoint`, `model` the deployment's own."""
        return _payload(dep, endpoint, body)


async def read_raw(resp: aiohttp.ClientResponse, dep_id: str) -> tuple[bytes, str]:
    """The whole answer of an `open_raw` response, released after: (body, its content type)."""
    try:
        with _transport_errors(dep_id, "response"):
            return await resp.read(), resp.headers.get("content-type", "application/octet-stream")
    finally:
        resp.release()


@contextlib.contextmanager
def _transport_errors(dep_id: str, what: str) -> Iterator[None]:
    """A timeout or a transport failure inside (waiting for `what`) becomes the gateway's error;
    anything else (a cancellation, an error already judged) passes unchanged."""
    try:
        yield
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise failures.timed_out(dep_id, what) from exc
    except (aiohttp.ClientError, OSError) as exc:
        raise failures.transport_failed(dep_id, exc, type(exc).__name__) from exc


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
                or chunk.find(b"\n") != len(chunk) - 2
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
