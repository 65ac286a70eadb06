"""CUPED: edges that mutation testing (``make mutate``) found untested.

References are independent of abrec: scipy's t and z tests on the per-unit adjusted values
``y - theta (x - mean_x)`` with ``theta`` from statsmodels' OLS, statsmodels' interacted OLS for Lin's
estimator, a transcription of gbstats' relative CUPED variance, and the mSPRT formulas of Johari et al.
(two-sided) and gbstats (one-sided) written out below. Each test names the mutants it kills.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
import statsmodels.api as sm
from _cuped_datasets import cuped_stats, dataset
from scipy import stats

from abrec.abtest import CupedStats, cuped_test, lin_test, sequential_cuped_test
from abrec.errors import InputError, ParameterError

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _pooled_slope(y_c: np.ndarray, x_c: np.ndarray, y_t: np.ndarray, x_t: np.ndarray) -> float:
    """The slope of x in statsmodels' OLS y ~ 1 + arm + x (the pooled within-arm slope)."""
    y, x = np.concatenate([y_c, y_t]), np.concatenate([x_c, x_t])
    arm = np.r_[np.zeros(y_c.size), np.ones(y_t.size)]
    return float(sm.OLS(y, np.column_stack([np.ones(y.size), arm, x])).fit().params[2])


def _adjusted_values(data: Arrays, theta: float) -> tuple[np.ndarray, np.ndarray]:
    y_c, x_c, y_t, x_t = data
    mean_x = np.concatenate([x_c, x_t]).mean()
    return y_c - theta * (x_c - mean_x), y_t - theta * (x_t - mean_x)


def _welch(a_c: np.ndarray, a_t: np.ndarray, alpha: float, alternative: str) -> tuple[float, float, float, float]:
    """(effect, se, p, CI bound(s) as lo, hi) of scipy's Welch t test of a_t - a_c."""
    res = stats.ttest_ind(a_t, a_c, equal_var=False, alternative=alternative)
    ci = res.confidence_interval(1 - alpha)
    return float(a_t.mean() - a_c.mean()), float(res.pvalue), float(ci.low), float(ci.high)


def _z(a_c: np.ndarray, a_t: np.ndarray, alpha: float, alternative: str) -> tuple[float, float, float, float]:
    """(effect, p, lo, hi) of the unpooled z test of a_t - a_c."""
    effect = float(a_t.mean() - a_c.mean())
    se = math.sqrt(a_c.var(ddof=1) / a_c.size + a_t.var(ddof=1) / a_t.size)
    z = effect / se
    if alternative == "two-sided":
        q = stats.norm.ppf(1 - alpha / 2)
        return effect, float(2 * stats.norm.sf(abs(z))), effect - q * se, effect + q * se
    q = stats.norm.ppf(1 - alpha)
    if alternative == "greater":
        return effect, float(stats.norm.sf(z)), effect - q * se, math.inf
    return effect, float(stats.norm.cdf(z)), -math.inf, effect + q * se


def _check(result: object, ref: tuple[float, float, float, float]) -> None:
    effect, p, lo, hi = ref
    assert result.effect == pytest.approx(effect, rel=1e-9, abs=1e-12)  # type: ignore[attr-defined]
    assert result.p_value == pytest.approx(p, rel=1e-7, abs=1e-14)  # type: ignore[attr-defined]
    assert result.ci.low == pytest.approx(lo, rel=1e-8)  # type: ignore[attr-defined]
    assert result.ci.high == pytest.approx(hi, rel=1e-8)  # type: ignore[attr-defined]


