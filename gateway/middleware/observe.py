"""Access log and metrics: one line and one set of observations per request, after its last byte.

It runs outside auth, so refused requests are logged and counted too. Endpoints leave what they learnt
in the scope: `grid.resolution` (what was asked, what it resolved to) and `grid.trace` (what the
fallback chain did), `grid.usage` (token counts), `grid.ttft` and `grid.stream_end`; the experiments
middleware leaves `grid.experiment`, whose variant's outcome is recorded here. Auto-routed requests
carry `grid.route` (the selector's decision: task, complexity, reason); `grid.feedback` hands the
outcome to the selector.
"""

from __future__ import annotations

import logging
import os
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import metrics
from gateway.config.model import Deployment
from gateway.experiments.outcome import record_outcome
from gateway.logs import log_fields
from gateway.spend import deployment_cost, usage_tokens

log = logging.getLogger("grid.access")
in_flight = metrics.adder(metrics.IN_FLIGHT)  # grid_in_flight_requests' inc (-1: dec)

BODY_LOG_LIMIT = 2048


def _log_bodies() -> bool:
    return os.environ.get("GRID_LOG_BODIES", "").lower() in ("1", "true", "yes")


_ENDPOINTS = {
    "/chat/completions": "chat/completions",
    "/completions": "completions",
    "/embeddings": "embeddings",
    "/models": "models",
    "/responses": "responses",
    "/messages": "messages",
    "/images/generations": "images/generations",
    "/images/edits": "images/edits",
    "/audio/transcriptions": "audio/transcriptions",
    "/audio/translations": "audio/translations",
    "/audio/speech": "audio/speech",
    "/moderations": "moderations",
}


_SCRAPE_PATHS = frozenset({"/metrics", "/v1/metrics"})  # a scrape is not traffic: neither logged nor counted
_UPSTREAM_ENDPOINTS = frozenset(v for v in _ENDPOINTS.values() if v != "models")


def endpoint_label(path: str) -> str:
    """A bounded label for a request path."""
    if path.startswith("/v1/"):
        path = path[3:]
    if path in _ENDPOINTS:
        return _ENDPOINTS[path]
    if path.startswith("/models/"):
        return "models"
    if path.startswith(("/admin/", "/health/")):
        return path.split("/")[1]
    return "other"


class ObserveMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.log_bodies = _log_bodies()  # read once: the environment is the process's

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _SCRAPE_PATHS:
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status = 500
        recorded = False

        async def capture(message: Message) -> None:
            # Recorded right after the server took the last body message, in the same step: the
            # client is not kept waiting for the bookkeeping, and any request that arrives after the
            # answer (a scrape, a test) already sees the metrics.
            nonlocal status, recorded
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body") and not recorded:
                recorded = True
                in_flight(-1)
                record(scope, status, time.monotonic() - started, self.log_bodies)

        in_flight(1)
        try:
            await self.app(scope, receive, capture)
        finally:
            if not recorded:  # the client went away, or the app failed before answering
                in_flight(-1)
                record(scope, status, time.monotonic() - started, self.log_bodies)


