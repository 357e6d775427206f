"""The OpenAI-compatible endpoints that go upstream: chat completions, completions, embeddings.

One straight line: parse -> validate -> resolve (override, alias, group chain) -> permission ->
fallback chain over the balancer -> relay the upstream answer with the gateway's headers.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway import deadline, metrics
from gateway.config.model import Deployment
from gateway.disconnect import DisconnectWatch
from gateway.endpoints.batched import Batcher
from gateway.endpoints.common import json_body, state_of
from gateway.endpoints.validate import check_request
from gateway.errors import GatewayError
from gateway.fallback import Trace, run_chain
from gateway.routing.permissions import permitted_groups
from gateway.routing.pinned import PinnedBalancer
from gateway.routing.plan import plan
from gateway.routing.resolve import Resolution, context_window_chain
from gateway.tokens import estimate_prompt_tokens, too_long_for
from gateway.upstream.event_stream import EventUsageTap, chat_usage
from gateway.upstream.failures import is_upstream_fault
from gateway.upstream.relay import StreamRelay
from gateway.upstream.stream import error_event
from gateway.upstream.usage_tap import UsageTap

T = TypeVar("T")

# the endpoints whose answer is never SSE (`stream` in their body is ignored); every other may stream
UNSTREAMED = frozenset({"embeddings", "images/generations", "moderations"})
CLIENT_CLOSED = 499  # nginx's "client closed request": only the access log and metrics see it
# With model="auto" configured, the requests of one loop turn are routed together (see `batched`)
DECISIONS = Batcher()


async def _unless_disconnected(request: Request, work: Awaitable[T], keep: bool = False) -> T | None:
    """Await `work`; if the client disconnects first, cancel it (which drops its upstream call, so an
    abandoned request never keeps an upstream busy, nor retries and falls back for nobody) -> None.

    The work runs in this task; only the watcher is a task of its own (one task per request, not two).
    With `keep`, a result comes back with the still running watch, as `(result, watch)`, for the
    stream relay to go on with (it stops it)."""
    watch = DisconnectWatch(request.receive)
    try:
        result = await work
    except asyncio.CancelledError:
        watch.stop()
        if not watch.gone:
            raise
        asyncio.current_task().uncancel()
        return None
    except BaseException:
        watch.stop()
        raise
    if keep:
        return result, watch
    watch.stop()
    return result


def _grid_header_pairs(
    scope: Scope, dep: Deployment, trace: Trace, started: float
) -> list[tuple[bytes, bytes]]:
    """The gateway's headers on a proxied answer, as the ASGI message carries them (bytes pairs,
    names in lower case): built so once, instead of a dict that Starlette's `Response` then lowers,
    encodes and searches again (`JsonAnswer`), or the stream relay encodes."""
    # `trace.overhead_seconds(...)`, inlined: every proxied answer passes here
    overhead = max(time.monotonic() - started - trace.upstream_seconds - trace.retry_wait_seconds, 0.0)
    headers = [
        (b"x-request-id", scope["grid.request_id"].encode()),
        (b"x-grid-model", dep.group.encode()),
        (b"x-grid-deployment", dep.id.encode()),
        (b"x-grid-attempts", b"%d" % trace.attempts),
        (b"x-grid-fallbacks", b"%d" % trace.fallbacks),
        (b"x-grid-overhead-ms", b"%.3f" % (overhead * 1000)),
        (b"x-grid-retry-wait-ms", b"%.3f" % (trace.retry_wait_seconds * 1000)),
    ]
    extra = scope.get("grid.headers")
    if extra:
        headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    return headers


def _grid_headers(request: Request, dep: Deployment, trace: Trace, started: float) -> dict[str, str]:
    """`_grid_header_pairs` as a dict, for a Starlette response (the media endpoints)."""
    pairs = _grid_header_pairs(request.scope, dep, trace, started)
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in pairs}


class JsonAnswer:
    """A proxied JSON answer (status 200): the upstream's bytes with the gateway's headers, sent as
    they are. Starlette's `Response` would render, lower-case, encode and check the headers again:
    three Python calls and two list comprehensions a request."""

    __slots__ = ("body", "headers")

    def __init__(self, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
        self.body = body
        headers.append((b"content-length", b"%d" % len(body)))
        headers.append(JSON_CONTENT_TYPE)
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


JSON_CONTENT_TYPE = (b"content-type", b"application/json")


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
        elapsed = time.monotonic() - started
        overhead = trace.overhead_seconds(elapsed) if trace is not None else elapsed
        headers["x-grid-overhead-ms"] = f"{overhead * 1000:.3f}"
        headers["x-grid-retry-wait-ms"] = (
            f"{(trace.retry_wait_seconds if trace is not None else 0.0) * 1000:.3f}"
        )
    extra = scope.get("grid.headers")
    if extra:
        headers.update(extra)
    return headers


def _door_usage(parsed: dict[str, Any]) -> dict[str, Any] | None:
    """`input_tokens` / `output_tokens` (Responses, Anthropic) in chat's terms."""
    return chat_usage(parsed.get("usage"))


