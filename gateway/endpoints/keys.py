"""Admin API for client keys (admin keys only): create, list, get, patch, delete.

A created key is shown once, in the 201 answer to POST; afterwards only its id, name and prefix. The
list includes the keys configured in YAML (read-only here, without any part of the key) so limits and
spend of every key are visible in one place.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.backend import BackendUnavailable
from gateway.backend.windows import Verdict
from gateway.config.keys import LIMIT_FIELDS, key_limits, key_metadata, key_models
from gateway.config.model import ApiKey
from gateway.config.problems import Problems
from gateway.endpoints.common import json_body, json_response, require_admin, state_of
from gateway.errors import GatewayError, InvalidRequest, NotFound
from gateway.keys.records import EDITABLE, new_record, public_view
from gateway.state import GatewayState

MAX_NAME = 128


class StateUnavailable(GatewayError):
    status = 503
    code = "state_backend_unavailable"


def _fields(body: dict[str, Any], state: GatewayState, key_id: str | None) -> dict[str, Any]:
    """The validated, storable fields of a POST or PATCH body (a 400 naming every bad field)."""
    unknown = sorted(set(body) - set(EDITABLE))
    if unknown:
        raise InvalidRequest(f"Unknown field(s): {', '.join(unknown)}.", param=unknown[0])
    problems = Problems()
    name = body.get("name")
    if "name" in body and (
        not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or not name.isprintable()
    ):
        problems.error("name", f"must be a non-empty printable string of at most {MAX_NAME} characters")
    elif isinstance(name, str) and _name_taken(state, name, key_id):
        problems.error("name", f"a key named {name!r} exists already")
    for flag in ("admin", "allow_override"):
        if flag in body and not isinstance(body[flag], bool):
            problems.error(flag, "must be true or false")
    key_models(body.get("models"), "models", problems)
    key_limits(body, "", problems)
    key_metadata(body.get("metadata"), "metadata", problems)
    if problems.errors:
        first = problems.errors[0]
        raise InvalidRequest("; ".join(f"{p.field}: {p.message}" for p in problems.errors), param=first.field)
    fields = dict(body)
    if "models" in fields:
        fields["models"] = sorted(fields["models"] or [])
    return fields


def _name_taken(state: GatewayState, name: str, key_id: str | None) -> bool:
    if any(k.name == name for k in state.snapshot.general.keys):
        return True
    return any(k.name == name and k.id != key_id for k in state.keys.by_id.values())


def _usage(verdict: Verdict | None) -> dict[str, Any]:
    if verdict is None:
        return {}
    return {
        "spend": round(verdict.spend, 10),
        "requests_in_window": verdict.requests,
        "tokens_in_window": verdict.tokens,
        "in_flight": verdict.parallel,
    }


def _configured_view(key: ApiKey) -> dict[str, Any]:
    limits = key.limits
    view: dict[str, Any] = {"id": key.id, "name": key.name, "key_prefix": None, "source": "config"}
    view.update(models=sorted(key.models), admin=key.admin, allow_override=key.allow_override)
    view.update({f: getattr(limits, f) for f in LIMIT_FIELDS if f != "budget_duration"})
    view["budget_duration"] = limits.budget_duration
    view["metadata"] = dict(key.metadata)
    return view


async def create_key(request: Request) -> Response:
    require_admin(request)
    state = state_of(request)
    body = await json_body(request)
    if not isinstance(body.get("name"), str):
        raise InvalidRequest("'name' is required.", param="name")
    key, record = new_record(_fields(body, state, None))
    try:
        await state.backend.put_key(record)
    except BackendUnavailable as exc:
        raise StateUnavailable(f"The key was not created: {exc}.") from None
    return json_response({"key": key, **public_view(record), "source": "admin"}, status=201)


async def list_keys(request: Request) -> Response:
    require_admin(request)
    state = state_of(request)
    configured = [k for k in state.snapshot.general.keys if k.id]
    created = list(state.keys.by_id.values())
    usage = await state.backend.usage(configured + created, time.time())
    data = [{**_configured_view(k), **_usage(usage.get(k.id))} for k in configured]
    records = state.backend.key_records()
    for key in created:
        data.append({**public_view(records[key.id]), "source": "admin", **_usage(usage.get(key.id))})
    return json_response({"object": "list", "data": data})


async def get_key(request: Request) -> Response:
    require_admin(request)
    state = state_of(request)
    key_id = request.path_params["key_id"]
    record = state.backend.key_records().get(key_id)
    if record is None:
        configured = next((k for k in state.snapshot.general.keys if k.id and k.id == key_id), None)
        if configured is None:
            raise NotFound(f"No key with id '{key_id[:64]}'.")
        usage = await state.backend.usage([configured], time.time())
        return json_response({**_configured_view(configured), **_usage(usage.get(key_id))})
    key = state.keys.by_id.get(key_id)
    usage = await state.backend.usage([key], time.time()) if key else {}
    return json_response({**public_view(record), "source": "admin", **_usage(usage.get(key_id))})


def _created_record(state: GatewayState, key_id: str) -> dict[str, Any]:
    record = state.backend.key_records().get(key_id)
    if record is not None:
        return dict(record)
    if any(k.id == key_id for k in state.snapshot.general.keys):
        raise InvalidRequest("This key is configured in the YAML file: change it there.", param="id")
    raise NotFound(f"No key with id '{key_id[:64]}'.")


async def patch_key(request: Request) -> Response:
    require_admin(request)
    state = state_of(request)
    key_id = request.path_params["key_id"]
    record = _created_record(state, key_id)
    body = await json_body(request)
    record.update(_fields(body, state, key_id))
    try:
        await state.backend.put_key(record)
    except BackendUnavailable as exc:
        raise StateUnavailable(f"The key was not changed: {exc}.") from None
    return json_response({**public_view(record), "source": "admin"})


async def delete_key(request: Request) -> Response:
    require_admin(request)
    state = state_of(request)
    key_id = request.path_params["key_id"]
    _created_record(state, key_id)
    try:
        await state.backend.delete_key(key_id)
    except BackendUnavailable as exc:
        raise StateUnavailable(f"The key was not revoked: {exc}.") from None
    return Response(status_code=204)