def record(scope: Scope, status: int, elapsed: float, log_bodies: bool = False) -> None:
    endpoint = endpoint_label(scope["path"])
    metrics.child(metrics.REQUEST_DURATION, endpoint).observe(elapsed)
    trace = scope.get("grid.trace")
    resolution = scope.get("grid.resolution")
    spent = 0.0
    extra: dict = {"method": scope["method"], "path": scope["path"], "status": status}
    extra["duration_ms"] = round(elapsed * 1000, 3)
    if resolution is not None:
        extra["model"] = resolution.asked
        if resolution.overridden:
            metrics.child(metrics.OVERRIDES, resolution.group).inc()
    elif isinstance(scope.get("grid.asked"), str):
        extra["model"] = scope["grid.asked"][:256]  # refused before routing (e.g. unknown model)
    if trace is None and endpoint in _UPSTREAM_ENDPOINTS:
        # refused before routing (400, 401, 403, 404, 413): counted, under a bounded label
        metrics.adder(metrics.REQUESTS, "unknown", "none", str(status))(1)
    if trace is not None:
        served = trace.group or "unknown"
        deployment = trace.deployment.id if trace.deployment else "none"
        # a failed chain is counted under the group the client's request resolved to
        label = resolution.group if status >= 400 and resolution is not None else served
        metrics.adder(metrics.REQUESTS, label, deployment, str(status))(1)
        if trace.attempts:
            metrics.RETRY_ATTEMPTS.observe(trace.attempts)
            # `trace.overhead_seconds(elapsed)`, inlined (every proxied request passes here)
            metrics.OVERHEAD.observe(max(elapsed - trace.upstream_seconds - trace.retry_wait_seconds, 0.0))
        if trace.fallbacks and resolution is not None and status < 400:
            metrics.child(metrics.FALLBACKS, resolution.group, served).inc()
        spent = scope["grid.spent"] = _tokens(scope, served, trace.deployment)
        extra.update(
            model_served=trace.group,
            deployment=deployment if trace.deployment else None,
            attempts=trace.attempts,
            fallbacks=trace.fallbacks,
            upstream_ms=round(trace.upstream_seconds * 1000, 3),
            retry_wait_ms=round(trace.retry_wait_seconds * 1000, 3),
            stream=bool(scope.get("grid.stream")),
        )
        usage = scope.get("grid.usage")
        if isinstance(usage, dict):
            extra["prompt_tokens"] = usage.get("prompt_tokens")
            extra["completion_tokens"] = usage.get("completion_tokens")
    extra_headers = scope.get("grid.headers")
    if extra_headers and "x-grid-cache" in extra_headers:
        extra["cache"] = extra_headers["x-grid-cache"]  # the response cache's hit, miss or skip
    key = scope.get("grid.key")
    if key is not None:  # key names are bounded: configured or admin-created keys only
        extra["key"] = key.name
        metrics.adder(metrics.KEY_REQUESTS, key.name)(1)
        if spent:
            metrics.adder(metrics.KEY_SPEND, key.name)(spent)
        limited = scope.get("grid.limited")
        if limited is not None:
            metrics.child(metrics.RATE_LIMITED, key.name, limited).inc()
    if "grid.experiment" in scope:
        record_outcome(scope, status, elapsed, extra)  # also adds `experiment` and `variant` to the log
    route = scope.get("grid.route")
    if route is not None:  # model="auto": the selector's `Decision`, what it saw and why it chose
        analysis = route.analysis
        extra.update(task=analysis.task, complexity=analysis.complexity, route_reason=route.reason)
    feedback = scope.get("grid.feedback")
    if feedback is not None:
        feedback(scope, status)  # the selector's performance history (gateway.routing.auto)
    if log.isEnabledFor(logging.INFO):
        if log_bodies and scope.get("grid.raw_body"):
            extra["request_body"] = scope["grid.raw_body"][:BODY_LOG_LIMIT].decode("utf-8", "replace")
        log_fields(log, logging.INFO, "%s %s %s", (scope["method"], scope["path"], status), extra)


def _tokens(scope: Scope, group: str, dep: Deployment | None) -> float:
    """Token and cost metrics; returns the cost (0.0 when unknown) for the key's spend metric."""
    tokens = usage_tokens(scope)
    if tokens is None:
        return 0.0
    prompt, completion = tokens
    if not (prompt or completion):
        return 0.0
    if prompt:
        metrics.adder(metrics.TOKENS, group, "prompt")(prompt)
    if completion:
        metrics.adder(metrics.TOKENS, group, "completion")(completion)
    spent = deployment_cost(dep, prompt, completion) if dep is not None else 0.0
    if spent:
        metrics.adder(metrics.COST, group)(spent)
    return spent
