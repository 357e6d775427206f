"""`GET /v1/models` and `GET /v1/models/{id}`: the instance's short list of mock model ids.

Chat, completions and embeddings accept any model name (gateway configs name whatever they like);
this list only exists so model listing and health probes have something real to read.
"""

from __future__ import annotations

from aiohttp import web

from gateway.mock_upstream.errors import error_response
from gateway.mock_upstream.responses import Call, send_json

CREATED = 1_700_000_000


def _model(model_id: str, owner: str) -> dict:
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": owner}


async def list_models(call: Call) -> web.StreamResponse:
    owner = call.state.name
    return await send_json(call, {"object": "list", "data": [_model(m, owner) for m in call.state.models]})


async def get_model(call: Call) -> web.StreamResponse:
    model_id = call.request.match_info["model"]
    if model_id not in call.state.models:
        return error_response(
            404, f"The model '{model_id}' does not exist", param="model", code="model_not_found"
        )
    return await send_json(call, _model(model_id, call.state.name))
