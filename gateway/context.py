"""Per-request context carried across modules (log lines pick the request id up from here)."""

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("grid_request_id", default=None)
# Headers an upstream attempt sends besides its own (W3C `traceparent`/`tracestate` of the attempt's
# span, set by gateway.tracing around each attempt); None when tracing is off
upstream_headers_var: ContextVar[dict[str, str] | None] = ContextVar("grid_upstream_headers", default=None)
