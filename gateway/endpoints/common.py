"""Small helpers shared by endpoints: JSON bodies, permissions, JSON responses."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.config.model import ApiKey
from gateway.errors import PermissionDenied
from gateway.json_limits import parse_object
from gateway.state import GatewayState


def state_of(request: Request) -> GatewayState:
    return request.app.state.grid


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, headers=headers, media_type="application/json")


async def json_body(request: Request, max_depth: int | None = None) -> dict[str, Any]:
    """The request's JSON object. Parsed once: middleware that parsed it already left it in the scope.
    Nested deeper than `max_depth` (default: `general_settings.max_json_depth`) it is a 400."""
    parsed = request.scope.get("grid.body")
    if parsed is not None:
        return parsed
    raw = await request.body()
    request.scope["grid.raw_body"] = raw  # for the access log when GRID_LOG_BODIES=true
    if max_depth is None:
        max_depth = state_of(request).snapshot.general.max_json_depth
    return parse_object(raw, max_depth)


def client_key(request: Request) -> ApiKey | None:
    return request.scope.get("grid.key")


def require_admin(request: Request) -> None:
    key = client_key(request)
    if state_of(request).snapshot.general.auth_enabled and (key is None or not key.admin):
        raise PermissionDenied("This key may not use the admin API.")
