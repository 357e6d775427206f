"""Which experiment variant served a recent request: the join between `POST /feedback` and a variant.

A bounded map from request id to (experiment, variant), oldest first. Entries expire after a TTL and
the oldest are dropped when the map is full, so memory is bounded whatever the traffic. Expired
entries are dropped lazily, from the old end, as new ones arrive and when one is looked up.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class Served:
    experiment: str
    variant: str
    key: str | None  # name of the client key that made the request (None with auth off)
    at: float  # monotonic time of enrolment
    rated: bool = False


class FeedbackLog:
    def __init__(
        self, ttl_seconds: float, max_requests: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl_seconds
        self.max_requests = max_requests
        self.clock = clock
        self._entries: OrderedDict[str, Served] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def configure(self, ttl_seconds: float, max_requests: int) -> None:
        self.ttl = ttl_seconds
        self.max_requests = max_requests
        self._trim(self.clock())

    def remember(self, request_id: str, experiment: str, variant: str, key: str | None) -> None:
        now = self.clock()
        entries = self._entries
        if request_id in entries:  # a client reusing an X-Request-ID: the latest request wins
            del entries[request_id]
        entries[request_id] = Served(experiment, variant, key, now)
        if len(entries) > self.max_requests or now - next(iter(entries.values())).at >= self.ttl:
            self._trim(now)

    def lookup(self, request_id: str) -> Served | None:
        """The live entry for `request_id`, or None when unknown or expired."""
        now = self.clock()
        self._trim(now)
        return self._entries.get(request_id)

    def _trim(self, now: float) -> None:
        entries = self._entries
        while len(entries) > self.max_requests:
            entries.popitem(last=False)
        horizon = now - self.ttl
        while entries:
            oldest = next(iter(entries.values()))
            if oldest.at > horizon:
                break
            entries.popitem(last=False)
