"""The admin-created keys this process knows, by hash: what auth looks a presented key up in when no
configured key matched. Replaced whole whenever the backend reports a change (any replica's), so a
lookup is one SHA-256 and one dict access, with no round trip."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from gateway.config.model import ApiKey
from gateway.keys.records import to_api_key

log = logging.getLogger("grid.keys")


class KeyRegistry:
    def __init__(self) -> None:
        self.by_hash: Mapping[str, ApiKey] = MappingProxyType({})
        self.by_id: Mapping[str, ApiKey] = MappingProxyType({})

    def replace(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        by_hash, by_id = {}, {}
        for key_id, record in records.items():
            try:
                key = to_api_key(record)
            except (KeyError, TypeError, ValueError):
                log.error("key store: record %s is malformed, ignored", key_id)
                continue
            by_hash[str(record["hash"])] = key
            by_id[key.id] = key
        self.by_hash, self.by_id = MappingProxyType(by_hash), MappingProxyType(by_id)

    def lookup(self, presented: str) -> ApiKey | None:
        if not self.by_hash:
            return None
        return self.by_hash.get(hashlib.sha256(presented.encode()).hexdigest())
