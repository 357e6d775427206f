"""What `GET /admin/experiments` answers: per variant figures, each variant against the control, a
sample-ratio-mismatch check and a one-line verdict. Pure: statistics in, plain dicts out.

Differences are reported as variant minus control. Latency is compared on the log scale (Welch's t-test
on log seconds), since latencies are skewed and multiplicative: the effect is a ratio of geometric means.
"""

from __future__ import annotations

import math
from typing import Any

from gateway.experiments.registry import ExperimentRun
from gateway.experiments.statistics import (
    chi_square_goodness_of_fit,
    mean_interval,
    two_proportion_z_test,
    welch_t_test,
    wilson_interval,
)
from gateway.experiments.stats import VariantStats

ALPHA = 0.05  # significance of the verdict's differences
SRM_ALPHA = 0.001  # a sample ratio mismatch this unlikely means the assignment is broken
SRM_MIN_EXPECTED = 5  # the chi-square approximation needs about this many expected per variant
MIN_FOR_VERDICT = 30  # outcomes per variant before the verdict compares anything


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def variant_report(name: str, stats: VariantStats, weight: float, control: bool) -> dict[str, Any]:
    lo, hi = wilson_interval(stats.errors, stats.requests)
    usage_n, priced_n = stats.usage_requests, stats.priced_requests
    return {
        "variant": name,
        "control": control,
        "weight": round(weight, 6),
        "assigned": stats.assigned,
        "requests": stats.requests,
        "errors": stats.errors,
        "rejected": stats.rejected,
        "fallbacks": stats.fallbacks,
        "error_rate": _round(stats.error_rate),
        "error_rate_ci95": [_round(lo), _round(hi)] if stats.requests else None,
        "latency_ms": {"p50": _ms(stats.latency.quantile(0.5)), "p95": _ms(stats.latency.quantile(0.95))},
        "ttft_ms": {
            "p50": _ms(stats.ttft.quantile(0.5)),
            "p95": _ms(stats.ttft.quantile(0.95)),
            "streams": stats.ttft.seen,
        },
        "tokens_per_request": {
            "prompt": _round(stats.prompt_tokens / usage_n, 3) if usage_n else None,
            "completion": _round(stats.completion_tokens / usage_n, 3) if usage_n else None,
        },
        "cost_per_request_usd": _round(stats.cost_usd / priced_n, 9) if priced_n else None,
        "feedback": feedback_report(stats),
    }


def feedback_report(stats: VariantStats) -> dict[str, Any]:
    fb = stats.feedback
    if fb.n == 0:
        return {"count": 0, "mean": None, "ci95": None}
    if stats.feedback_binary:
        interval: tuple[float, float] | None = wilson_interval(stats.feedback_positive, fb.n)
    else:
        interval = mean_interval(fb.mean, fb.variance, fb.n)
    return {
        "count": fb.n,
        "mean": _round(fb.mean),
        "ci95": [_round(interval[0]), _round(interval[1])] if interval else None,
    }


def comparison(control: VariantStats, variant: VariantStats, name: str) -> dict[str, Any]:
    errors = two_proportion_z_test(control.errors, control.requests, variant.errors, variant.requests)
    result: dict[str, Any] = {
        "variant": name,
        "error_rate": {
            "difference": _round((variant.error_rate or 0.0) - (control.error_rate or 0.0))
            if control.requests and variant.requests
            else None,
            "z": _round(errors.statistic, 4),
            "p_value": _round(errors.p_value),
        },
    }
    a, b = control.log_latency, variant.log_latency
    latency = welch_t_test(a.mean, a.variance, a.n, b.mean, b.variance, b.n)
    result["latency"] = (
        None
        if latency is None
        else {
            "ratio": _round(math.exp(b.mean - a.mean), 4),  # geometric mean, variant / control
            "t": _round(latency.statistic, 4),
            "df": _round(latency.df, 2),
            "p_value": _round(latency.p_value),
        }
    )
    result["feedback"] = _feedback_comparison(control, variant)
    return result


def _feedback_comparison(control: VariantStats, variant: VariantStats) -> dict[str, Any] | None:
    a, b = control.feedback, variant.feedback
    if a.n == 0 or b.n == 0:
        return None
    if control.feedback_binary and variant.feedback_binary:
        test = two_proportion_z_test(control.feedback_positive, a.n, variant.feedback_positive, b.n)
        name = "z"
    else:
        found = welch_t_test(a.mean, a.variance, a.n, b.mean, b.variance, b.n)
        if found is None:
            return {"difference": _round(b.mean - a.mean), "p_value": None}
        test, name = found, "t"
    return {
        "difference": _round(b.mean - a.mean),
        name: _round(test.statistic, 4),
        "p_value": _round(test.p_value),
    }


