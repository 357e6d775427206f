"""Routing: which model group serves a request, and which deployment of it.

`resolve` turns the requested model into a chain of model groups (override, alias, fallbacks);
`Balancer` picks a healthy deployment of a group (a strategy plus a circuit breaker per deployment).
The decisions are pure functions in `resolve`, `strategies` and `breaker`; `Balancer` holds the
per-process state around them.
"""

from gateway.routing.balancer import Balancer
from gateway.routing.breaker import Breaker, BreakerPolicy, BreakerState
from gateway.routing.resolve import Resolution, Resolver, context_window_chain, resolve, resolver_for
from gateway.routing.stats import DeploymentStats
from gateway.routing.strategies import canonical as canonical_strategy

__all__ = [
    "Balancer",
    "Breaker",
    "BreakerPolicy",
    "BreakerState",
    "DeploymentStats",
    "Resolution",
    "Resolver",
    "canonical_strategy",
    "context_window_chain",
    "resolve",
    "resolver_for",
]
