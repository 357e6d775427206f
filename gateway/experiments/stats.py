"""Per-variant outcome counters: what an experiment report is computed from.

Everything is O(1) per request and bounded in memory: counts and sums, Welford running moments (for
the t-tests on log latency and on feedback) and fixed-size uniform reservoirs (for percentiles; exact
until the reservoir fills, then an unbiased sample of every outcome so far).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

RESERVOIR_SIZE = 2048


@dataclass(slots=True)
class Moments:
    """Welford's running mean and variance (numerically stable, one pass)."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        delta = x - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (x - self.mean)

    @property
    def variance(self) -> float:
        """The sample variance (n - 1 denominator); 0 with fewer than two values."""
        return self.m2 / (self.n - 1) if self.n > 1 else 0.0


@dataclass(slots=True)
class Reservoir:
    """A uniform sample of at most `size` values (Vitter's algorithm R)."""

    size: int = RESERVOIR_SIZE
    seen: int = 0
    values: list[float] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)

    def add(self, x: float) -> None:
        self.seen += 1
        if len(self.values) < self.size:
            self.values.append(x)
            return
        j = self.rng.randrange(self.seen)
        if j < self.size:
            self.values[j] = x

    def quantile(self, q: float) -> float | None:
        """Linear interpolation between closest ranks (the common "type 7" definition)."""
        if not self.values:
            return None
        ordered = sorted(self.values)
        pos = q * (len(ordered) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(ordered) - 1)
        return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(slots=True)
class VariantStats:
    """Everything observed for one variant of one experiment (in this process)."""

    assigned: int = 0  # enrolments since the weights last changed: the sample-ratio check
    requests: int = 0  # finished requests
    errors: int = 0  # 5xx, 429, a stream that failed, or served by a fallback group
    rejected: int = 0  # other 4xx: the request itself was refused (counted in `requests`)
    fallbacks: int = 0
    latency: Reservoir = field(default_factory=Reservoir)  # seconds, whole request
    log_latency: Moments = field(default_factory=Moments)
    ttft: Reservoir = field(default_factory=Reservoir)  # seconds, streams
    usage_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    priced_requests: int = 0
    cost_usd: float = 0.0
    feedback: Moments = field(default_factory=Moments)
    feedback_binary: bool = True  # every value so far was 0 or 1 (booleans): report a Wilson interval
    feedback_positive: int = 0

    def record(
        self,
        *,
        error: bool,
        fallback: bool,
        rejected: bool = False,
        latency: float | None,
        ttft: float | None = None,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        cost: float | None = None,
    ) -> None:
        self.requests += 1
        self.errors += error
        self.rejected += rejected
        self.fallbacks += fallback
        if latency is not None and latency > 0:
            self.latency.add(latency)
            self.log_latency.add(math.log(latency))
        if ttft is not None and ttft > 0:
            self.ttft.add(ttft)
        if prompt_tokens is not None or completion_tokens is not None:
            self.usage_requests += 1
            self.prompt_tokens += prompt_tokens or 0
            self.completion_tokens += completion_tokens or 0
        if cost is not None:
            self.priced_requests += 1
            self.cost_usd += cost

    def add_feedback(self, value: float) -> None:
        self.feedback.add(value)
        if value in (0.0, 1.0):
            self.feedback_positive += value == 1.0
        else:
            self.feedback_binary = False

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None
