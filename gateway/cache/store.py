"""Where cached answers live, behind one small interface: an in-process LRU bounded in bytes (the
default), or Redis (`redis_store`, shared by workers and replicas). A store failure is never the
client's error: it reads as a miss, and a write that fails is dropped.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol


class CacheStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...

    async def close(self) -> None: ...


class LocalStore:
    """Least recently used first out once the entries' bytes pass `max_bytes`; expired on read."""

    def __init__(self, max_bytes: int, clock=time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        expires, value = item
        if expires <= self._clock():
            self._drop(key)
            return None
        self._items.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if len(value) > self.max_bytes:
            return  # bigger than the whole cache: not worth evicting everything for
        if key in self._items:
            self._drop(key)
        self._items[key] = (self._clock() + ttl, value)
        self.size += len(value)
        while self.size > self.max_bytes:
            self._drop(next(iter(self._items)))

    def _drop(self, key: str) -> None:
        _, value = self._items.pop(key)
        self.size -= len(value)

    async def close(self) -> None:
        self._items.clear()
        self.size = 0
