"""Sequential latency: one keep-alive connection, one request at a time, nothing else running.

This is the latency a single user feels, free of queueing; the gateway's added latency is its p50
here minus the upstream's p50 measured the same way. For streams it also records the time to the
first body bytes (TTFB) and checks every SSE event arrived.
"""

from __future__ import annotations

import http.client
import itertools
import time
from dataclasses import dataclass

from bench.payloads import VARY_MARK, sse_events
from bench.stats import percentile
from bench.target import Headers

_numbers = itertools.count(1)  # each body's running number (payloads.VARY_MARK)


@dataclass(frozen=True)
class LatencyResult:
    requests: int
    p50_ms: float
    p99_ms: float
    ttfb_p50_ms: float
    ttfb_p99_ms: float
    events: int  # SSE data events per response (0 for JSON answers)


@dataclass(frozen=True)
class Probe:
    port: int
    path: str
    body: bytes
    key: str
    headers: Headers = ()


def measure(probe: Probe, requests: int, warmup: int) -> LatencyResult:
    conn = http.client.HTTPConnection("127.0.0.1", probe.port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if probe.key:
        headers["Authorization"] = f"Bearer {probe.key}"
    headers.update(probe.headers)
    try:
        for _ in range(warmup):
            _one(conn, probe, headers)
        totals, firsts, events = [], [], 0
        for _ in range(requests):
            total, first, body = _one(conn, probe, headers)
            totals.append(total)
            firsts.append(first)
            events = sse_events(body)
    finally:
        conn.close()
    return LatencyResult(
        requests=requests,
        p50_ms=percentile(totals, 50),
        p99_ms=percentile(totals, 99),
        ttfb_p50_ms=percentile(firsts, 50),
        ttfb_p99_ms=percentile(firsts, 99),
        events=events,
    )


def _one(
    conn: http.client.HTTPConnection, probe: Probe, headers: dict[str, str]
) -> tuple[float, float, bytes]:
    """(total ms, first-body-bytes ms, body) of one request."""
    body = probe.body.replace(VARY_MARK.encode(), str(next(_numbers)).encode())
    start = time.perf_counter()
    conn.request("POST", probe.path, body=body, headers=headers)
    response = conn.getresponse()
    first_chunk = response.read1(65536)
    first = time.perf_counter()
    body = first_chunk + response.read()
    end = time.perf_counter()
    if response.status != 200:
        raise RuntimeError(f"POST {probe.path} answered {response.status}: {body[:300]!r}")
    return (end - start) * 1000, (first - start) * 1000, body