@dataclass(frozen=True, slots=True)
class Door:
    """A front door with a wire format of its own (Responses, Anthropic Messages) on the same pipeline:
    how its body is checked, how one attempt on a deployment is made (forwarded or translated; it
    returns `(raw, parsed)` or an `OpenStream` in the door's own format), the usage it reports in
    chat's terms, its stream's usage tap, and its stream's error event."""

    check: Callable[[dict[str, Any]], None]
    attempt: Callable[[Request, Deployment, dict[str, Any], bool], Awaitable[Any]]
    error_event: Callable[[str, str, str], bytes]
    usage: Callable[[dict[str, Any]], dict[str, Any] | None] = _door_usage
    tap: Callable[[], UsageTap] = EventUsageTap
    # the body as a chat request, for routing (`model="auto"` reads its messages): made only then
    chat_view: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # the one deployment that must serve the request (it holds state the request continues), or None
    pin: Callable[[Request, dict[str, Any]], Awaitable[Deployment | None]] | None = None


def routed(scope: Scope, resolution: Resolution) -> Trace:
    """The second half, once the chain of groups is planned: the routing span, and the trace the
    chain fills in; both left in the scope for error headers and the access log. (Two plain calls
    around the endpoint's own `plan`, not one coroutine: an await costs every chat request.)"""
    spans = scope.get("grid.spans")  # gateway.tracing's, only when traces are configured
    if spans is not None:
        spans.routed(scope["grid.started"], resolution, scope)
    trace = Trace()
    scope["grid.trace"] = trace
    scope["grid.resolution"] = resolution
    return trace


