"""``convention=`` in the CUPED tests: 'statsmodels' is statsmodels' ANCOVA OLS (nonrobust SE, ``n - 3`` df)
on five input sets, 'gbstats' is gbstats' estimator with its reading of the arms, and the ANCOVA test's
A/A false-positive rate sits at alpha."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from _cuped_datasets import DATASETS, cuped_stats, dataset
from scipy import stats

from abrec.abtest import CupedStats, cuped_test, sequential_cuped_test, welch_ttest
from abrec.errors import ParameterError

Z99 = 2.5758293035489  # the binomial 99% band is +/- Z99 standard errors


def _ols(y_c: np.ndarray, x_c: np.ndarray, y_t: np.ndarray, x_t: np.ndarray, use_t: bool):  # type: ignore[no-untyped-def]
    y = np.concatenate([y_c, y_t])
    arm = np.r_[np.zeros(y_c.size), np.ones(y_t.size)]
    x = np.concatenate([x_c, x_t])
    return sm.OLS(y, np.column_stack([np.ones(y.size), arm, x])).fit(use_t=use_t)


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("test", ["t", "z"])
def test_statsmodels_convention_is_ancova_ols(name: str, test: str) -> None:
    # statsmodels: OLS(y, [1, arm, x]).fit() (use_t for 't'): the arm's coefficient, its standard error,
    # p-value, interval, and df = n - 3. The raw test is statsmodels' pooled-variance t (scipy's
    # ttest_ind(equal_var=True)) or z.
    y_c, x_c, y_t, x_t = dataset(name)
    c, t = cuped_stats(y_c, x_c, y_t, x_t)
    fit = _ols(y_c, x_c, y_t, x_t, use_t=test == "t")
    r = cuped_test(c, t, test=test, convention="statsmodels")  # type: ignore[arg-type]
    assert r.estimator == "pooled" and r.test.method == f"cuped-ancova-{test}"
    assert r.test.effect == pytest.approx(fit.params[1], rel=1e-9, abs=1e-12)
    assert r.test.standard_error == pytest.approx(fit.bse[1], rel=1e-9)
    assert r.test.p_value == pytest.approx(fit.pvalues[1], rel=1e-7, abs=1e-14)
    low, high = fit.conf_int(0.05)[1]
    assert (r.test.ci.low, r.test.ci.high) == (pytest.approx(low, rel=1e-9), pytest.approx(high, rel=1e-9))
    assert r.test.df == (y_c.size + y_t.size - 3 if test == "t" else math.inf)
    if test == "t":
        ref = stats.ttest_ind(y_t, y_c, equal_var=True)
        assert r.raw.p_value == pytest.approx(ref.pvalue, rel=1e-9)


@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_statsmodels_convention_one_sided(alternative: str) -> None:
    y_c, x_c, y_t, x_t = dataset("skewed")
    c, t = cuped_stats(y_c, x_c, y_t, x_t)
    fit = _ols(y_c, x_c, y_t, x_t, use_t=True)
    r = cuped_test(c, t, alternative=alternative, convention="statsmodels")  # type: ignore[arg-type]
    tail = stats.t.sf if alternative == "greater" else stats.t.cdf
    assert r.test.p_value == pytest.approx(tail(fit.tvalues[1], fit.df_resid), rel=1e-9)


def test_gbstats_convention_is_the_gbstats_estimator() -> None:
    y_c, x_c, y_t, x_t = dataset("unequal-heteroskedastic")
    c, t = cuped_stats(y_c, x_c, y_t, x_t)
    by_convention = cuped_test(c, t, convention="gbstats")
    by_method = cuped_test(c, t, method="gbstats")
    assert by_convention.estimator == "gbstats"
    assert by_convention.test.effect == by_method.test.effect
    assert by_convention.test.relative_ci == by_method.test.relative_ci
    assert by_convention.test.relative_p_value == by_method.test.relative_p_value
    # The raw test reads 0/1 metrics as gbstats does (p (1 - p)): welch_ttest(convention='gbstats').
    y_c, x_c, y_t, x_t = dataset("binary-metric")
    c, t = cuped_stats(y_c, x_c, y_t, x_t)
    r = cuped_test(c, t, convention="gbstats")
    assert r.raw.standard_error == welch_ttest(c, t, convention="gbstats").standard_error
    assert r.raw.standard_error != welch_ttest(c, t).standard_error


def test_gbstats_convention_refuses_what_gbstats_refuses() -> None:
    # A constant control metric: gbstats' ZERO_NEGATIVE_VARIANCE, no numbers, and the reason.
    rng = np.random.default_rng(3)
    x_c, x_t = rng.normal(0, 1, 50), rng.normal(0, 1, 50)
    c, t = CupedStats.from_values(np.ones(50), x_c), CupedStats.from_values(1 + x_t + rng.normal(0, 1, 50), x_t)
    r = cuped_test(c, t, convention="gbstats")
    assert math.isnan(r.test.p_value) and math.isnan(r.test.relative_effect)
    assert "ZERO_NEGATIVE_VARIANCE" in r.test.note
    assert not math.isnan(cuped_test(c, t, method="gbstats").test.p_value)  # abrec computes it


def test_convention_and_method_that_do_not_fit_are_refused() -> None:
    c, t = cuped_stats(*dataset("skewed"))
    with pytest.raises(ParameterError, match="gbstats' own CUPED estimator"):
        cuped_test(c, t, method="pooled", convention="gbstats")
    with pytest.raises(ParameterError, match="no gbstats estimator"):
        cuped_test(c, t, method="gbstats", convention="statsmodels")
    with pytest.raises(ParameterError, match="convention"):
        cuped_test(c, t, convention="spotify")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="convention"):
        sequential_cuped_test(c, t, convention="statsmodels")  # type: ignore[arg-type]


def test_sequential_gbstats_convention_clips_one_sided_p_values() -> None:
    # gbstats' one-sided sequential p-value comes from a bisection over alpha in [1e-5, 0.4999].
    rng = np.random.default_rng(5)
    x = rng.normal(0, 1, (2, 3000))
    y = x + rng.normal(0, 1, (2, 3000)) + np.array([[0.0], [0.5]])
    c, t = CupedStats.from_values(y[0], x[0]), CupedStats.from_values(y[1], x[1])
    gb = sequential_cuped_test(c, t, alternative="greater", convention="gbstats")
    ab = sequential_cuped_test(c, t, alternative="greater", method="gbstats")
    assert gb.estimator == "gbstats" and gb.test.p_value == pytest.approx(1e-5) and ab.test.p_value < 1e-6
    assert gb.test.effect == ab.test.effect


def test_ancova_a_a_false_positive_rate() -> None:
    # 4,000 A/A experiments, 30 units per arm (small: the t's n - 3 df matter), corr 0.6: rejection
    # rate at alpha = 0.05 within the binomial 99% band.
    rng = np.random.default_rng(11)
    sims, n, alpha = 4000, 30, 0.05
    pre = rng.normal(0, 1, (sims, 2, n))
    post = 0.6 * pre + 0.8 * rng.normal(0, 1, (sims, 2, n)) * (1 + 0.3 * np.abs(pre))
    rejected = 0
    for k in range(sims):
        c, t = CupedStats.from_values(post[k, 0], pre[k, 0]), CupedStats.from_values(post[k, 1], pre[k, 1])
        rejected += bool(cuped_test(c, t, convention="statsmodels").test.p_value < alpha)
    band = Z99 * math.sqrt(alpha * (1 - alpha) / sims)
    assert abs(rejected / sims - alpha) < band
