"""The end of an enrolled request, as its variant's statistics see it.

Called by the access-log middleware after the last byte (for streams, after the relay ended), with
what the endpoint left in the scope: the fallback trace, token usage, time to first token and how a
stream ended. A request counts as an error for its variant when it ended in 5xx or 429, when a stream
failed after it started, or when a fallback group served it (the variant itself failed; the client
was rescued by the chain).
"""

from __future__ import annotations

from typing import Any

from starlette.types import Scope

from gateway.experiments.registry import Assignment
from gateway.model_map import cost_per_token

CLIENT_CLOSED = 499  # the client went away before the answer (nginx's code, as the proxy endpoint uses)
# Successes are checked against the guardrail every this many outcomes of a variant, errors at once.
GUARDRAIL_EVERY = 32


def is_error(status: int, stream_end: str | None, fallbacks: int) -> bool:
    return status >= 500 or status == 429 or stream_end == "error" or fallbacks > 0


def record_outcome(scope: Scope, status: int, elapsed: float, log_fields: dict[str, Any]) -> None:
    """Record the request for its variant (if it was enrolled) and add `experiment`/`variant` to the
    access log fields."""
    assignment: Assignment | None = scope.get("grid.experiment")
    if assignment is None:
        return
    log_fields["experiment"] = assignment.experiment
    log_fields["variant"] = assignment.variant
    trace = scope.get("grid.trace")
    fallbacks = trace.fallbacks if trace is not None else 0
    stream_end = scope.get("grid.stream_end")
    prompt = completion = cost = None
    usage = scope.get("grid.usage")
    if isinstance(usage, dict):
        prompt, completion = _int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))
        dep = trace.deployment if trace is not None else None
        prices = cost_per_token(dep.model) if dep is not None else None
        if prices is not None:
            cost = (prompt or 0) * prices[0] + (completion or 0) * prices[1]
    gone = status == CLIENT_CLOSED or stream_end == "disconnected"  # the client left: no latency
    rejected = 400 <= status < 500 and status not in (429, CLIENT_CLOSED)  # the request was refused
    error = is_error(status, stream_end, fallbacks)
    assignment.stats.record(
        error=error,
        rejected=rejected,
        fallback=fallbacks > 0,
        latency=None if rejected or gone else elapsed,
        ttft=scope.get("grid.ttft"),
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost=cost,
    )
    # A variant crosses the guardrail on errors of its own; the control's successes (which lower the
    # bar) can tip it too, so those are tested every GUARDRAIL_EVERY outcomes rather than each time.
    if error or assignment.stats.requests % GUARDRAIL_EVERY == 0:
        assignment.run.check_guardrail(assignment.index)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
