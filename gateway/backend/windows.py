"""The decisions of a key's limits, as pure functions over counts: the in-process backend calls them
directly, and the Redis backend's admission script (`gateway.backend.scripts`) mirrors them line for
line so both backends refuse the same request for the same reason.

Requests and tokens are counted in one-second buckets over a sliding 60-second window: a window holds
the buckets of the last 60 whole seconds, and a slot frees when its bucket falls out. Spend is summed
per budget window: fixed windows of `budget_duration` seconds aligned to the epoch (so every replica
agrees on when a budget resets), or one window for a lifetime budget.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from gateway.config.model import KeyLimits

WINDOW = 60  # seconds a request or token counts against rpm_limit / tpm_limit

# What refused a request, as `grid_rate_limited_total{limit}` names it
BUDGET, PARALLEL, REQUESTS, TOKENS = "budget", "parallel", "requests", "tokens"


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a setattr call per field
class Verdict:
    """What admission decided and saw: the counts include this request when it was admitted."""

    refused: str | None  # None: admitted; else BUDGET, PARALLEL, REQUESTS or TOKENS
    requests: int = 0
    tokens: int = 0
    parallel: int = 0
    spend: float = 0.0
    oldest_request: int = -1  # the oldest counted second (epoch), -1 when none
    oldest_token: int = -1
    now: float = 0.0


ADMITTED = Verdict(refused=None)


class SlidingCounter:
    """One-second buckets in arrival order with their running total: counting and reading the window
    cost O(1) (amortized), not a walk over up to 60 buckets (the in-process backend's hot path)."""

    __slots__ = ("buckets", "total")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()  # [second, count], oldest first
        self.total = 0

    def add(self, second: int, n: int) -> None:
        buckets = self.buckets
        if buckets and buckets[-1][0] >= second:  # this second (or the clock stepped back): the last
            buckets[-1][1] += n
        else:
            buckets.append([second, n])
        self.total += n

    def window(self, second: int) -> tuple[int, int]:
        """(sum, oldest second) of the last WINDOW seconds at `second`; older buckets are dropped."""
        buckets = self.buckets
        while buckets and buckets[0][0] <= second - WINDOW:
            self.total -= buckets.popleft()[1]
        return self.total, buckets[0][0] if buckets else -1


def window_sum(buckets: dict[int, int], second: int) -> tuple[int, int]:
    """(sum, oldest second) of the buckets still in the window at `second`; drops the others."""
    total, oldest = 0, -1
    for s in [s for s in buckets if s <= second - WINDOW]:
        del buckets[s]
    for s, n in buckets.items():
        total += n
        if oldest < 0 or s < oldest:
            oldest = s
    return total, oldest


def refusal(limits: KeyLimits, requests: int, tokens: int, parallel: int, spend: float) -> str | None:
    """Which limit refuses one more request, budget first (a spent budget is not a wait of seconds)."""
    if limits.max_budget is not None and spend >= limits.max_budget:
        return BUDGET
    if limits.max_parallel_requests is not None and parallel >= limits.max_parallel_requests:
        return PARALLEL
    if limits.rpm_limit is not None and requests >= limits.rpm_limit:
        return REQUESTS
    if limits.tpm_limit is not None and tokens >= limits.tpm_limit:
        return TOKENS
    return None


def budget_window(limits: KeyLimits, now: float) -> int:
    """The index of the budget window `now` falls in (0 for a lifetime budget)."""
    if limits.budget_duration is None:
        return 0
    return int(now // limits.budget_duration)


def budget_reset(limits: KeyLimits, now: float) -> float | None:
    """Seconds until the budget window resets; None for a lifetime budget."""
    if limits.budget_duration is None:
        return None
    return (budget_window(limits, now) + 1) * limits.budget_duration - now


def reset_in(oldest: int, now: float) -> float:
    """Seconds until the oldest counted bucket leaves the window (0 when nothing is counted)."""
    return 0.0 if oldest < 0 else max(oldest + WINDOW - now, 0.0)


def retry_after(limits: KeyLimits, verdict: Verdict) -> float:
    if verdict.refused == REQUESTS:
        return reset_in(verdict.oldest_request, verdict.now)
    if verdict.refused == TOKENS:
        return reset_in(verdict.oldest_token, verdict.now)
    if verdict.refused == BUDGET:
        left = budget_reset(limits, verdict.now)
        return left if left is not None else 0.0
    return 1.0  # parallel: a slot frees when a request in flight ends


# OpenAI's spelling of whole seconds up to a window and a bit, made once: a reset time is nearly
# always one of these, and the headers are built on every response of a limited key
_WHOLE_SECONDS = [b"%dm%ds" % divmod(s, 60) if s >= 60 else b"%ds" % s for s in range(WINDOW + 2)]
_REQUESTS_HEADERS = (
    b"x-ratelimit-limit-requests",
    b"x-ratelimit-remaining-requests",
    b"x-ratelimit-reset-requests",
)
_TOKENS_HEADERS = (b"x-ratelimit-limit-tokens", b"x-ratelimit-remaining-tokens", b"x-ratelimit-reset-tokens")


def _duration(seconds: float) -> bytes:
    """OpenAI's spelling of a reset time: `6m0s`, `1s`, `250ms`."""
    if seconds < 1:
        return b"%dms" % max(math.ceil(seconds * 1000), 0)
    whole = math.ceil(seconds)
    if whole < len(_WHOLE_SECONDS):
        return _WHOLE_SECONDS[whole]
    minutes, secs = divmod(whole, 60)
    return b"%dm%ds" % (minutes, secs) if minutes else b"%ds" % secs


def _trio(names: tuple[bytes, bytes, bytes], limit: int, used: int, oldest: int, now: float) -> list:
    """limit, remaining and reset headers of one limit (`reset_in`, inlined)."""
    left = limit - used
    return [
        (names[0], b"%d" % limit),
        (names[1], b"%d" % (left if left > 0 else 0)),
        (names[2], _duration(oldest + WINDOW - now if oldest >= 0 else 0.0)),
    ]


def rate_headers(limits: KeyLimits, verdict: Verdict) -> list[tuple[bytes, bytes]]:
    """OpenAI's x-ratelimit-* headers for the limits the key has."""
    rpm, tpm = limits.rpm_limit, limits.tpm_limit
    headers = (
        []
        if rpm is None
        else _trio(_REQUESTS_HEADERS, rpm, verdict.requests, verdict.oldest_request, verdict.now)
    )
    if tpm is not None:
        headers += _trio(_TOKENS_HEADERS, tpm, verdict.tokens, verdict.oldest_token, verdict.now)
    return headers
