"""A span per request and its children: resolution, each upstream attempt, a stream's first token.

`TracingMiddleware` (outermost, only when tracing is on) continues the client's W3C trace
(`traceparent`/`tracestate`, validated by the propagator: a malformed one starts a new trace), keeps the
request's span current while the app runs (so log lines carry its `trace_id`), and sets the GenAI
semantic-convention and GRID attributes once the response is over. The endpoint finds a `RequestSpans`
in `scope["grid.spans"]` and reports to it; each attempt's span context goes upstream as `traceparent`.

Attributes never hold a key or an upstream URL, nor prompt or completion text, save on purpose: with
`GRID_LOG_BODIES` the request's body (its first 2048 bytes) is the root span's `grid.request.body`. What
comes from the client is what the access log shows too: the path (at most 256 characters), the model
asked for. An error's message is left out (it may quote the upstream); its code and status are kept.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.config.model import Deployment
from gateway.context import upstream_headers_var
from gateway.errors import GatewayError
from gateway.middleware.auth import PUBLIC_PATHS
from gateway.middleware.observe import BODY_LOG_LIMIT, endpoint_label

T = TypeVar("T")

PROPAGATOR = TraceContextTextMapPropagator()
OPERATIONS = {"chat/completions": "chat", "completions": "text_completion", "embeddings": "embeddings"}


def _epoch_ns(monotonic: float) -> int:
    """A monotonic instant as the wall-clock nanoseconds spans are stamped with."""
    return time.time_ns() - int((time.monotonic() - monotonic) * 1e9)


class RequestSpans:
    """One request's span and what its children need: the endpoint reports resolution, attempts and the
    first token here (`scope["grid.spans"]`)."""

    __slots__ = ("tracer", "span", "context", "_per_group")

    def __init__(self, tracer: trace.Tracer, span: Span, context: otel_context.Context) -> None:
        self.tracer = tracer
        self.span = span
        self.context = context
        self._per_group: dict[str, int] = {}

    def routed(self, started: float, resolution: Any, scope: Scope) -> None:
        """The resolution/selection step, from `started` (monotonic) to now."""
        if not self.span.is_recording():
            return
        span = self.tracer.start_span("grid.route", context=self.context, start_time=_epoch_ns(started))
        span.set_attribute("gen_ai.request.model", resolution.asked)
        span.set_attribute("grid.model_group", resolution.group)
        span.set_attribute("grid.chain", list(resolution.chain))
        route = scope.get("grid.route")
        if route is not None:
            span.set_attribute("grid.route_reason", route.reason)
        span.end()

    def traced(
        self, attempt: Callable[[Deployment], Awaitable[T]], chain: Any, endpoint: str
    ) -> Callable[[Deployment], Awaitable[T]]:
        """`attempt` with a client span each time it runs, whose context is sent upstream."""
        operation = OPERATIONS.get(endpoint, endpoint)
        if not self.span.is_recording():
            return self._unsampled(attempt)

        async def run(dep: Deployment) -> T:
            group = chain.group or dep.group
            retry = self._per_group.get(group, 0)
            self._per_group[group] = retry + 1
            span = self.tracer.start_span(
                f"{operation} {dep.upstream_model}", context=self.context, kind=SpanKind.CLIENT
            )
            span.set_attributes(
                {
                    "gen_ai.operation.name": operation,
                    "gen_ai.system": dep.provider,
                    "gen_ai.request.model": dep.upstream_model,
                    "grid.model_group": group,
                    "grid.deployment": dep.id,
                    "grid.attempt": chain.attempts,
                    "grid.retry": retry,
                    "grid.fallback": chain.fallbacks,
                }
            )
            carrier: dict[str, str] = {}
            PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span, self.context))
            token = upstream_headers_var.set(carrier)
            try:
                result = await attempt(dep)
            except GatewayError as exc:  # its message is not redacted yet: only its status and code
                status = getattr(exc, "upstream_status", None) or exc.status
                span.set_attribute("http.response.status_code", status)
                span.set_attribute("error.type", exc.code or type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR))
                raise
            except BaseException as exc:
                span.set_attribute("error.type", type(exc).__name__)
                span.set_status(Status(StatusCode.ERROR))
                raise
            else:
                span.set_attribute("http.response.status_code", 200)
                if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict):
                    _usage(span, result[1])
                return result
            finally:
                upstream_headers_var.reset(token)
                span.end()

        return run

    def _unsampled(
        self, attempt: Callable[[Deployment], Awaitable[T]]
    ) -> Callable[[Deployment], Awaitable[T]]:
        """An unsampled request records nothing: its attempts send the request's own span context
        upstream (sampled flag off), so the trace id still reaches the upstream, at no span's cost."""
        carrier: dict[str, str] = {}
        PROPAGATOR.inject(carrier, context=self.context)

        async def run(dep: Deployment) -> T:
            token = upstream_headers_var.set(carrier)
            try:
                return await attempt(dep)
            finally:
                upstream_headers_var.reset(token)

        return run

    def first_token(self, dep: Deployment, started: float) -> None:
        """A stream's first event: from the successful attempt's start (monotonic) to now."""
        if not self.span.is_recording():
            return
        span = self.tracer.start_span("grid.first_token", context=self.context, start_time=_epoch_ns(started))
        span.set_attribute("grid.deployment", dep.id)
        span.set_attribute("grid.ttft_ms", round((time.monotonic() - started) * 1000, 3))
        span.end()


