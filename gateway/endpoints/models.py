"""`GET /v1/models` and `GET /v1/models/{id}`: the groups and aliases this key may use, and `auto`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway.endpoints.common import client_key, json_response, state_of
from gateway.errors import ModelNotFound
from gateway.routing.auto import AUTO_MODEL
from gateway.routing.permissions import key_allows


def _entry(name: str) -> dict:
    return {"id": name, "object": "model", "created": 0, "owned_by": "grid"}


def _visible(request: Request) -> list[str]:
    state = state_of(request)
    snapshot = state.snapshot
    key = client_key(request)
    names = list(snapshot.groups) + [a for a in snapshot.router.model_group_alias if a not in snapshot.groups]
    if state.selector.enabled and any(key_allows(key, AUTO_MODEL, g) for g in state.selector.candidates):
        names.append(AUTO_MODEL)  # model="auto": the selector picks among the candidates this key may use
    return [n for n in names if n == AUTO_MODEL or key_allows(key, n)]


async def list_models(request: Request) -> Response:
    return json_response({"object": "list", "data": [_entry(n) for n in _visible(request)]})


async def get_model(request: Request) -> Response:
    model_id = request.path_params["model_id"]
    if model_id not in _visible(request):
        raise ModelNotFound(model_id)
    return json_response(_entry(model_id))
