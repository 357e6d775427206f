"""`gateway.middleware.*`, directly: each pure-ASGI middleware driven with a scope, a receive and a
send, in front of a small ASGI app that records what reached it. The same behaviour is covered end to
end through a gateway process elsewhere; here each branch is pinned where it lives."""

from __future__ import annotations

import os
from typing import Any

import orjson
import pytest

from gateway.config.model import ApiKey, GeneralSettings
from gateway.context import request_id_var
from gateway.errors import GatewayError, ModelNotFound, RateLimited, RequestTooLarge
from gateway.middleware.auth import PUBLIC_PATHS, AuthMiddleware, match_key, presented_key
from gateway.middleware.body_limit import BodyLimitMiddleware
from gateway.middleware.hot_routes import HotRoutesMiddleware
from gateway.middleware.observe import endpoint_label
from gateway.middleware.request_id import RequestIdMiddleware, new_request_id
from gateway.middleware.respond import send_error

MASTER = "sk-unit-master"
OTHER = "sk-unit-other"


def scope(path: str = "/v1/chat/completions", method: str = "POST", headers: list | None = None) -> dict:
    return {"type": "http", "method": method, "path": path, "headers": headers or [], "query_string": b""}


class Inner:
    """An ASGI app that records the scope and the body it read, then answers 200 with `body`."""

    def __init__(self, body: bytes = b"ok") -> None:
        self.body = body
        self.scopes: list[dict] = []
        self.read: bytes = b""
        self.request_id_seen: str | None = None

    async def __call__(self, scope, receive, send) -> None:
        self.scopes.append(scope)
        self.request_id_seen = request_id_var.get()
        if scope["type"] == "http" and scope["method"] == "POST":
            more = True
            while more:
                message = await receive()
                self.read += message.get("body", b"")
                more = message.get("more_body", False)
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": self.body})


async def call(app, s: dict, chunks: list[bytes] = (b"",)) -> tuple[int, dict[bytes, bytes], bytes]:
    """Drive `app` once; returns (status, headers, body)."""
    queue = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive():
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app(s, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start.get("headers", [])), body


def error_of(body: bytes) -> dict:
    error = orjson.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


# -- request id -----------------------------------------------------------------------------------


async def test_a_sane_client_request_id_is_kept_and_echoed():
    inner = Inner()
    status, headers, _ = await call(
        RequestIdMiddleware(inner), scope(headers=[(b"x-request-id", b"abc-123.x")])
    )
    assert status == 200 and headers[b"x-request-id"] == b"abc-123.x"
    assert inner.scopes[0]["grid.request_id"] == "abc-123.x" and inner.request_id_seen == "abc-123.x"
    assert request_id_var.get() != "abc-123.x"  # reset after the request


@pytest.mark.parametrize("bad", [b"has space", b"x" * 129, b"new\nline", b"", "\u00e9".encode()])
async def test_an_insane_client_request_id_is_replaced(bad):
    inner = Inner()
    status, headers, _ = await call(RequestIdMiddleware(inner), scope(headers=[(b"x-request-id", bad)]))
    rid = headers[b"x-request-id"].decode()
    assert rid != bad.decode("latin-1") and rid.startswith("req_") and len(rid) == 28
    assert inner.scopes[0]["grid.request_id"] == rid


async def test_an_app_that_set_the_request_id_header_is_not_given_a_second():
    async def app(scope, receive, send):
        own = [(b"x-request-id", scope["grid.request_id"].encode())]
        await send({"type": "http.response.start", "status": 200, "headers": own})
        await send({"type": "http.response.body", "body": b""})

    sent = []

    async def send(message):
        sent.append(message)

    await RequestIdMiddleware(app)(scope(headers=[(b"x-request-id", b"abc")]), None, send)
    assert sent[0]["headers"] == [(b"x-request-id", b"abc")]


def test_a_forked_process_hands_out_request_ids_of_its_own():
    new_request_id()  # ids are drawn ahead: the parent holds a pool of them
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, to the parent
        os.close(read_end)
        os.write(write_end, new_request_id().encode())
        os._exit(0)
    os.close(write_end)
    try:
        child = os.read(read_end, 64).decode()
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    assert child.startswith("req_") and child != new_request_id()