# ---------------------------------------------------------------------------- owners named in errors
def test_errors_name_the_function() -> None:
    # check_alpha / check_alternative / validate_params / check_summaries / _check_lin_arm: owner
    # string mutated (None, "XX...XX", upper case) in each of the three public functions.
    s = CupedStats.from_values([1.0, 2.0, 4.0, 3.0], [0.0, 1.0, 1.0, 3.0])
    one = CupedStats.from_values([1.0], [0.0])
    v, x = [1.0, 2.0, 4.0], [0.0, 1.0, 3.0]
    for owner, call in (
        ("cuped_test", partial(cuped_test, s, s)),
        ("sequential_cuped_test", partial(sequential_cuped_test, s, s)),
        ("lin_test", partial(lin_test, v, x, v, x)),
    ):
        with pytest.raises(ParameterError, match=rf"'alpha' parameter of {owner} "):
            call(alpha=1.5)
        with pytest.raises(ParameterError, match=rf"'alternative' parameter of {owner} "):
            call(alternative="bigger")  # type: ignore[arg-type]
        with pytest.raises(ParameterError, match=rf"'cov_type' parameter of {owner} "):
            call(cov_type="HC9")  # type: ignore[arg-type]
    for owner, fn in (("cuped_test", cuped_test), ("sequential_cuped_test", sequential_cuped_test)):
        with pytest.raises(ParameterError, match=rf"'method' parameter of {owner} "):
            fn(s, s, method="ols")  # type: ignore[operator, arg-type]
        with pytest.raises(ParameterError, match=rf"'convention' parameter of {owner} "):
            fn(s, s, convention="spotify")  # type: ignore[operator, arg-type]
        with pytest.raises(InputError, match=rf"^{owner}\b"):
            fn(one, s)  # type: ignore[operator, arg-type]
        with pytest.raises(InputError, match=rf"^{owner}: .* the treatment arm has 2\."):
            fn(s, CupedStats.from_values([1.0, 2.0], [0.0, 1.0]), method="lin")  # type: ignore[operator, arg-type]
    with pytest.raises(ParameterError, match=r"'test' parameter of cuped_test "):
        cuped_test(s, s, test="w")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"'test' parameter of lin_test "):
        lin_test(v, x, v, x, test="w")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"'tuning_parameter' parameter of sequential_cuped_test "):
        sequential_cuped_test(s, s, tuning_parameter=0.0)
    with pytest.raises(InputError, match=r"^lin_test: the covariate is constant within the treatment arm"):
        lin_test(v, x, v, [1.0, 1.0, 1.0])
    with pytest.raises(InputError, match=r"^lin_test: .* the control arm has 2\."):
        lin_test([1.0, 2.0], [0.0, 1.0], v, x)
    with pytest.raises(InputError, match=r"^lin_test\b"):
        lin_test([1.0], [0.0], v, x)
    with pytest.raises(ParameterError, match=r"Did you mean test='t'"):  # "welch-t" -> "WELCH-T"
        cuped_test(s, s, method="welch-t")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- the pooled estimator
@pytest.mark.parametrize("test", ["t", "z"])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_pooled_is_a_test_on_the_adjusted_units(test: str, alternative: str) -> None:
    # Adjusted and raw tests against scipy on the unit values, at alpha 0.1 and each alternative:
    # kills alpha / alternative / convention dropped from the raw test, `test == "t"` flipped, and
    # `alternative` dropped from the adjusted test. The relative effect is on the adjusted control
    # mean at the pooled covariate mean (`pre_mean - pooled` -> `+`).
    data = dataset("skewed")
    c, t = cuped_stats(*data)
    r = cuped_test(c, t, alpha=0.1, alternative=alternative, test=test)  # type: ignore[arg-type]
    theta = _pooled_slope(*data)
    a_c, a_t = _adjusted_values(data, theta)
    run = _welch if test == "t" else _z
    _check(r.test, run(a_c, a_t, 0.1, alternative))
    _check(r.raw, run(data[0], data[2], 0.1, alternative))
    assert r.theta == pytest.approx(theta, rel=1e-9) and r.theta_treatment == r.theta
    assert r.test.relative_effect == pytest.approx((a_t.mean() - a_c.mean()) / a_c.mean(), rel=1e-9)
    assert r.estimator == "pooled"
    assert r.test.method == ("cuped-welch-t" if test == "t" else "cuped-z")


