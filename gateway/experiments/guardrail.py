"""The guardrail: stop an experiment on its own when a variant fails more often than the control.

A pure decision on plain counts: once the control and a variant both have `min_requests` outcomes, a
one-sided two-proportion z-test asks whether the variant's error rate is higher than the control's;
p below the configured threshold (default 0.01) stops the experiment, and the reason says why in
numbers. It is checked after every outcome, so it tests repeatedly as data arrives; that makes it
somewhat trigger-happy for a given threshold, which is the right side to err on for a safety stop.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.experiments.config import Guardrail
from gateway.experiments.statistics import normal_sf, two_proportion_z_test


@dataclass(frozen=True, slots=True)
class Counts:
    requests: int
    errors: int


def breach(control: Counts, variant: Counts, settings: Guardrail) -> str | None:
    """Why the variant must be stopped, or None while it may go on."""
    if not settings.enabled:
        return None
    if control.requests < settings.min_requests or variant.requests < settings.min_requests:
        return None
    test = two_proportion_z_test(control.errors, control.requests, variant.errors, variant.requests)
    if test.statistic <= 0:
        return None
    p_worse = normal_sf(test.statistic)  # one-sided: the variant's error rate is the higher one
    if p_worse >= settings.p_value:
        return None
    return (
        f"error rate {variant.errors / variant.requests:.1%} ({variant.errors}/{variant.requests}) vs control "
        f"{control.errors / control.requests:.1%} ({control.errors}/{control.requests}), "
        f"one-sided p={p_worse:.2g} < {settings.p_value:g}"
    )
