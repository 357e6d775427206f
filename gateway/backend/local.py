"""The in-process state backend: one process's windows and spend, admin-created keys in a JSON file.

The file is written atomically (a temporary file renamed over it) so a crash never leaves half of it,
and re-read when its modification time changes, so the workers of `--workers N` see each other's keys
(their rate-limit windows stay per worker: share them with Redis).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.backend import KeyRecords, KeysListener, StateBackend
from gateway.backend.windows import SlidingCounter, Verdict, budget_window, refusal
from gateway.config.model import ApiKey

log = logging.getLogger("grid.state")

POLL_SECONDS = 0.5  # how often the key file's modification time is looked at


@dataclass(slots=True)
class Windows:
    """One key's counts in this process."""

    requests: SlidingCounter = field(default_factory=SlidingCounter)
    tokens: SlidingCounter = field(default_factory=SlidingCounter)
    in_flight: set[str] = field(default_factory=set)
    spend: dict[int, float] = field(default_factory=dict)  # budget window index -> USD


class LocalBackend(StateBackend):
    def __init__(self, key_file: str | None) -> None:
        self.key_file = key_file
        self.windows: dict[str, Windows] = {}
        self._records: dict[str, dict[str, Any]] = {}
        self._listeners: list[KeysListener] = []
        self._mtime: float | None = None
        self._poller: asyncio.Task | None = None
        self._load()

    async def start(self) -> None:
        if self.key_file is not None:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def stop(self) -> None:
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller

    # -- limits -------------------------------------------------------------------------------------

    def admit_now(self, key: ApiKey, request_id: str, now: float) -> Verdict:
        w = self.windows.get(key.id)
        if w is None:
            w = self.windows[key.id] = Windows()
        second = int(now)
        requests, oldest_request = w.requests.window(second)
        tokens, oldest_token = w.tokens.window(second)
        spend = w.spend.get(budget_window(key.limits, now), 0.0)
        refused = refusal(key.limits, requests, tokens, len(w.in_flight), spend)
        if refused is None:
            w.requests.add(second, 1)
            requests += 1
            if oldest_request < 0:
                oldest_request = second
            if key.limits.max_parallel_requests is not None:
                w.in_flight.add(request_id)
        return Verdict(refused, requests, tokens, len(w.in_flight), spend, oldest_request, oldest_token, now)

    async def admit(self, key: ApiKey, request_id: str, now: float) -> Verdict:
        return self.admit_now(key, request_id, now)

    def release(self, key: ApiKey, request_id: str, tokens: int, cost: float, now: float) -> None:
        w = self.windows.get(key.id)
        if w is None:
            w = self.windows[key.id] = Windows()
        w.in_flight.discard(request_id)
        if tokens > 0:
            w.tokens.add(int(now), tokens)
        if cost > 0:
            index = budget_window(key.limits, now)
            w.spend = {index: w.spend.get(index, 0.0) + cost}  # earlier windows are over

    async def usage(self, keys: list[ApiKey], now: float) -> dict[str, Verdict]:
        out = {}
        for key in keys:
            w = self.windows.get(key.id) or Windows()
            requests, oldest_request = w.requests.window(int(now))
            tokens, oldest_token = w.tokens.window(int(now))
            spend = w.spend.get(budget_window(key.limits, now), 0.0)
            out[key.id] = Verdict(
                None, requests, tokens, len(w.in_flight), spend, oldest_request, oldest_token, now
            )
        return out

    # -- admin-created keys -------------------------------------------------------------------------

    def key_records(self) -> KeyRecords:
        return self._records

    async def put_key(self, record: Mapping[str, Any]) -> None:
        records = {**self._records, record["id"]: dict(record)}
        await asyncio.to_thread(self._save, records)
        self._set(records)

    async def delete_key(self, key_id: str) -> bool:
        if key_id not in self._records:
            return False
        records = {k: v for k, v in self._records.items() if k != key_id}
        await asyncio.to_thread(self._save, records)
        self._set(records)
        return True

    def on_keys(self, listener: KeysListener) -> None:
        self._listeners.append(listener)
        listener(self._records)

    def _set(self, records: dict[str, dict[str, Any]]) -> None:
        self._records = records
        for listener in self._listeners:
            listener(records)

    def _load(self) -> None:
        if self.key_file is None:
            return
        try:
            mtime = os.stat(self.key_file).st_mtime
            with open(self.key_file, "rb") as f:
                data = orjson.loads(f.read())
        except FileNotFoundError:
            return
        except (OSError, orjson.JSONDecodeError) as exc:
            log.error("cannot read the key store %s: %s", self.key_file, exc)
            return
        self._mtime = mtime
        keys = data.get("keys") if isinstance(data, dict) else None
        if isinstance(keys, dict):
            self._set({str(k): v for k, v in keys.items() if isinstance(v, dict)})

    def _save(self, records: dict[str, dict[str, Any]]) -> None:
        if self.key_file is None:
            return
        directory = os.path.dirname(self.key_file) or "."
        fd, tmp = tempfile.mkstemp(prefix=".grid-keys-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(orjson.dumps({"keys": records}, option=orjson.OPT_INDENT_2))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.key_file)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._mtime = os.stat(self.key_file).st_mtime

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                mtime = os.stat(self.key_file).st_mtime  # type: ignore[arg-type]
            except OSError:
                continue
            if mtime != self._mtime:
                self._load()
