"""The cache's configuration, from GRID's `router_settings.cache` or LiteLLM's `litellm_settings.cache`.

    router_settings:
      cache: true                      # or a mapping:
      cache: {ttl: 3600, max_size_mb: 256, scope: key, type: local}
      cache: {type: redis, redis_url: redis://host:6379/0}   # or redis_host / redis_port / redis_password
    litellm_settings:                  # LiteLLM's spelling, accepted unchanged
      cache: true
      cache_params: {type: local, ttl: 600}                  # or type: redis, host, port, password

Where the answers live: an in-process LRU, unless the state backend is Redis (`router_settings.redis_*`
or `GRID_REDIS_URL`): then that same Redis, so every replica shares one cache with no second Redis
to configure. `type: redis` without an address also means the state backend's Redis; an address of
the cache's own wins; `type: local` keeps the in-process LRU whatever the state backend.

A group whose deployment says `model_info: {cache: false}` is never cached.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.config.problems import Problems
from gateway.config.values import number

DEFAULT_TTL = 3600.0
DEFAULT_SIZE_MB = 256.0
SCOPES = ("key", "global")
BACKENDS = ("local", "redis")
_GRID_FIELDS = frozenset({"ttl", "max_size_mb", "scope", "type", "redis_url", "redis_host", "redis_port"})
_GRID_FIELDS |= {"redis_password"}
_LITELLM_FIELDS = frozenset({"type", "ttl", "host", "port", "password", "url", "redis_url", "namespace"})
_LITELLM_FIELDS |= {"supported_call_types", "max_size_mb", "scope"}


@dataclass(frozen=True, slots=True)
class CacheSettings:
    ttl: float = DEFAULT_TTL
    max_size_mb: float = DEFAULT_SIZE_MB
    scope: str = "key"  # key: a hit never crosses client keys; global: shared by every key
    backend: str = "local"  # local: an LRU in each process; redis: shared by processes and replicas
    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    off_groups: frozenset[str] = frozenset()  # groups with `model_info.cache: false`

    @property
    def max_bytes(self) -> int:
        return int(self.max_size_mb * 1024 * 1024)


def cache_settings(
    router: Mapping[str, Any],
    litellm: Mapping[str, Any],
    off_groups: Iterable[str],
    problems: Problems,
    state_redis: str | None = None,
) -> CacheSettings | None:
    """The cache's settings, or None when it is off (GRID's setting wins over LiteLLM's).
    `state_redis`: the state backend's Redis URL, the cache's store unless it names its own."""
    grid = router.get("cache")
    off = frozenset(off_groups)
    if grid is not None and grid is not False:
        return _grid({} if grid is True else grid, "router_settings.cache", off, problems, state_redis)
    if litellm.get("cache") is True:
        params = litellm.get("cache_params") or {}
        if not isinstance(params, Mapping):
            problems.error("litellm_settings.cache_params", "must be a mapping")
            params = {}
        return _litellm(params, off, problems, state_redis)
    return None


def _grid(
    value: Any, where: str, off: frozenset[str], problems: Problems, state_redis: str | None
) -> CacheSettings | None:
    if not isinstance(value, Mapping):
        problems.error(where, "must be true, false or a mapping {ttl, max_size_mb, scope, type}")
        return None
    for name in value:
        if name not in _GRID_FIELDS:
            problems.warning(f"{where}.{name}", "unknown cache setting, ignored")
    url = value.get("redis_url") or _redis_url(
        value.get("redis_host"), value.get("redis_port"), value.get("redis_password")
    )
    return _settings(value, where, url, off, problems, state_redis)


def _litellm(
    params: Mapping[str, Any], off: frozenset[str], problems: Problems, state_redis: str | None
) -> CacheSettings | None:
    where = "litellm_settings.cache_params"
    for name in params:
        if name not in _LITELLM_FIELDS:
            problems.warning(f"{where}.{name}", "not used by GRID's cache, ignored")
    url = params.get("redis_url") or params.get("url")
    url = url or _redis_url(params.get("host"), params.get("port"), params.get("password"))
    return _settings(params, where, url, off, problems, state_redis)


def _settings(
    value: Mapping[str, Any],
    where: str,
    url: str | None,
    off: frozenset[str],
    problems: Problems,
    state_redis: str | None,
) -> CacheSettings | None:
    ttl = number(value.get("ttl"), f"{where}.ttl", problems, DEFAULT_TTL) or DEFAULT_TTL
    size = number(value.get("max_size_mb"), f"{where}.max_size_mb", problems, DEFAULT_SIZE_MB)
    scope = value.get("scope", "key")
    # no type: Redis when the cache names one or the state backend is Redis, else in-process
    backend = value.get("type") or ("redis" if url or state_redis else "local")
    url = url or state_redis
    if ttl <= 0 or (size is not None and size <= 0):
        problems.error(where, "ttl and max_size_mb must be positive")
        return None
    if scope not in SCOPES:
        problems.error(f"{where}.scope", "must be 'key' or 'global'")
        return None
    if backend not in BACKENDS:
        problems.error(f"{where}.type", "must be 'local' or 'redis'")
        return None
    if backend == "redis" and not url:
        problems.error(
            where,
            "type redis needs redis_url (or redis_host and redis_port), or a state backend Redis "
            "(router_settings.redis_url / redis_host, or GRID_REDIS_URL)",
        )
        return None
    return CacheSettings(
        ttl=float(ttl),
        max_size_mb=float(size or DEFAULT_SIZE_MB),
        scope=scope,
        backend=backend,
        redis_url=url if backend == "redis" else None,
        off_groups=off,
    )


def _redis_url(host: Any, port: Any, password: Any) -> str | None:
    if not host:
        return None
    auth = f":{password}@" if password else ""
    return f"redis://{auth}{host}:{port or 6379}/0"
