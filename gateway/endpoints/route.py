"""Which chain of model groups serves a request.

Order: per-request override (query or header) -> experiment variant (set by the experiments
middleware) -> `model="auto"` selection -> alias -> group. A restricted key's model list bounds every
group of the chain (`gateway.routing.permissions`): variants, auto candidates and fallbacks. The decision steps are pure functions
elsewhere (`gateway.routing.resolve`, ...); this module reads the request and applies permissions.
Steps that want a response header leave it in `scope["grid.headers"]`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from starlette.requests import Request

from gateway.config.model import ApiKey
from gateway.endpoints.auto import auto_route, watch_outcome
from gateway.endpoints.common import client_key, key_allows
from gateway.errors import InvalidRequest, PermissionDenied
from gateway.experiments.middleware import EXPERIMENT_HEADER
from gateway.override import requested_override
from gateway.routing.permissions import bound_chain, group_permitted, restricted
from gateway.routing.resolve import Resolution
from gateway.state import GatewayState


def choose(request: Request, state: GatewayState, body: dict[str, Any]) -> Resolution:
    asked = body.get("model")
    request.scope["grid.asked"] = asked
    if asked is not None and not isinstance(asked, str):
        raise InvalidRequest("'model' must be a string.", param="model")
    override = requested_override(request.scope)
    key = client_key(request)
    snapshot = state.snapshot
    assignment = request.scope.get("grid.experiment")
    resolution = None
    if assignment is not None and override is None:
        resolution = _variant(request, state, assignment, asked, key)
    if resolution is None:
        # model="auto" (or model_routing.auto_select without an override): the selector decides, and
        # bounds its chain by the key's model list itself
        resolution = auto_route(request, state, body, asked, override)
        if resolution is None:
            resolution = bound_chain(key, snapshot, state.resolve(asked, override))
    if resolution.overridden and key is not None and not key.allow_override:
        raise PermissionDenied("This key may not override the model.")
    if not key_allows(key, resolution.asked, resolution.group):
        raise PermissionDenied(f"This key may not use the model '{resolution.asked}'.")
    watch_outcome(request, state)
    return resolution


def _variant(
    request: Request, state: GatewayState, assignment: Any, asked: str | None, key: ApiKey | None
) -> Resolution | None:
    """The experiment variant's resolution; `asked` stays what the client asked, for permissions and
    logs. None when the key may not be served by the variant's group: the experiments middleware does
    not enrol such a key, so this is a guard, and the request is served as asked, un-enrolled."""
    snapshot = state.snapshot
    resolution = state.resolve(assignment.model, None)
    if restricted(key) and not group_permitted(key, snapshot, resolution.group):
        request.scope.pop("grid.experiment", None)
        headers = request.scope.get("grid.headers")
        if headers:
            headers.pop(EXPERIMENT_HEADER, None)
        return None
    return bound_chain(key, snapshot, replace(resolution, asked=asked or assignment.model))
