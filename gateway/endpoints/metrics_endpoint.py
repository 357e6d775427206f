"""`GET /metrics` in the Prometheus text format."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from gateway.endpoints.common import state_of
from gateway.metrics import DEPLOYMENT_STATE, scrape_registry


async def metrics(request: Request) -> Response:
    state = state_of(request)
    # open -> half-open happens with the clock, not on an event: read breaker states at scrape time
    for dep in state.snapshot.deployments:
        DEPLOYMENT_STATE.labels(dep.id).set(int(state.balancer.state(dep.id)))
    return Response(generate_latest(scrape_registry()), media_type=CONTENT_TYPE_LATEST)
