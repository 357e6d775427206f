"""The OpenAI-compatible endpoints that go upstream: chat completions, completions, embeddings.

One straight line: parse -> validate -> resolve (override, alias, group chain) -> permission ->
fallback chain over the balancer -> relay the upstream answer with the gateway's headers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from gateway import deadline, metrics
from gateway.config.model import Deployment
from gateway.deadline import request_timeout
from gateway.endpoints.batched import Batcher
from gateway.endpoints.common import json_body, state_of
from gateway.endpoints.validate import check_request
from gateway.errors import GatewayError
from gateway.fallback import Trace, run_chain
from gateway.routing.permissions import permitted_groups
from gateway.routing.plan import plan
from gateway.routing.resolve import context_window_chain
from gateway.tokens import estimate_prompt_tokens, too_long_for
from gateway.upstream.failures import is_upstream_fault
from gateway.upstream.relay import StreamRelay
from gateway.upstream.usage_tap import UsageTap

T = TypeVar("T")

CLIENT_CLOSED = 499  # nginx's "client closed request": only the access log and metrics see it
# With model="auto" configured, the requests of one loop turn are routed together (see `batched`)
DECISIONS = Batcher()


async def _disconnect(request: Request) -> None:
    """Return when the client goes away (the body has been read: the next message is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _unless_disconnected(request: Request, work: Awaitable[T]) -> T | None:
    """Await `work`; if the client disconnects first, cancel it (which drops its upstream call, so an
    abandoned request never keeps an upstream busy, nor retries and falls back for nobody) -> None.

    The work runs in this task; only the watcher is a task of its own (one task per request, not two)."""
    current = asyncio.current_task()
    gone = False

    async def watch() -> None:
        nonlocal gone
        await _disconnect(request)
        gone = True
        current.cancel()

    watcher = asyncio.get_running_loop().create_task(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if not gone:
            raise
        current.uncancel()
        return None
    finally:
        watcher.cancel()


def _grid_headers(request: Request, dep: Deployment, trace: Trace, started: float) -> dict[str, str]:
    overhead = (time.monotonic() - started - trace.upstream_seconds) * 1000
    headers = {
        "x-request-id": request.scope["grid.request_id"],
        "x-grid-model": dep.group,
        "x-grid-deployment": dep.id,
        "x-grid-attempts": str(trace.attempts),
        "x-grid-fallbacks": str(trace.fallbacks),
        "x-grid-overhead-ms": f"{max(overhead, 0.0):.3f}",
    }
    extra = request.scope.get("grid.headers")
    if extra:
        headers.update(extra)
    return headers


def error_headers(scope: Scope) -> dict[str, str]:
    """The gateway's headers on an error answer of a proxied endpoint, as far as they are known: what
    the chain tried (the group and deployment it tried last) when it ran, else the resolved group.
    Added by `HotRoutesMiddleware` to the error response (no cost on the way to a success)."""
    trace = scope.get("grid.trace")
    resolution = scope.get("grid.resolution")
    headers: dict[str, str] = {}
    group = trace.group if trace is not None and trace.group else resolution.group if resolution else None
    if group is not None:
        headers["x-grid-model"] = group
    if trace is not None and trace.deployment is not None:
        headers["x-grid-deployment"] = trace.deployment.id
    headers["x-grid-attempts"] = str(trace.attempts if trace is not None else 0)
    headers["x-grid-fallbacks"] = str(trace.fallbacks if trace is not None else 0)
    started = scope.get("grid.started")
    if started is not None:
        upstream = trace.upstream_seconds if trace is not None else 0.0
        headers["x-grid-overhead-ms"] = f"{max((time.monotonic() - started - upstream) * 1000, 0.0):.3f}"
    extra = scope.get("grid.headers")
    if extra:
        headers.update(extra)
    return headers


async def _proxy(request: Request, endpoint: str) -> Any:
    started = time.monotonic()
    request.scope["grid.started"] = started
    state = state_of(request)
    snapshot = state.snapshot
    body = await json_body(request, snapshot.general.max_json_depth)
    check_request(endpoint, body)  # a request that cannot be valid never reaches routing
    seconds, what = request_timeout(snapshot.router.request_timeout, request.scope["headers"], body)
    deadline.start(started, seconds, what)
    if state.selector.enabled:
        resolution = await DECISIONS.run(plan, request.scope, state, body)
    else:
        resolution = plan(request.scope, state, body)
    request_id = request.scope["grid.request_id"]
    trace = Trace()
    request.scope["grid.trace"] = trace
    request.scope["grid.resolution"] = resolution
    stream = endpoint != "embeddings" and bool(body.get("stream"))
    request.scope["grid.stream"] = stream
    balancer = state.balancer

    key = request.scope.get("grid.key")

    def context_fallbacks(group: str):
        return permitted_groups(key, snapshot, context_window_chain(snapshot, group))

    prompt_tokens = estimate_prompt_tokens(body)

    def context_check(group: str) -> GatewayError | None:
        found = snapshot.groups.get(group)
        return too_long_for(group, found.context_window, prompt_tokens) if found else None

    tap = _usage_tap(endpoint, body) if stream else None
    method = "open_stream" if stream else "call"

    async def attempt(dep: Deployment):
        return await getattr(state.client_for(dep), method)(dep, endpoint, body, request_id)

    def judged(dep: Deployment, seconds: float, result: Any) -> None:
        if not stream:  # a stream is judged when it ends (on_end below)
            balancer.succeeded(dep, seconds, tokens=_total_tokens(result[1].get("usage")))

    chain = run_chain(
        resolution.chain,
        snapshot.router,
        balancer,
        attempt,
        trace,
        context_fallbacks=context_fallbacks,
        context_check=context_check,
        on_success=judged,
    )
    outcome = await _unless_disconnected(request, chain)
    if outcome is None:
        return Response(status_code=CLIENT_CLOSED)
    if not stream:
        raw, parsed = outcome.result
        request.scope["grid.usage"] = parsed.get("usage")
        headers = _grid_headers(request, outcome.deployment, trace, started)
        return Response(raw, headers=headers, media_type="application/json")

    dep = outcome.deployment
    first_byte = time.monotonic() - outcome.started
    metrics.child(metrics.TTFT, dep.group).observe(first_byte)
    request.scope["grid.ttft"] = first_byte
    headers = _grid_headers(request, dep, trace, started)

    def on_end(ok: bool, error: GatewayError | None, disconnected: bool) -> None:
        elapsed = time.monotonic() - outcome.started
        trace.upstream_seconds += elapsed - first_byte  # relaying is upstream time, not overhead
        request.scope["grid.usage"] = tap.usage
        request.scope["grid.stream_end"] = "ok" if ok else "disconnected" if disconnected else "error"
        if ok:
            balancer.succeeded(dep, elapsed, ttft=first_byte, tokens=_total_tokens(tap.usage))
        elif disconnected or not is_upstream_fault(error):
            balancer.released(dep)  # the client went away, or the failure was not the upstream's
        else:
            balancer.failed(
                dep,
                status=getattr(error, "upstream_status", None),
                error=error.message[:200] if error else "",
            )

    encoded = [(k.encode(), v.encode()) for k, v in headers.items()]
    return StreamRelay(outcome.result, encoded, on_end, tap)


def _usage_tap(endpoint: str, body: dict[str, Any]) -> UsageTap:
    """Ask upstream for the usage event (for token metrics); strip it again if the client did not."""
    options = body.get("stream_options")
    asked = isinstance(options, dict) and options.get("include_usage") is True
    if endpoint == "chat/completions" and not asked:
        body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        return UsageTap(strip=True)
    return UsageTap(strip=False)


def _total_tokens(usage: Any) -> int:
    if isinstance(usage, dict) and isinstance(usage.get("total_tokens"), int):
        return usage["total_tokens"]
    return 0


async def chat_completions(request: Request) -> Any:
    return await _proxy(request, "chat/completions")


async def completions(request: Request) -> Any:
    return await _proxy(request, "completions")


async def embeddings(request: Request) -> Any:
    return await _proxy(request, "embeddings")
