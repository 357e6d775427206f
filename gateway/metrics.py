"""Prometheus metrics (DESIGN.md section 1). Labels are bounded: group and deployment ids only.

Requested model names are user input, so `model` labels carry the group that served (or `unknown`),
never the raw string a client sent.
"""

from __future__ import annotations

import functools
import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    multiprocess,
)

# `--workers N` sets PROMETHEUS_MULTIPROC_DIR: every worker writes its samples to files there and
# `/metrics` from any worker reports the sum over all of them.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

disable_created_metrics()
REGISTRY = CollectorRegistry(auto_describe=True)


def scrape_registry() -> CollectorRegistry:
    """The registry to expose: this process's, or the aggregate of all workers in multiprocess mode."""
    if not os.environ.get(MULTIPROC_ENV):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


@functools.lru_cache(maxsize=4096)
def child(metric, *labels: str):
    """`metric.labels(*labels)`, remembered. `labels()` converts every value and takes a lock on each
    call, a measurable share of a proxied request's CPU; label values are bounded (group and
    deployment ids, statuses), so the cache stays small. Pass strings: they are the cache key."""
    return metric.labels(*labels)


@functools.lru_cache(maxsize=4096)
def adder(metric, *labels: str):
    """The `inc(amount)` of a counter's (or gauge's) child value, remembered: what `child(...).inc`
    ends in, without `Counter.inc`'s two checks (observability and sign: our metrics are observable,
    and the amounts given here are never negative). Two Python frames less per count; a proxied
    request counts several times. Same value object, so the exposition (and multiprocess mode,
    whose value class this is too) sees the same samples."""
    return metric.labels(*labels)._value.inc if labels else metric._value.inc


LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)

REQUESTS = Counter(
    "grid_requests_total",
    "Requests by served model group, deployment and status",
    ["model", "deployment", "status"],
    registry=REGISTRY,
)
REQUEST_DURATION = Histogram(
    "grid_request_duration_seconds",
    "Total request duration by endpoint",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
UPSTREAM_LATENCY = Histogram(
    "grid_upstream_latency_seconds",
    "Upstream latency by deployment",
    ["deployment"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
TTFT = Histogram(
    "grid_time_to_first_token_seconds",
    "Time to the first streamed event by model group",
    ["model"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
OVERHEAD = Histogram(
    "grid_overhead_seconds",
    "Time spent in the gateway itself (total minus upstream)",
    buckets=OVERHEAD_BUCKETS,
    registry=REGISTRY,
)
RETRY_ATTEMPTS = Histogram(
    "grid_retry_attempts",
    "Upstream attempts per request",
    buckets=(1, 2, 3, 4, 5, 6, 8, 10),
    registry=REGISTRY,
)
FALLBACKS = Counter(
    "grid_fallbacks_total",
    "Requests served by a later group of the fallback chain",
    ["from", "to"],
    registry=REGISTRY,
)
OVERRIDES = Counter(
    "grid_model_override_total",
    "Per-request model overrides by the group they resolved to",
    ["model"],
    registry=REGISTRY,
)
DEPLOYMENT_STATE = Gauge(
    "grid_deployment_state",
    "Breaker state: 0 healthy, 1 half-open, 2 open (the worst across workers)",
    ["deployment"],
    registry=REGISTRY,
    multiprocess_mode="livemax",
)
IN_FLIGHT = Gauge(
    "grid_in_flight_requests", "Requests being served", registry=REGISTRY, multiprocess_mode="livesum"
)
TOKENS = Counter("grid_tokens_total", "Tokens by model group and type", ["model", "type"], registry=REGISTRY)
COST = Counter("grid_cost_usd_total", "Estimated cost in USD by model group", ["model"], registry=REGISTRY)
AUTO_ROUTE = Counter(
    "grid_auto_route_total",
    "model=auto decisions by task and chosen group",
    ["task", "model"],
    registry=REGISTRY,
)
EXPERIMENT_ASSIGNMENTS = Counter(
    "grid_experiment_assignments_total",
    "Experiment enrolments by variant",
    ["experiment", "variant"],
    registry=REGISTRY,
)
CACHE_REQUESTS = Counter(
    "grid_cache_requests", "Response cache outcomes: hit, miss, skip", ["result"], registry=REGISTRY
)
CACHE_SAVED_TOKENS = Counter(
    "grid_cache_saved_tokens",
    "Tokens answered from the response cache, by model group",
    ["model"],
    registry=REGISTRY,
)
CACHE_SAVED_COST = Counter(
    "grid_cache_saved_cost_usd",
    "Estimated provider cost the response cache saved, in USD, by model group",
    ["model"],
    registry=REGISTRY,
)
STATE_BACKEND_UP = Gauge(
    "grid_state_backend_up",
    "1 when the state backend is reachable (always 1 in-process); 0 while Redis is down",
    registry=REGISTRY,
    multiprocess_mode="livemin",
)
STATE_BACKEND_UP.set(1)
STATE_ROUND_TRIPS = Counter(
    "grid_state_backend_round_trips_total",
    "Round trips to the shared state backend by operation (admit is the only one a request waits for)",
    ["op"],
    registry=REGISTRY,
)
KEY_BUDGET_USED = Gauge(
    "grid_key_budget_used_ratio",
    "Share of a key's max_budget spent in its current budget window, as of its last request",
    ["key"],
    registry=REGISTRY,
    multiprocess_mode="livemax",
)
KEY_REQUESTS = Counter("grid_key_requests_total", "Requests by client key name", ["key"], registry=REGISTRY)
KEY_SPEND = Counter(
    "grid_key_spend_usd_total", "Estimated spend in USD by client key name", ["key"], registry=REGISTRY
)
RATE_LIMITED = Counter(
    "grid_rate_limited_total",
    "Requests refused by a key's limit (requests, tokens, parallel, budget)",
    ["key", "limit"],
    registry=REGISTRY,
)