@pytest.mark.parametrize("test", ["t", "z"])
def test_raw_test_follows_the_statsmodels_convention(test: str) -> None:
    # statsmodels' raw test is the pooled-variance t (or z) test: `convention` dropped from the raw
    # welch_ttest / ztest call, and raw_convention's condition mutated to "abrec".
    y_c, _, y_t, _ = data = dataset("unequal-heteroskedastic")
    r = cuped_test(*cuped_stats(*data), convention="statsmodels", test=test)  # type: ignore[arg-type]
    n_c, n_t = y_c.size, y_t.size
    pooled = ((n_c - 1) * y_c.var(ddof=1) + (n_t - 1) * y_t.var(ddof=1)) / (n_c + n_t - 2)
    se = math.sqrt(pooled * (1 / n_c + 1 / n_t))
    assert r.raw.standard_error == pytest.approx(se, rel=1e-10)
    if test == "t":
        assert r.raw.p_value == pytest.approx(stats.ttest_ind(y_t, y_c).pvalue, rel=1e-8)
    else:
        assert r.raw.p_value == pytest.approx(2 * stats.norm.sf(abs(y_t.mean() - y_c.mean()) / se), rel=1e-8)


def test_gbstats_convention_with_a_z_test_uses_abrecs_z_for_the_raw_arms() -> None:
    # gbstats has no z test: the raw z test under convention='gbstats' is abrec's unpooled z
    # (raw_convention's condition mutated: `and` -> `or`, `==` -> `!=`, "gbstats"/"z" upper-cased).
    y_c, _, y_t, _ = data = dataset("skewed")
    r = cuped_test(*cuped_stats(*data), convention="gbstats", test="z")
    _check(r.raw, _z(y_c, y_t, 0.05, "two-sided"))


def test_covariate_with_little_spread_still_adjusts() -> None:
    # S_xx in (0, 1]: `s_xx > 0` -> `> 1` in the pooled slope and in Lin's arm check.
    rng = np.random.default_rng(7)
    x_c, x_t = rng.normal(0, 0.05, 30), rng.normal(0, 0.05, 30)
    data = (10 * x_c + rng.normal(0, 0.1, 30), x_c, 0.2 + 10 * x_t + rng.normal(0, 0.1, 30), x_t)
    c, t = cuped_stats(*data)
    assert 0 < float(np.sum((x_c - x_c.mean()) ** 2)) < 1
    r = cuped_test(c, t)
    assert r.theta == pytest.approx(_pooled_slope(*data), rel=1e-8)
    lin = lin_test(*data)
    ols = _lin_ols(data, "HC1")
    assert lin.test.effect == pytest.approx(ols.params[1], rel=1e-8)
    assert lin.test.standard_error == pytest.approx(ols.bse[1], rel=1e-8)


@pytest.mark.parametrize("method", ["pooled", "gbstats"])
def test_covariate_constant_in_each_arm_gives_no_adjustment(method: str) -> None:
    # No within-arm (pooled) or overall (gbstats) covariate spread: theta is 0 and the test is the
    # raw test (`else 0.0` -> `1.0`, `s_xx > 0` -> `>= 0` or `or True`: a ZeroDivisionError;
    # gbstats' `pre_variance > 0` -> `>= 0`, `and` -> `or`, `return 0.0` -> `1.0`).
    rng = np.random.default_rng(2)
    y_c, y_t = rng.normal(0, 1, 20), rng.normal(0.3, 1, 25)
    x_c, x_t = np.full(20, 2.0), np.full(25, 2.0 if method == "gbstats" else 3.0)
    r = cuped_test(*cuped_stats(y_c, x_c, y_t, x_t), method=method)  # type: ignore[arg-type]
    assert r.theta == 0.0
    _check(r.test, _welch(y_c, y_t, 0.05, "two-sided"))


# ---------------------------------------------------------------------------- gbstats' relative lift
def _gbstats_relative(data: Arrays) -> tuple[float, float, float]:
    """theta (over all units), relative lift on the unadjusted control mean and its SE (gbstats' formulas)."""
    y_c, x_c, y_t, x_t = data
    y, x = np.concatenate([y_c, y_t]), np.concatenate([x_c, x_t])
    theta = float(np.cov(x, y)[0, 1] / np.var(x, ddof=1))
    mc, mt = y_c.mean(), y_t.mean()
    effect = (mt - theta * x_t.mean()) - (mc - theta * x_c.mean())

    def cov(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.cov(a, b)[0, 1])

    v_t = (y_t.var(ddof=1) + theta**2 * x_t.var(ddof=1) - 2 * theta * cov(x_t, y_t)) / (y_t.size * mc**2)
    v_c = (y_c.var(ddof=1) * mt**2 / mc**2 - 2 * theta * cov(x_c, y_c) * mt / mc + theta**2 * x_c.var(ddof=1)) / (
        y_c.size * mc**2
    )
    return theta, effect / abs(mc), math.sqrt(v_t + v_c)


