"""Enrol requests in experiments (pure ASGI), before any endpoint runs.

For the proxied POST endpoints, while any experiment is running: read the body once, parse it once,
leave both in the scope (`grid.raw_body`, `grid.body`, which `json_body` then uses) and replay the
bytes to the app. A request for an eligible model, without an override, is enrolled when its unit's
hash falls under the experiment's traffic share; the variant comes from a second hash. The decision
goes into `scope["grid.experiment"]` (the route step serves the variant's model), the response header
`x-grid-experiment: id=variant` into `scope["grid.headers"]`, and the request id into the feedback log.

A body that is not a JSON object, or nests deeper than `general_settings.max_json_depth`, enrols
nothing and is not left in the scope: the endpoint parses it again and answers its 400 as always.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import GatewayError
from gateway.experiments.config import SESSION_HEADER
from gateway.experiments.feedback import owner_of
from gateway.experiments.registry import Assignment, ExperimentRegistry, ExperimentRun
from gateway.json_limits import DEFAULT_MAX_DEPTH, too_deep
from gateway.middleware.respond import send_error
from gateway.override import requested_override

EXPERIMENT_HEADER = "x-grid-experiment"
ELIGIBLE_PATHS = frozenset(
    {
        "/v1/chat/completions",
        "/chat/completions",
        "/v1/completions",
        "/completions",
        "/v1/embeddings",
        "/embeddings",
        "/v1/responses",
        "/responses",
        "/v1/messages",
        "/messages",
        # JSON media endpoints (the multipart ones are relayed as they arrive, never read whole here:
        # `gateway.endpoints.media` enrols them once it has read their `model` and `user` fields)
        "/v1/images/generations",
        "/images/generations",
        "/v1/audio/speech",
        "/audio/speech",
        "/v1/moderations",
        "/moderations",
    }
)


class ExperimentsMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        registry: ExperimentRegistry,
        max_depth: Callable[[], int] = lambda: DEFAULT_MAX_DEPTH,
    ) -> None:
        self.app = app
        self.registry = registry
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            not self.registry.active
            or scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] not in ELIGIBLE_PATHS
        ):
            await self.app(scope, receive, send)
            return
        try:
            raw, pending = await _read_body(receive)
        except GatewayError as exc:  # the body limit, raised from its receive wrapper
            await send_error(send, exc, scope.get("grid.request_id"))
            return
        scope["grid.raw_body"] = raw
        if pending is None:
            body = _parse(raw, self.max_depth())
            if body is not None:
                scope["grid.body"] = body
                enrol(self.registry, scope, body)
        await self.app(scope, _replay(raw, pending, receive), send)


def enrol(registry: ExperimentRegistry, scope: Scope, body: dict) -> None:
    """Enrol the request (`body`: its JSON, or a multipart upload's `model` and `user` fields) in the
    first running experiment that takes it; the decision goes to the scope."""
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        return
    asked = model or registry.default_model
    found = registry.candidates(asked)
    if found is None or requested_override(scope) is not None:
        return
    group, runs = found
    key = scope.get("grid.key")
    models = key.models if key is not None else None
    if models and asked not in models and group not in models:
        return  # the route step answers 403; nothing to learn from it
    for run in runs:
        if not run.enrolling:
            continue
        if models and not registry.permits(run, models, group):
            continue  # a variant outside the key's model list: never enrolled in this experiment
        unit = unit_of(run, scope, body)
        if unit is None:
            continue
        index = run.assign(unit)
        if index is None:
            continue
        assignment = Assignment(run, index)
        _apply(scope, assignment, registry, owner_of(key))
        return


def _apply(scope: Scope, assignment: Assignment, registry: ExperimentRegistry, owner: str) -> None:
    experiment, variant = assignment.experiment, assignment.variant
    scope["grid.experiment"] = assignment
    headers = scope.get("grid.headers")
    if headers is None:
        headers = scope["grid.headers"] = {}
    headers[EXPERIMENT_HEADER] = f"{experiment}={variant}"
    assignment.stats.assigned += 1
    assignment.run.assignments[assignment.index].inc()
    request_id = scope.get("grid.request_id")
    if request_id:
        registry.feedback.remember(request_id, experiment, variant, owner)


def unit_of(run: ExperimentRun, scope: Scope, body: dict) -> str | None:
    """The unit a request belongs to for `run`, or None when the request does not carry one."""
    unit = run.spec.unit
    if unit == "user" or run.spec.unit_fallback:
        user = body.get("user")
        if isinstance(user, str) and user:
            return "user:" + user
        if not run.spec.unit_fallback:
            return None
        unit = "key"
    if unit == "key":
        key = scope.get("grid.key")
        return "key:" + key.key if key is not None else None
    if unit == "session":
        for name, value in scope["headers"]:
            if name == SESSION_HEADER and value:
                return "session:" + value.decode("latin-1")
        return None
    request_id = scope.get("grid.request_id")
    return "request:" + request_id if request_id else None


def _parse(raw: bytes, max_depth: int) -> dict | None:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(body, dict) or too_deep(raw, body, max_depth):
        return None
    return body


async def _read_body(receive: Receive) -> tuple[bytes, Message | None]:
    """The whole body, and the message that cut it short (a disconnect) if any."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks) if len(chunks) > 1 else chunks[0], None


def _replay(raw: bytes, pending: Message | None, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then whatever comes next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if pending is not None:
                return pending
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replay