def _usage(span: Span, parsed: dict[str, Any]) -> None:
    model = parsed.get("model")
    if isinstance(model, str):
        span.set_attribute("gen_ai.response.model", model[:256])
    usage = parsed.get("usage")
    if isinstance(usage, dict):
        for key, name in (("prompt_tokens", "input_tokens"), ("completion_tokens", "output_tokens")):
            if isinstance(usage.get(key), int):
                span.set_attribute(f"gen_ai.usage.{name}", usage[key])


class TracingMiddleware:
    """The request's span: continued from the client's `traceparent`, current while the app runs."""

    def __init__(self, app: ASGIApp, tracer: trace.Tracer, log_bodies: bool = False) -> None:
        self.app = app
        self.tracer = tracer
        self.log_bodies = log_bodies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:  # probes and scrapes: no traces
            await self.app(scope, receive, send)
            return
        carrier = {}
        for name, value in scope["headers"]:
            if name in (b"traceparent", b"tracestate"):
                carrier[name.decode()] = value.decode("latin-1")
        parent = PROPAGATOR.extract(carrier) if carrier else otel_context.Context()
        method, path = scope["method"], scope["path"]
        span = self.tracer.start_span(
            f"{method} {endpoint_label(path)}", context=parent, kind=SpanKind.SERVER
        )
        context = trace.set_span_in_context(span, parent)
        scope["grid.spans"] = RequestSpans(self.tracer, span, context)
        token = otel_context.attach(context)
        if not span.is_recording():  # unsampled: the context only (log lines, upstream headers)
            try:
                await self.app(scope, receive, send)
            finally:
                otel_context.detach(token)
            return
        status = 500

        async def capture(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            otel_context.detach(token)
            _finish(span, scope, status, self.log_bodies)
            span.end()


def _finish(span: Span, scope: Scope, status: int, log_bodies: bool) -> None:
    """The request's attributes, from what the pipeline left in the scope."""
    span.set_attribute("http.request.method", scope["method"])
    span.set_attribute("url.path", scope["path"][:256])
    span.set_attribute("http.response.status_code", status)
    request_id = scope.get("grid.request_id")
    if request_id:
        span.set_attribute("grid.request_id", request_id)
    if status >= 500:
        span.set_status(Status(StatusCode.ERROR))
    resolution = scope.get("grid.resolution")
    if resolution is not None:
        span.set_attribute("gen_ai.request.model", resolution.asked)
    chain = scope.get("grid.trace")
    if chain is not None:
        if chain.group:
            span.set_attribute("grid.model_group", chain.group)
        if chain.deployment is not None:
            span.set_attribute("grid.deployment", chain.deployment.id)
            span.set_attribute("gen_ai.system", chain.deployment.provider)
            span.set_attribute("gen_ai.response.model", chain.deployment.upstream_model)
        span.set_attribute("grid.attempts", chain.attempts)
        span.set_attribute("grid.fallbacks", chain.fallbacks)
    usage = scope.get("grid.usage")
    if isinstance(usage, dict):
        _usage(span, {"usage": usage})
    route = scope.get("grid.route")
    if route is not None:
        span.set_attribute("grid.route_reason", route.reason)
    assignment = scope.get("grid.experiment")
    if assignment is not None:
        span.set_attribute("grid.experiment", f"{assignment.experiment}={assignment.variant}")
    if log_bodies and scope.get("grid.raw_body"):
        span.set_attribute(
            "grid.request.body", scope["grid.raw_body"][:BODY_LOG_LIMIT].decode("utf-8", "replace")
        )
