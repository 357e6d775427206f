"""`general_settings`: client keys (master, admin, per-team keys with model lists and limits), the body
limits and where admin-created keys are kept."""

from __future__ import annotations

from typing import Any

from gateway.config.connection import connection_limits
from gateway.config.keys import config_key_id, key_limits, key_metadata, key_models
from gateway.config.model import ApiKey, GeneralSettings
from gateway.config.problems import Problems
from gateway.config.values import Missing, integer, number
from gateway.json_limits import DEFAULT_MAX_DEPTH, MAX_MAX_DEPTH


def general_settings(gs: dict[str, Any], problems: Problems) -> GeneralSettings:
    w = "general_settings"
    keys: list[ApiKey] = []
    master = gs.get("master_key")
    if isinstance(master, Missing):
        problems.warning(f"{w}.master_key", f"{master.name} not set: the master key is disabled")
    elif master is not None:
        keys.append(ApiKey(name="master", key=str(master), admin=True))
    admin = gs.get("admin_key")
    if isinstance(admin, Missing):
        problems.warning(f"{w}.admin_key", f"{admin.name} not set: the admin key is disabled")
    elif admin is not None:
        keys.append(ApiKey(name="admin", key=str(admin), admin=True))
    api_keys = gs.get("api_keys") or []
    if not isinstance(api_keys, list):
        problems.error(f"{w}.api_keys", "must be a list")
        api_keys = []
    for i, item in enumerate(api_keys):
        where = f"{w}.api_keys[{i}]"
        if isinstance(item, str):
            item = {"key": item}
        if not isinstance(item, dict):
            problems.error(where, "must be a key string or a mapping with key, name, models")
            continue
        key = item.get("key")
        if isinstance(key, Missing):
            problems.warning(f"{where}.key", f"{key.name} not set: key disabled")
            continue
        if not isinstance(key, str) or not key:
            problems.error(f"{where}.key", "is required")
            continue
        keys.append(
            ApiKey(
                name=str(item.get("name") or f"key-{i}"),
                key=key,
                models=key_models(item.get("models"), f"{where}.models", problems),
                admin=bool(item.get("admin", False)),
                allow_override=bool(item.get("allow_override", True)),
                id=config_key_id(key),
                limits=key_limits(item, where, problems),
                metadata=key_metadata(item.get("metadata"), f"{where}.metadata", problems),
            )
        )
    limit_mb = number(gs.get("max_request_size_mb"), f"{w}.max_request_size_mb", problems, 32.0)
    if limit_mb is not None and limit_mb <= 0:
        problems.error(f"{w}.max_request_size_mb", "must be positive")
        limit_mb = 32.0
    return GeneralSettings(
        keys=tuple(keys),
        max_body_bytes=int((limit_mb or 32.0) * 1024 * 1024),
        max_json_depth=_json_depth(gs.get("max_json_depth"), f"{w}.max_json_depth", problems),
        connection=connection_limits(gs, problems),
        key_store=_key_store(gs.get("key_store"), f"{w}.key_store", problems),
    )


def _key_store(value: Any, where: str, problems: Problems) -> str:
    if value is None:
        return "grid-keys.json"
    if not isinstance(value, str) or not value:
        problems.error(where, "must be a file path")
        return "grid-keys.json"
    return value


def _json_depth(value: Any, where: str, problems: Problems) -> int:
    depth = integer(value, where, problems, DEFAULT_MAX_DEPTH)
    if depth is None:
        return DEFAULT_MAX_DEPTH
    if not 2 <= depth <= MAX_MAX_DEPTH:
        problems.error(where, f"must be between 2 and {MAX_MAX_DEPTH}")
        return DEFAULT_MAX_DEPTH
    return depth
