"""Anthropic's Messages API: `POST /v1/messages` (and `/v1/messages/count_tokens`) on the chat pipeline.

An Anthropic deployment gets the body forwarded as bytes (allow-listed, `model` rewritten, its own
`x-api-key`), its answer relayed, stream included. Any other group is served by translating to chat
completions and back (`gateway.translate.anthropic_chat`), so an Anthropic-SDK client can use every
group, aliases and `model="auto"` included. Errors on these paths are in Anthropic's shape
(`gateway.middleware.anthropic_errors`); the client's `anthropic-version` is accepted and not
forwarded (an Anthropic deployment is sent the version the gateway speaks).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.config.model import Deployment
from gateway.endpoints.common import json_body, json_response, state_of
from gateway.endpoints.proxy import Door, _proxy
from gateway.endpoints.validate_doors import check_count_tokens, check_messages
from gateway.errors import GatewayError
from gateway.routing.breaker import BreakerState
from gateway.routing.plan import plan
from gateway.tokens import estimate_prompt_tokens
from gateway.translate.anthropic_chat import MessagesEvents, chat_view, error_event, from_chat, to_chat
from gateway.translate.chat_stream import translated


async def _attempt(request: Request, dep: Deployment, body: dict[str, Any], stream: bool) -> Any:
    state, request_id = state_of(request), request.scope["grid.request_id"]
    if dep.provider == "anthropic":
        client = state.passthrough
        method = client.open_stream if stream else client.call
        return await method(dep, "messages", dict(body), request_id)
    chat = to_chat(body)
    client = state.client_for(dep)
    asked = request.scope.get("grid.asked") or dep.group
    if stream:
        opened = await client.open_stream(dep, "chat/completions", chat, request_id)
        events = MessagesEvents(asked)
        return translated(opened, events.opening(), events.feed, events.finish)
    _, parsed = await client.call(dep, "chat/completions", chat, request_id)
    message = from_chat(parsed, asked)
    return orjson.dumps(message), message


DOOR = Door(check_messages, _attempt, error_event, chat_view=chat_view)


async def create(request: Request) -> Any:
    return await _proxy(request, "messages", DOOR)


async def count_tokens(request: Request) -> Response:
    """The prompt's tokens: counted by an Anthropic deployment of the resolved group when it has one
    that is up (the count is Anthropic's), else GRID's estimate (about 4 bytes a token). The same
    model resolution and permission checks as a message (an unknown model is a 404); not a request
    the balancer or breakers judge: a failed count falls back to the estimate."""
    state = state_of(request)
    body = await json_body(request)
    check_count_tokens(body)
    resolution = plan(request.scope, state, chat_view(body))
    group = state.snapshot.groups.get(resolution.group)
    for dep in group.deployments if group is not None else ():
        if dep.provider == "anthropic" and state.balancer.state(dep.id) is not BreakerState.OPEN:
            try:
                raw, _ = await state.passthrough.call(
                    dep, "messages/count_tokens", dict(body), request.scope["grid.request_id"]
                )
            except GatewayError:
                break
            return Response(raw, media_type="application/json", headers={"x-grid-deployment": dep.id})
    prompt = [body.get("system"), body["messages"], body.get("tools")]
    return json_response({"input_tokens": max(1, estimate_prompt_tokens({"messages": prompt}))})
