"""`python -m bench.experiments_middleware`: the per-request CPU cost of the experiments middleware.

Calls the middleware directly on ASGI messages (no server, no network), with an endpoint stand-in
that reads its body the way the real endpoints do (`json_body`), and reports the time per request
over the same endpoint without the middleware:

    off         no experiment running: one attribute read, then straight through
    ineligible  experiments running, the request's model is in none of them (body read once, parsed;
                the endpoint then skips its own read and parse, so this can come out below zero)
    enrolled    the request is enrolled (two hashes per variant, header, metric, feedback log)
"""

from __future__ import annotations

import asyncio
import time

import orjson
from starlette.requests import Request

from gateway.config.loader import build_from_dict
from gateway.config.problems import Problems
from gateway.endpoints.common import json_body
from gateway.experiments.middleware import ExperimentsMiddleware
from gateway.experiments.registry import ExperimentRegistry

N = 20_000
BODY = orjson.dumps(
    {"model": "fast", "user": "u", "messages": [{"role": "user", "content": "Say hello in one word. " * 20}]}
)


async def endpoint(scope, receive, send) -> None:
    await json_body(Request(scope, receive))


def registry(status: str) -> ExperimentRegistry:
    raw = {
        "model_list": [
            {"model_name": n, "litellm_params": {"model": f"openai/{n}", "api_base": "http://x/v1"}}
            for n in ("ctl", "var", "other")
        ],
        "router_settings": {"model_group_alias": {"fast": "ctl"}},
        "model_routing": {
            "experiments": [{"id": "e", "models": ["ctl", "var"], "applies_to": ["fast"], "status": status}]
        },
    }
    reg = ExperimentRegistry()
    reg.reload(build_from_dict(raw, {}, Problems()))
    return reg


async def per_request(app, body: bytes) -> float:
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive():
        return message

    async def send(_):
        return None

    headers = [(b"content-type", b"application/json")]
    best = float("inf")
    for _ in range(5):  # best of 5 rounds: the least disturbed by the rest of the machine
        started = time.perf_counter()
        for i in range(N):
            scope = {
                "type": "http",
                "method": "POST",
                "path": "/v1/chat/completions",
                "headers": headers,
                "query_string": b"",
                "grid.request_id": f"req-{i}",
            }
            await app(scope, receive, send)
        best = min(best, (time.perf_counter() - started) / N)
    return best


async def main() -> None:
    other = BODY.replace(b'"fast"', b'"other"')
    await per_request(endpoint, BODY)  # warm-up
    base = await per_request(endpoint, BODY)
    cases = {
        "off": (ExperimentsMiddleware(endpoint, registry("paused")), BODY),
        "ineligible": (ExperimentsMiddleware(endpoint, registry("running")), other),
        "enrolled": (ExperimentsMiddleware(endpoint, registry("running")), BODY),
    }
    print(f"endpoint alone (json_body of a {len(BODY)}-byte body): {base * 1e6:.2f} us/request")
    for name, (app, body) in cases.items():
        total = await per_request(app, body)
        print(f"{name:11} {total * 1e6:6.2f} us/request, middleware adds {(total - base) * 1e6:+.2f} us")


if __name__ == "__main__":
    asyncio.run(main())
