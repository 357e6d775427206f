"""OpenAI's Responses API: `POST /v1/responses` on the chat pipeline, and the calls by response id.

An OpenAI-wire deployment serves `/responses` itself: the body is forwarded as bytes (allow-listed,
`model` rewritten) and the answer relayed, stream included. Any other deployment (Anthropic, Bedrock,
... through LiteLLM) gets the request translated to chat completions and its answer translated back
(`gateway.translate.responses_chat`); the gateway then keeps the response and its conversation, so
`previous_response_id`, `GET` and `input_items` work there too. Either way the id is remembered with
its deployment and its key (`response_store`; shared by every replica when the state backend is
Redis), and `GET`/`DELETE`/`cancel`/`input_items` go to that deployment.

A `previous_response_id` made on an OpenAI-wire deployment is continued on that deployment only (its
provider holds the conversation; another deployment does not know the id): the chain is pinned to it
(`PinnedBalancer`). When it cannot be sent to (breaker open, at its limits) the answer is a 503 that
says so, never a request to a deployment that would answer "not found".
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.config.model import Deployment
from gateway.endpoints.common import client_key, json_response, state_of
from gateway.endpoints.proxy import Door, _proxy
from gateway.endpoints.response_store import ResponseIds, Stored
from gateway.endpoints.validate_doors import check_responses
from gateway.errors import GatewayError, InvalidRequest, NoHealthyDeployment, NotFound
from gateway.routing.breaker import BreakerState
from gateway.routing.permissions import key_allows
from gateway.translate.chat_stream import translated
from gateway.translate.responses_chat import (
    ResponsesEvents,
    Shell,
    answer_message,
    chat_view,
    error_event,
    from_chat,
    input_messages,
    to_chat,
)
from gateway.upstream.stream import OpenStream, complete_events

_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


_BACKGROUND: set[asyncio.Task] = set()  # entries a finished stream shares (held until written)


def _owner(request: Request) -> str | None:
    """The creating key, as its id (a digest of the key for a configured key): the same on every
    replica sharing the config, and never the key itself."""
    key = client_key(request)
    return (key.id or key.name) if key is not None else None


def _ids(request: Request) -> ResponseIds:
    return state_of(request).responses


def _previous_not_found(previous: str) -> NotFound:
    return NotFound(f"Previous response with id '{previous}' not found.", param="previous_response_id")


async def _pin(request: Request, body: dict[str, Any]) -> Deployment | None:
    """The deployment a `previous_response_id` must go to: the OpenAI-wire deployment that made it.
    None when the gateway keeps that conversation (any deployment continues it) or never saw the id
    (the provider answers for it). Another key's id is a 404, as if it did not exist."""
    previous = body.get("previous_response_id")
    if not isinstance(previous, str):
        return None
    entry = await _ids(request).find(previous)
    if entry is None:
        return None
    if entry.owner != _owner(request):
        raise _previous_not_found(previous)
    if entry.response is not None:
        return None
    state = state_of(request)
    dep = next((d for d in state.snapshot.deployments if d.id == entry.deployment), None)
    if dep is None or not key_allows(client_key(request), dep.group):
        raise _previous_not_found(previous)  # its deployment left the config
    if dep.group not in request.scope["grid.resolution"].chain:
        raise InvalidRequest(
            f"Previous response '{previous}' was made by model '{dep.group}', which holds it; "
            f"continue it with model '{dep.group}'.",
            param="previous_response_id",
        )
    if state.balancer.state(dep.id) is BreakerState.OPEN:
        raise NoHealthyDeployment(
            f"The deployment of model '{dep.group}' that holds previous response '{previous}' is "
            "unavailable (cooling down after failures); no other deployment can continue it. Retry later.",
            retry_after=state.balancer.retry_after([dep.group]) or 1.0,
        )
    return dep


def serves_responses(dep: Deployment) -> bool:
    """OpenAI-wire deployments have `/responses` of their own; the others are translated."""
    return dep.path == "passthrough" and dep.provider != "anthropic"


def _created_id(first: bytes) -> str | None:
    """The response id in a stream's first chunk (its `response.created` event)."""
    complete, _ = complete_events(b"", first)
    for line in complete.split(b"\n"):
        if line.startswith(b"data:") and b"response.created" in line:
            try:
                payload = orjson.loads(line[5:])
            except orjson.JSONDecodeError:
                return None
            response = payload.get("response") if isinstance(payload, dict) else None
            found = response.get("id") if isinstance(response, dict) else None
            return found if isinstance(found, str) else None
    return None


async def _forwarded(request: Request, dep: Deployment, body: dict[str, Any], stream: bool) -> Any:
    """Another key's `previous_response_id` never gets here (`_pin` answered its 404)."""
    client, request_id = state_of(request).passthrough, request.scope["grid.request_id"]
    owner = _owner(request)
    if stream:
        opened: OpenStream = await client.open_stream(dep, "responses", body, request_id)
        found = _created_id(opened.first)
        if found is not None:
            await _ids(request).put(found, Stored(dep.id, owner))
        return opened
    raw, parsed = await client.call(dep, "responses", body, request_id)
    if isinstance(parsed.get("id"), str):
        await _ids(request).put(parsed["id"], Stored(dep.id, owner))
    return raw, parsed


