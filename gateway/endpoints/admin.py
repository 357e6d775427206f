"""Admin API (admin keys only): load-balancer statistics and configuration reload."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import Response

from gateway.config import ConfigError, load_config
from gateway.endpoints.common import json_response, require_admin, state_of
from gateway.errors import InvalidRequest

log = logging.getLogger("grid.admin")


async def load_balancer_stats(request: Request) -> Response:
    require_admin(request)
    return json_response(state_of(request).balancer.stats())


async def reload_config(request: Request) -> Response:
    require_admin(request)
    state = state_of(request)
    if not state.config_path:
        raise InvalidRequest("This gateway was not started from a config file; nothing to reload.")
    try:
        snapshot, problems = await asyncio.to_thread(load_config, state.config_path)
    except ConfigError as exc:
        problems = [str(p) for p in exc.problems.errors]
        raise InvalidRequest(
            "The new configuration is invalid; the old one stays in force: " + "; ".join(problems)
        ) from None
    state.swap(snapshot)
    log.info("configuration reloaded from %s", state.config_path)
    return json_response(
        {
            "status": "reloaded",
            "groups": sorted(snapshot.groups),
            "deployments": len(snapshot.deployments),
            "warnings": [str(p) for p in problems.warnings],
        }
    )
