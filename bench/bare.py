"""`python -m bench.bare --upstream URL --port N`: the yardstick of issue 7, a bare pass-through.

Starlette + aiohttp, uvicorn with uvloop and httptools, one route: the request body goes to the
upstream as it came, the upstream's answer comes back as it came (streams chunk by chunk). No auth,
no routing, no retries, no logs, no metrics: what any Python gateway on this stack costs at the
least. `make bench-peers` runs it as the `bare` row, so GRID's figures can be read against it.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route


def create_app(upstream: str) -> Starlette:
    url = f"{upstream.rstrip('/')}/chat/completions"
    session: aiohttp.ClientSession | None = None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        nonlocal session
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        yield
        await session.close()

    async def chat(request: Request) -> Response:
        assert session is not None
        body = await request.body()
        headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
        resp = await session.post(url, data=body, headers=headers)
        if resp.content_type == "text/event-stream":

            async def relay() -> AsyncIterator[bytes]:
                try:
                    async for chunk in resp.content.iter_any():
                        yield chunk
                finally:
                    resp.release()

            return StreamingResponse(relay(), status_code=resp.status, media_type="text/event-stream")
        raw = await resp.read()
        resp.release()
        return Response(raw, status_code=resp.status, media_type="application/json")

    async def health(request: Request) -> Response:
        return Response("ok")

    routes = [Route("/v1/chat/completions", chat, methods=["POST"]), Route("/", health)]
    return Starlette(routes=routes, lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__.split("\n")[0])
    parser.add_argument("--upstream", required=True, help="the upstream's base URL, ending in /v1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.upstream),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
