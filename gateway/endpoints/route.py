"""Which chain of model groups serves a request.

Order: per-request override (query or header) -> experiment variant (set by the experiments
middleware) -> `model="auto"` selection -> alias -> group. The decision steps are pure functions
elsewhere (`gateway.routing.resolve`, ...); this module reads the request and applies permissions.
Steps that want a response header leave it in `scope["grid.headers"]`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request

from gateway.endpoints.auto import auto_route, watch_outcome
from gateway.endpoints.common import client_key, key_allows
from gateway.errors import InvalidRequest, PermissionDenied
from gateway.override import requested_override
from gateway.routing.resolve import Resolution
from gateway.state import GatewayState


def choose(request: Request, state: GatewayState, body: dict[str, Any]) -> Resolution:
    asked = body.get("model")
    request.scope["grid.asked"] = asked
    if asked is not None and not isinstance(asked, str):
        raise InvalidRequest("'model' must be a string.", param="model")
    override = requested_override(request.scope)
    assignment = request.scope.get("grid.experiment")
    if assignment is not None and override is None:
        # the variant's model serves; `asked` stays what the client asked, for permissions and logs
        resolution = replace(state.resolve(assignment.model, None), asked=asked or assignment.model)
    else:
        # model="auto" (or model_routing.auto_select without an override): the selector decides
        resolution = auto_route(request, state, body, asked, override) or state.resolve(asked, override)
    key = client_key(request)
    if resolution.overridden and key is not None and not key.allow_override:
        raise PermissionDenied("This key may not override the model.")
    if not key_allows(key, resolution.asked, resolution.group):
        raise PermissionDenied(f"This key may not use the model '{resolution.asked}'.")
    watch_outcome(request, state)
    return resolution
