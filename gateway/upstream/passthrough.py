"""The fast path: OpenAI-wire deployments forwarded as bytes over one pooled aiohttp session.

Only `model` is rewritten. The client's headers are not forwarded: the upstream gets the deployment's
own key, the request id, and the content type.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import aiohttp
import orjson
from yarl import URL

from gateway.config.model import Deployment
from gateway.upstream import failures
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
        body["model"] = dep.upstream_model
        timeout = aiohttp.ClientTimeout(total=dep.timeout, sock_connect=min(CONNECT_TIMEOUT, dep.timeout))
        try:
            async with self.session.post(
                _url(dep.api_base, endpoint),
                data=orjson.dumps(body),
                headers=_headers(dep, request_id, False),
                timeout=timeout,
            ) as resp:
                raw = await resp.read()
                if resp.status >= 400:
                    raise failures.from_status(resp.status, raw, resp.headers.get("retry-after"), dep.id)
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise failures.timed_out(dep.id) from exc
        except aiohttp.ClientError as exc:
            raise failures.connect_failed(dep.id, type(exc).__name__) from exc
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
        body["model"] = dep.upstream_model
        wait = dep.first_byte_timeout
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=min(CONNECT_TIMEOUT, wait), sock_read=wait)
        resp: aiohttp.ClientResponse | None = None
        try:
            resp = await self.session.post(
                _url(dep.api_base, endpoint),
                data=orjson.dumps(body),
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
        except BaseException as exc:
            if resp is not None:
                resp.close()
            if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
                raise failures.timed_out(dep.id, "first byte") from exc
            if isinstance(exc, aiohttp.ClientError):
                raise failures.connect_failed(dep.id, type(exc).__name__) from exc
            raise
        return OpenStream(first=first, rest=_relay(resp, dep.id), close=resp.close)


async def _relay(resp: aiohttp.ClientResponse, dep_id: str):
    try:
        while True:
            chunk = await resp.content.readany()
            if not chunk:
                break
            yield chunk
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise failures.timed_out(dep_id, "next event") from exc
    except aiohttp.ClientError as exc:
        raise failures.connect_failed(dep_id, f"stream cut ({type(exc).__name__})") from exc
    finally:
        resp.release()