async def test_request_ids_are_unique_and_non_http_scopes_pass_through():
    assert len({new_request_id() for _ in range(1000)}) == 1000
    inner = Inner()
    lifespan = {"type": "lifespan"}

    async def receive():
        return {"type": "lifespan.startup"}

    async def send(message):
        pass

    await RequestIdMiddleware(inner)(lifespan, receive, send)
    assert inner.scopes == [lifespan] and "grid.request_id" not in lifespan


# -- auth -----------------------------------------------------------------------------------------


def settings(**kwargs) -> GeneralSettings:
    keys = (ApiKey(name="master", key=MASTER, admin=True), ApiKey(name="other", key=OTHER))
    return GeneralSettings(keys=keys, **kwargs)


@pytest.mark.parametrize(
    ("headers", "presented"),
    [
        ([(b"authorization", b"Bearer  sk-1 ")], "sk-1"),
        ([(b"authorization", b"bearer sk-1")], "sk-1"),
        ([(b"authorization", b"Basic abc")], None),
        ([(b"authorization", b"Bearer ")], None),
        ([(b"x-api-key", b"sk-2")], "sk-2"),
        ([(b"x-api-key", b"")], None),
        ([(b"authorization", b"Bearer sk-1"), (b"x-api-key", b"sk-2")], "sk-1"),
        ([], None),
    ],
)
def test_the_presented_key_comes_from_bearer_or_x_api_key(headers, presented):
    assert presented_key(scope(headers=headers)) == presented


def test_match_key_finds_the_key_and_nothing_else():
    keys = settings().keys
    assert match_key(keys, OTHER).name == "other"
    assert match_key(keys, MASTER).name == "master"
    assert match_key(keys, OTHER[:-1]) is None and match_key(keys, OTHER + "x") is None
    assert match_key((), OTHER) is None


async def test_auth_refuses_a_missing_or_wrong_key_with_an_openai_error_and_never_calls_the_app():
    inner = Inner()
    app = AuthMiddleware(inner, settings)
    status, headers, body = await call(app, {**scope(), "grid.request_id": "req-7"})
    assert status == 401 and headers[b"x-request-id"] == b"req-7"
    assert error_of(body) == {
        "message": "Missing API key: send it as 'Authorization: Bearer <key>'.",
        "type": "authentication_error",
        "param": None,
        "code": "invalid_api_key",
    }
    status, _, body = await call(app, scope(headers=[(b"authorization", b"Bearer sk-wrong")]))
    assert status == 401 and error_of(body)["message"] == "Incorrect API key provided."
    assert b"sk-wrong" not in body
    assert inner.scopes == []


async def test_auth_admits_a_known_key_and_puts_it_in_the_scope():
    inner = Inner()
    status, _, _ = await call(
        AuthMiddleware(inner, settings), scope(headers=[(b"x-api-key", OTHER.encode())])
    )
    assert status == 200 and inner.scopes[0]["grid.key"].name == "other"


@pytest.mark.parametrize("path", sorted(PUBLIC_PATHS))
async def test_health_and_metrics_need_no_key(path):
    inner = Inner()
    status, _, _ = await call(AuthMiddleware(inner, settings), scope(path=path, method="GET"))
    assert status == 200 and "grid.key" not in inner.scopes[0]


async def test_without_any_configured_key_auth_is_off():
    inner = Inner()
    open_settings = GeneralSettings()
    assert not open_settings.auth_enabled
    status, _, _ = await call(AuthMiddleware(inner, lambda: open_settings), scope())
    assert status == 200 and "grid.key" not in inner.scopes[0]


# -- body limit -----------------------------------------------------------------------------------


async def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read():
    inner = Inner()
    app = BodyLimitMiddleware(inner, lambda: 10)
    status, _, body = await call(app, scope(headers=[(b"content-length", b"11")]), [b"x" * 11])
    assert status == 413 and inner.scopes == []
    assert error_of(body) == {
        "message": "Request body exceeds the limit of 10 bytes.",
        "type": "invalid_request_error",
        "param": None,
        "code": "request_too_large",
    }


