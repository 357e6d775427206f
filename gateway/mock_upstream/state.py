"""Per-instance state: identity, recorded requests, counters and the fault book.

One `MockState` lives on each app. It is only ever touched from the server's event loop (the test
helper hops onto that loop to read it), so plain ints and a deque are enough: no locks.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from aiohttp import web

from gateway.mock_upstream.faults import FaultBook

DEFAULT_MODELS = ("mock-gpt", "mock-gpt-mini", "mock-embedding")
DEFAULT_RECORD_LIMIT = 200


class MockState:
    """Everything one mock instance remembers between requests."""

    def __init__(
        self,
        name: str = "mock",
        *,
        require_key: str | None = None,
        models: tuple[str, ...] | list[str] | None = None,
        record_limit: int = DEFAULT_RECORD_LIMIT,
    ) -> None:
        self.name = name
        self.require_key = require_key
        self.models = tuple(models) if models else DEFAULT_MODELS
        self.faults = FaultBook()
        self.recorded: deque[dict[str, Any]] = deque(maxlen=max(0, record_limit))
        self._seq = 0
        self.open_requests = 0
        self.open_streams = 0
        self.reset_stats()

    def next_seq(self) -> int:
        """A per-instance sequence number, used to make response ids unique without randomness."""
        self._seq += 1
        return self._seq

    def record(self, request: web.Request, body: Any) -> None:
        """Remember one request as received (header names lower-cased, body parsed or None)."""
        if self.recorded.maxlen == 0:
            return
        self.recorded.append(
            {
                "time": time.time(),
                "method": request.method,
                "path": request.path,
                "query": request.query_string,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": body,
            }
        )

    def reset_stats(self) -> None:
        """Zero the counters; open requests/streams are live values and stay as they are."""
        self.requests_total = 0
        self.requests_by_path: dict[str, int] = {}
        self.max_open_requests = self.open_requests
        self.streams_started = 0
        self.streams_completed = 0
        self.disconnected_streams = 0
        self.disconnected_requests = 0
        self.cut_streams = 0
        self.faults_applied = 0

    def reset(self) -> None:
        """Forget recorded requests, fault rules and counters."""
        self.recorded.clear()
        self.faults.clear()
        self.reset_stats()

    def begin(self, path: str) -> None:
        """Count a request as arrived and in progress."""
        self.requests_total += 1
        self.requests_by_path[path] = self.requests_by_path.get(path, 0) + 1
        self.open_requests += 1
        if self.open_requests > self.max_open_requests:
            self.max_open_requests = self.open_requests

    def stats(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requests_total": self.requests_total,
            "requests_by_path": dict(self.requests_by_path),
            "open_requests": self.open_requests,
            "max_open_requests": self.max_open_requests,
            "open_streams": self.open_streams,
            "streams_started": self.streams_started,
            "streams_completed": self.streams_completed,
            "disconnected_streams": self.disconnected_streams,
            "disconnected_requests": self.disconnected_requests,
            "cut_streams": self.cut_streams,
            "faults_applied": self.faults_applied,
            "faults_active": len(self.faults),
        }


STATE: web.AppKey[MockState] = web.AppKey("mock_state", MockState)
