"""`model="auto"` in the routing layer: when the selector decides, and what it is told afterwards.

The selector (`gateway.selector`) is pure of HTTP; this module reads what it needs from the request's
ASGI scope and body (the model asked, the override, the client key's permissions, the session),
asks it, and turns the
decision into a `Resolution` whose chain is: the chosen group, the group's own configured fallbacks,
then the next-best candidates. It leaves `x-grid-route-reason` in `scope["grid.headers"]` and the
`Decision` in `scope["grid.route"]` for the access log, and counts `grid_auto_route_total`.

Afterwards, `record_outcome` feeds the request's outcome back into the selector's history; the access
log middleware calls it through `scope["grid.feedback"]`, set here for every chat request.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from starlette.types import Scope

from gateway import metrics
from gateway.config.model import ApiKey, Snapshot
from gateway.errors import InvalidRequest, ModelNotFound, NoHealthyDeployment, PermissionDenied
from gateway.routing.balancer import Balancer
from gateway.routing.breaker import BreakerState
from gateway.routing.permissions import group_permitted, key_allows, names_of
from gateway.routing.resolve import Resolution, resolve, resolver_for
from gateway.selector import Decision, Selector, Unservable

if TYPE_CHECKING:
    from gateway.state import GatewayState

AUTO_MODEL = "auto"
SESSION_HEADER = "x-session-id"
SESSION_HEADER_RAW = SESSION_HEADER.encode()
REASON_HEADER = "x-grid-route-reason"
MAX_SESSION_ID = 256
# the candidates are chat models; Anthropic Messages and Responses requests are chat turns too (their
# endpoints hand the selector a chat view of the body, and translate where a deployment needs it)
CHAT_PATHS = frozenset(
    {"/chat/completions", "/v1/chat/completions", "/v1/messages", "/messages", "/v1/responses", "/responses"}
)
OPEN = BreakerState.OPEN
MAX_RESOLUTIONS = 1024  # per snapshot


def auto_route(
    scope: Scope, state: GatewayState, body: dict[str, Any], asked: str | None, override: str | None
) -> Resolution | None:
    """The auto-selected resolution, or None when the request is not auto-routed.

    Auto-routed: the model asked (or the override, or GRID_AI_MODEL) is "auto"; or
    `model_routing.auto_select` is on and no override names a model.
    """
    selector = state.selector
    name = override or asked or state.snapshot.default_model
    if name != AUTO_MODEL and not (selector.config.auto_select and override is None):
        return None
    if scope["path"] not in CHAT_PATHS:
        if name == AUTO_MODEL:
            raise InvalidRequest(
                "model 'auto' selects among chat models: use it for chat completions.", param="model"
            )
        return None
    if not selector.enabled:
        raise ModelNotFound(AUTO_MODEL)
    key = scope.get("grid.key")
    if override is not None and key is not None and not key.allow_override:
        raise PermissionDenied("This key may not override the model.")
    asked_as = name or AUTO_MODEL
    allowed = _permitted(state.snapshot, key, asked_as)
    if allowed is not None and not any(allowed(g) for g in selector.candidates):
        raise PermissionDenied(f"This key may not use the model '{asked_as}'.")
    session = _session(scope, body, key)
    decision = _decide(selector, state, body, allowed, session)
    _publish(scope, decision)
    resolution = _resolution(state.snapshot, asked_as, decision, override is not None)
    if allowed is not None:  # a restricted key: its list bounds the fallbacks too
        resolution = _bounded(resolution, allowed, key, state.snapshot, selector.candidates)
    return resolution


def _bounded(resolution: Resolution, allowed, key: ApiKey, snapshot: Snapshot, candidates) -> Resolution:
    """The chain less the groups `key` may not be served by: a candidate the selector may pick for it
    (`allowed`), or any other group (a configured fallback) the key lists by name or alias."""
    chain = resolution.chain
    kept = tuple(g for g in chain if (allowed(g) if g in candidates else group_permitted(key, snapshot, g)))
    return resolution if len(kept) == len(chain) else replace(resolution, chain=kept)


def _permitted(snapshot: Snapshot, key: ApiKey | None, asked_as: str) -> Callable[[str], bool] | None:
    """group -> whether the client key may use it: by the name asked, the group or one of its
    aliases; None when it may use every candidate (the common case: no model list on the key)."""
    if key is None or not key.models:
        return None
    names = names_of(snapshot)

    def allowed(group: str) -> bool:
        return key_allows(key, asked_as, *names.get(group, (group,)))

    return allowed


def available_test(state: GatewayState) -> Callable[[str], bool]:
    """group -> whether some deployment of it can take a request (its breaker is not open)."""
    return _available_test(state.balancer, state.snapshot)


@lru_cache(maxsize=4)
def _available_test(balancer: Balancer, snapshot: Snapshot) -> Callable[[str], bool]:
    """The test for one balancer and snapshot, built once (both hash by identity)."""
    breaker = balancer.state
    deployments = {
        name: tuple(dep.id for dep in group.deployments) for name, group in snapshot.groups.items()
    }

    def available(group: str) -> bool:
        for dep_id in deployments.get(group, ()):  # noqa: SIM110 - a generator would cost more than the loop
            if breaker(dep_id) is not OPEN:
                return True
        return False

    return available


def _decide(selector: Selector, state: GatewayState, body, allowed, session) -> Decision:
    """The selector's decision, or the error that says why there is none."""
    # None: every candidate (the key lists no models) / every one is up (no breaker is open)
    available = available_test(state) if state.balancer.any_open else None
    try:
        return selector.decide(body, allowed=allowed, available=available, session=session)
    except Unservable as exc:
        rejected = exc.ranking.rejected
        cooling = [r.group for r in rejected if not r.unfit]
        if cooling:
            raise NoHealthyDeployment(
                f"No healthy deployment for the auto candidates {', '.join(cooling)}: every one is cooling down.",
                retry_after=max(state.balancer.retry_after(cooling), 1.0),
            ) from None
        why = "; ".join(f"{r.group}: {', '.join(r.reasons)}" for r in rejected)
        code = (
            "context_length_exceeded"
            if all("context window" in " ".join(r.reasons) for r in rejected)
            else "no_suitable_model"
        )
        raise InvalidRequest(
            f"No candidate model can serve this request ({why}).", param="model", code=code
        ) from None


