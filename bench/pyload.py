"""A small asyncio load generator, used only when wrk is not installed.

It keeps `connections` keep-alive connections busy for `duration` seconds, like `wrk -c N`. It spends
far more CPU per request than wrk, and on a 2-core machine that CPU is taken from the system under
test, so its requests/s are a lower bound; the table marks them with the tool name.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

from bench.load import LoadResult, LoadSpec
from bench.stats import percentile
from bench.target import Headers


def run(spec: LoadSpec, duration: float) -> LoadResult:
    try:
        import uvloop

        return uvloop.run(_run(spec, duration))
    except ImportError:
        return asyncio.run(_run(spec, duration))


async def _run(spec: LoadSpec, duration: float) -> LoadResult:
    url = urlsplit(spec.url)
    request = build_request(url.hostname or "127.0.0.1", url.path, spec.body, spec.key, spec.headers)
    latencies: list[float] = []
    errors = [0]
    start = time.perf_counter()
    deadline = start + duration
    workers = [
        _connection(url.hostname or "127.0.0.1", url.port or 80, request, deadline, latencies, errors)
        for _ in range(spec.connections)
    ]
    await asyncio.gather(*workers)
    seconds = time.perf_counter() - start
    return LoadResult(
        tool="python",
        requests=len(latencies),
        seconds=seconds,
        rps=len(latencies) / seconds,
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        errors=errors[0],
    )


def build_request(host: str, path: str, body: bytes, key: str, extra: Headers = ()) -> bytes:
    headers = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    if key:
        headers.append(f"Authorization: Bearer {key}")
    headers += [f"{name}: {value}" for name, value in extra]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


async def _connection(
    host: str, port: int, request: bytes, deadline: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            writer.write(request)
            status = await read_response(reader)
            latencies.append((time.perf_counter() - sent) * 1000)
            if not 200 <= status < 400:
                errors[0] += 1
    except (OSError, asyncio.IncompleteReadError):
        errors[0] += 1
    finally:
        writer.close()


async def read_response(reader: asyncio.StreamReader) -> int:
    """Read one HTTP/1.1 response (Content-Length or chunked) and return its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(int(headers.get("content-length", "0")))
    return status
