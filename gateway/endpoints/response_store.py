"""Which deployment holds a Responses API response, and the responses the gateway keeps itself.

`GET`/`DELETE /v1/responses/{id}` must reach the deployment that created the response: the id is
remembered with the deployment's id and the key that created it (another key gets a 404, as if the
id did not exist). A response translated from chat completions (a deployment without `/responses`)
is kept whole, with its conversation as chat messages, so that the gateway itself answers `GET`,
`input_items` and a later `previous_response_id`.

`ResponseStore` is the interface; `MemoryResponseStore` the in-process backend: bounded in entries and
in bytes (the oldest entries go first), so memory stays flat however many responses are created and
however large their inputs. A shared backend (Redis,
when the state backend grows one) implements the same methods.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_LIMIT = 10_000
DEFAULT_MAX_BYTES = 256 * 1024 * 1024  # what the kept (translated) responses and conversations may hold


@dataclass(frozen=True, slots=True)
class Stored:
    deployment: str  # the deployment's id
    owner: str | None  # the creating key's name (None: the gateway runs without keys)
    response: dict[str, Any] | None = None  # kept by the gateway: the translated response itself
    input_items: list[Any] = field(default_factory=list)
    conversation: list[dict[str, Any]] = field(default_factory=list)  # chat messages, answer included
    size: int = 0  # about how many bytes the entry holds (request body + response), for the budget


class ResponseStore(Protocol):
    def put(self, response_id: str, entry: Stored) -> None: ...

    def get(self, response_id: str, owner: str | None) -> Stored | None: ...

    def delete(self, response_id: str, owner: str | None) -> bool: ...

    def known(self, response_id: str) -> bool: ...

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
        entry = self.get(response_id, owner)
        if entry is None:
            return False
        del self.entries[response_id]
        self.bytes -= entry.size
        return True

    def known(self, response_id: str) -> bool:
        """Whether the id was made through this gateway (by any key)."""
        return response_id in self.entries

    def __len__(self) -> int:
        return len(self.entries)


STORE: ResponseStore = MemoryResponseStore()
