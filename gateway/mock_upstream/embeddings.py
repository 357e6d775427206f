"""`POST /v1/embeddings`: deterministic unit vectors derived from a hash of each input.

The same input always gets the same vector (so tests can compare), different inputs get different
ones, and `encoding_format: "base64"` is honoured because the official SDK asks for it by default.
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from typing import Any

import orjson
from aiohttp import web

from gateway.mock_upstream.errors import error_response
from gateway.mock_upstream.responses import Call, send_json
from gateway.mock_upstream.text import word_count

DEFAULT_DIMENSIONS = 16
MAX_DIMENSIONS = 8192


def _inputs(value: Any) -> list[Any] | None:
    """Each input separately: a string, a list of strings, a token list, or a list of token lists."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return [value]
        if all(isinstance(v, (str, list)) for v in value):
            return list(value)
    return None


def vector(item: Any, dimensions: int) -> list[float]:
    """A unit-length vector from SHAKE-128 of the input: cheap, stable across runs and machines."""
    key = item.encode() if isinstance(item, str) else orjson.dumps(item)
    raw = hashlib.shake_128(key).digest(2 * dimensions)
    values = [v / 32767.5 - 1.0 for v in struct.unpack(f"<{dimensions}H", raw)]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _tokens(item: Any) -> int:
    return word_count(item) if isinstance(item, str) else len(item)


async def embeddings(call: Call) -> web.StreamResponse:
    body = call.body
    if not isinstance(body.get("model"), str) or not body["model"]:
        return error_response(400, "you must provide a model parameter", param="model")
    items = _inputs(body.get("input"))
    if items is None:
        return error_response(
            400, "'input' must be a non-empty string, array of strings or token arrays", param="input"
        )
    dimensions = body.get("dimensions") or DEFAULT_DIMENSIONS
    if (
        not isinstance(dimensions, int)
        or isinstance(dimensions, bool)
        or not 1 <= dimensions <= MAX_DIMENSIONS
    ):
        return error_response(
            400, f"'dimensions' must be an integer from 1 to {MAX_DIMENSIONS}", param="dimensions"
        )
    fmt = body.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        return error_response(400, "'encoding_format' must be 'float' or 'base64'", param="encoding_format")
    data = []
    for i, item in enumerate(items):
        vec: Any = vector(item, dimensions)
        if fmt == "base64":
            vec = base64.b64encode(struct.pack(f"<{dimensions}f", *vec)).decode()
        data.append({"object": "embedding", "index": i, "embedding": vec})
    tokens = max(1, sum(_tokens(item) for item in items))
    return await send_json(
        call,
        {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
    )
