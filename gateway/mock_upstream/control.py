"""The `/_mock/*` control plane: read recorded requests and stats, switch faults on and off.

These routes are never recorded, counted, authenticated or faulted, so a test can always inspect
and steer the mock whatever state it is in.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from gateway.mock_upstream.errors import error_response
from gateway.mock_upstream.faults import FaultRuleError, parse_rule
from gateway.mock_upstream.state import STATE


def _json(obj: Any) -> web.Response:
    return web.Response(body=orjson.dumps(obj), content_type="application/json")


async def health(request: web.Request) -> web.Response:
    return _json({"status": "ok", "name": request.app[STATE].name})


async def get_requests(request: web.Request) -> web.Response:
    """Recorded requests, oldest first; `?path=` keeps only one path."""
    recorded = list(request.app[STATE].recorded)
    path = request.query.get("path")
    if path:
        recorded = [r for r in recorded if r["path"] == path]
    return _json(recorded)


async def clear_requests(request: web.Request) -> web.Response:
    state = request.app[STATE]
    cleared = len(state.recorded)
    state.recorded.clear()
    return _json({"cleared": cleared})


async def get_stats(request: web.Request) -> web.Response:
    return _json(request.app[STATE].stats())


async def reset_stats(request: web.Request) -> web.Response:
    request.app[STATE].reset_stats()
    return _json(request.app[STATE].stats())


async def get_faults(request: web.Request) -> web.Response:
    return _json({"faults": request.app[STATE].faults.to_list()})


async def add_faults(request: web.Request) -> web.Response:
    """Append one rule (a JSON object) or several (a JSON array); all or none are added."""
    try:
        data = orjson.loads(await request.read())
        rules = [parse_rule(item) for item in (data if isinstance(data, list) else [data])]
    except orjson.JSONDecodeError:
        return error_response(400, "fault rule body is not valid JSON")
    except FaultRuleError as exc:
        return error_response(400, str(exc))
    book = request.app[STATE].faults
    for rule in rules:
        book.add(rule)
    return _json({"faults": book.to_list()})


async def clear_faults(request: web.Request) -> web.Response:
    request.app[STATE].faults.clear()
    return _json({"faults": []})


async def reset(request: web.Request) -> web.Response:
    """Forget requests, faults and counters: a clean slate between tests."""
    request.app[STATE].reset()
    return _json({"reset": True})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/_mock/health", health)
    app.router.add_get("/_mock/requests", get_requests)
    app.router.add_delete("/_mock/requests", clear_requests)
    app.router.add_get("/_mock/stats", get_stats)
    app.router.add_delete("/_mock/stats", reset_stats)
    app.router.add_get("/_mock/faults", get_faults)
    app.router.add_post("/_mock/faults", add_faults)
    app.router.add_delete("/_mock/faults", clear_faults)
    app.router.add_post("/_mock/reset", reset)
