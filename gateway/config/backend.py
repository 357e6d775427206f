"""Which state backend serves: Redis when `router_settings` names one (LiteLLM's `redis_host`,
`redis_port`, `redis_password`, or `redis_url`; env `GRID_REDIS_URL` wins), else the in-process one.

The URL may carry a password: it is only ever shown through `redis_address`, which drops it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from gateway.config.problems import Problems
from gateway.config.values import Missing, integer

REDIS_ENV = "GRID_REDIS_URL"


def redis_url(rs: Mapping[str, Any], env: Mapping[str, str], problems: Problems) -> str | None:
    w = "router_settings"
    url = env.get(REDIS_ENV) or rs.get("redis_url")
    where = REDIS_ENV if env.get(REDIS_ENV) else f"{w}.redis_url"
    if isinstance(url, Missing):
        problems.warning(where, f"{url.name} not set: the in-process state backend serves")
        return None
    if url is None:
        host = rs.get("redis_host")
        if host is None or isinstance(host, Missing):
            if isinstance(host, Missing):
                problems.warning(
                    f"{w}.redis_host", f"{host.name} not set: the in-process state backend serves"
                )
            return None
        port = integer(rs.get("redis_port"), f"{w}.redis_port", problems, 6379) or 6379
        password = rs.get("redis_password")
        if isinstance(password, Missing):
            problems.warning(f"{w}.redis_password", f"{password.name} not set: connecting without a password")
            password = None
        auth = f":{quote(str(password), safe='')}@" if password else ""
        url = f"redis://{auth}{host}:{port}/0"
        where = f"{w}.redis_host"
    if not isinstance(url, str):
        problems.error(where, "must be a redis:// URL")
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        problems.error(where, "is not a valid redis:// URL")
        return None
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        problems.error(where, "must be a redis://, rediss:// or unix:// URL")
        return None
    return url


def redis_address(url: str) -> str:
    """`host:port` (or the socket path) of a Redis URL, without any credentials, for messages."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname}:{parts.port or 6379}"


def probe_redis(url: str, problems: Problems) -> None:
    """`gateway check` (and `serve`): a warning naming the address when Redis does not answer a PING.
    Not an error: `serve` starts anyway and serves with per-process state until Redis answers."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        reason = "authentication failed" if isinstance(exc, redis.AuthenticationError) else type(exc).__name__
        problems.warning(
            "router_settings.redis",
            f"Redis at {redis_address(url)} unreachable ({reason}): requests will be served with "
            "per-process state until it answers",
        )
    finally:
        client.close()
