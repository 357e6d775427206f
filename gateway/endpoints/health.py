"""Liveness (the process answers) and readiness (some deployment can take traffic)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.endpoints.common import json_response, state_of
from gateway.routing.breaker import BreakerState


async def liveliness(request: Request) -> Response:
    return json_response({"status": "ok"})


async def readiness(request: Request) -> Response:
    state = state_of(request)
    deployments = state.snapshot.deployments
    healthy = sum(1 for d in deployments if state.balancer.state(d.id) != BreakerState.OPEN)
    ready = healthy > 0
    body = {
        "status": "ready" if ready else "unavailable",
        "deployments": len(deployments),
        "healthy": healthy,
    }
    return json_response(body, status=200 if ready else 503)
