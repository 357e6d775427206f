"""The fallback chain: for each model group in order, retries (tenacity) across its deployments.

Retryable failures (connect errors, timeouts, 429, 5xx, garbage) are retried with exponential backoff
and jitter, each retry on a different deployment when the group has one. A deployment that refused the
gateway itself (401/403/404) is opened at once and the next deployment tried. A rejection of the
request itself (400 and the like) and a failure on the gateway's own side go straight back to the
client, not retried, and leave the breaker alone (`failures.is_upstream_fault`). When a group is
exhausted the next group in the chain is tried; when every group had no sendable deployment the
answer is 503.
The request's deadline (`gateway.deadline`) bounds it all: no attempt starts after it, no backoff
sleeps past it, and a timeout at it is the deadline's (504), not the deployment's failure.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from gateway import deadline, metrics
from gateway.config.model import Deployment, RouterSettings
from gateway.errors import GatewayError, NoHealthyDeployment, RateLimited, UpstreamTimeout
from gateway.upstream.failures import ContextWindowExceeded, is_retryable, is_upstream_fault, redact

T = TypeVar("T")

log = logging.getLogger("grid.fallback")

BACKOFF_MAX = 2.0


class _GroupUnavailable(Exception):
    """Every deployment of the group is open or drained: go to the next group, no retry."""


@dataclass(slots=True)
class Trace:
    """What the chain did, for response headers, logs and metrics."""

    attempts: int = 0
    fallbacks: int = 0
    group: str | None = None
    deployment: Deployment | None = None
    upstream_seconds: float = 0.0
    retry_wait_seconds: float = 0.0  # the backoff sleeps between attempts: neither upstream nor overhead
    tried: list[str] = field(default_factory=list)

    def overhead_seconds(self, elapsed: float) -> float:
        """Of a request's `elapsed` seconds, the time spent in the gateway's own code."""
        return max(elapsed - self.upstream_seconds - self.retry_wait_seconds, 0.0)


@dataclass(slots=True)
class Outcome(Generic[T]):
    result: T
    deployment: Deployment
    started: float  # monotonic time the successful attempt began


_RETRY_IF = retry_if_exception(is_retryable)


@functools.lru_cache(maxsize=32)
def _policy(retry_after: float, retries: int) -> tuple[stop_after_attempt, wait_exponential_jitter]:
    """The stop and wait strategies for one router configuration, built once, not per request."""
    wait = wait_exponential_jitter(initial=max(retry_after, 0.05), max=BACKOFF_MAX, jitter=0.05)
    return stop_after_attempt(retries + 1), wait


async def _backoff(seconds: float, trace: Trace) -> None:
    """Sleep between retries, no further than the request's deadline (the next attempt then stops);
    the time slept is the trace's retry wait (`x-grid-retry-wait-ms`), not gateway overhead."""
    started = time.monotonic()
    try:
        await asyncio.sleep(deadline.bound(seconds))
    finally:
        trace.retry_wait_seconds += time.monotonic() - started


def _retrying(router: RouterSettings, retries: int, trace: Trace) -> AsyncRetrying:
    stop, wait = _policy(router.retry_after, retries)
    return AsyncRetrying(
        stop=stop, wait=wait, retry=_RETRY_IF, reraise=True, sleep=functools.partial(_backoff, trace=trace)
    )