async def test_a_body_at_the_limit_passes_whole():
    inner = Inner()
    app = BodyLimitMiddleware(inner, lambda: 10)
    status, _, _ = await call(app, scope(headers=[(b"content-length", b"10")]), [b"x" * 4, b"y" * 6])
    assert status == 200 and inner.read == b"xxxxyyyyyy"


async def test_an_undeclared_body_is_counted_as_it_arrives_and_stopped_past_the_limit():
    inner = Inner()
    app = BodyLimitMiddleware(inner, lambda: 10)
    with pytest.raises(RequestTooLarge):  # raised into the endpoint reading it: answered 413 there
        await call(app, scope(headers=[(b"transfer-encoding", b"chunked")]), [b"x" * 6, b"y" * 6])
    assert inner.read == b"xxxxxx"  # the chunk that crossed the limit never reached the app


async def test_the_limit_is_read_per_request_and_gets_are_not_limited():
    limit = [100]
    inner = Inner()
    app = BodyLimitMiddleware(inner, lambda: limit[0])
    assert (await call(app, scope(headers=[(b"content-length", b"50")]), [b"x" * 50]))[0] == 200
    limit[0] = 10  # a config reload changed it
    assert (await call(app, scope(headers=[(b"content-length", b"50")]), [b"x" * 50]))[0] == 413
    assert (await call(app, scope(method="GET", headers=[(b"content-length", b"50")])))[0] == 200
    assert (await call(app, scope(headers=[(b"content-length", b"12abc")]), [b"x" * 5]))[0] == 200


# -- respond, hot routes, endpoint labels ----------------------------------------------------------


async def test_send_error_writes_status_shape_length_and_retry_after():
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    await send_error(send, RateLimited("slow down", retry_after=2.2), "req-1")
    start, body = sent
    headers = dict(start["headers"])
    assert start["status"] == 429
    assert headers[b"retry-after"] == b"3" and headers[b"x-request-id"] == b"req-1"
    assert headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(body["body"])
    assert error_of(body["body"])["code"] == "rate_limit_exceeded"
    sent.clear()
    await send_error(send, ModelNotFound("nope"), None)
    assert b"x-request-id" not in dict(sent[0]["headers"]) and b"retry-after" not in dict(sent[0]["headers"])


async def test_hot_routes_serve_their_posts_and_leave_everything_else_to_the_router():
    from starlette.responses import JSONResponse

    async def chat(request):
        body = await request.body()
        if body == b"fail":
            raise ModelNotFound("ghost")
        return JSONResponse({"echo": body.decode()})

    router = Inner(b"router")

    def on_error(exc: GatewayError):
        return JSONResponse(exc.body(), status_code=exc.status)

    app = HotRoutesMiddleware(router, {"/v1/chat/completions": chat}, on_error)
    status, _, body = await call(app, scope(), [b"hello"])
    assert status == 200 and orjson.loads(body) == {"echo": "hello"} and router.scopes == []
    status, _, body = await call(app, scope(), [b"fail"])
    assert status == 404 and error_of(body)["code"] == "model_not_found"
    status, _, body = await call(app, scope(method="GET"))
    assert body == b"router"  # another method on a hot path: the router answers (405 there)
    status, _, body = await call(app, scope(path="/v1/models", method="GET"))
    assert body == b"router" and len(router.scopes) == 2


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/v1/chat/completions", "chat/completions"),
        ("/chat/completions", "chat/completions"),
        ("/v1/embeddings", "embeddings"),
        ("/v1/completions", "completions"),
        ("/v1/models", "models"),
        ("/v1/models/gpt-4o", "models"),
        ("/admin/load-balancer/stats", "admin"),
        ("/health/readiness", "health"),
        ("/v1/../../etc/passwd", "other"),
        ("/" + "x" * 500, "other"),
    ],
)
def test_endpoint_labels_are_bounded(path, label):
    assert endpoint_label(path) == label
