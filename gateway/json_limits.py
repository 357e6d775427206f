"""Parse a client's JSON body within a nesting limit.

orjson reads up to 1024 levels of nesting but writes only about 254, so a body nested a few hundred
levels deep parses, then fails wherever the gateway serializes it again (a 500, a traceback). A body
nested deeper than `general_settings.max_json_depth` (default 64; real requests nest well under 20)
is therefore refused with a 400 when it is parsed.

The check is nearly free for ordinary bodies: nesting can only be as deep as the body has opening
brackets, and counting those is a C-speed scan of the bytes. Only a body with more brackets than the
limit (many messages, say) is walked, container by container, without recursion, stopping as soon as
it is too deep.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.errors import InvalidRequest

DEFAULT_MAX_DEPTH = 64
MAX_MAX_DEPTH = 250  # orjson cannot serialize deeper than about 254 levels


def depth_exceeds(value: Any, limit: int) -> bool:
    """Whether `value` (parsed JSON) nests containers deeper than `limit` (the top level is 1)."""
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        children = current.values() if isinstance(current, dict) else current
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False


def too_deep(raw: bytes, parsed: Any, limit: int) -> bool:
    """Whether `parsed` (the JSON `raw`) nests deeper than `limit`; a bracket count settles most bodies."""
    if not isinstance(parsed, (dict, list)):
        return False
    if raw.count(b"{") + raw.count(b"[") <= limit:
        return False
    return depth_exceeds(parsed, limit)


def parse_object(raw: bytes, max_depth: int) -> dict[str, Any]:
    """The JSON object in `raw`; `InvalidRequest` (400) when it is empty, not JSON, not an object, or
    nested deeper than `max_depth`."""
    if not raw:
        raise InvalidRequest("The request body is empty: send a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if too_deep(raw, body, max_depth):
        raise InvalidRequest(
            f"The request body nests JSON deeper than {max_depth} levels.", code="json_too_deep"
        )
    return body
