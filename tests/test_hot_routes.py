"""The proxied endpoints skip Starlette's router: same answers, same error handling, 405 still works."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.errors import GatewayError, InvalidRequest
from gateway.middleware.hot_routes import HotRoutesMiddleware


async def ok(request: Request) -> Response:
    return JSONResponse({"path": request.url.path, "body": (await request.body()).decode()})


async def refused(request: Request) -> Response:
    raise InvalidRequest("no such thing", param="model")


async def broken(request: Request) -> Response:
    raise RuntimeError("bug")


def _error(exc: GatewayError) -> Response:
    return Response(exc.body_bytes(), status_code=exc.status, media_type="application/json")


async def _unexpected(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": {"code": "internal_error"}}, status_code=500)


def app() -> Starlette:
    hot = {"/v1/ok": ok, "/v1/refused": refused, "/v1/broken": broken}
    return Starlette(
        routes=[Route(path, handler, methods=["POST"]) for path, handler in hot.items()],
        middleware=[Middleware(HotRoutesMiddleware, routes=hot, on_error=_error)],
        exception_handlers={Exception: _unexpected},
    )


def call(method: str, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app(), raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            return await client.request(method, path, content=b"{}")

    return asyncio.run(go())


def test_a_hot_path_is_served_by_its_endpoint():
    response = call("POST", "/v1/ok")
    assert response.status_code == 200
    assert response.json() == {"path": "/v1/ok", "body": "{}"}


def test_a_gateway_error_becomes_its_openai_shaped_answer():
    response = call("POST", "/v1/refused")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "no such thing"
    assert response.json()["error"]["param"] == "model"


def test_an_unexpected_error_still_reaches_the_500_handler():
    response = call("POST", "/v1/broken")
    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error"}}


def test_other_methods_and_paths_go_to_the_router():
    assert call("GET", "/v1/ok").status_code == 405
    assert call("POST", "/v1/elsewhere").status_code == 404
