"""A/B experiments: sticky traffic splitting as middleware, per-variant statistics, feedback and a
kill switch. See docs/experiments.md.

    config      parse and check `model_routing.experiments`
    assign      pure: hash draws, enrolment, weighted variant pick
    middleware  pure ASGI: parse the body once, enrol, set the header
    registry    per-process run-time state: status, statistics, feedback log
    outcome     the end of a request, recorded for its variant
    stats       per-variant counters, moments and reservoirs
    statistics  pure math: Wilson, z-test, Welch's t, chi-square
    guardrail   pure: when a failing variant stops its experiment
    report      what the admin API answers
    feedback    the bounded request id -> variant map
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.state import GatewayState


def experiments_summary(state: GatewayState) -> dict[str, Any]:
    """Running experiments in brief, for `/admin/model-selector/stats`."""
    from gateway.experiments.report import summary

    runs = [run for run in state.experiments if run.status == "running"]
    return {"running": len(runs), "experiments": [summary(run) for run in runs]}
