"""Which experiment variant served a recent request: the join between `POST /feedback` and a variant.

A bounded map from (client key, request id) to (experiment, variant), oldest first. The key is part of
the map's key because request ids are not secret and clients may send their own `X-Request-ID`: a
client reusing another's id gets an entry of its own and can neither overwrite nor rate the other's.
Keys are remembered by `owner_of` (their name and a hash), never the key itself. Entries expire after a TTL and
the oldest are dropped when the map is full, so memory is bounded whatever the traffic. Expired
entries are dropped lazily, from the old end, as new ones arrive and when one is looked up.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from gateway.config.model import ApiKey


@lru_cache(maxsize=1024)
def owner_of(key: ApiKey | None) -> str:
    """Who made a request, as the feedback log remembers it: the key's name and a short hash of the key
    (names need not be unique), never the key; "" with auth off (every client is the same one)."""
    if key is None:
        return ""
    return f"{key.name}#{hashlib.sha256(key.key.encode()).hexdigest()[:16]}"


@dataclass(slots=True)
class Served:
    experiment: str
    variant: str
    owner: str  # `owner_of` the client key that made the request
    at: float  # monotonic time of enrolment
    rated: bool = False


class FeedbackLog:
    def __init__(
        self, ttl_seconds: float, max_requests: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl_seconds
        self.max_requests = max_requests
        self.clock = clock
        self._entries: OrderedDict[tuple[str, str], Served] = OrderedDict()
        # (request id, experiment, variant, owner, ttl): the state backend shares entries with the other
        # replicas, so feedback may reach any of them (None in-process)
        self.on_remember: Callable[[str, str, str, str, float], None] | None = None

    def __len__(self) -> int:
        return len(self._entries)

    def configure(self, ttl_seconds: float, max_requests: int) -> None:
        self.ttl = ttl_seconds
        self.max_requests = max_requests
        self._trim(self.clock())

    def remember(self, request_id: str, experiment: str, variant: str, owner: str) -> None:
        now = self.clock()
        entries = self._entries
        slot = (owner, request_id)
        if slot in entries:  # one client reusing its own X-Request-ID: its latest request wins
            del entries[slot]
        entries[slot] = Served(experiment, variant, owner, now)
        if self.on_remember is not None:
            self.on_remember(request_id, experiment, variant, owner, self.ttl)
        if len(entries) > self.max_requests or now - next(iter(entries.values())).at >= self.ttl:
            self._trim(now)

    def lookup(self, request_id: str, owner: str) -> Served | None:
        """The live entry `owner` made under `request_id`, or None when unknown, expired or another's."""
        now = self.clock()
        self._trim(now)
        return self._entries.get((owner, request_id))

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
