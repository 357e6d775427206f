"""The routing layer's one entry: which chain of model groups serves a request (its plan).

`plan(scope, state, body)` is all an endpoint calls, once, after parsing the body: it returns the
`Resolution` (the chain of groups, the model asked, whether it was overridden). Order: per-request
override (query or header) -> experiment variant (set by the experiments middleware) ->
`model="auto"` selection (`auto`) -> alias -> group (`resolve`). A restricted key's model list
bounds every group of the chain (`permissions`): variants, auto candidates and fallbacks. What the
plan says besides its chain goes to the scope: `x-grid-route-reason` and the experiment header in
`scope["grid.headers"]`, the auto decision in `scope["grid.route"]`, the outcome hook in
`scope["grid.feedback"]`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from starlette.types import Scope

from gateway.config.model import ApiKey
from gateway.errors import InvalidRequest, PermissionDenied
from gateway.experiments.middleware import EXPERIMENT_HEADER
from gateway.override import requested_override
from gateway.routing.auto import auto_route, watch_outcome
from gateway.routing.permissions import bound_chain, group_permitted, key_allows, restricted
from gateway.routing.resolve import Resolution

if TYPE_CHECKING:
    from gateway.state import GatewayState


def plan(scope: Scope, state: GatewayState, body: dict[str, Any]) -> Resolution:
    """The request's plan (see the module's docstring); raises the client error when there is none."""
    asked = body.get("model")
    scope["grid.asked"] = asked
    if asked is not None and not isinstance(asked, str):
        raise InvalidRequest("'model' must be a string.", param="model")
    override = requested_override(scope)
    key = scope.get("grid.key")
    snapshot = state.snapshot
    assignment = scope.get("grid.experiment")
    resolution = None
    if assignment is not None and override is None:
        resolution = _variant(scope, state, assignment, asked, key)
    if resolution is None:
        # model="auto" (or model_routing.auto_select without an override): the selector decides, and
        # bounds its chain by the key's model list itself
        resolution = auto_route(scope, state, body, asked, override)
        if resolution is None:
            resolution = state.resolve(asked, override)
            if key is not None and key.models:  # (`bound_chain` is the identity for any other key)
                resolution = bound_chain(key, snapshot, resolution)
    if key is not None:  # no key (auth off): nothing is restricted
        if resolution.overridden and not key.allow_override:
            raise PermissionDenied("This key may not override the model.")
        if key.models and not key_allows(key, resolution.asked, resolution.group):
            raise PermissionDenied(f"This key may not use the model '{resolution.asked}'.")
    watch_outcome(scope, state)
    return resolution


def _variant(
    scope: Scope, state: GatewayState, assignment: Any, asked: str | None, key: ApiKey | None
) -> Resolution | None:
    """The experiment variant's resolution; `asked` stays what the client asked, for permissions and
    logs. None when the key may not be served by the variant's group: the experiments middleware does
    not enrol such a key, so this is a guard, and the request is served as asked, un-enrolled."""
    snapshot = state.snapshot
    resolution = state.resolve(assignment.model, None)
    if restricted(key) and not group_permitted(key, snapshot, resolution.group):
        scope.pop("grid.experiment", None)
        headers = scope.get("grid.headers")
        if headers:
            headers.pop(EXPERIMENT_HEADER, None)
        return None
    return bound_chain(key, snapshot, replace(resolution, asked=asked or assignment.model))