def test_gbstats_relative_at_a_control_mean_of_one() -> None:
    # `control.mean == 0` -> `== 1`: a control mean of exactly 1 has a relative lift.
    rng = np.random.default_rng(4)
    x_c, x_t = rng.normal(0, 1, 40), rng.normal(0, 1, 40)
    y_c = 1 + x_c + rng.normal(0, 1, 40)
    y_c += 1.0 - y_c.mean()
    assert y_c.mean() == 1.0
    data = (y_c, x_c, 1.2 + x_t + rng.normal(0, 1, 40), x_t)
    r = cuped_test(*cuped_stats(*data), method="gbstats")
    theta, rel, rel_se = _gbstats_relative(data)
    assert r.theta == pytest.approx(theta, rel=1e-9)
    assert r.test.relative_effect == pytest.approx(rel, rel=1e-9)
    assert r.test.relative_se == pytest.approx(rel_se, rel=1e-9)


def test_gbstats_relative_with_a_control_mean_of_zero_is_undefined_with_a_note() -> None:
    # The control-mean-0 branch: NaN relative lift and its note (the note mutated, dropped or None;
    # rel, rel_se = None).
    rng = np.random.default_rng(5)
    x_c, x_t = rng.normal(0, 1, 30), rng.normal(0, 1, 30)
    half = rng.integers(-5, 6, 15).astype(float)
    y_c = np.r_[half, -half]  # a control mean of exactly 0
    c, t = cuped_stats(y_c, x_c, 0.5 + x_t + rng.normal(0, 1, 30), x_t)
    assert c.mean == 0.0
    r = cuped_test(c, t, method="gbstats")
    assert math.isnan(r.test.relative_effect) and math.isnan(r.test.relative_se)
    assert r.test.note == "relative effect undefined: the control mean is 0"
    assert math.isnan(r.confidence_interval(relative=True).low) and not math.isnan(r.confidence_interval().low)


def test_gbstats_relative_keeps_the_other_notes_and_only_those() -> None:
    # A negative control mean: the Welch result's notes about the relative effect are dropped and
    # none other is added (the note filter's split / startswith / `and` mutated; note=None or left out).
    rng = np.random.default_rng(6)
    x_c, x_t = rng.normal(0, 1, 30), rng.normal(0, 1, 30)
    data = (-5 + x_c + rng.normal(0, 1, 30), x_c, -4.5 + x_t + rng.normal(0, 1, 30), x_t)
    r = cuped_test(*cuped_stats(*data), method="gbstats")
    _, rel, rel_se = _gbstats_relative(data)
    assert r.test.relative_effect == pytest.approx(rel, rel=1e-9) and r.test.note == ""
    assert r.test.relative_se == pytest.approx(rel_se, rel=1e-9)
    pooled = cuped_test(*cuped_stats(*data))
    assert pooled.test.note != ""  # the notes that the gbstats relative lift drops exist


def test_result_interval_of_the_relative_effect() -> None:
    # CupedResult.confidence_interval(relative=relative) -> relative=None.
    r = cuped_test(*cuped_stats(*dataset("skewed")), method="gbstats")
    ci = r.confidence_interval(relative=True)
    assert (ci.low, ci.high) == (r.test.relative_ci.low, r.test.relative_ci.high)
    assert ci.low != r.confidence_interval().low


# ---------------------------------------------------------------------------- Lin's estimator
def _lin_ols(data: Arrays, cov_type: str):  # type: ignore[no-untyped-def]
    y_c, x_c, y_t, x_t = data
    y, x = np.concatenate([y_c, y_t]), np.concatenate([x_c, x_t])
    arm = np.r_[np.zeros(y_c.size), np.ones(y_t.size)]
    xc = x - x.mean()
    return sm.OLS(y, np.column_stack([np.ones(y.size), arm, xc, arm * xc])).fit(cov_type=cov_type)


