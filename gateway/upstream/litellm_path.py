"""The translation path: providers that do not speak the OpenAI wire format go through LiteLLM.

LiteLLM is imported lazily, the first time such a deployment is called, so a gateway with only
OpenAI-wire deployments never pays its import time. Its outputs are turned back into OpenAI JSON / SSE.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway import deadline
from gateway.config.model import Deployment
from gateway.context import upstream_headers_var
from gateway.upstream import failures
from gateway.upstream.litellm_errors import translate
from gateway.upstream.params import LITELLM, allowed
from gateway.upstream.stream import DONE, OpenStream

# litellm_params we do not hand to LiteLLM (ours, or routing knobs LiteLLM's Router reads, not acompletion)
_ROUTER_ONLY = frozenset({"model", "weight", "rpm", "tpm", "max_retries", "timeout", "stream_timeout"})

_litellm: Any = None
log = logging.getLogger("grid.litellm")


def _load() -> Any:
    global _litellm
    if _litellm is None:
        module = importlib.import_module("litellm")
        module.telemetry = False
        module.suppress_debug_info = True
        _litellm = module
    return _litellm


def preload(deployments: tuple[Deployment, ...] = ()) -> None:
    """Import LiteLLM at start-up when a deployment needs it, so no request pays the import, and
    have it look up each translated deployment's provider (its config classes load lazily): a cold
    first call is slow, and its latency would otherwise be the group's first sample (issue 18)."""
    litellm = _load()
    for dep in deployments:
        if dep.path != "litellm":
            continue
        try:
            litellm.get_supported_openai_params(model=dep.upstream_model, custom_llm_provider=dep.provider)
        except Exception:  # noqa: BLE001 - a warm-up: the first real call reports any problem
            log.debug("warming LiteLLM for %s failed", dep.id, exc_info=True)


def _kwargs(dep: Deployment, endpoint: str, body: dict[str, Any], request_id: str) -> dict[str, Any]:
    """The deployment's own settings, then the body's allow-listed OpenAI parameters (never
    connection, credential, header or provider options: those come from the deployment alone)."""
    kwargs = {k: v for k, v in dep.litellm_params.items() if k not in _ROUTER_ONLY}
    kwargs.update(allowed(body, LITELLM[endpoint]))
    kwargs["model"] = dep.model
    kwargs["timeout"] = deadline.bound(dep.timeout)
    kwargs["num_retries"] = 0  # the gateway's own chain retries
    # LiteLLM tries to import its optional MCP support when tools are present; GRID never uses it
    kwargs["_skip_mcp_handler"] = True
    headers = dict(dep.litellm_params.get("extra_headers") or {})
    headers["x-request-id"] = request_id
    traced = upstream_headers_var.get()
    if traced:
        headers.update(traced)
    kwargs["extra_headers"] = headers
    return kwargs


def _dump(obj: Any) -> bytes:
    if hasattr(obj, "model_dump"):
        return orjson.dumps(obj.model_dump(exclude_none=True))
    return orjson.dumps(obj)


class LiteLLMClient:
    ENDPOINTS = {
        "chat/completions": "acompletion",
        "completions": "atext_completion",
        "embeddings": "aembedding",
        "images/generations": "aimage_generation",
        "moderations": "amoderation",
    }

    async def call(
        self, dep: Deployment, endpoint: str, body: dict[str, Any], request_id: str
    ) -> tuple[bytes, Any]:
        litellm = _load()
        fn = getattr(litellm, self.ENDPOINTS[endpoint])
        try:
            result = await fn(**_kwargs(dep, endpoint, body, request_id))
        except Exception as exc:  # LiteLLM raises its own hierarchy; map it
            raise translate(exc, dep) from exc
        raw = _dump(result)
        return raw, orjson.loads(raw)

    async def open_stream(
        self, dep: Deployment, endpoint: str, body: dict[str, Any], request_id: str
    ) -> OpenStream:
        litellm = _load()
        fn = getattr(litellm, self.ENDPOINTS[endpoint])
        kwargs = _kwargs(dep, endpoint, body, request_id)
        try:
            stream = await asyncio.wait_for(fn(**kwargs), deadline.bound(dep.first_byte_timeout))
            iterator = stream.__aiter__()
            first = await asyncio.wait_for(iterator.__anext__(), deadline.bound(dep.first_byte_timeout))
        except StopAsyncIteration as exc:
            raise failures.malformed(dep.id, "the stream ended before its first event") from exc
        except Exception as exc:
            raise translate(exc, dep) from exc
        return OpenStream(first=_event(first), rest=_events(iterator, dep), close=lambda: None)


def _event(chunk: Any) -> bytes:
    return b"data: " + _dump(chunk) + b"\n\n"


async def _events(iterator: AsyncIterator[Any], dep: Deployment) -> AsyncIterator[bytes]:
    idle = dep.first_byte_timeout  # between chunks: `stream_timeout`, else `timeout`
    try:
        while True:
            try:
                async with asyncio.timeout(deadline.bound(idle)):  # and no later than the deadline
                    chunk = await iterator.__anext__()
            except StopAsyncIteration:
                break
            except TimeoutError as exc:
                raise failures.timed_out(dep.id, "next event") from exc
            yield _event(chunk)
    except Exception as exc:
        # after the first byte the chain never sees this error: redact the deployment's secrets here
        raise failures.redact(translate(exc, dep), dep) from exc
    yield DONE