async def _history(ids: ResponseIds, body: dict[str, Any], owner: str | None) -> list[dict[str, Any]]:
    previous = body.get("previous_response_id")
    if previous is None:
        return []
    entry = await ids.get(previous, owner)
    if entry is None or entry.response is None:
        raise _previous_not_found(previous)
    return entry.conversation


async def _translated(request: Request, dep: Deployment, body: dict[str, Any], stream: bool) -> Any:
    owner, ids = _owner(request), _ids(request)
    history = await _history(ids, body, owner)
    chat = to_chat(body, history)
    shell = Shell(body)
    client, request_id = state_of(request).client_for(dep), request.scope["grid.request_id"]

    def kept(response: dict[str, Any]) -> Stored | None:
        if body.get("store") is False:
            return None
        items = input_messages(body.get("input", []))
        conversation = history + items + [answer_message(response)]
        raw_input = body.get("input", [])
        given = (
            [{"type": "message", "role": "user", "content": raw_input}]
            if isinstance(raw_input, str)
            else raw_input
        )
        size = len(request.scope.get("grid.raw_body") or b"") + len(orjson.dumps(response))
        return Stored(dep.id, owner, response, list(given), conversation, size)

    def keep(response: dict[str, Any]) -> None:
        """A stream's end (a callback, not awaited): kept here at once, shared in the background."""
        entry = kept(response)
        if entry is not None:
            task = asyncio.get_running_loop().create_task(ids.put(shell.id, entry))
            _BACKGROUND.add(task)
            task.add_done_callback(_BACKGROUND.discard)

    if stream:
        opened = await client.open_stream(dep, "chat/completions", chat, request_id)
        events = ResponsesEvents(shell, keep)
        return translated(opened, events.opening(), events.feed, events.finish)
    _, parsed = await client.call(dep, "chat/completions", chat, request_id)
    response = from_chat(shell, parsed)
    entry = kept(response)
    if entry is not None:
        await ids.put(shell.id, entry)
    return orjson.dumps(response), response


async def _attempt(request: Request, dep: Deployment, body: dict[str, Any], stream: bool) -> Any:
    if serves_responses(dep):
        return await _forwarded(request, dep, body, stream)
    return await _translated(request, dep, body, stream)


DOOR = Door(check_responses, _attempt, error_event, chat_view=chat_view, pin=_pin)


async def create(request: Request) -> Any:
    return await _proxy(request, "responses", DOOR)


async def _entry(request: Request) -> tuple[str, Stored, Deployment | None]:
    """The stored entry the path's id names, for this key; 404 when unknown (or another key's)."""
    response_id = request.path_params["response_id"]
    entry = await _ids(request).get(response_id, _owner(request)) if _ID.fullmatch(response_id) else None
    if entry is None:
        raise NotFound(f"No response found with id '{response_id}'.", param="response_id")
    dep = next((d for d in state_of(request).snapshot.deployments if d.id == entry.deployment), None)
    if dep is not None and not key_allows(client_key(request), dep.group):
        raise NotFound(f"No response found with id '{response_id}'.", param="response_id")
    if dep is None and entry.response is None:  # its deployment left the config
        raise NotFound(f"No response found with id '{response_id}'.", param="response_id")
    return response_id, entry, dep


async def _upstream(request: Request, dep: Deployment, method: str, path: str, response_id: str) -> Response:
    client = state_of(request).passthrough
    try:
        raw, _ = await client.call(dep, path, None, request.scope["grid.request_id"], method=method)
    except GatewayError as exc:
        if getattr(exc, "upstream_status", None) == 404:
            raise NotFound(f"No response found with id '{response_id}'.", param="response_id") from None
        raise
    headers = {"x-grid-model": dep.group, "x-grid-deployment": dep.id}
    return Response(raw, headers=headers, media_type="application/json")


async def retrieve(request: Request) -> Response:
    response_id, entry, dep = await _entry(request)
    if entry.response is not None:
        return json_response(entry.response)
    return await _upstream(request, dep, "GET", f"responses/{response_id}", response_id)


async def delete(request: Request) -> Response:
    response_id, entry, dep = await _entry(request)
    if entry.response is None:
        answer = await _upstream(request, dep, "DELETE", f"responses/{response_id}", response_id)
    else:
        answer = json_response({"id": response_id, "object": "response.deleted", "deleted": True})
    await _ids(request).delete(response_id, _owner(request))
    return answer


async def cancel(request: Request) -> Response:
    response_id, entry, dep = await _entry(request)
    if entry.response is not None:
        raise InvalidRequest("Only background responses can be cancelled.", param="response_id")
    return await _upstream(request, dep, "POST", f"responses/{response_id}/cancel", response_id)


async def input_items(request: Request) -> Response:
    response_id, entry, dep = await _entry(request)
    if entry.response is None:
        return await _upstream(request, dep, "GET", f"responses/{response_id}/input_items", response_id)
    data = [{"id": f"item_{i}", **item} for i, item in enumerate(entry.input_items) if isinstance(item, dict)]
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return json_response(
        {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": False}
    )