def _resolution(snapshot: Snapshot, asked_as: str, decision: Decision, overridden: bool) -> Resolution:
    """The resolution of an auto-routed request (see `_chain`). Its inputs repeat (the same groups in
    the same order, request after request), so it is looked up rather than built each time."""
    chosen, ranking = decision.chosen, decision.ranking
    rejected = ranking.rejected
    unfit = tuple([r.group for r in rejected if r.unfit]) if rejected else ()
    key = (asked_as, chosen, ranking.groups, unfit, overridden)
    known = _resolutions(snapshot)
    found = known.get(key)
    if found is None:
        if len(known) >= MAX_RESOLUTIONS:
            known.clear()  # `asked_as` can be any name a client sends when auto_select is on
        found = known[key] = Resolution(
            asked_as, chosen, _chain(snapshot, chosen, ranking.groups, unfit), overridden
        )
    return found


@lru_cache(maxsize=4)
def _resolutions(snapshot: Snapshot) -> dict[tuple, Resolution]:
    """Auto-routed resolutions by their inputs, per snapshot (the few most recent: requests still
    finishing on an old one after a reload keep theirs)."""
    return {}


def _chain(
    snapshot: Snapshot, chosen: str, ranked: tuple[str, ...], unfit: tuple[str, ...]
) -> tuple[str, ...]:
    """The chosen group, its configured fallbacks (less the candidates unfit for this request), then
    the next-best candidates (`ranked`, best first); no group twice."""
    configured = resolve(snapshot, chosen).chain[1:]
    chain = [chosen, *(g for g in configured if g not in unfit), *ranked]
    return tuple(dict.fromkeys(chain))


def group_of(snapshot: Snapshot, name: str) -> str | None:
    return resolver_for(snapshot).group_of(name)


def _session(scope: Scope, body: Mapping[str, Any], key) -> tuple[str, str] | None:
    """The session a request belongs to (`x-session-id`, else the body's `user`), per client key."""
    session = None
    for name, value in scope["headers"]:  # straight from the ASGI scope (lower-case names)
        if name == SESSION_HEADER_RAW:
            session = value.decode("latin-1")
            break
    if not session:
        session = body.get("user")
        if not isinstance(session, str) or not session:
            return None
    return (key.name if key is not None else "", session[:MAX_SESSION_ID])


def _publish(scope: Scope, decision: Decision) -> None:
    """`x-grid-route-reason`, the decision for the access log, and `grid_auto_route_total`."""
    reason = decision.reason
    headers = scope.get("grid.headers")
    if headers is None:
        scope["grid.headers"] = {REASON_HEADER: reason}
    else:
        headers[REASON_HEADER] = reason
    scope["grid.route"] = decision  # the access log reads its task, complexity and reason
    _route_counter(decision.analysis.task, decision.chosen).inc()


@lru_cache(maxsize=1024)
def _route_counter(task: str, group: str):
    """`grid_auto_route_total{task, model}`'s child, looked up once per pair (labels() takes a lock)."""
    return metrics.AUTO_ROUTE.labels(task, group)


# -- afterwards ------------------------------------------------------------------------------------


def watch_outcome(scope: Scope, state: GatewayState) -> None:
    """Have the access log hand this chat request's outcome to the selector's history."""
    if state.selector.enabled and scope["path"] in CHAT_PATHS:
        scope["grid.feedback"] = _feedback_for(state.selector)


@lru_cache(maxsize=4)
def _feedback_for(selector: Selector) -> Callable[[Scope, int], None]:
    """`record_outcome` for one selector, made once (not a new partial per request)."""
    return partial(record_outcome, selector)


def record_outcome(selector: Selector, scope: Scope, status: int) -> None:
    """Latency (time to first byte) and success or failure, for the group that served and, when the
    chain fell back, as a failure for the group the request was routed to."""
    trace = scope.get("grid.trace")
    if trace is None or not trace.attempts:
        return  # nothing was sent upstream
    if scope.get("grid.stream"):
        stream_end = scope.get("grid.stream_end")
        if stream_end == "disconnected":
            return  # the client left: no verdict on the group
        if stream_end == "error":
            status = 502  # the stream failed after its headers went out
        latency = scope.get("grid.ttft")
    else:
        latency = trace.upstream_seconds if trace.attempts == 1 else None
    resolution = scope.get("grid.resolution")
    route = scope.get("grid.route")
    selector.feedback(  # positional (served, first, task, status, latency): keywords cost per request
        trace.group,
        resolution.group if resolution is not None else None,
        route.analysis.task if route is not None else None,
        status,
        latency,
    )