async def _proxy(request: Request, endpoint: str, door: Door | None = None) -> Any:
    started = time.monotonic()
    request.scope["grid.started"] = started
    state = state_of(request)
    snapshot = state.snapshot
    body = await json_body(request, snapshot.general.max_json_depth)
    # a request that cannot be valid never reaches routing
    check_request(endpoint, body) if door is None else door.check(body)
    deadline.begin(started, snapshot.router.request_timeout, request.scope["headers"], body)
    if state.selector.enabled:
        view = door.chat_view(body) if door is not None and door.chat_view is not None else body
        resolution = await DECISIONS.run(plan, request.scope, state, view)
    else:
        resolution = plan(request.scope, state, body)
    trace = routed(request.scope, resolution)
    pinned = await door.pin(request, body) if door is not None and door.pin is not None else None
    spans = request.scope.get("grid.spans")
    request_id = request.scope["grid.request_id"]
    stream = endpoint not in UNSTREAMED and bool(body.get("stream"))
    request.scope["grid.stream"] = stream
    cache = state.cache
    ticket = None
    if cache is not None:  # the response cache (off: this one test is all it costs)
        ticket = cache.ticket(request.scope, endpoint, resolution.group, body, stream)
        if ticket.lookup:
            entry = await cache.lookup(request.scope, ticket)
            if entry is not None:
                return cache.replay(request.scope, entry, started)
    balancer = state.balancer if pinned is None else PinnedBalancer(state.balancer, pinned)

    key = request.scope.get("grid.key")

    def context_fallbacks(group: str):
        return permitted_groups(key, snapshot, context_window_chain(snapshot, group))

    prompt_tokens = estimate_prompt_tokens(body)

    def context_check(group: str) -> GatewayError | None:
        found = snapshot.groups.get(group)
        return too_long_for(group, found.context_window, prompt_tokens) if found else None

    tap = (_usage_tap(endpoint, body) if door is None else door.tap()) if stream else None
    method = "open_stream" if stream else "call"
    usage_of = door.usage if door is not None else None  # None: chat's own `usage`, read inline

    async def attempt(dep: Deployment):
        if door is not None:
            return await door.attempt(request, dep, body, stream)
        return await getattr(state.client_for(dep), method)(dep, endpoint, body, request_id)

    if spans is not None:
        attempt = spans.traced(attempt, trace, endpoint)

    def judged(dep: Deployment, seconds: float, result: Any) -> None:
        if not stream:  # a stream is judged when it ends (on_end below)
            parsed = result[1]
            usage = parsed.get("usage") if usage_of is None else usage_of(parsed)
            balancer.succeeded(dep, seconds, tokens=_total_tokens(usage))

    chain = run_chain(
        resolution.chain if pinned is None else (pinned.group,),
        snapshot.router,
        balancer,
        attempt,
        trace,
        context_fallbacks=context_fallbacks,
        context_check=context_check,
        on_success=judged,
    )
    kept = await _unless_disconnected(request, chain, keep=stream)
    if kept is None:
        return Response(status_code=CLIENT_CLOSED)
    if not stream:
        outcome = kept
        raw, parsed = outcome.result
        usage = parsed.get("usage") if usage_of is None else usage_of(parsed)
        request.scope["grid.usage"] = usage
        if ticket is not None and ticket.store:
            await cache.store_json(ticket, raw, usage, outcome.deployment)
        return JsonAnswer(raw, _grid_header_pairs(request.scope, outcome.deployment, trace, started))

    outcome, watch = kept
    try:
        return _stream_answer(
            request, outcome, watch, trace, started, balancer, tap, ticket, cache, spans, door
        )
    except BaseException:
        watch.stop()
        raise


def _stream_answer(
    request: Request,
    outcome: Any,
    watch: DisconnectWatch,
    trace: Trace,
    started: float,
    balancer: Any,
    tap: Any,
    ticket: Any,
    cache: Any,
    spans: Any,
    door: Door | None,
) -> StreamRelay:
    """The stream's relay, with the request's disconnect `watch` handed on (it stops it)."""
    dep = outcome.deployment
    first_byte = time.monotonic() - outcome.started
    metrics.child(metrics.TTFT, dep.group).observe(first_byte)
    request.scope["grid.ttft"] = first_byte
    if spans is not None:
        spans.first_token(dep, outcome.started)
    encoded = _grid_header_pairs(request.scope, dep, trace, started)
    if ticket is not None and ticket.store:
        tap = cache.recorder(tap)  # keeps the bytes the client gets, stored if the stream ends cleanly

    def on_end(ok: bool, error: GatewayError | None, disconnected: bool) -> None:
        elapsed = time.monotonic() - outcome.started
        trace.upstream_seconds += elapsed - first_byte  # relaying is upstream time, not overhead
        request.scope["grid.usage"] = tap.usage
        request.scope["grid.stream_end"] = "ok" if ok else "disconnected" if disconnected else "error"
        if ok:
            balancer.succeeded(dep, elapsed, ttft=first_byte, tokens=_total_tokens(tap.usage))
            if ticket is not None and ticket.store:
                cache.store_stream(ticket, tap, dep)
        elif disconnected or not is_upstream_fault(error):
            balancer.released(dep)  # the client went away, or the failure was not the upstream's
        else:
            balancer.failed(
                dep,
                status=getattr(error, "upstream_status", None),
                error=error.message[:200] if error else "",
            )

    events = door.error_event if door is not None else error_event
    return StreamRelay(outcome.result, encoded, on_end, tap, error_event=events, watch=watch)


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


async def image_generations(request: Request) -> Any:
    return await _proxy(request, "images/generations")


async def moderations(request: Request) -> Any:
    return await _proxy(request, "moderations")
