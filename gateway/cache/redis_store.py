"""The Redis store: one GET per lookup, one SET with an expiry per stored answer (`redis.asyncio`).

Imported only when a config asks for `type: redis`. Redis being down or slow costs a request at most
`TIMEOUT` seconds and reads as a miss (the answer comes from the provider as without a cache); it is
logged once per outage, not once per request. The URL (which may hold a password) is never logged.
"""

from __future__ import annotations

import logging

from redis import asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("grid.cache")

PREFIX = "grid:cache:"
TIMEOUT = 0.5


class RedisStore:
    def __init__(self, url: str) -> None:
        self._client = aioredis.Redis.from_url(
            url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT, health_check_interval=30
        )
        self._failing = False

    def _failed(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            log.warning(
                "response cache: Redis unavailable (%s); answering without the cache", type(exc).__name__
            )

    def _ok(self) -> None:
        if self._failing:
            self._failing = False
            log.info("response cache: Redis is back")

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._client.get(PREFIX + key)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return None
        self._ok()
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        try:
            await self._client.set(PREFIX + key, value, px=max(int(ttl * 1000), 1))
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return
        self._ok()

    async def close(self) -> None:
        await self._client.aclose()
