"""The ASGI application: routes, middleware (pure ASGI, outermost first) and error handlers."""

from __future__ import annotations

import contextlib
import gc
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.config.model import Snapshot
from gateway.endpoints import (
    admin,
    experiments,
    health,
    keys,
    media,
    messages,
    metrics_endpoint,
    models,
    proxy,
    recommend,
)
from gateway.endpoints import responses as responses_api
from gateway.errors import GatewayError, InvalidRequest, NotFound
from gateway.experiments.middleware import ExperimentsMiddleware
from gateway.experiments.outcome import CLIENT_CLOSED
from gateway.middleware.anthropic_errors import ANTHROPIC_PATHS, reshape
from gateway.middleware.auth import AuthMiddleware
from gateway.middleware.body_limit import BodyLimitMiddleware
from gateway.middleware.hot_routes import HotRoutesMiddleware
from gateway.middleware.observe import ObserveMiddleware
from gateway.middleware.request_id import RequestIdMiddleware
from gateway.state import GatewayState

log = logging.getLogger("grid.app")


def _proxied() -> dict[str, Any]:
    """The endpoints that go upstream, by path (with and without the /v1 prefix): POST only."""
    endpoints = {
        "/chat/completions": proxy.chat_completions,
        "/completions": proxy.completions,
        "/embeddings": proxy.embeddings,
        "/responses": responses_api.create,
        "/messages": messages.create,
        "/images/generations": proxy.image_generations,
        "/images/edits": media.image_edits,
        "/audio/transcriptions": media.transcriptions,
        "/audio/translations": media.translations,
        "/audio/speech": media.speech,
        "/moderations": proxy.moderations,
    }
    return {prefix + path: handler for prefix in ("/v1", "") for path, handler in endpoints.items()}


def _routes() -> list[Route]:
    routes = [Route(path, handler, methods=["POST"]) for path, handler in _proxied().items()]
    for prefix in ("/v1", ""):
        routes += [
            Route(f"{prefix}/models", models.list_models, methods=["GET"]),
            Route(f"{prefix}/models/recommend", recommend.recommend, methods=["POST"]),
            Route(f"{prefix}/models/{{model_id:path}}", models.get_model, methods=["GET"]),
            Route(f"{prefix}/feedback", experiments.feedback, methods=["POST"]),
            Route(f"{prefix}/messages/count_tokens", messages.count_tokens, methods=["POST"]),
        ]
        by_id = f"{prefix}/responses/{{response_id}}"
        routes += [
            Route(by_id, responses_api.retrieve, methods=["GET"]),
            Route(by_id, responses_api.delete, methods=["DELETE"]),
            Route(f"{by_id}/cancel", responses_api.cancel, methods=["POST"]),
            Route(f"{by_id}/input_items", responses_api.input_items, methods=["GET"]),
        ]
        routes += [
            Route(f"{prefix}/health/liveliness", health.liveliness, methods=["GET"]),
            Route(f"{prefix}/health/live", health.liveliness, methods=["GET"]),
            Route(f"{prefix}/health/readiness", health.readiness, methods=["GET"]),
            Route(f"{prefix}/metrics", metrics_endpoint.metrics, methods=["GET"]),
        ]
    routes += [
        Route("/admin/load-balancer/stats", admin.load_balancer_stats, methods=["GET"]),
        Route("/admin/model-selector/stats", recommend.selector_stats, methods=["GET"]),
        Route("/admin/config/reload", admin.reload_config, methods=["POST"]),
        Route("/admin/keys", keys.create_key, methods=["POST"]),
        Route("/admin/keys", keys.list_keys, methods=["GET"]),
        Route("/admin/keys/{key_id}", keys.get_key, methods=["GET"]),
        Route("/admin/keys/{key_id}", keys.patch_key, methods=["PATCH"]),
        Route("/admin/keys/{key_id}", keys.delete_key, methods=["DELETE"]),
        Route("/admin/experiments", experiments.list_experiments, methods=["GET"]),
        Route("/admin/experiments/{experiment_id}", experiments.get_experiment, methods=["GET"]),
        Route("/admin/experiments/{experiment_id}/{action}", experiments.change_status, methods=["POST"]),
    ]
    return routes


