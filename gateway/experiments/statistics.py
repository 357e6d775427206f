"""The statistics behind experiment reports, in pure Python (`math` only, no SciPy).

Intervals and tests an experiment report needs, each a pure function of plain numbers:

- `wilson_interval`: a binomial proportion's confidence interval (error rates, boolean feedback); unlike
  the normal approximation it stays inside [0, 1] and behaves at 0 or n successes.
- `two_proportion_z_test`: do two error rates differ (pooled standard error)?
- `welch_t_test`: do two means differ when variances and sizes differ (log latency, feedback)?
- `chi_square_sf`: the goodness-of-fit p-value of the sample-ratio-mismatch check.

The distribution functions use the regularized incomplete beta function (Student's t) and the
regularized incomplete gamma function (chi-square), evaluated by the series and Lentz continued
fractions of Numerical Recipes (ch. 6.2, 6.4); both are accurate to ~1e-12 over the range we use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile: two-sided 95 % intervals

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 500


# --- special functions ----------------------------------------------------------------------------


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _beta_cf(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _MAX_ITER + 1):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = 1.0 + aa / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    front = math.exp(log_front)
    # the continued fraction converges fast for x < (a + 1) / (a + b + 2); use symmetry otherwise
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_cf(a, b, x) / a
    return 1.0 - front * _beta_cf(b, a, 1.0 - x) / b


def gammainc_upper(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x) = 1 - P(a, x), for a > 0, x >= 0."""
    if x <= 0.0:
        return 1.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:  # series for P(a, x)
        term = total = 1.0 / a
        ap = a
        for _ in range(_MAX_ITER):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _EPS:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    # continued fraction for Q(a, x) (modified Lentz)
    b = x + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    for i in range(1, _MAX_ITER + 1):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = 1.0 / (d if abs(d) > _TINY else _TINY)
        c = b + an / c
        c = c if abs(c) > _TINY else _TINY
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _EPS:
            break
    return min(1.0, h * math.exp(log_front))


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` degrees of freedom (df may be fractional, as Welch's is)."""
    if math.isinf(df):
        return 1.0 - normal_sf(t)
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))  # P(T > |t|)
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t value with P(T <= t) = p, by bisection on `t_cdf` (for intervals; not on the hot path)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be strictly between 0 and 1")
    lo, hi = -1.0, 1.0
    while t_cdf(lo, df) > p:
        lo *= 2.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, abs(mid)):
            break
    return (lo + hi) / 2.0


def chi_square_sf(x: float, df: float) -> float:
    """P(X > x) for a chi-square X with `df` degrees of freedom."""
    return gammainc_upper(df / 2.0, x / 2.0)


# --- intervals and tests --------------------------------------------------------------------------


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion; (0, 1) when there is no data."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True, slots=True)
class TestResult:
    statistic: float  # z, t or chi-square
    p_value: float  # two-sided unless the function says otherwise
    df: float | None = None


def two_proportion_z_test(x1: int, n1: int, x2: int, n2: int) -> TestResult:
    """H0: p1 == p2, pooled standard error; z > 0 when the second proportion is larger.

    With no data, or no variation at all (every trial a success, or none), there is no evidence of a
    difference: z = 0, p = 1.
    """
    if n1 <= 0 or n2 <= 0:
        return TestResult(0.0, 1.0)
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0.0:
        return TestResult(0.0, 1.0)
    z = (x2 / n2 - x1 / n1) / se
    return TestResult(z, min(1.0, 2 * normal_sf(abs(z))))


def welch_t_test(mean1: float, var1: float, n1: int, mean2: float, var2: float, n2: int) -> TestResult | None:
    """H0: mean1 == mean2 without assuming equal variances (Welch-Satterthwaite degrees of freedom);
    t > 0 when the second mean is larger. `var` is the sample variance (n - 1 denominator). None when
    either side has fewer than two observations."""
    if n1 < 2 or n2 < 2:
        return None
    s1, s2 = var1 / n1, var2 / n2
    se2 = s1 + s2
    if se2 <= 0.0:
        same = mean1 == mean2
        return TestResult(0.0 if same else math.copysign(math.inf, mean2 - mean1), 1.0 if same else 0.0)
    t = (mean2 - mean1) / math.sqrt(se2)
    df = se2 * se2 / (s1 * s1 / (n1 - 1) + s2 * s2 / (n2 - 1))
    return TestResult(t, min(1.0, 2 * (1.0 - t_cdf(abs(t), df))), df)


def chi_square_goodness_of_fit(
    observed: Sequence[int], expected_shares: Sequence[float]
) -> TestResult | None:
    """Do `observed` counts fit the expected shares? None when there is nothing to test. Categories
    with an expected share of 0 are left out (nothing can be assigned to them)."""
    pairs = [(o, s) for o, s in zip(observed, expected_shares, strict=True) if s > 0]
    total = sum(o for o, _ in pairs)
    share_sum = sum(s for _, s in pairs)
    if total == 0 or len(pairs) < 2:
        return None
    chi2 = 0.0
    for o, s in pairs:
        e = total * s / share_sum
        chi2 += (o - e) ** 2 / e
    df = len(pairs) - 1
    return TestResult(chi2, chi_square_sf(chi2, df), df)


def mean_interval(mean: float, var: float, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """The t interval of a mean; None with fewer than two observations."""
    if n < 2:
        return None
    half = t_quantile(0.5 + confidence / 2, n - 1) * math.sqrt(var / n)
    return (mean - half, mean + half)
