"""The experiment statistics against values computed by hand or published in references."""

from __future__ import annotations

import math
import statistics

import pytest

from gateway.experiments.statistics import (
    betainc,
    chi_square_goodness_of_fit,
    chi_square_sf,
    gammainc_upper,
    mean_interval,
    normal_sf,
    t_cdf,
    t_quantile,
    two_proportion_z_test,
    welch_t_test,
    wilson_interval,
)


def test_normal_tail_at_the_familiar_quantiles():
    assert 2 * normal_sf(1.959963984540054) == pytest.approx(0.05, abs=1e-12)
    assert normal_sf(0) == 0.5
    assert normal_sf(2.326347874040841) == pytest.approx(0.01, abs=1e-12)


def test_t_cdf_matches_closed_forms_and_tables():
    # df = 1 is the Cauchy distribution: F(t) = 1/2 + atan(t)/pi
    for t in (-3.0, -0.5, 0.0, 1.0, 4.2):
        assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)
    # df = 2: F(t) = 1/2 + t / (2 sqrt(2 + t^2))
    for t in (-2.0, 0.3, 1.5, 10.0):
        assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)
    # printed t tables: two-sided 5 % and 1 % critical values
    assert t_cdf(2.228139, 10) == pytest.approx(0.975, abs=1e-6)
    assert t_cdf(3.169273, 10) == pytest.approx(0.995, abs=1e-6)
    assert t_cdf(2.085963, 20) == pytest.approx(0.975, abs=1e-6)
    assert t_cdf(1.96, math.inf) == pytest.approx(0.975, abs=1e-4)


def test_t_quantile_inverts_the_cdf():
    assert t_quantile(0.975, 10) == pytest.approx(2.228139, abs=1e-6)
    assert t_quantile(0.025, 10) == pytest.approx(-2.228139, abs=1e-6)
    assert t_quantile(0.975, 1) == pytest.approx(12.706205, abs=1e-5)


def test_incomplete_beta_and_gamma_special_cases():
    assert betainc(1, 1, 0.3) == pytest.approx(0.3)  # uniform
    assert betainc(2, 3, 0.4) == pytest.approx(0.5248, abs=1e-12)  # 1 - sum of binomial terms, by hand
    assert gammainc_upper(1, 2.0) == pytest.approx(math.exp(-2.0))  # exponential tail
    assert gammainc_upper(3, 2.0) == pytest.approx(math.exp(-2.0) * (1 + 2 + 2), abs=1e-12)  # Poisson sum


def test_chi_square_tail_at_the_table_values():
    assert chi_square_sf(3.841459, 1) == pytest.approx(0.05, abs=1e-6)
    assert chi_square_sf(5.991465, 2) == pytest.approx(0.05, abs=1e-6)
    assert chi_square_sf(11.070498, 5) == pytest.approx(0.05, abs=1e-6)
    assert chi_square_sf(6.634897, 1) == pytest.approx(0.01, abs=1e-6)
    assert chi_square_sf(4.0, 2) == pytest.approx(math.exp(-2.0))  # df 2 is exponential
    assert chi_square_sf(0.0, 3) == 1.0


def test_wilson_interval_by_hand():
    # 5 of 10: centre (0.5 + 1.92/10) / 1.384 = 0.5, half-width 1.96 sqrt(0.025 + 0.0096) / 1.384
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.236593, abs=1e-6) and hi == pytest.approx(0.763407, abs=1e-6)
    lo, hi = wilson_interval(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.277533, abs=1e-6)
    lo, hi = wilson_interval(10, 10)
    assert lo == pytest.approx(0.722467, abs=1e-6) and hi == pytest.approx(1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_two_proportion_z_test_by_hand():
    # 30/100 vs 45/100: pooled 0.375, se = sqrt(0.375 * 0.625 * 0.02) = 0.0684653, z = 0.15 / se
    result = two_proportion_z_test(30, 100, 45, 100)
    assert result.statistic == pytest.approx(2.190890, abs=1e-6)
    assert result.p_value == pytest.approx(0.028460, abs=1e-6)
    assert two_proportion_z_test(45, 100, 30, 100).statistic == pytest.approx(-2.190890, abs=1e-6)
    assert two_proportion_z_test(0, 50, 0, 50).p_value == 1.0  # no variation, no evidence
    assert two_proportion_z_test(0, 0, 3, 10).p_value == 1.0


def test_welch_t_test_on_the_reference_example():
    # Wikipedia, "Welch's t-test", example: t = 2.46 (2.455), df = 24.99, p = 0.021
    a = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
    b = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
    result = welch_t_test(
        statistics.mean(a), statistics.variance(a), len(a), statistics.mean(b), statistics.variance(b), len(b)
    )
    assert result is not None
    assert result.statistic == pytest.approx(2.455356, abs=1e-5)
    assert result.df == pytest.approx(24.988529, abs=1e-5)
    assert result.p_value == pytest.approx(0.021378, abs=1e-5)


def test_welch_t_test_by_hand_with_unequal_sizes():
    # means 10 and 12, variances 4 and 9, n 10 and 20: s1 = 0.4, s2 = 0.45, t = 2 / sqrt(0.85)
    # df = 0.85^2 / (0.4^2/9 + 0.45^2/19) = 0.7225 / 0.0284356 = 25.4083
    result = welch_t_test(10, 4, 10, 12, 9, 20)
    assert result is not None
    assert result.statistic == pytest.approx(2 / math.sqrt(0.85))
    assert result.df == pytest.approx(0.7225 / (0.16 / 9 + 0.2025 / 19))
    assert result.p_value == pytest.approx(2 * (1 - t_cdf(2 / math.sqrt(0.85), result.df)))
    assert welch_t_test(1, 1, 1, 2, 1, 5) is None  # one observation has no variance


def test_chi_square_goodness_of_fit_by_hand():
    # 600/400 against 50/50: (100^2 + 100^2) / 500 = 40 on 1 df
    result = chi_square_goodness_of_fit([600, 400], [0.5, 0.5])
    assert result is not None
    assert result.statistic == pytest.approx(40.0)
    assert result.p_value == pytest.approx(2.5396e-10, rel=1e-3)
    # 30/30/40 against 30/30/40 fits exactly
    exact = chi_square_goodness_of_fit([30, 30, 40], [0.3, 0.3, 0.4])
    assert exact is not None and exact.statistic == 0.0 and exact.p_value == 1.0
    assert chi_square_goodness_of_fit([0, 0], [0.5, 0.5]) is None


def test_mean_interval_uses_the_t_quantile():
    interval = mean_interval(3.0, 4.0, 11)  # t(0.975, 10) * 2 / sqrt(11)
    assert interval is not None
    half = 2.228139 * 2 / math.sqrt(11)
    assert interval[0] == pytest.approx(3.0 - half, abs=1e-5) and interval[1] == pytest.approx(
        3.0 + half, abs=1e-5
    )
    assert mean_interval(3.0, 0.0, 1) is None
