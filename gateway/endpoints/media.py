"""The endpoints whose bodies are not JSON both ways: audio to text and image edits (multipart uploads
relayed as they arrive), and speech (JSON in, audio streamed back).

Images generations and moderations are JSON both ways and go through `proxy._proxy` like
embeddings. These take the same route: resolve (override, alias, experiments, the key's model list)
-> the fallback chain over the balancer (retries, breakers, fallbacks within the group's kind) ->
the answer relayed with the gateway's headers. Their deployments must speak the OpenAI wire format:
a LiteLLM-path deployment answers a 400 that says so (LiteLLM would need the whole upload in memory).
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gateway import deadline
from gateway.config.model import Deployment
from gateway.endpoints.common import json_body, state_of
from gateway.endpoints.proxy import CLIENT_CLOSED, _grid_headers, _unless_disconnected, routed
from gateway.endpoints.validate import check_request
from gateway.errors import GatewayError, InvalidRequest
from gateway.experiments.middleware import enrol
from gateway.fallback import Outcome, Trace, run_chain
from gateway.routing.plan import plan
from gateway.routing.resolve import Resolution
from gateway.state import GatewayState
from gateway.upstream.multipart import MultipartUpload, boundary_of
from gateway.upstream.passthrough import read_raw

RELAY_CHUNK = 64 * 1024


def _route(request: Request, state: GatewayState, body: dict[str, Any]) -> tuple[Resolution, Trace]:
    """proxy's route step, with a plain `plan` (no `model="auto"` batching: these bodies have no
    messages to read)."""
    scope = request.scope
    deadline.begin(scope["grid.started"], state.snapshot.router.request_timeout, scope["headers"], body)
    resolution = plan(scope, state, body)
    return resolution, routed(scope, resolution)


def _openai_wire(dep: Deployment, endpoint: str) -> None:
    if dep.path != "passthrough":
        raise InvalidRequest(
            f"The model '{dep.group}' is served through a provider the gateway translates with LiteLLM; "
            f"/v1/{endpoint} is relayed only to OpenAI-compatible deployments."
        )


async def _run(
    request: Request, state: GatewayState, resolution: Resolution, trace: Trace, attempt
) -> Outcome:
    balancer = state.balancer

    def judged(dep: Deployment, seconds: float, result: Any) -> None:
        balancer.succeeded(dep, seconds)

    return await run_chain(
        resolution.chain, state.snapshot.router, balancer, attempt, trace, on_success=judged
    )


async def _upload(request: Request, endpoint: str) -> Response:
    """A multipart endpoint: the body streams upstream while it arrives; only `model` is rewritten."""
    request.scope["grid.started"] = started = time.monotonic()
    headers = dict(request.scope["headers"])
    boundary = boundary_of(headers.get(b"content-type", b"").decode("latin-1"))
    content_type = "multipart/form-data; boundary=" + boundary.decode("latin-1")  # rebuilt, not the client's
    length = headers.get(b"content-length")
    upload = MultipartUpload(request.receive, boundary, int(length) if length and length.isdigit() else None)
    try:
        body = {"model": await upload.read_model()}
        if upload.user is not None:
            body["user"] = upload.user
        request.scope["grid.body"] = body  # for the access log's model fields
        state = state_of(request)
        if state.experiments.active:  # the experiments middleware leaves multipart bodies to us
            enrol(state.experiments, request.scope, body)
        resolution, trace = _route(request, state, body)
        request_id = request.scope["grid.request_id"]

        async def attempt(dep: Deployment) -> tuple[bytes, str]:
            _openai_wire(dep, endpoint)
            model = dep.upstream_model
            try:
                resp = await state.passthrough.open_raw(
                    dep, endpoint, upload.body(model), content_type, request_id, upload.length(model)
                )
                return await read_raw(resp, dep.id)
            except GatewayError:
                if upload.error is not None:  # the client's body failed, not the upstream
                    raise upload.error from None
                raise

        outcome = await _run(request, state, resolution, trace, attempt)
    finally:
        upload.close()
    raw, media_type = outcome.result
    return Response(
        raw, headers=_grid_headers(request, outcome.deployment, trace, started), media_type=media_type
    )


async def speech(request: Request) -> Response:
    """`POST /v1/audio/speech`: JSON in, the audio streamed back as the upstream sends it."""
    request.scope["grid.started"] = started = time.monotonic()
    body = await json_body(request)
    check_request("audio/speech", body)
    state = state_of(request)
    resolution, trace = _route(request, state, body)
    request_id = request.scope["grid.request_id"]

    async def attempt(dep: Deployment):
        _openai_wire(dep, "audio/speech")
        payload = state.passthrough.json_payload(dep, "audio/speech", body)
        return await state.passthrough.open_raw(dep, "audio/speech", payload, "application/json", request_id)

    outcome = await _unless_disconnected(request, _run(request, state, resolution, trace, attempt))
    if outcome is None:
        return Response(status_code=CLIENT_CLOSED)
    resp = outcome.result

    async def relay():
        try:
            async for chunk in resp.content.iter_chunked(RELAY_CHUNK):
                yield chunk
        finally:
            resp.release()

    headers = _grid_headers(request, outcome.deployment, trace, started)
    media_type = resp.headers.get("content-type", "application/octet-stream")
    return StreamingResponse(relay(), headers=headers, media_type=media_type)


def _upload_endpoint(endpoint: str):
    async def handle(request: Request) -> Response:
        return await _upload(request, endpoint)

    handle.__name__ = endpoint.replace("/", "_")
    return handle


transcriptions = _upload_endpoint("audio/transcriptions")
translations = _upload_endpoint("audio/translations")
image_edits = _upload_endpoint("images/edits")