@pytest.mark.parametrize("test", ["t", "z"])
def test_lin_test_raw_and_reduction(test: str) -> None:
    # lin_test's raw test: alpha / alternative dropped, `test == "t"` flipped; raw=None and
    # variance_reduction=None in the result.
    data = dataset("unequal-heteroskedastic")
    r = lin_test(*data, alpha=0.1, alternative="less", test=test, cov_type="HC2")  # type: ignore[arg-type]
    _check(r.raw, (_welch if test == "t" else _z)(data[0], data[2], 0.1, "less"))
    ols = _lin_ols(data, "HC2")
    raw_se = math.sqrt(data[0].var(ddof=1) / data[0].size + data[2].var(ddof=1) / data[2].size)
    assert r.variance_reduction == pytest.approx(1 - ols.bse[1] ** 2 / raw_se**2, rel=1e-8)


def test_lin_test_reads_float32_inputs_in_double_precision() -> None:
    # np.asarray(..., dtype=np.float64) -> dtype=None or dropped, for each of the four inputs.
    y_c, x_c, y_t, x_t = (a.astype(np.float32) for a in dataset("skewed"))
    ols = _lin_ols(tuple(a.astype(np.float64) for a in (y_c, x_c, y_t, x_t)), "HC3")  # type: ignore[arg-type]
    for args in ((y_c, x_c, y_t, x_t),):
        r = lin_test(*args, cov_type="HC3")
        assert r.test.effect == pytest.approx(ols.params[1], rel=1e-10)
        assert r.test.standard_error == pytest.approx(ols.bse[1], rel=1e-10)


# ---------------------------------------------------------------------------- the sequential test
def _k_two_sided(n: float, alpha: float, tuning: float, two_sided: bool = True) -> float:
    a = alpha if two_sided else 2 * alpha
    return n * (-2 * math.log(a) + math.log(1 - 2 * math.log(a))) / tuning


def _msprt_p(z: float, k: float, alternative: str) -> float:
    """Johari et al.'s two-sided p = min(1, 1 / Lambda); gbstats' one-sided p (1 when z points away)."""
    q = k * z * z / (2 * (k + 1))
    if alternative == "two-sided":
        return min(1.0, math.sqrt(1 + k) * math.exp(-q))
    if (z > 0) != (alternative == "greater") or q == 0:
        return 1.0
    return min(1.0, math.sqrt(k + 1) / (2 * math.expm1(q)))


def _msprt_half_width(k: float, alpha: float, alternative: str) -> float:
    if alternative == "two-sided":
        return math.sqrt((k + 1) / k * (math.log1p(k) - 2 * math.log(alpha)))
    return math.sqrt(2 * (k + 1) / k * math.log1p(math.sqrt(k + 1) / (2 * alpha)))


@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_sequential_pooled_against_the_msprt_formula(alternative: str) -> None:
    # tau_squared dropped from the mSPRT call; every field of the result (raw, theta, reduction,
    # estimator, theta_treatment set to None or left out); the method's prefix upper-cased.
    data = dataset("unequal-heteroskedastic")
    c, t = cuped_stats(*data)
    tau2 = 0.3
    r = sequential_cuped_test(c, t, alternative=alternative, tau_squared=tau2)  # type: ignore[arg-type]
    theta = _pooled_slope(*data)
    a_c, a_t = _adjusted_values(data, theta)
    se = math.sqrt(a_c.var(ddof=1) / a_c.size + a_t.var(ddof=1) / a_t.size)
    effect = a_t.mean() - a_c.mean()
    assert r.test.p_value == pytest.approx(_msprt_p(effect / se, tau2 / se**2, alternative), rel=1e-8)
    raw_se = math.sqrt(data[0].var(ddof=1) / data[0].size + data[2].var(ddof=1) / data[2].size)
    raw_effect = data[2].mean() - data[0].mean()
    assert r.raw.p_value == pytest.approx(_msprt_p(raw_effect / raw_se, tau2 / raw_se**2, alternative), rel=1e-8)
    assert r.theta == pytest.approx(theta, rel=1e-9) and r.theta_treatment == r.theta
    assert r.variance_reduction == pytest.approx(1 - se**2 / raw_se**2, rel=1e-9)
    assert r.estimator == "pooled" and r.test.method == "cuped-msprt"


