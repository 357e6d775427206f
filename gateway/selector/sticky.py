"""Session stickiness: requests of one conversation keep the model group chosen for its first one.

A session is named by the client (`x-session-id`, else the body's `user`) and scoped to the client's
key, so two teams using the same session name do not share a model. An entry lives `ttl` seconds
after its last use (a conversation that goes on keeps its model), and at most `max_entries` are
kept, the least recently used dropped first, so memory is bounded whatever clients send.

A kept group is only a preference: the selector keeps it while it stays acceptable for the new turn
(the same task family, and a score within `STICKY_MARGIN` of the best: see `Selector.decide`).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class Sessions:
    def __init__(self, ttl: float, max_entries: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, tuple[str, str, float]] = OrderedDict()
        self.hits = 0  # a session kept its group
        self.misses = 0  # a new session, or one that had expired
        self.reassigned = 0  # a session's group could not serve it (unhealthy, unfit) and was replaced

    def configure(self, ttl: float, max_entries: int) -> None:
        """New limits (on a config reload); existing sessions stay until they expire or overflow."""
        self.ttl = ttl
        self.max_entries = max_entries
        self._trim()

    def get(self, key: Hashable) -> tuple[str, str] | None:
        """The session's group and the task family it was chosen for, or None when unknown or
        expired."""
        if self.ttl <= 0:
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        group, family, expires = entry
        if expires <= self._clock():
            del self._entries[key]
            return None
        return group, family

    def put(self, key: Hashable, group: str, family: str = "") -> None:
        """Remember (or refresh) the session's group for another `ttl` seconds."""
        if self.ttl <= 0:
            return
        self._entries[key] = (group, family, self._clock() + self.ttl)
        self._entries.move_to_end(key)
        self._trim()

    def _trim(self) -> None:
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def stats(self) -> dict[str, Any]:
        return {
            "ttl_seconds": self.ttl,
            "max_sessions": self.max_entries,
            "sessions": len(self._entries),
            "hits": self.hits,
            "misses": self.misses,
            "reassigned": self.reassigned,
        }
