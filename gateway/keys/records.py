"""Admin-created keys as stored records: the key itself is shown once, at creation, and kept only as
its SHA-256 hash (plus a short prefix so people can tell their keys apart in a list).

A record is plain JSON (`grid-keys.json` or a Redis hash); `to_api_key` turns it into the `ApiKey` the
request path uses, and `public_view` into what the admin API shows (never the hash, never the key).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from gateway.config.keys import LIMIT_FIELDS, parse_duration
from gateway.config.model import EMPTY, ApiKey, KeyLimits

KEY_PREFIX = "sk-grid-"
EDITABLE = ("name", "models", "admin", "allow_override", "metadata", *LIMIT_FIELDS)


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_id() -> str:
    return "key_" + secrets.token_hex(8)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_record(fields: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """(the key, its record) for validated admin API fields."""
    key = new_key()
    record = {
        "id": new_id(),
        "hash": key_hash(key),
        "prefix": key[: len(KEY_PREFIX) + 4],
        "created_at": int(time.time()),
    }
    record.update(fields)
    return key, record


def to_api_key(record: Mapping[str, Any]) -> ApiKey:
    """`key` holds `sha256:<hash>`: never compared (lookups go by hash), but it is what experiment
    assignment and feedback ownership hash, so each created key stays a unit of its own."""
    duration = record.get("budget_duration")
    return ApiKey(
        name=str(record.get("name")),
        key="sha256:" + str(record["hash"]),
        models=frozenset(record.get("models") or ()),
        admin=bool(record.get("admin", False)),
        allow_override=bool(record.get("allow_override", True)),
        id=str(record["id"]),
        limits=KeyLimits(
            rpm_limit=record.get("rpm_limit"),
            tpm_limit=record.get("tpm_limit"),
            max_parallel_requests=record.get("max_parallel_requests"),
            max_budget=record.get("max_budget"),
            budget_duration=parse_duration(duration) if isinstance(duration, str) else None,
        ),
        metadata=MappingProxyType(dict(record.get("metadata") or {})) if record.get("metadata") else EMPTY,
    )


def public_view(record: Mapping[str, Any]) -> dict[str, Any]:
    view = {"id": record["id"], "name": record.get("name"), "key_prefix": record.get("prefix") + "…"}
    view["models"] = sorted(record.get("models") or ())
    for name in ("admin", "allow_override", *LIMIT_FIELDS, "metadata", "created_at"):
        view[name] = record.get(name)
    view["admin"] = bool(view["admin"])
    view["allow_override"] = view["allow_override"] is not False
    view["metadata"] = view["metadata"] or {}
    return view