def sample_ratio(run: ExperimentRun) -> dict[str, Any]:
    observed = [v.assigned for v in run.variants]
    shares = run.spec.weights
    test = chi_square_goodness_of_fit(observed, shares)
    total = sum(observed)
    enough = all(total * s >= SRM_MIN_EXPECTED for s in shares if s > 0)
    return {
        "observed": dict(zip(run.spec.models, observed, strict=True)),
        "expected": {m: round(total * s, 2) for m, s in zip(run.spec.models, shares, strict=True)},
        "chi_square": None if test is None else _round(test.statistic, 4),
        "p_value": None if test is None else _round(test.p_value, 8),
        "mismatch": enough and test is not None and test.p_value < SRM_ALPHA,
    }


def verdict(run: ExperimentRun, comparisons: list[dict[str, Any]], srm: dict[str, Any]) -> str:
    """One line a human can act on, most urgent finding first."""
    if run.status == "stopped" and run.status_reason.startswith("guardrail"):
        return f"stopped by the {run.status_reason}"
    if srm["mismatch"]:
        return (
            f"sample ratio mismatch (chi-square p={srm['p_value']:.2g}): assignment does not follow the "
            "configured split; do not trust the comparisons"
        )
    smallest = min(v.requests for v in run.variants)
    if smallest < MIN_FOR_VERDICT:
        return f"collecting data: {smallest} outcome(s) for the smallest variant, {MIN_FOR_VERDICT} needed"
    findings = []
    for c in comparisons:
        name = c["variant"]
        err = c["error_rate"]
        if err["p_value"] is not None and err["p_value"] < ALPHA and err["difference"]:
            findings.append(
                f"{name} {'more' if err['difference'] > 0 else 'fewer'} errors (p={err['p_value']:.2g})"
            )
        lat = c["latency"]
        if lat is not None and lat["p_value"] is not None and lat["p_value"] < ALPHA:
            change = "slower" if lat["ratio"] > 1 else "faster"
            findings.append(f"{name} {change} (x{lat['ratio']:.2f}, p={lat['p_value']:.2g})")
        fb = c["feedback"]
        if fb is not None and fb["p_value"] is not None and fb["p_value"] < ALPHA:
            findings.append(
                f"{name} {'better' if fb['difference'] > 0 else 'worse'} feedback (p={fb['p_value']:.2g})"
            )
    control = run.spec.control
    if not findings:
        return f"no significant difference from control {control} yet (alpha {ALPHA:g})"
    return f"vs control {control}: " + "; ".join(findings)


def experiment_report(run: ExperimentRun) -> dict[str, Any]:
    spec = run.spec
    control = run.variants[0]
    comparisons = [
        comparison(control, stats, name)
        for name, stats in zip(spec.models[1:], run.variants[1:], strict=True)
    ]
    srm = sample_ratio(run)
    return {
        "id": spec.id,
        "name": spec.name,
        "status": run.status,
        "status_reason": run.status_reason,
        "status_changed_at": round(run.status_changed_at, 3),
        "enrolling": run.enrolling,
        "control": spec.control,
        "applies_to": list(spec.applies_to),
        "unit": spec.unit if not spec.unit_fallback else "user, else key",
        "traffic_percentage": spec.traffic_percentage,
        "guardrail": {
            "enabled": spec.guardrail.enabled,
            "min_requests": spec.guardrail.min_requests,
            "p_value": spec.guardrail.p_value,
        },
        "variants": [
            variant_report(name, stats, weight, i == 0)
            for i, (name, stats, weight) in enumerate(
                zip(spec.models, run.variants, spec.weights, strict=True)
            )
        ],
        "comparisons": comparisons,
        "sample_ratio": srm,
        "verdict": verdict(run, comparisons, srm),
    }


def summary(run: ExperimentRun) -> dict[str, Any]:
    """A few lines per experiment, for the model-selector statistics."""
    full = experiment_report(run)
    return {
        "id": full["id"],
        "name": full["name"],
        "status": full["status"],
        "models": list(run.spec.models),
        "traffic_percentage": full["traffic_percentage"],
        "requests": {v["variant"]: v["requests"] for v in full["variants"]},
        "error_rate": {v["variant"]: v["error_rate"] for v in full["variants"]},
        "latency_p50_ms": {v["variant"]: v["latency_ms"]["p50"] for v in full["variants"]},
        "verdict": full["verdict"],
    }
