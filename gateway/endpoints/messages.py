"""Anthropic's Messages API: `POST /v1/messages` (and `/v1/messages/count_tokens`) on the chat pipeline.

An Anthropic deployment gets the body forwarded as bytes (allow-listed, `model` rewritten, its own
`x-api-key`), its answer relayed, stream included. Any other group is served by translating to chat
completions and back (`gateway.translate.anthropic_chat`), so an Anthropic-SDK client can use every
group, aliases and `model="auto"` included. Errors on these paths are in Anthropic's shape
(`gateway.middleware.anthropic_errors`).

Of the client's headers exactly two reach an Anthropic deployment: `anthropic-version` and
`anthropic-beta` (they choose the API's behaviour: beta features, the version's wire format). Each is
checked first (printable ASCII, bounded length: else a 400), and sent only to Anthropic-format
deployments forwarded as bytes; without them the gateway's own `anthropic-version` is sent.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.config.model import Deployment
from gateway.context import upstream_headers_var
from gateway.endpoints.common import json_body, json_response, state_of
from gateway.endpoints.proxy import Door, _proxy
from gateway.endpoints.validate_doors import check_count_tokens, check_messages
from gateway.errors import GatewayError, InvalidRequest
from gateway.routing.breaker import BreakerState
from gateway.routing.plan import plan
from gateway.tokens import estimate_prompt_tokens
from gateway.translate.anthropic_chat import MessagesEvents, chat_view, error_event, from_chat, to_chat
from gateway.translate.chat_stream import translated

T = TypeVar("T")
FORWARDED = (b"anthropic-version", b"anthropic-beta")
MAX_HEADER = 1024  # an anthropic-beta list of a dozen features is ~300 bytes
_PRINTABLE = re.compile(rb"[\x20-\x7e]+")
_SCOPE_KEY = "grid.anthropic_headers"


def client_headers(scope: dict[str, Any]) -> dict[str, str]:
    """The client's `anthropic-version` / `anthropic-beta`, checked (a repeated header's values are
    joined with commas, as HTTP allows); a 400 for a value that is not printable or too long."""
    found: dict[str, str] = {}
    for name, value in scope["headers"]:
        if name in FORWARDED:
            text = name.decode()
            if not _PRINTABLE.fullmatch(value):
                raise InvalidRequest(f"The {text} header must be printable ASCII text.")
            joined = f"{found[text]},{value.decode()}" if text in found else value.decode()
            if len(joined) > MAX_HEADER:
                raise InvalidRequest(f"The {text} header is longer than {MAX_HEADER} characters.")
            found[text] = joined
    return found


async def _with_client_headers(request: Request, call: Callable[[], Awaitable[T]]) -> T:
    """`call()` with the client's Anthropic headers added to the upstream request's (the passthrough
    client adds what this context holds, as it does a trace's headers)."""
    forwarded = request.scope.get(_SCOPE_KEY)
    if not forwarded:
        return await call()
    token = upstream_headers_var.set({**(upstream_headers_var.get() or {}), **forwarded})
    try:
        return await call()
    finally:
        upstream_headers_var.reset(token)


async def _attempt(request: Request, dep: Deployment, body: dict[str, Any], stream: bool) -> Any:
    state, request_id = state_of(request), request.scope["grid.request_id"]
    if dep.provider == "anthropic":
        client = state.passthrough
        method = client.open_stream if stream else client.call
        return await _with_client_headers(request, lambda: method(dep, "messages", dict(body), request_id))
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
    request.scope[_SCOPE_KEY] = client_headers(request.scope)
    return await _proxy(request, "messages", DOOR)


async def count_tokens(request: Request) -> Response:
    """The prompt's tokens: counted by an Anthropic deployment of the resolved group when it has one
    that is up (the count is Anthropic's), else GRID's estimate (about 4 bytes a token). The same
    model resolution and permission checks as a message (an unknown model is a 404); not a request
    the balancer or breakers judge: a failed count falls back to the estimate."""
    state = state_of(request)
    request.scope[_SCOPE_KEY] = client_headers(request.scope)
    body = await json_body(request)
    check_count_tokens(body)
    resolution = plan(request.scope, state, chat_view(body))
    group = state.snapshot.groups.get(resolution.group)
    for dep in group.deployments if group is not None else ():
        if dep.provider == "anthropic" and state.balancer.state(dep.id) is not BreakerState.OPEN:
            try:
                raw, _ = await _with_client_headers(
                    request,
                    lambda dep=dep: state.passthrough.call(
                        dep, "messages/count_tokens", dict(body), request.scope["grid.request_id"]
                    ),
                )
            except GatewayError:
                break
            return Response(raw, media_type="application/json", headers={"x-grid-deployment": dep.id})
    prompt = [body.get("system"), body["messages"], body.get("tools")]
    return json_response({"input_tokens": max(1, estimate_prompt_tokens({"messages": prompt}))})