def _error_response(exc: GatewayError) -> Response:
    return Response(
        exc.body_bytes(), status_code=exc.status, headers=exc.headers(), media_type="application/json"
    )


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return _error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return _error_response(NotFound(f"Unknown path: {request.method} {request.url.path}"))
    if exc.status_code == 405:
        err = InvalidRequest(f"Method {request.method} is not allowed on {request.url.path}.", status=405)
        return _error_response(err)
    return _error_response(InvalidRequest(str(exc.detail), status=exc.status_code))


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The client left (or was cut off by a read timeout) while its body was read: no one to answer,
    nothing to log as an error (the access line says 499)."""
    return Response(status_code=CLIENT_CLOSED)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error serving %s %s", request.method, request.url.path)
    error = GatewayError("The gateway failed to handle this request.", code="internal_error")
    if request.url.path in ANTHROPIC_PATHS:  # this handler runs outside the request-id middleware
        return Response(reshape(500, error.body_bytes()), status_code=500, media_type="application/json")
    return _error_response(error)


def _tracing(snapshot: Snapshot) -> list[Middleware]:
    """The tracing middleware, outermost, when traces are configured; nothing (no import) otherwise.
    Read at start: a reload does not switch tracing on or off."""
    settings = snapshot.general.otel
    if not settings.enabled:
        return []
    from gateway.middleware.observe import _log_bodies
    from gateway.tracing.provider import make_provider
    from gateway.tracing.spans import TracingMiddleware

    tracer = make_provider(settings).get_tracer("gateway")
    return [Middleware(TracingMiddleware, tracer=tracer, log_bodies=_log_bodies())]


def create_app(snapshot: Snapshot, config_path: str | None = None) -> Starlette:
    state = GatewayState.create(snapshot, config_path)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await state.start()
        # Everything built so far lives as long as the process: move it out of the collector's way,
        # so full collections under load stop walking it (they were the p99 tail in `make bench`).
        gc.collect()
        gc.freeze()
        # Young collections: after 50,000 net new container objects, not CPython's 700. Requests'
        # garbage is freed by reference counting; a young collection only walks what in-flight
        # requests hold, so rarer ones cost no more each. At 700 they took ~4% of a request's CPU.
        gc.set_threshold(50_000, *gc.get_threshold()[1:])
        try:
            yield
        finally:
            await state.stop()

    app = Starlette(
        routes=_routes(),
        middleware=[
            *_tracing(snapshot),
            Middleware(RequestIdMiddleware),
            Middleware(ObserveMiddleware),
            Middleware(
                AuthMiddleware,
                settings=lambda: state.snapshot.general,
                created=state.keys,
                backend=lambda: state.backend,
            ),
            Middleware(BodyLimitMiddleware, limit=lambda: state.snapshot.general.max_body_bytes),
            Middleware(
                ExperimentsMiddleware,
                registry=state.experiments,
                max_depth=lambda: state.snapshot.general.max_json_depth,
            ),
            # innermost: the proxied endpoints skip the router (Route entries above serve 405s)
            Middleware(
                HotRoutesMiddleware,
                routes=_proxied(),
                on_error=_error_response,
                error_headers=proxy.error_headers,
            ),
        ],
        exception_handlers={
            GatewayError: _gateway_error,
            HTTPException: _http_error,
            ClientDisconnect: _client_gone,
            Exception: _unexpected,
        },
        lifespan=lifespan,
    )
    # No redirects built from the client's Host header: Starlette's router answers a path that differs
    # from a route by its trailing slash with a 307 to `Host` + the other spelling, which lets a forged
    # Host point a client anywhere. Such a path is an unknown path (404) like any other.
    app.router.redirect_slashes = False
    app.state.grid = state
    return app
