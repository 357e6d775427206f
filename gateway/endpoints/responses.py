"""OpenAI's Responses API: `POST /v1/responses` on the chat pipeline, and the calls by response id.

An OpenAI-wire deployment serves `/responses` itself: the body is forwarded as bytes (allow-listed,
`model` rewritten) and the answer relayed, stream included. Any other deployment (Anthropic, Bedrock,
... through LiteLLM) gets the request translated to chat completions and its answer translated back
(`gateway.translate.responses_chat`); the gateway then keeps the response and its conversation, so
`previous_response_id`, `GET` and `input_items` work there too. Either way the id is remembered with
its deployment (`response_store`), and `GET`/`DELETE`/`cancel`/`input_items` go to that deployment.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from gateway.config.model import Deployment
from gateway.endpoints.common import client_key, json_response, state_of
from gateway.endpoints.proxy import Door, _proxy
from gateway.endpoints.response_store import STORE, Stored
from gateway.endpoints.validate_doors import check_responses
from gateway.errors import GatewayError, InvalidRequest, NotFound
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


def _owner(request: Request) -> str | None:
    key = client_key(request)
    return key.name if key is not None else None


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
    client, request_id = state_of(request).passthrough, request.scope["grid.request_id"]
    owner = _owner(request)
    previous = body.get("previous_response_id")
    if isinstance(previous, str) and STORE.known(previous) and STORE.get(previous, owner) is None:
        # another key's response: the provider would continue it (its ids are the account's)
        raise NotFound(f"Previous response with id '{previous}' not found.", param="previous_response_id")
    if stream:
        opened: OpenStream = await client.open_stream(dep, "responses", body, request_id)
        found = _created_id(opened.first)
        if found is not None:
            STORE.put(found, Stored(dep.id, owner))
        return opened
    raw, parsed = await client.call(dep, "responses", body, request_id)
    if isinstance(parsed.get("id"), str):
        STORE.put(parsed["id"], Stored(dep.id, owner))
    return raw, parsed


def _history(body: dict[str, Any], owner: str | None) -> list[dict[str, Any]]:
    previous = body.get("previous_response_id")
    if previous is None:
        return []
    entry = STORE.get(previous, owner)
    if entry is None or entry.response is None:
        raise NotFound(f"Previous response with id '{previous}' not found.", param="previous_response_id")
    return entry.conversation


async def _translated(request: Request, dep: Deployment, body: dict[str, Any], stream: bool) -> Any:
    owner = _owner(request)
    history = _history(body, owner)
    chat = to_chat(body, history)
    shell = Shell(body)
    client, request_id = state_of(request).client_for(dep), request.scope["grid.request_id"]

    def keep(response: dict[str, Any]) -> None:
        if body.get("store") is False:
            return
        items = input_messages(body.get("input", []))
        conversation = history + items + [answer_message(response)]
        raw_input = body.get("input", [])
        given = (
            [{"type": "message", "role": "user", "content": raw_input}]
            if isinstance(raw_input, str)
            else raw_input
        )
        size = len(request.scope.get("grid.raw_body") or b"") + len(orjson.dumps(response))
        STORE.put(shell.id, Stored(dep.id, owner, response, list(given), conversation, size))

    if stream:
        opened = await client.open_stream(dep, "chat/completions", chat, request_id)
        events = ResponsesEvents(shell, keep)
        return translated(opened, events.opening(), events.feed, events.finish)
    _, parsed = await client.call(dep, "chat/completions", chat, request_id)
    response = from_chat(shell, parsed)
    keep(response)
    return orjson.dumps(response), response


async def _attempt(request: Request, dep: Deployment, body: dict[str, Any], stream: bool) -> Any:
    if serves_responses(dep):
        return await _forwarded(request, dep, body, stream)
    return await _translated(request, dep, body, stream)


DOOR = Door(check_responses, _attempt, error_event, chat_view=chat_view)


async def create(request: Request) -> Any:
    return await _proxy(request, "responses", DOOR)


def _entry(request: Request) -> tuple[str, Stored, Deployment | None]:
    """The stored entry the path's id names, for this key; 404 when unknown (or another key's)."""
    response_id = request.path_params["response_id"]
    entry = STORE.get(response_id, _owner(request)) if _ID.fullmatch(response_id) else None
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
    response_id, entry, dep = _entry(request)
    if entry.response is not None:
        return json_response(entry.response)
    return await _upstream(request, dep, "GET", f"responses/{response_id}", response_id)


async def delete(request: Request) -> Response:
    response_id, entry, dep = _entry(request)
    if entry.response is None:
        answer = await _upstream(request, dep, "DELETE", f"responses/{response_id}", response_id)
    else:
        answer = json_response({"id": response_id, "object": "response.deleted", "deleted": True})
    STORE.delete(response_id, _owner(request))
    return answer


async def cancel(request: Request) -> Response:
    response_id, entry, dep = _entry(request)
    if entry.response is not None:
        raise InvalidRequest("Only background responses can be cancelled.", param="response_id")
    return await _upstream(request, dep, "POST", f"responses/{response_id}/cancel", response_id)


async def input_items(request: Request) -> Response:
    response_id, entry, dep = _entry(request)
    if entry.response is None:
        return await _upstream(request, dep, "GET", f"responses/{response_id}/input_items", response_id)
    data = [{"id": f"item_{i}", **item} for i, item in enumerate(entry.input_items) if isinstance(item, dict)]
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return json_response(
        {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": False}
    )