@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
@pytest.mark.parametrize("tau2", [None, 0.002])
def test_sequential_gbstats_relative_against_the_msprt_formula(alternative: str, tau2: float | None) -> None:
    # The gbstats relative interval and p-value: variance = se**2 (-> se * 2, se**3), k = tau2 / V
    # (its condition and operator), mixture_k's alternative dropped, msprt_p_value's alternative /
    # convention dropped or None, p_of dropped; the method prefix upper-cased.
    rng = np.random.default_rng(12)
    x_c, x_t = rng.normal(10, 2, 400), rng.normal(10, 2, 500)
    data = (x_c + rng.normal(0, 1, 400), x_c, 0.4 + x_t + rng.normal(0, 1, 500), x_t)
    c, t = cuped_stats(*data)
    r = sequential_cuped_test(c, t, method="gbstats", alternative=alternative, tau_squared=tau2)  # type: ignore[arg-type]
    assert 1e-6 < r.test.relative_p_value < 0.5
    _, rel, rel_se = _gbstats_relative(data)
    y_c, x_c, y_t, x_t = data
    y, x = np.concatenate([y_c, y_t]), np.concatenate([x_c, x_t])
    theta = float(np.cov(x, y)[0, 1] / np.var(x, ddof=1))
    se = math.sqrt(np.var(y_c - theta * x_c, ddof=1) / y_c.size + np.var(y_t - theta * x_t, ddof=1) / y_t.size)
    two = alternative == "two-sided"
    k = tau2 / se**2 if tau2 is not None else _k_two_sided(float(y.size), 0.05, 5000.0, two)
    assert r.test.relative_effect == pytest.approx(rel, rel=1e-9)
    assert r.test.relative_p_value == pytest.approx(_msprt_p(rel / rel_se, k, alternative), rel=1e-7)
    hw = _msprt_half_width(k, 0.05, alternative)
    assert r.test.relative_ci.low == pytest.approx(rel - hw * rel_se, rel=1e-8)
    if two:
        assert r.test.relative_ci.high == pytest.approx(rel + hw * rel_se, rel=1e-8)
    assert r.test.method == "cuped-gbstats-msprt"


def test_sequential_gbstats_one_sided_relative_p_value_is_clipped_under_gbstats() -> None:
    # msprt_p_value's convention dropped or None in p_of: gbstats clips one-sided p-values to
    # [1e-5, 0.4999]; the effect here points away from 'less', so abrec's p is 1.
    data = dataset("skewed")
    r = sequential_cuped_test(*cuped_stats(*data), alternative="less", convention="gbstats")
    assert r.test.relative_effect > 0 and r.test.relative_p_value == pytest.approx(0.4999)


def test_sequential_default_tuning_parameter_and_alpha_bounds() -> None:
    # The documented default tuning_parameter 5000 (-> 5001); one-sided alpha must be < 0.5
    # (`>= 0.5` -> `> 0.5`), two-sided alpha may be >= 0.5 (`and` -> `or`, "TWO-SIDED").
    c, t = cuped_stats(*dataset("skewed"))
    default, explicit = sequential_cuped_test(c, t), sequential_cuped_test(c, t, tuning_parameter=5000.0)
    assert default.test.p_value == explicit.test.p_value and default.test.ci == explicit.test.ci
    with pytest.raises(ParameterError, match=r"'alpha' parameter of sequential_cuped_test"):
        sequential_cuped_test(c, t, alpha=0.5, alternative="less")
    wide = sequential_cuped_test(c, t, alpha=0.6)
    k = _k_two_sided(float(c.n + t.n), 0.6, 5000.0)
    assert wide.raw.ci.high - wide.raw.effect == pytest.approx(
        _msprt_half_width(k, 0.6, "two-sided") * wide.raw.standard_error, rel=1e-9
    )


# ---------------------------------------------------------------------------- statsmodels' ANCOVA SE
def _ancova_ols(data: Arrays):  # type: ignore[no-untyped-def]
    y_c, x_c, y_t, x_t = data
    y, x = np.concatenate([y_c, y_t]), np.concatenate([x_c, x_t])
    arm = np.r_[np.zeros(y_c.size), np.ones(y_t.size)]
    return sm.OLS(y, np.column_stack([np.ones(y.size), arm, x])).fit()