async def run_chain(
    chain: Sequence[str],
    router: RouterSettings,
    balancer,
    attempt: Callable[[Deployment], Awaitable[T]],
    trace: Trace,
    *,
    context_fallbacks: Callable[[str], Sequence[str]] | None = None,
    context_check: Callable[[str], GatewayError | None] | None = None,
    on_success: Callable[[Deployment, float, T], None],
) -> Outcome[T]:
    """Run `attempt` along the chain. Failures are always reported to the balancer here; a success is
    reported by the caller's `on_success(dep, seconds, result)` (a stream is judged when it ends). `context_check(group)`
    returns a `ContextWindowExceeded` when the prompt cannot fit the group: it is then skipped
    without a call, as if the upstream had said so."""
    last_error: GatewayError | None = None
    pending = list(chain)
    seen: set[str] = set()
    while pending:
        group = pending.pop(0)
        if group in seen:
            continue
        seen.add(group)
        if trace.group is not None:
            trace.fallbacks += 1
            log.warning(
                "falling back from model group %s to %s", trace.group, group, extra={"model_served": group}
            )
        trace.group = group
        try:
            too_long = context_check(group) if context_check is not None else None
            if too_long is not None:
                raise too_long
            return await _run_group(group, router, balancer, attempt, trace, on_success)
        except _GroupUnavailable:
            continue
        except ContextWindowExceeded as exc:
            last_error = exc
            if context_fallbacks is not None:
                pending = [g for g in context_fallbacks(group) if g not in seen] + pending
                continue
            raise
        except GatewayError as exc:
            if not getattr(exc, "retryable", False) and getattr(exc, "upstream_status", None) not in (
                401,
                403,
                404,
            ):
                raise
            last_error = exc
    if last_error is not None:
        raise last_error
    held_back = balancer.limit_wait(list(chain))
    if held_back is not None:
        raise RateLimited(
            f"Every deployment of model group(s) {', '.join(chain)} is at its rpm/tpm limit.",
            retry_after=held_back,
        )
    wait = balancer.retry_after(list(chain))
    raise NoHealthyDeployment(
        f"No healthy deployment for model group(s) {', '.join(chain)}: every one is cooling down.",
        retry_after=max(wait, 1.0),
    )


async def _run_group(group, router, balancer, attempt, trace: Trace, on_success):
    tried: set[str] = set()
    last: list[GatewayError] = []

    async def once():
        dep = balancer.pick(group, tried)
        if dep is None:
            raise _GroupUnavailable(group)
        return await _attempt_group(group, dep, balancer, attempt, trace, on_success, tried, last)

    try:
        # The first attempt runs without tenacity: nearly every request succeeds on it, and building
        # and stepping a retry loop cost more than the rest of the chain. A retryable failure is
        # handed to tenacity as its own first attempt, so numbering, backoff and stop are unchanged.
        try:
            return await once()
        except GatewayError as exc:
            if router.num_retries < 1 or not is_retryable(exc):
                raise
            first: GatewayError | None = exc
        async for retry in _retrying(router, router.num_retries, trace):
            with retry:
                if first is not None:
                    failed, first = first, None
                    raise failed
                return await once()
    except _GroupUnavailable:
        if last:
            raise last[-1] from None
        raise
    raise _GroupUnavailable(group)  # unreachable: tenacity reraises the last error


async def _attempt_group(group, dep, balancer, attempt, trace, on_success, tried, last):
    while True:
        if trace.attempts and deadline.passed():  # (the first attempt starts with time to spare)
            raise deadline.expired()  # no time left for another attempt
        tried.add(dep.id)
        trace.attempts += 1
        trace.tried.append(dep.id)
        trace.deployment = dep
        started = time.monotonic()
        balancer.started(dep)
        try:
            result = await attempt(dep)
        except GatewayError as exc:
            redact(exc, dep)  # before anything logs or stores the message
            elapsed = time.monotonic() - started
            trace.upstream_seconds += elapsed
            if isinstance(exc, UpstreamTimeout) and exc.upstream_status is None and deadline.passed():
                # the attempt was cut short by the request's deadline (its timeouts are bounded by
                # it): the deployment is not at fault, and nothing more is tried
                balancer.released(dep)
                raise deadline.expired() from None
            metrics.child(metrics.UPSTREAM_LATENCY, dep.id).observe(elapsed)
            status = getattr(exc, "upstream_status", None)
            if is_upstream_fault(exc):
                balancer.failed(dep, status=status, retry_after=exc.retry_after, error=exc.message[:200])
            else:
                balancer.released(dep)  # the client's request, or our side: the deployment is not at fault
            last.append(exc)
            log.warning(
                "attempt %d on deployment %s failed: %s",
                trace.attempts,
                dep.id,
                exc.message,
                extra={"deployment": dep.id, "model_served": group, "attempt": trace.attempts},
            )
            if status in (401, 403, 404):
                # the deployment itself is misconfigured: move to an untried sibling at once, no backoff
                nxt = balancer.pick(group, tried)
                if nxt is not None and nxt.id not in tried:
                    dep = nxt
                    continue
            raise
        except BaseException:
            balancer.released(dep)
            raise
        elapsed = time.monotonic() - started
        trace.upstream_seconds += elapsed
        metrics.child(metrics.UPSTREAM_LATENCY, dep.id).observe(elapsed)
        on_success(dep, elapsed, result)
        return Outcome(result, dep, started)
