"""The mock upstream app: routes, and the one wrapper every API request goes through.

The wrapper is the whole request lifecycle in one readable function: read and parse the body once,
record and count the request, check the key, pick the fault that applies, apply the faults that
replace the answer (delay, status, error event, malformed), then hand over to the endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from gateway.mock_upstream import control
from gateway.mock_upstream import openai_responses as resp_api
from gateway.mock_upstream.anthropic_api import count_tokens, messages
from gateway.mock_upstream.chat import chat_completions
from gateway.mock_upstream.completions import completions
from gateway.mock_upstream.embeddings import embeddings
from gateway.mock_upstream.errors import anthropic_error, error_response, openai_error
from gateway.mock_upstream.faults import FaultRule, FaultRuleError, parse_rule
from gateway.mock_upstream.media import (
    image_edits,
    image_generations,
    moderations,
    read_multipart,
    speech,
    transcriptions,
    translations,
)
from gateway.mock_upstream.models import get_model, list_models
from gateway.mock_upstream.responses import (
    Call,
    data_event,
    named_event,
    send_malformed,
    stream_events,
)
from gateway.mock_upstream.state import DEFAULT_RECORD_LIMIT, STATE, MockState

Endpoint = Callable[[Call], Awaitable[web.StreamResponse]]
FAULT_HEADER = "x-mock-fault"
NAME_HEADER = "x-mock-name"
MAX_BODY = 64 * 1024 * 1024


def _authorized(request: web.Request, key: str) -> bool:
    """`Authorization: Bearer KEY` (OpenAI) or `x-api-key: KEY` (Anthropic)."""
    auth = request.headers.get("authorization", "")
    return auth == f"Bearer {key}" or request.headers.get("x-api-key") == key


def _pick_fault(call: Call, stream: bool) -> FaultRule | None:
    """The per-request header rule if sent (its `match` is ignored), else the first matching rule."""
    header = call.request.headers.get(FAULT_HEADER)
    if header is not None:
        try:
            return parse_rule(orjson.loads(header))
        except orjson.JSONDecodeError as exc:
            raise FaultRuleError(f"{FAULT_HEADER} header is not valid JSON") from exc
    if not len(call.state.faults):
        return None
    return call.state.faults.take(call.request.path, call.body.get("model"), stream)


async def _apply_fault(call: Call, stream: bool, anthropic: bool) -> web.StreamResponse | None:
    """Apply the faults that replace the normal answer; None means "answer normally"."""
    fault = call.fault
    assert fault is not None
    if fault.delay:
        await asyncio.sleep(fault.delay)
    if fault.error_event and stream:
        status = fault.status or 500
        message = fault.message or f"mock fault: error event ({status})"
        if anthropic:
            event = named_event("error", anthropic_error(status, message))
        else:
            event = data_event(openai_error(status, message))
        return await stream_events(call, [event])
    if fault.status:
        headers = {"retry-after": fault.retry_after} if fault.retry_after else None
        message = fault.message or f"mock fault: injected status {fault.status}"
        return error_response(fault.status, message, anthropic=anthropic, headers=headers)
    if fault.malformed:
        return await send_malformed(call, stream)
    return None


async def _serve(request: web.Request, endpoint: Endpoint, anthropic: bool) -> web.StreamResponse:
    state = request.app[STATE]
    body: Any = None
    problem = None
    if request.content_type == "multipart/form-data":
        try:
            body = await read_multipart(request)
        except (ValueError, AssertionError):
            problem = "We could not parse the multipart body of your request."
    elif request.body_exists:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            problem = "We could not parse the JSON body of your request."
        if problem is None and not isinstance(body, dict):
            problem = "The request body must be a JSON object."
    elif request.method == "POST" and not request.path.endswith("/cancel"):  # cancel has no body
        problem = "The request body is empty; a JSON object is required."
    state.begin(request.path)
    state.record(request, body)
    call = Call(request, state, body if isinstance(body, dict) else {})
    try:
        if state.require_key is not None and not _authorized(request, state.require_key):
            return error_response(401, "Incorrect API key provided.", anthropic=anthropic)
        if problem is not None:
            return error_response(400, problem, anthropic=anthropic)
        stream = call.body.get("stream") is True
        try:
            call.fault = _pick_fault(call, stream)
        except FaultRuleError as exc:
            return error_response(400, f"bad fault rule: {exc}", anthropic=anthropic)
        if call.fault is not None:
            state.faults_applied += 1
            replaced = await _apply_fault(call, stream, anthropic)
            if replaced is not None:
                return replaced
        return await endpoint(call)
    except asyncio.CancelledError:
        if not call.streamed:
            state.disconnected_requests += 1
        raise
    finally:
        state.open_requests -= 1


def _route(
    endpoint: Endpoint, *, anthropic: bool = False
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        return await _serve(request, endpoint, anthropic)

    handle.__name__ = endpoint.__name__
    return handle


async def unknown_url(call: Call) -> web.StreamResponse:
    request = call.request
    return error_response(404, f"Invalid URL ({request.method} {request.path})", code="unknown_url")


async def _add_name_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers[NAME_HEADER] = request.app[STATE].name


def create_app(
    name: str = "mock",
    *,
    require_key: str | None = None,
    models: list[str] | tuple[str, ...] | None = None,
    record_limit: int = DEFAULT_RECORD_LIMIT,
    state: MockState | None = None,
) -> web.Application:
    """The mock upstream as an aiohttp app.

    Run it with `handler_cancellation=True` (the CLI and MockUpstream do) so a client that goes away
    during a stall or delay is noticed at once rather than at the next write. Passing an existing
    `state` (the other arguments are then ignored) lets a restarted server keep its faults and records.
    """
    app = web.Application(client_max_size=MAX_BODY)
    if state is None:
        state = MockState(name, require_key=require_key, models=models, record_limit=record_limit)
    app[STATE] = state
    app[resp_api.STORED] = resp_api.OrderedDict()
    app.on_response_prepare.append(_add_name_header)
    control.add_routes(app)
    router = app.router
    for prefix in ("/v1", ""):
        router.add_get(f"{prefix}/models", _route(list_models))
        router.add_get(f"{prefix}/models/{{model:.+}}", _route(get_model))
        router.add_post(f"{prefix}/chat/completions", _route(chat_completions))
        router.add_post(f"{prefix}/completions", _route(completions))
        router.add_post(f"{prefix}/embeddings", _route(embeddings))
        router.add_post(f"{prefix}/messages", _route(messages, anthropic=True))
        router.add_post(f"{prefix}/messages/count_tokens", _route(count_tokens, anthropic=True))
        router.add_post(f"{prefix}/responses", _route(resp_api.create))
        by_id = f"{prefix}/responses/{{response_id}}"
        router.add_get(by_id, _route(resp_api.retrieve))
        router.add_delete(by_id, _route(resp_api.delete))
        router.add_post(f"{by_id}/cancel", _route(resp_api.cancel))
        router.add_get(f"{by_id}/input_items", _route(resp_api.input_items))
        router.add_post(f"{prefix}/images/generations", _route(image_generations))
        router.add_post(f"{prefix}/images/edits", _route(image_edits))
        router.add_post(f"{prefix}/audio/transcriptions", _route(transcriptions))
        router.add_post(f"{prefix}/audio/translations", _route(translations))
        router.add_post(f"{prefix}/audio/speech", _route(speech))
        router.add_post(f"{prefix}/moderations", _route(moderations))
    # LiteLLM appends /v1/messages to an Anthropic api_base; a base that already ends in /v1 lands here.
    router.add_post("/v1/v1/messages", _route(messages, anthropic=True))
    router.add_route("*", "/{tail:.*}", _route(unknown_url))
    return app
