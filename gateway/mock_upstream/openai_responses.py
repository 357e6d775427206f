"""`/v1/responses`: OpenAI's Responses API, JSON and SSE (named events), and the stored responses
behind `GET`/`DELETE /v1/responses/{id}`, `POST .../cancel` and `GET .../input_items`.

Same deterministic rules as chat: `"mock reply: " + last user text`, a `function_call` item when
function tools are offered (unless `tool_choice` is "none"), `"mock reply: tool said ..."` after a
`function_call_output`. `max_output_tokens` cuts the text by words and marks the response incomplete.
Stored responses live in the app (bounded), so two mock servers know only their own ids.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import orjson
from aiohttp import web

from gateway.mock_upstream.errors import error_response
from gateway.mock_upstream.responses import Call, named_event, send_json, stream_events
from gateway.mock_upstream.text import ECHO_LIMIT, content_text, split_pieces, truncate_words, word_count
from gateway.translate.responses_chat import response_usage

STORED: web.AppKey[OrderedDict[str, tuple[dict[str, Any], list[Any]]]] = web.AppKey("responses", OrderedDict)
STORE_LIMIT = 1000


def _items(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}]
    return value if isinstance(value, list) else []


def _plan(body: dict[str, Any], seq: int) -> tuple[dict[str, Any], str]:
    """The one output item and the response's status."""
    items = [i for i in _items(body.get("input")) if isinstance(i, dict)]
    last = items[-1] if items else {}
    users = [i for i in items if i.get("role") == "user"]
    user_text = content_text(users[-1].get("content"))[:ECHO_LIMIT] if users else ""
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and t.get("type") == "function"]
    if last.get("type") == "function_call_output":
        text = "mock reply: tool said " + str(last.get("output"))[:ECHO_LIMIT]
    elif tools and body.get("tool_choice") != "none":
        call = {"type": "function_call", "id": f"fc_mock{seq}", "call_id": f"call_mock{seq}"}
        call.update(name=str(tools[0].get("name")), arguments=orjson.dumps({"echo": user_text}).decode())
        return {**call, "status": "completed"}, "completed"
    else:
        text = "mock reply: " + user_text
    limit = body.get("max_output_tokens")
    cut = False
    if isinstance(limit, int) and not isinstance(limit, bool):
        text, cut = truncate_words(text, limit)
    content = [{"type": "output_text", "text": text, "annotations": []}]
    message = {"type": "message", "id": f"msg_mock{seq}", "status": "completed", "role": "assistant"}
    return {**message, "content": content}, "incomplete" if cut else "completed"


def _usage(body: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
    prompt = max(
        1,
        sum(
            word_count(content_text(i.get("content")))
            for i in _items(body.get("input"))
            if isinstance(i, dict)
        ),
    )
    text = item["content"][0]["text"] if item["type"] == "message" else item["arguments"]
    return response_usage({"prompt_tokens": prompt, "completion_tokens": word_count(text)})


async def create(call: Call) -> web.StreamResponse:
    body = call.body
    if not isinstance(body.get("model"), str) or not body["model"]:
        return error_response(400, "Missing required parameter: 'model'.", param="model")
    if body.get("input") is None:
        return error_response(400, "Missing required parameter: 'input'.", param="input")
    seq = call.state.next_seq()
    item, status = _plan(body, seq)
    response = {
        "id": f"resp_{call.state.name.replace('-', '_')}_{seq}",  # unique across mock servers, as real ids
        "object": "response",
        "created_at": 1700000000 + seq,
        "status": status,
        "model": body["model"],
        "output": [item],
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "previous_response_id": body.get("previous_response_id"),
        "usage": _usage(body, item),
        "error": None,
    }
    if body.get("store") is not False:
        stored = call.request.app[STORED]
        stored[response["id"]] = (response, _items(body.get("input")))
        while len(stored) > STORE_LIMIT:
            stored.popitem(last=False)
    if body.get("stream"):
        return await stream_events(call, _events(call, response))
    return await send_json(call, response)


def _event(kind: str, seq: list[int], **fields: Any) -> bytes:
    seq[0] += 1
    return named_event(kind, {"type": kind, "sequence_number": seq[0] - 1, **fields})


def _events(call: Call, response: dict[str, Any]) -> Iterator[bytes]:
    """created, in_progress, the item added, its deltas, its done events, then the final event."""
    seq = [0]
    item = response["output"][0]
    started = {**response, "status": "in_progress", "output": [], "usage": None}
    yield _event("response.created", seq, response=started)
    yield _event("response.in_progress", seq, response=started)
    at = {"output_index": 0}
    pieces = call.fault.chunks if call.fault else None
    if item["type"] == "message":
        text = item["content"][0]["text"]
        yield _event(
            "response.output_item.added", seq, item={**item, "status": "in_progress", "content": []}, **at
        )
        part = {"type": "output_text", "text": "", "annotations": []}
        at.update(item_id=item["id"], content_index=0)
        yield _event("response.content_part.added", seq, part=part, **at)
        for piece in split_pieces(text, pieces):
            yield _event("response.output_text.delta", seq, delta=piece, **at)
        yield _event("response.output_text.done", seq, text=text, **at)
        yield _event("response.content_part.done", seq, part={**part, "text": text}, **at)
        del at["item_id"], at["content_index"]
    else:
        yield _event(
            "response.output_item.added", seq, item={**item, "status": "in_progress", "arguments": ""}, **at
        )
        for piece in split_pieces(item["arguments"], pieces):
            yield _event("response.function_call_arguments.delta", seq, item_id=item["id"], delta=piece, **at)
        yield _event(
            "response.function_call_arguments.done",
            seq,
            item_id=item["id"],
            arguments=item["arguments"],
            **at,
        )
    yield _event("response.output_item.done", seq, item=item, **at)
    yield _event(f"response.{response['status']}", seq, response=response)


def _not_found(response_id: str) -> web.Response:
    return error_response(404, f"No response found with id '{response_id}'.", param="response_id")


async def retrieve(call: Call) -> web.StreamResponse:
    response_id = call.request.match_info["response_id"]
    found = call.request.app[STORED].get(response_id)
    return _not_found(response_id) if found is None else await send_json(call, found[0])


async def delete(call: Call) -> web.StreamResponse:
    response_id = call.request.match_info["response_id"]
    if call.request.app[STORED].pop(response_id, None) is None:
        return _not_found(response_id)
    return await send_json(call, {"id": response_id, "object": "response.deleted", "deleted": True})


async def cancel(call: Call) -> web.StreamResponse:
    response_id = call.request.match_info["response_id"]
    if response_id not in call.request.app[STORED]:
        return _not_found(response_id)
    return error_response(400, "Only responses created with background=true can be cancelled.")


async def input_items(call: Call) -> web.StreamResponse:
    response_id = call.request.match_info["response_id"]
    found = call.request.app[STORED].get(response_id)
    if found is None:
        return _not_found(response_id)
    data = [{"id": f"in_{i}", **item} for i, item in enumerate(found[1]) if isinstance(item, dict)]
    first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
    return await send_json(
        call, {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": False}
    )
