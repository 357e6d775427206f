"""Which deployment holds a Responses API response, and the responses the gateway keeps itself.

`GET`/`DELETE /v1/responses/{id}` must reach the deployment that created the response: the id is
remembered with the deployment's id and the key that created it (another key gets a 404, as if the
id did not exist). A response translated from chat completions (a deployment without `/responses`)
is kept whole, with its conversation as chat messages, so that the gateway itself answers `GET`,
`input_items` and a later `previous_response_id`.

`MemoryResponseStore` is the in-process store: bounded in entries and in bytes (the oldest entries go
first), so memory stays flat however many responses are created and however large their inputs.
`ResponseIds` puts it in front of the state backend: with Redis, every entry is also written there
(for `SHARED_TTL`), so a `GET`/`DELETE`/`cancel`/`input_items` or a `previous_response_id` sent to
another replica finds it; an entry found there is kept locally too. Redis being down costs only the
sharing: each replica still finds the ids it made. In-process, the backend's calls do nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import orjson

from gateway.backend import StateBackend

DEFAULT_LIMIT = 10_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024  # what the kept (translated) responses and conversations may hold
DELETED = b"deleted"  # what the shared store holds for a deleted id
SHARED_TTL = 30 * 86400.0  # how long Redis remembers an id (OpenAI keeps a stored response 30 days)


@dataclass(frozen=True, slots=True)
class Stored:
    deployment: str  # the deployment's id
    owner: str | None  # the creating key's id, a digest for a configured key (None: no keys)
    response: dict[str, Any] | None = None  # kept by the gateway: the translated response itself
    input_items: list[Any] = field(default_factory=list)
    conversation: list[dict[str, Any]] = field(default_factory=list)  # chat messages, answer included
    size: int = 0  # about how many bytes the entry holds (request body + response), for the budget


class ResponseStore(Protocol):
    def put(self, response_id: str, entry: Stored) -> None: ...

    def get(self, response_id: str, owner: str | None) -> Stored | None: ...

    def delete(self, response_id: str, owner: str | None) -> bool: ...

    def known(self, response_id: str) -> bool: ...

    def get_any(self, response_id: str) -> Stored | None: ...

    def drop(self, response_id: str) -> None: ...

    def __len__(self) -> int: ...


class MemoryResponseStore:
    def __init__(self, limit: int = DEFAULT_LIMIT, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.limit = limit
        self.max_bytes = max_bytes
        self.bytes = 0
        self.entries: OrderedDict[str, Stored] = OrderedDict()

    def put(self, response_id: str, entry: Stored) -> None:
        old = self.entries.pop(response_id, None)
        if old is not None:
            self.bytes -= old.size
        self.entries[response_id] = entry
        self.bytes += entry.size
        while len(self.entries) > self.limit or (self.bytes > self.max_bytes and len(self.entries) > 1):
            _, evicted = self.entries.popitem(last=False)
            self.bytes -= evicted.size

    def get(self, response_id: str, owner: str | None) -> Stored | None:
        entry = self.entries.get(response_id)
        return entry if entry is not None and entry.owner == owner else None

    def delete(self, response_id: str, owner: str | None) -> bool:
        if self.get(response_id, owner) is None:
            return False
        self.drop(response_id)
        return True

    def known(self, response_id: str) -> bool:
        """Whether the id was made through this gateway (by any key)."""
        return response_id in self.entries

    def get_any(self, response_id: str) -> Stored | None:
        return self.entries.get(response_id)

    def drop(self, response_id: str) -> None:
        entry = self.entries.pop(response_id, None)
        if entry is not None:
            self.bytes -= entry.size

    def __len__(self) -> int:
        return len(self.entries)


class ResponseIds:
    """The gateway's view of response ids: this process's store, then the state backend's."""

    def __init__(self, backend: StateBackend, local: ResponseStore | None = None) -> None:
        self.backend = backend
        self.local = local if local is not None else MemoryResponseStore()

    async def put(self, response_id: str, entry: Stored) -> None:
        self.local.put(response_id, entry)
        await self.backend.share_response(response_id, orjson.dumps(asdict(entry)), SHARED_TTL)

    async def find(self, response_id: str) -> Stored | None:
        """The entry of `response_id`, whichever key made it (callers check the owner). The shared
        store answers first (another replica may have deleted the id); this process's store answers
        when it has nothing (in-process, or an id made while Redis was down)."""
        raw = await self.backend.shared_response(response_id)
        if raw == DELETED:
            self.local.drop(response_id)
            return None
        entry = _decoded(raw) if raw else None
        if entry is not None:
            self.local.put(response_id, entry)
            return entry
        return self.local.get_any(response_id)

    async def get(self, response_id: str, owner: str | None) -> Stored | None:
        entry = await self.find(response_id)
        return entry if entry is not None and entry.owner == owner else None

    async def delete(self, response_id: str, owner: str | None) -> bool:
        if await self.get(response_id, owner) is None:
            return False
        self.local.drop(response_id)
        # a tombstone, not a removal: a replica holding its own copy must learn the id is gone
        await self.backend.share_response(response_id, DELETED, SHARED_TTL)
        return True


def _decoded(raw: bytes) -> Stored | None:
    """An entry as `put` shared it; None for anything else (Redis is not trusted to hold only ours)."""
    try:
        fields = orjson.loads(raw)
        return Stored(**fields) if isinstance(fields, dict) else None
    except (orjson.JSONDecodeError, TypeError):
        return None
