"""What the balancer has observed about one deployment in this process.

These counters are the inputs of the load-aware strategies (least-busy, latency, usage) and the
body of `GET /admin/load-balancer/stats`. They are plain mutable fields: the balancer updates them
at the edges of a request and the strategies only read them.
"""

from __future__ import annotations

ALPHA = 0.3  # EWMA weight of the newest sample: reacts within a few requests, forgets one outlier
MAX_ERROR_CHARS = 200


def ewma(previous: float | None, sample: float, alpha: float = ALPHA) -> float:
    """Exponentially weighted moving average; the first sample is taken as is."""
    return sample if previous is None else previous + alpha * (sample - previous)


def minute_of(now: float) -> int:
    """The usage bucket of a monotonic timestamp: 60-second buckets, like provider rpm/tpm limits."""
    return int(now // 60)


class DeploymentStats:
    """Counters for one deployment. Latencies are in seconds; None until the first sample."""

    __slots__ = (
        "in_flight",
        "requests",
        "failures",
        "ewma_latency",
        "ewma_ttft",
        "ewma_response",
        "minute",
        "minute_requests",
        "minute_tokens",
        "last_error",
    )

    def __init__(self) -> None:
        self.in_flight = 0
        self.requests = 0
        self.failures = 0
        self.ewma_latency: float | None = None  # whole request
        self.ewma_ttft: float | None = None  # streams: time to the first token
        # Time until the answer began: ttft for streams, the whole latency otherwise (a non-streamed
        # body arrives at once). One scale for both kinds of request, which latency routing compares.
        self.ewma_response: float | None = None
        self.minute = 0
        self.minute_requests = 0
        self.minute_tokens = 0
        self.last_error = ""

    def roll(self, minute: int) -> None:
        """Start a fresh usage bucket when the minute has changed."""
        if minute != self.minute:
            self.minute = minute
            self.minute_requests = 0
            self.minute_tokens = 0

    def on_start(self, minute: int) -> None:
        self.roll(minute)
        self.in_flight += 1
        self.requests += 1
        self.minute_requests += 1

    def on_end(self) -> None:
        if self.in_flight > 0:
            self.in_flight -= 1

    def on_success(self, minute: int, latency: float, ttft: float | None, tokens: int) -> None:
        self.on_end()
        self.ewma_latency = ewma(self.ewma_latency, latency)
        if ttft is not None:
            self.ewma_ttft = ewma(self.ewma_ttft, ttft)
        self.ewma_response = ewma(self.ewma_response, latency if ttft is None else ttft)
        if tokens > 0:
            self.roll(minute)
            self.minute_tokens += tokens

    def on_failure(self, error: str) -> None:
        self.on_end()
        self.failures += 1
        if error:
            self.last_error = error[:MAX_ERROR_CHARS]
