"""Welch t, z and two-proportion z tests: values against scipy/statsmodels, A/A calibration, CI coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from statsmodels.stats.proportion import confint_proportions_2indep
from statsmodels.stats.proportion import proportions_ztest as sm_proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW
from statsmodels.stats.weightstats import ztest as sm_ztest

from abrec.abtest import Moments, SampleStats, proportions_ztest, welch_ttest, ztest
from abrec.errors import InputError, ParameterError

SM_ALT = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}


def assert_rate(rate: float, p: float, n: int) -> None:
    """``rate`` of ``n`` Bernoulli(p) trials lies within 4.5 binomial standard errors of ``p``."""
    assert abs(rate - p) <= 4.5 * math.sqrt(p * (1 - p) / n), (rate, p, n)


def normal_arms(rng: np.random.Generator, n: int, mean: float, sd: float, size: int) -> list[SampleStats]:
    """Exact sufficient statistics of ``size`` normal samples of ``n`` (mean and chi-square sum of squares)."""
    means = rng.normal(mean, sd / math.sqrt(n), size)
    ss = sd**2 * rng.chisquare(n - 1, size)
    return [SampleStats(n, n * m, s + n * m * m) for m, s in zip(means, ss, strict=True)]


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_welch_matches_scipy(alternative: str, alpha: float) -> None:
    rng = np.random.default_rng(3)
    c, t = rng.normal(1.0, 1.0, 40), rng.exponential(1.3, 25)
    r = welch_ttest(SampleStats.from_values(c), SampleStats.from_values(t), alpha=alpha, alternative=alternative)
    ref = scipy.stats.ttest_ind(t, c, equal_var=False, alternative=alternative)  # scipy.stats.ttest_ind
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-10)
    assert r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.df == pytest.approx(ref.df, rel=1e-10)
    ci = ref.confidence_interval(confidence_level=1 - alpha)  # scipy TtestResult.confidence_interval
    np.testing.assert_allclose(r.ci, (ci.low, ci.high), rtol=1e-9)
    assert r.confidence_interval() == r.ci and r.method == "welch-t"


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_z_matches_statsmodels(alternative: str) -> None:
    rng = np.random.default_rng(4)
    c, t = rng.normal(2.0, 1.0, 300), rng.normal(2.1, 1.5, 200)
    r = ztest(SampleStats.from_values(c), SampleStats.from_values(t), alternative=alternative, alpha=0.1)
    cm = CompareMeans(DescrStatsW(t), DescrStatsW(c))
    stat, p = cm.ztest_ind(usevar="unequal", alternative=SM_ALT[alternative])  # statsmodels CompareMeans.ztest_ind
    assert r.statistic == pytest.approx(stat, rel=1e-10) and r.p_value == pytest.approx(p, rel=1e-9)
    lo, hi = cm.zconfint_diff(alpha=0.1, usevar="unequal", alternative=SM_ALT[alternative])
    np.testing.assert_allclose(r.ci, (lo, hi), rtol=1e-9)
    # equal arm sizes: the pooled z test of statsmodels.stats.weightstats.ztest has the same standard error
    stat2, p2 = sm_ztest(t[:200], c[:200], alternative=SM_ALT[alternative])
    r2 = ztest(SampleStats.from_values(c[:200]), SampleStats.from_values(t[:200]), alternative=alternative)
    assert r2.statistic == pytest.approx(stat2, rel=1e-10) and r2.p_value == pytest.approx(p2, rel=1e-9)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_proportions_match_statsmodels(alternative: str) -> None:
    c, t = SampleStats(1800, 210.0, 210.0), SampleStats(2100, 290.0, 290.0)
    r = proportions_ztest(c, t, alternative=alternative)
    stat, p = sm_proportions_ztest([290, 210], [2100, 1800], alternative=SM_ALT[alternative])  # statsmodels
    assert r.statistic == pytest.approx(stat, rel=1e-10) and r.p_value == pytest.approx(p, rel=1e-9)
    if alternative == "two-sided":
        lo, hi = confint_proportions_2indep(290, 2100, 210, 1800, method="wald")  # statsmodels, unpooled Wald
        np.testing.assert_allclose(r.ci, (lo, hi), rtol=1e-9)
    unpooled = proportions_ztest(c, t, alternative=alternative, pooled=False)
    assert unpooled.statistic == pytest.approx(unpooled.effect / unpooled.standard_error)
    with pytest.raises(InputError, match="0/1 values"):
        proportions_ztest(SampleStats.from_values([0.0, 2.0]), c)


def test_relative_effect_delta_method_and_undefined_cases() -> None:
    c, t = Moments(400, 2.0, 1.0), Moments(500, 2.3, 1.5)
    r = welch_ttest(c, t)
    se = math.sqrt(1.5 / (500 * 4.0) + 1.0 * 2.3**2 / (400 * 2.0**4))
    assert r.relative_effect == pytest.approx(0.15)
    half = scipy.stats.t.ppf(0.975, r.df) * se
    np.testing.assert_allclose(r.confidence_interval(relative=True), (0.15 - half, 0.15 + half), rtol=1e-10)
    assert r.relative_se == pytest.approx(se, rel=1e-12)  # its own test: t with the same df
    assert r.relative_p_value == pytest.approx(2 * scipy.stats.t.sf(0.15 / se, r.df), rel=1e-10)
    for control, reason in [
        (Moments(400, 0.0, 1.0), "is 0"),
        (Moments(400, -1.0, 1.0), "negative"),
        (Moments(400, 0.05, 1.0), "reaches 0"),
    ]:
        out = welch_ttest(control, t)
        assert math.isnan(out.relative_effect) and all(math.isnan(x) for x in out.relative_ci)
        assert reason in out.note and math.isfinite(out.p_value)
    constant = welch_ttest(Moments(10, 1.0, 0.0), Moments(10, 1.0, 0.0))
    assert math.isnan(constant.p_value) and "standard error is 0" in constant.note and not constant.significant


def test_errors() -> None:
    s = SampleStats.from_values([1.0, 2.0, 3.0])
    with pytest.raises(ParameterError, match=r"The 'alpha' parameter of welch_ttest must be a float in \(0, 1\)"):
        welch_ttest(s, s, alpha=1.5)
    with pytest.raises(ParameterError, match="'alternative' parameter of ztest"):
        ztest(s, s, alternative="both")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="at least 2 units"):
        welch_ttest(SampleStats.from_values([1.0]), s)


def test_aa_false_positive_rate_and_coverage() -> None:
    rng = np.random.default_rng(5)
    sims, alpha = 4000, 0.05
    # small unequal arms with unequal variances: where Welch's df matters
    controls = normal_arms(rng, 8, 1.0, 1.0, sims)
    treatments = normal_arms(rng, 15, 1.0, 3.0, sims)
    t_results = [welch_ttest(c, t) for c, t in zip(controls, treatments, strict=True)]
    assert_rate(np.mean([r.p_value < alpha for r in t_results]), alpha, sims)
    # the z test on skewed data at a large n, one-sided
    z_results = []
    for _ in range(sims // 1000):
        data = rng.exponential(1.0, (1000, 2, 400))
        z_results += [
            ztest(SampleStats.from_values(d[0]), SampleStats.from_values(d[1]), alternative="greater") for d in data
        ]
    assert_rate(np.mean([r.p_value < alpha for r in z_results]), alpha, sims)
    # coverage of a true nonzero effect, absolute and relative, at 90%
    controls = normal_arms(rng, 200, 2.0, 1.0, sims)
    treatments = normal_arms(rng, 300, 2.5, 2.0, sims)
    results = [welch_ttest(c, t, alpha=0.1) for c, t in zip(controls, treatments, strict=True)]
    assert_rate(np.mean([r.ci[0] <= 0.5 <= r.ci[1] for r in results]), 0.9, sims)
    assert_rate(np.mean([r.relative_ci[0] <= 0.25 <= r.relative_ci[1] for r in results]), 0.9, sims)
