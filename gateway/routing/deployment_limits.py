"""A deployment's `rpm` / `tpm` (litellm_params) as real limits: a deployment that has used its
requests or tokens of the sliding minute is skipped by the balancer, as LiteLLM's usage-based routing
does; when every deployment of the chain is at its limit the answer is 429 `rate_limit_exceeded`.

No round trip on a request's path: counts are kept here in one-second buckets. With Redis, the state
backend reconciles them every `SYNC_SECONDS` (this process's new counts are added to the shared
ones, and the shared totals read back), so replicas see each other's traffic within that interval;
a simultaneous burst may pass a limit by what the replicas admitted between two syncs.

Only deployments with `rpm` or `tpm` are tracked; `active` is False when none has, and the balancer
then does not look here at all.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from gateway.backend.windows import WINDOW, reset_in, window_sum
from gateway.config.model import Snapshot

SYNC_SECONDS = 0.1


@dataclass(slots=True)
class Counts:
    requests: dict[int, int] = field(default_factory=dict)
    tokens: dict[int, int] = field(default_factory=dict)


class DeploymentLimits:
    def __init__(self, snapshot: Snapshot) -> None:
        self.limits: dict[str, tuple[int | None, int | None]] = {}
        self.local: dict[str, Counts] = {}  # counted here, not yet synced
        self.shared: dict[str, Counts] = {}  # every replica's, as of the last sync (empty in-process)
        self.in_transit: dict[str, Counts] = {}  # taken by a sync still under way: still counted here
        # whether any deployment has a limit: a plain attribute, set at (re)load, read by the balancer
        # three times a request (a property was three Python calls a request when no limit is set)
        self.active = False
        self.reload(snapshot)

    def reload(self, snapshot: Snapshot) -> None:
        self.limits = {d.id: (d.rpm, d.tpm) for d in snapshot.deployments if d.rpm or d.tpm}
        self.active = bool(self.limits)
        for dep_id in self.limits:
            self.local.setdefault(dep_id, Counts())

    def _used(self, dep_id: str, second: int) -> tuple[int, int, int]:
        """(requests, tokens, oldest counted second) in the window, here and elsewhere."""
        requests = tokens = 0
        oldest = -1
        for source in (self.local, self.in_transit, self.shared):
            counts = source.get(dep_id)
            if counts is None:
                continue
            more, first = window_sum(counts.requests, second)
            requests, tokens = requests + more, tokens + window_sum(counts.tokens, second)[0]
            if first >= 0 and (oldest < 0 or first < oldest):
                oldest = first
        return requests, tokens, oldest

    def allows(self, dep_id: str, now: float | None = None) -> bool:
        limits = self.limits.get(dep_id)
        if limits is None:
            return True
        rpm, tpm = limits
        requests, tokens, _ = self._used(dep_id, int(time.time() if now is None else now))
        return not ((rpm and requests >= rpm) or (tpm and tokens >= tpm))

    def retry_after(self, dep_ids: list[str], now: float | None = None) -> float:
        """Seconds until the soonest of `dep_ids` has room again (at least 1)."""
        now = time.time() if now is None else now
        waits = [reset_in(self._used(d, int(now))[2], now) for d in dep_ids if d in self.limits]
        return max(min(waits, default=1.0), 1.0)

    def wait(self, dep_ids: list[str], now: float | None = None) -> float | None:
        """When every one of `dep_ids` is at its limit: seconds until the soonest has room (at least
        1); None when some deployment is not held back by a limit (then it was not a limit that
        refused the request)."""
        now = time.time() if now is None else now
        if not dep_ids or any(self.allows(d, now) for d in dep_ids):
            return None
        return self.retry_after(dep_ids, now)

    def count_request(self, dep_id: str, now: float | None = None) -> None:
        counts = self.local.get(dep_id)
        if counts is not None:
            second = int(time.time() if now is None else now)
            counts.requests[second] = counts.requests.get(second, 0) + 1

    def count_tokens(self, dep_id: str, tokens: int, now: float | None = None) -> None:
        counts = self.local.get(dep_id)
        if counts is not None and tokens > 0:
            second = int(time.time() if now is None else now)
            counts.tokens[second] = counts.tokens.get(second, 0) + tokens

    def take_local(self) -> dict[str, Counts]:
        """The counts not yet synced (and forget them here: the sync adds them to the shared ones)."""
        taken = {d: c for d, c in self.local.items() if c.requests or c.tokens}
        for dep_id in taken:
            self.local[dep_id] = Counts()
        self.in_transit = taken
        return taken

    def give_back(self, taken: dict[str, Counts]) -> None:
        """A sync failed: keep counting what it took locally."""
        self.in_transit = {}
        for dep_id, counts in taken.items():
            mine = self.local.setdefault(dep_id, Counts())
            for second, n in counts.requests.items():
                mine.requests[second] = mine.requests.get(second, 0) + n
            for second, n in counts.tokens.items():
                mine.tokens[second] = mine.tokens.get(second, 0) + n

    def set_shared(self, shared: dict[str, Counts]) -> None:
        """The shared totals, which now include what the sync took."""
        self.shared = shared
        self.in_transit = {}


__all__ = ["WINDOW", "Counts", "DeploymentLimits", "SYNC_SECONDS"]