def test_statsmodels_convention_with_little_spread_and_small_residuals() -> None:
    # S_xx in (0, 1] and RSS < 1: `s_xx > 0` -> `> 1` (slope and leverage terms), `max(rss, 0.0)` -> 1.0.
    rng = np.random.default_rng(7)
    x_c, x_t = rng.normal(0, 0.05, 30), rng.normal(0.02, 0.05, 30)
    data = (10 * x_c + rng.normal(0, 0.1, 30), x_c, 0.2 + 10 * x_t + rng.normal(0, 0.1, 30), x_t)
    ols = _ancova_ols(data)
    assert ols.ssr < 1
    r = cuped_test(*cuped_stats(*data), convention="statsmodels")
    assert r.test.standard_error == pytest.approx(ols.bse[1], rel=1e-8)
    assert r.test.p_value == pytest.approx(ols.pvalues[1], rel=1e-7)


def test_statsmodels_convention_with_two_units_per_arm() -> None:
    # n = 4: one residual degree of freedom (`df > 0` -> `df > 1` would make the SE NaN).
    data = (np.array([1.0, 2.5]), np.array([0.0, 1.0]), np.array([2.0, 4.5]), np.array([0.5, 2.0]))
    ols = _ancova_ols(data)
    r = cuped_test(*cuped_stats(*data), convention="statsmodels")
    assert r.test.df == ols.df_resid == 1.0
    assert r.test.standard_error == pytest.approx(ols.bse[1], rel=1e-8)


def test_statsmodels_convention_with_a_covariate_constant_in_each_arm() -> None:
    # No within-arm covariate spread: no slope, RSS the within-arm sum of squares (statsmodels' ssr
    # of the rank-deficient fit), leverage 1/n_c + 1/n_t, still n - 3 df (`else 0.0` -> `1.0` in both
    # places; `s_xx > 0` -> `>= 0` or `or True`: a ZeroDivisionError).
    rng = np.random.default_rng(8)
    data = (rng.normal(0, 1, 12), np.full(12, 1.0), rng.normal(0.5, 1, 15), np.full(15, 2.0))
    ssr = sum(float(np.sum((y - y.mean()) ** 2)) for y in (data[0], data[2]))
    r = cuped_test(*cuped_stats(*data), convention="statsmodels")
    assert r.test.standard_error == pytest.approx(math.sqrt(ssr / 24 * (1 / 12 + 1 / 15)), rel=1e-9)


# ---------------------------------------------------------------------------- degenerate arms
def test_constant_metric_has_no_variance_reduction() -> None:
    # raw SE 0: the reduction is NaN (`raw_se > 0` -> `>= 0` or `or True`: a ZeroDivisionError).
    x_c, x_t = np.array([-3.0, -1, 0, 1, 3, 2, -2]), np.array([-2.0, 0, 1, 2, 4, 1])
    r = cuped_test(CupedStats.from_values(np.ones(7), x_c), CupedStats.from_values(np.ones(6), x_t))
    assert r.raw.standard_error == 0.0 and math.isnan(r.variance_reduction)


def test_gbstats_relative_notes_are_joined_once() -> None:
    # y = x in both arms: gbstats' theta is 1, the adjusted arms are constant (SE 0, its note), and the
    # control mean is 0 (its note): two notes, "; "-joined, the relative one once (split / join
    # separators mutated).
    x_c, x_t = np.array([-3.0, -1, 0, 1, 3, 2, -2]), np.array([-2.0, 0, 1, 2, 4, 1])
    r = cuped_test(CupedStats.from_values(x_c, x_c), CupedStats.from_values(x_t, x_t), method="gbstats")
    assert r.theta == 1.0 and r.test.standard_error == 0.0
    assert r.test.note == (
        "p-value undefined: the standard error is 0 (both arms constant); "
        "relative effect undefined: the control mean is 0"
    )


def test_sequential_gbstats_with_zero_adjusted_variance() -> None:
    # A fixed tau_squared with an adjusted variance of 0: k is infinite, not a ZeroDivisionError
    # (`variance > 0` -> `>= 0` or `or True`).
    x_c, x_t = np.array([-3.0, -1, 0, 1, 3, 2, -2]), np.array([-2.0, 0, 1, 2, 4, 1])
    c, t = CupedStats.from_values(x_c + 5, x_c), CupedStats.from_values(x_t + 5, x_t)
    r = sequential_cuped_test(c, t, method="gbstats", tau_squared=1.0)
    assert r.test.standard_error == 0.0 and r.test.relative_effect == 0.0


