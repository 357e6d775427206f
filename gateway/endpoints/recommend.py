"""`POST /models/recommend` (any client key) and `GET /admin/model-selector/stats` (admin keys).

A recommendation is the selector's ranking for a chat request, computed exactly as for
`model="auto"` but without calling any upstream, joining a session or counting a decision.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.endpoints.common import client_key, json_body, json_response, require_admin, state_of
from gateway.errors import InvalidRequest, ModelNotFound, PermissionDenied
from gateway.experiments import experiments_summary
from gateway.routing.auto import AUTO_MODEL, available_test
from gateway.routing.permissions import key_allows

DEFAULT_LIMIT = 5
MAX_LIMIT = 50


async def recommend(request: Request) -> Response:
    state = state_of(request)
    selector = state.selector
    if not selector.enabled:
        raise ModelNotFound(AUTO_MODEL)
    body = await json_body(request)
    limit = body.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"'limit' must be a whole number from 1 to {MAX_LIMIT}.", param="limit")
    if not isinstance(body.get("messages"), list) or not body["messages"]:
        raise InvalidRequest(
            "'messages' must be a non-empty list, as for a chat completion.", param="messages"
        )
    key = client_key(request)

    def allowed(group: str) -> bool:
        return key_allows(key, AUTO_MODEL, group)

    if not any(allowed(g) for g in selector.candidates):
        raise PermissionDenied(f"This key may not use the model '{AUTO_MODEL}'.")
    answer = selector.recommend(body, allowed=allowed, available=available_test(state), limit=limit)
    return json_response(answer)


async def selector_stats(request: Request) -> Response:
    require_admin(request)
    state = state_of(request)
    return json_response({**state.selector.stats(), "experiments": experiments_summary(state)})
