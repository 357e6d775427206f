"""A limited key's request: admitted (or refused) by the state backend on the way in, released with
its tokens and cost after its last byte.

Only keys with limits come here (auth checks `ApiKey.limited`), so a key without limits pays nothing.
Every response of a limited key carries OpenAI's `x-ratelimit-*` headers; a refusal is a 429,
`rate_limit_error` / `rate_limit_exceeded` with `Retry-After`, or for a spent budget
`insufficient_quota` / `budget_exceeded` until the budget window resets.
"""

from __future__ import annotations

import itertools
import os
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import metrics
from gateway.backend import StateBackend
from gateway.backend.windows import BUDGET, PARALLEL, REQUESTS, rate_headers, retry_after
from gateway.config.model import ApiKey
from gateway.errors import BudgetExceeded, GatewayError, RateLimited
from gateway.middleware.respond import send_error
from gateway.spend import request_spend

_MESSAGES = {
    REQUESTS: "Rate limit reached for key '{name}': {limit} requests per minute.",
    "tokens": "Rate limit reached for key '{name}': {limit} tokens per minute.",
    PARALLEL: "Rate limit reached for key '{name}': {limit} requests in parallel.",
    BUDGET: "Budget exceeded for key '{name}': {limit} USD spent in this budget window.",
}


_slots = itertools.count()
_tag = [os.urandom(6).hex()]  # this process's; a forked worker draws its own
os.register_at_fork(after_in_child=lambda: _tag.__setitem__(0, os.urandom(6).hex()))


def _slot_id() -> str:
    """An id unique across replicas and workers: this process's random tag and a running number (a
    counter, not a random draw per request: `os.urandom` is a system call)."""
    return f"{_tag[0]}-{next(_slots)}"


def counted(scope: Scope) -> bool:
    """Requests that count against a key's limits: everything but the admin API and reads (GET)."""
    return scope["method"] != "GET" and not scope["path"].startswith("/admin/")


def _refusal(key: ApiKey, refused: str, wait: float) -> GatewayError:
    limits = key.limits
    limit = {
        REQUESTS: limits.rpm_limit,
        "tokens": limits.tpm_limit,
        PARALLEL: limits.max_parallel_requests,
        BUDGET: limits.max_budget,
    }[refused]
    message = _MESSAGES[refused].format(name=key.name, limit=limit)
    if refused == BUDGET:
        return BudgetExceeded(message, retry_after=wait if limits.budget_duration else None)
    return RateLimited(message, retry_after=wait)


async def serve_limited(
    backend: StateBackend, key: ApiKey, app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> None:
    # the slot's id is ours, never the client's X-Request-ID: a client reusing one id for requests in
    # parallel would otherwise hold one slot for all of them
    request_id = _slot_id()
    now = time.time()
    verdict = await backend.admit(key, request_id, now)
    budget = key.limits.max_budget
    if budget:  # for the "near its budget" alert (deploy/prometheus/alerts.yml)
        metrics.child(metrics.KEY_BUDGET_USED, key.name).set(verdict.spend / budget)
    headers = rate_headers(key.limits, verdict)
    if verdict.refused is not None:
        scope["grid.limited"] = verdict.refused
        exc = _refusal(key, verdict.refused, retry_after(key.limits, verdict))
        await send_error(send, exc, scope.get("grid.request_id"), headers)
        return

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *headers]
        await send(message)

    try:
        await app(scope, receive, send_with_headers)
    finally:
        tokens, spent = request_spend(scope)
        backend.release(key, request_id, tokens, spent, time.time())
