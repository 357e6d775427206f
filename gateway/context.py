"""Per-request context carried across modules (log lines pick the request id up from here)."""

from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("grid_request_id", default=None)
