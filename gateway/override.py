"""How a client asks for a per-request model override: `?override_model=` or `x-grid-model-override`.

Read from the raw ASGI scope, by the route step and by the experiments middleware (an overridden
request is not enrolled). Building Starlette's QueryParams and Headers per request cost more than
the rest of routing, so neither is built here.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import Scope

OVERRIDE_QUERY = "override_model"
OVERRIDE_HEADER = b"x-grid-model-override"
_QUERY_BYTES = OVERRIDE_QUERY.encode()


def requested_override(scope: Scope) -> str | None:
    """The model the request asks for instead of its `model`, or None. The query parameter wins."""
    query = scope.get("query_string", b"")
    if query and _QUERY_BYTES in query:
        for key, value in parse_qsl(query.decode("latin-1")):
            if key == OVERRIDE_QUERY and value:
                return value
    for name, value in scope["headers"]:
        if name == OVERRIDE_HEADER and value:
            return value.decode("latin-1")
    return None