def test_gbstats_refusal_keeps_the_method_convention_and_alternative() -> None:
    # The refused result's fields (method, SE NaN, convention 'gbstats') and a one-sided refusal
    # (build_result's arguments set to None or left out).
    rng = np.random.default_rng(3)
    x_c, x_t = rng.normal(0, 1, 50), rng.normal(0, 1, 50)
    c, t = CupedStats.from_values(np.ones(50), x_c), CupedStats.from_values(1 + x_t + rng.normal(0, 1, 50), x_t)
    for alternative in ("two-sided", "greater"):
        r = cuped_test(c, t, convention="gbstats", alternative=alternative)  # type: ignore[arg-type]
        assert r.test.method == "cuped-gbstats-welch-t" and r.test.convention == "gbstats"
        assert r.test.alternative == alternative
        assert math.isnan(r.test.standard_error) and math.isnan(r.test.p_value)
        assert math.isnan(r.test.ci.low) and r.test.ci.level == 0.95
        assert "ZERO_NEGATIVE_VARIANCE" in r.test.note


def test_gbstats_z_relative_interval_uses_the_normal_quantile() -> None:
    # crit for gbstats' relative interval: normal under test='z' (`test == "t"` -> `or True`), and
    # the variance reduction of cuped_test (None or left out).
    data = dataset("skewed")
    r = cuped_test(*cuped_stats(*data), method="gbstats", test="z")
    _, rel, rel_se = _gbstats_relative(data)
    q = stats.norm.ppf(0.975)
    assert r.test.relative_ci.low == pytest.approx(rel - q * rel_se, rel=1e-9)
    assert r.test.relative_ci.high == pytest.approx(rel + q * rel_se, rel=1e-9)
    raw_se = math.sqrt(data[0].var(ddof=1) / data[0].size + data[2].var(ddof=1) / data[2].size)
    assert r.variance_reduction == pytest.approx(1 - r.test.standard_error**2 / raw_se**2, rel=1e-12)
    assert 0.1 < r.variance_reduction < 1


def test_lin_and_gbstats_arguments_accepted_and_refused() -> None:
    # cov_type 'HC2' refused from sums ("HC2" mutated), the control arm named in Lin's check
    # ("control" mutated), and convention='gbstats' with method='gbstats' accepted ("gbstats" mutated).
    c, t = cuped_stats(*dataset("skewed"))
    with pytest.raises(InputError, match=r"cov_type='HC2'\) needs each unit's leverage"):
        cuped_test(c, t, method="lin", cov_type="HC2")
    with pytest.raises(InputError, match=r"^cuped_test: .* the control arm has 2\."):
        cuped_test(CupedStats.from_values([1.0, 2.0], [0.0, 1.0]), t, method="lin")
    with pytest.raises(InputError, match=r"covariate is constant within the control arm"):
        cuped_test(CupedStats.from_values([1.0, 2.0, 3.0], [1.0, 1.0, 1.0]), t, method="lin")
    assert cuped_test(c, t, convention="gbstats", method="gbstats").estimator == "gbstats"


def test_gbstats_relative_drops_the_welch_notes_on_the_relative_effect() -> None:
    # y = x with negative covariates: theta 1, the adjusted arms constant at the (negative) pooled
    # covariate mean, so the Welch result carries two notes, "p-value undefined ..." and "relative
    # effect undefined: the control mean is negative ..."; gbstats' lift (on the unadjusted control
    # mean) drops the second (the note's split separator mutated keeps it).
    x_c, x_t = np.array([-5.0, -3, -4, -6, -2]), np.array([-4.0, -5, -3, -6, -2, -4])
    r = cuped_test(CupedStats.from_values(x_c, x_c), CupedStats.from_values(x_t, x_t), method="gbstats")
    assert r.theta == 1.0 and r.test.standard_error == 0.0
    assert r.test.note == "p-value undefined: the standard error is 0 (both arms constant)"
