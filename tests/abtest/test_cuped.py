"""CUPED: the pooled slope is ANCOVA, Lin's estimator is statsmodels' interacted OLS with HC errors, the gbstats
convention is gbstats' formulas; calibration by simulation, and the sequential (mSPRT) CUPED test under peeking."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from _cuped_datasets import DATASETS, cuped_stats, dataset
from scipy import stats

from abrec.abtest import CupedStats, cuped_test, lin_test, sequential_cuped_test
from abrec.abtest.sequential import mixture_k, msprt_half_width
from abrec.errors import InputError, ParameterError

Z99 = 2.5758293035489  # the binomial 99% band is +/- Z99 standard errors


def _arms(rng: np.random.Generator, sims: int, n: int, rho: float, effect: float) -> tuple[np.ndarray, np.ndarray]:
    pre = rng.normal(0.0, 1.0, (sims, 2, n))
    post = rho * pre + math.sqrt(1 - rho**2) * rng.normal(0.0, 1.0, (sims, 2, n)) + 5.0
    post[:, 1] += effect
    return pre, post


def test_pooled_matches_ancova_ols() -> None:
    rng = np.random.default_rng(7)
    pre, post = _arms(rng, 1, 300, 0.7, 0.2)
    c, t = CupedStats.from_values(post[0, 0], pre[0, 0]), CupedStats.from_values(post[0, 1], pre[0, 1])
    r = cuped_test(c, t, test="z")
    arm = np.r_[np.zeros(300), np.ones(300)]
    design = sm.add_constant(np.column_stack([arm, np.r_[pre[0, 0], pre[0, 1]]]))
    fit = sm.OLS(np.r_[post[0, 0], post[0, 1]], design).fit()  # statsmodels OLS: y ~ 1 + arm + pre
    assert r.theta == pytest.approx(fit.params[2], rel=1e-10) and r.theta_treatment == r.theta
    assert r.test.effect == pytest.approx(fit.params[1], rel=1e-10)
    assert r.test.standard_error == pytest.approx(fit.bse[1], rel=0.01)  # same model, up to df
    assert r.raw.effect == pytest.approx(post[0, 1].mean() - post[0, 0].mean())
    assert r.test.method == "cuped-z" and r.estimator == "pooled" and r.confidence_interval() == r.test.ci
    assert cuped_test(c, t).test.method == "cuped-welch-t"


@pytest.mark.parametrize("cov_type", ["HC0", "HC1", "HC2", "HC3"])
@pytest.mark.parametrize("name", DATASETS)
def test_lin_matches_statsmodels_interacted_ols(name: str, cov_type: str) -> None:
    y_c, x_c, y_t, x_t = dataset(name)
    y, x = np.r_[y_c, y_t], np.r_[x_c, x_t]
    arm = np.r_[np.zeros(y_c.size), np.ones(y_t.size)]
    xc = x - x.mean()
    design = np.column_stack([np.ones_like(y), arm, xc, arm * xc])  # statsmodels OLS: y ~ t * (x - xbar)
    for test, use_t in (("z", False), ("t", True)):
        fit = sm.OLS(y, design).fit(cov_type=cov_type, use_t=use_t)
        results = [lin_test(y_c, x_c, y_t, x_t, cov_type=cov_type, test=test)]  # type: ignore[arg-type]
        if cov_type in ("HC0", "HC1"):  # from the mergeable sums
            results.append(cuped_test(*cuped_stats(y_c, x_c, y_t, x_t), method="lin", cov_type=cov_type, test=test))  # type: ignore[arg-type]
        for r in results:
            assert r.test.effect == pytest.approx(fit.params[1], rel=1e-10, abs=1e-12)
            assert r.test.standard_error == pytest.approx(fit.bse[1], rel=1e-10)
            assert r.test.p_value == pytest.approx(fit.pvalues[1], rel=1e-9, abs=1e-15)
            np.testing.assert_allclose(tuple(r.test.ci), fit.conf_int(0.05)[1], rtol=1e-10, atol=1e-12)
            assert r.test.df == (math.inf if test == "z" else fit.df_resid)
            assert r.theta == pytest.approx(fit.params[2], rel=1e-10)
            assert r.theta_treatment == pytest.approx(fit.params[2] + fit.params[3], rel=1e-10)
            assert r.test.method == f"cuped-lin-{cov_type.lower()}-{test}" and r.estimator == "lin"


def gbstats_cuped(
    y_c: np.ndarray, x_c: np.ndarray, y_t: np.ndarray, x_t: np.ndarray, alpha: float
) -> dict[str, float | tuple[float, float]]:
    """GrowthBook's gbstats CUPED for mean metrics, transcribed from packages/stats/gbstats:
    models/statistics.py (SampleMeanStatistic.variance, compute_covariance, compute_theta,
    RegressionAdjustedStatistic.mean / .variance), models/tests.py (EffectMoments: frequentist_diff,
    frequentist_variance, frequentist_variance_relative_cuped) and frequentist/tests.py (TTest.dof,
    TwoSidedTTest.p_value / .confidence_interval)."""

    def var(s: float, ss: float, n: int) -> float:
        return (ss - s**2 / n) / (n - 1)

    def cov(sa: float, sb: float, sop: float, n: int) -> float:
        return (sop - sa * sb / n) / (n - 1)

    n_a, n_b = y_c.size, y_t.size
    x, y, n = np.r_[x_c, x_t], np.r_[y_c, y_t], n_a + n_b
    theta = cov(y.sum(), x.sum(), x @ y, n) / var(x.sum(), x @ x, n)

    def arm(yy: np.ndarray, xx: np.ndarray) -> tuple[float, float, float, float, float, float]:
        k = yy.size
        vy, vx, c = var(yy.sum(), yy @ yy, k), var(xx.sum(), xx @ xx, k), cov(yy.sum(), xx.sum(), xx @ yy, k)
        return yy.mean() - theta * xx.mean(), vy + theta**2 * vx - 2 * theta * c, yy.mean(), vy, vx, c

    mean_a, var_a, post_a, vy_a, vx_a, cov_a = arm(y_c, x_c)
    mean_b, var_b, post_b, vy_b, vx_b, cov_b = arm(y_t, x_t)
    abs_est, abs_var = mean_b - mean_a, var_b / n_b + var_a / n_a
    rel_est = (mean_b - mean_a) / abs(post_a)
    v_trt = (vy_b + theta**2 * vx_b - 2 * theta * cov_b) / (n_b * post_a**2)
    const = -post_b
    num = vy_a * const**2 / post_a**2 + 2 * theta * cov_a * const / post_a + theta**2 * vx_a
    rel_var = v_trt + num / (n_a * post_a**2)
    dof = (var_b / n_b + var_a / n_a) ** 2 / (var_b**2 / (n_b**2 * (n_b - 1)) + var_a**2 / (n_a**2 * (n_a - 1)))
    out: dict[str, float | tuple[float, float]] = {"theta": theta, "dof": dof}
    for key, est, v in (("abs", abs_est, abs_var), ("rel", rel_est, rel_var)):
        se = math.sqrt(v)
        half = float(stats.t.ppf(1 - alpha / 2, dof)) * se
        out |= {f"{key}": est, f"{key}_se": se, f"{key}_ci": (est - half, est + half)}
        out[f"{key}_p"] = 2 * (1 - float(stats.t.cdf(abs(est / se), dof)))
    return out


@pytest.mark.parametrize("name", DATASETS)
def test_gbstats_convention_matches_gbstats(name: str) -> None:
    y_c, x_c, y_t, x_t = dataset(name)
    ref = gbstats_cuped(y_c, x_c, y_t, x_t, alpha=0.1)
    r = cuped_test(*cuped_stats(y_c, x_c, y_t, x_t), method="gbstats", alpha=0.1)
    assert r.theta == pytest.approx(ref["theta"], rel=1e-10) and r.test.df == pytest.approx(ref["dof"], rel=1e-10)
    assert r.test.effect == pytest.approx(ref["abs"], rel=1e-10)
    assert r.test.standard_error == pytest.approx(ref["abs_se"], rel=1e-10)
    assert r.test.p_value == pytest.approx(ref["abs_p"], rel=1e-8, abs=1e-14)
    np.testing.assert_allclose(tuple(r.test.ci), ref["abs_ci"], rtol=1e-10)
    assert r.test.relative_effect == pytest.approx(ref["rel"], rel=1e-10)
    assert r.test.relative_se == pytest.approx(ref["rel_se"], rel=1e-10)
    assert r.test.relative_p_value == pytest.approx(ref["rel_p"], rel=1e-8, abs=1e-14)
    np.testing.assert_allclose(tuple(r.test.relative_ci), ref["rel_ci"], rtol=1e-10)
    assert r.test.method == "cuped-gbstats-welch-t" and r.estimator == "gbstats"
    # gbstats' sequential CUPED: SequentialTwoSidedTTest's interval, halfwidth from sequential_interval_halfwidth
    seq = sequential_cuped_test(*cuped_stats(y_c, x_c, y_t, x_t), method="gbstats", tuning_parameter=500)
    n = y_c.size + y_t.size
    rho = math.sqrt((-2 * math.log(0.05) + math.log(-2 * math.log(0.05) + 1)) / 500)
    for key, ci in (("abs", seq.test.ci), ("rel", seq.test.relative_ci)):
        s2 = float(ref[f"{key}_se"]) ** 2 * n  # type: ignore[arg-type]
        half = math.sqrt(s2) * math.sqrt(
            2 * (n * rho**2 + 1) * math.log(math.sqrt(n * rho**2 + 1) / 0.05) / (n * rho) ** 2
        )
        np.testing.assert_allclose(tuple(ci), (ref[key] - half, ref[key] + half), rtol=1e-10)  # type: ignore[operator]


def test_cuped_stats_higher_moments_merge_and_feed_lin() -> None:
    rng = np.random.default_rng(3)
    y, x = rng.normal(2, 1, 90), rng.normal(1, 2, 90)
    whole = CupedStats.from_values(y, x)
    parts = sum(CupedStats.from_values(y[p], x[p]) for p in np.split(np.arange(90), [10, 47, 60]))
    for name in whole.__dataclass_fields__:
        assert getattr(parts, name) == pytest.approx(getattr(whole, name), rel=1e-12), name
    raw = whole.raw_moments()
    for (i, j), value in raw.items():
        assert value == pytest.approx(float(np.sum(x**i * y**j)), rel=1e-12)
    six = CupedStats(whole.n, whole.sum, whole.sum_sq, whole.sum_pre, whole.sum_pre_sq, whole.sum_cross)
    assert not (six + whole).has_higher_moments and (whole + whole).has_higher_moments
    with pytest.raises(InputError, match="lacks the higher cross-moments"):
        cuped_test(six, six, method="lin")
    with pytest.raises(InputError, match="all together or not at all"):
        CupedStats(3, 1.0, 1.0, 1.0, 1.0, 1.0, sum_pre_cube=1.0)
    assert cuped_test(six, six, method="gbstats").test.effect == 0.0  # the six sums suffice for the others


def _vectorised_fixed(pre: np.ndarray, post: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adjusted effect, its standard error and the raw standard error of runs (axis 0) with equal arms (axis 1)."""
    n = pre.shape[2]
    mx, my = pre.mean(2), post.mean(2)
    u, v = pre - mx[..., None], post - my[..., None]
    sxx, sxy, syy = (u * u).sum(2), (u * v).sum(2), (v * v).sum(2)
    d = mx - mx.mean(1, keepdims=True)  # each arm's covariate mean minus the pooled one
    if method == "lin":  # each arm's own slope; HC1 from c_i = 1/n - d u_i / S and the residuals
        beta = sxy / sxx
        resid = v - beta[..., None] * u
        c = 1.0 / n - d[..., None] * u / sxx[..., None]
        var = (c * c * resid * resid).sum(2).sum(1) * (2 * n) / (2 * n - 4)
        adj = my - beta * d
    else:
        if method == "pooled":
            theta = sxy.sum(1) / sxx.sum(1)
        else:  # gbstats: the slope over both arms together
            x, y = pre.reshape(len(pre), -1), post.reshape(len(post), -1)
            ux, vy = x - x.mean(1, keepdims=True), y - y.mean(1, keepdims=True)
            theta = (ux * vy).sum(1) / (ux * ux).sum(1)
        adj = my - theta[:, None] * d
        var = ((syy - 2 * theta[:, None] * sxy + theta[:, None] ** 2 * sxx) / (n - 1)).sum(1) / n
    return adj[:, 1] - adj[:, 0], np.sqrt(var), np.sqrt((syy / (n - 1)).sum(1) / n)


@pytest.mark.parametrize("method", ["pooled", "lin", "gbstats"])
def test_a_a_false_positive_rate_and_variance_reduction(method: str) -> None:
    rng = np.random.default_rng(8)
    sims, n, rho, alpha = 4000, 200, 0.8, 0.05
    pre, post = _arms(rng, sims, n, rho, 0.0)
    effect, se, raw_se = _vectorised_fixed(pre, post, method)
    for s in range(8):  # the simulation computes what cuped_test computes
        r = cuped_test(*cuped_stats(post[s, 0], pre[s, 0], post[s, 1], pre[s, 1]), method=method, test="z")  # type: ignore[arg-type]
        assert r.test.effect == pytest.approx(effect[s], rel=1e-9, abs=1e-12)
        assert (r.test.standard_error, r.raw.standard_error) == pytest.approx((se[s], raw_se[s]), rel=1e-9)
    rate = float(np.mean(2 * stats.norm.sf(np.abs(effect / se)) < alpha))
    assert abs(rate - alpha) <= Z99 * math.sqrt(alpha * (1 - alpha) / sims), rate
    reduction = 1 - se**2 / raw_se**2
    print(f"CUPED {method}, rho {rho}: variance reduction {reduction.mean():.3f}, A/A false-positive rate {rate:.4f}")
    assert reduction.mean() == pytest.approx(rho**2, abs=0.02)
    # the adjusted estimate really is less variable across simulations, by the reported factor
    raw_effect = post[:, 1].mean(1) - post[:, 0].mean(1)
    assert np.var(effect) / np.var(raw_effect) == pytest.approx(1 - rho**2, rel=0.1)


def _sums(y: np.ndarray, x: np.ndarray) -> list[np.ndarray]:
    """Every CupedStats sum over the last axis, in the constructor's order."""
    powers = ((0, 1), (0, 2), (1, 0), (2, 0), (1, 1), (3, 0), (4, 0), (2, 1), (1, 2), (3, 1), (2, 2))
    return [(y**j * x**i).sum(axis=-1) for i, j in powers]


def test_lin_covers_the_sample_effect_under_heterogeneous_slopes() -> None:
    # Lin's (2013) framework: a fixed population of 300 units, potential outcomes with slopes 1 and 3 and noise
    # growing with |x| under treatment, 60 units drawn into control and 240 into treatment in each simulation.
    # The HC interval of the interacted regression covers the sample's average effect at least at its level.
    rng = np.random.default_rng(12)
    sims, n_c, alpha = 4000, 60, 0.1
    x = rng.normal(0, 1, 300)
    y0 = 1.0 + x + rng.normal(0, 1, 300)
    y1 = 1.3 + 3.0 * x + rng.normal(0, 1, 300) * (0.5 + 2 * np.abs(x))
    effect = float(np.mean(y1 - y0))
    order = np.argsort(rng.random((sims, 300)), axis=1)
    control, treatment = order[:, :n_c], order[:, n_c:]
    arms = [_sums(y0[control], x[control]), _sums(y1[treatment], x[treatment])]
    covered = 0
    for s in range(sims):
        c, t = (
            CupedStats(idx.shape[1], *(float(f[s]) for f in sums))
            for idx, sums in zip((control, treatment), arms, strict=True)
        )
        covered += cuped_test(c, t, method="lin", test="z", alpha=alpha).test.ci.contains(effect)
    coverage = covered / sims
    print(f"Lin HC1, 90% interval, heterogeneous slopes, 1:4 arms, re-randomised: coverage {coverage:.3f}")
    assert coverage >= 1 - alpha - Z99 * math.sqrt(alpha * (1 - alpha) / sims), coverage


def _peeking_runs(
    rng: np.random.Generator, sims: int, looks: int, batch: int, rho: float, effect: float
) -> tuple[np.ndarray, np.ndarray]:
    pre = rng.normal(0.0, 1.0, (sims, 2, looks * batch))
    post = rho * pre + math.sqrt(1 - rho**2) * rng.normal(0.0, 1.0, pre.shape) + 3.0
    post[:, 1] += effect
    return pre, post


def _vectorised_msprt(
    sums: list[np.ndarray], n: int, method: str, alpha: float, n_star: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CUPED and raw effects and mSPRT half-widths of every run (axis 0) from its arms' (axis 1) sums at ``n`` units."""
    sy, syy, sx, sxx_raw, sxy_raw = sums
    mx, my = sx / n, sy / n
    sxx, sxy, syy_c = sxx_raw - n * mx**2, sxy_raw - n * mx * my, syy - n * my**2
    if method == "pooled":
        theta = np.repeat((sxy.sum(1) / sxx.sum(1))[:, None], 2, axis=1)
    else:  # gbstats: the slope over both arms together
        mx_all, my_all = mx.mean(1), my.mean(1)
        cov_all = sxy_raw.sum(1) - 2 * n * mx_all * my_all
        var_all = sxx_raw.sum(1) - 2 * n * mx_all**2
        theta = np.repeat((cov_all / var_all)[:, None], 2, axis=1)
    adj_mean = my - theta * (mx - mx.mean(1, keepdims=True))
    adj_var = (syy_c - 2 * theta * sxy + theta**2 * sxx) / (n - 1)
    se, raw_se = np.sqrt(adj_var.sum(1) / n), np.sqrt((syy_c / (n - 1)).sum(1) / n)
    crit = msprt_half_width(mixture_k(2.0 * n, alpha, n_star), alpha, "two-sided")
    return adj_mean[:, 1] - adj_mean[:, 0], my[:, 1] - my[:, 0], crit * se, crit * raw_se


@pytest.mark.parametrize("method", ["pooled", "gbstats"])
def test_sequential_cuped_is_valid_under_peeking(method: str) -> None:
    rng = np.random.default_rng(21)
    sims, looks, batch, rho, alpha, effect = 4000, 10, 40, 0.7, 0.05, 0.1
    n_star = 2.0 * looks * batch
    band = Z99 * math.sqrt(alpha * (1 - alpha) / sims)
    for true in (0.0, effect):
        pre, post = _peeking_runs(rng, sims, looks, batch, rho, true)
        missed = np.zeros(sims, dtype=bool)
        rejected = np.zeros(sims, dtype=bool)
        raw_rejected = np.zeros(sims, dtype=bool)
        widths = []
        batches = [f.reshape(sims, 2, looks, batch).sum(3).cumsum(2) for f in (post, post**2, pre, pre**2, pre * post)]
        for look in range(1, looks + 1):
            n = look * batch
            est, raw, half, raw_half = _vectorised_msprt([b[..., look - 1] for b in batches], n, method, alpha, n_star)
            missed |= np.abs(est - true) > half
            rejected |= np.abs(est) > half
            raw_rejected |= np.abs(raw) > raw_half
            widths.append(float(np.mean(half / raw_half)))
            for s in rng.choice(sims, 2, replace=False):  # the simulation computes what the function computes
                c, t = (CupedStats.from_values(post[s, a, :n], pre[s, a, :n]) for a in (0, 1))
                r = sequential_cuped_test(c, t, method=method, alpha=alpha, tuning_parameter=n_star)  # type: ignore[arg-type]
                np.testing.assert_allclose(tuple(r.test.ci), (est[s] - half[s], est[s] + half[s]), rtol=1e-9)
        coverage = 1 - missed.mean()
        if true == 0.0:
            print(f"sequential CUPED ({method}), A/A, {looks} looks: false-positive rate {rejected.mean():.4f}")
            assert rejected.mean() <= alpha + band
        else:
            print(
                f"sequential CUPED ({method}), effect {effect}: coverage at every look {coverage:.4f}, found by the "
                f"last look {rejected.mean():.3f} vs raw mSPRT {raw_rejected.mean():.3f}; width ratio {widths[-1]:.3f}"
            )
            assert coverage >= 1 - alpha - band
            assert rejected.mean() > raw_rejected.mean() + 0.1  # CUPED finds the effect more often
            assert widths[-1] == pytest.approx(math.sqrt(1 - rho**2), rel=0.05)


def test_sequential_lin_uses_the_hc_variance() -> None:
    y_c, x_c, y_t, x_t = dataset("unequal-heteroskedastic")
    fixed = cuped_test(*cuped_stats(y_c, x_c, y_t, x_t), method="lin", test="z")
    seq = sequential_cuped_test(*cuped_stats(y_c, x_c, y_t, x_t), method="lin", tau_squared=0.05)
    assert seq.test.effect == fixed.test.effect and seq.test.standard_error == fixed.test.standard_error
    assert seq.test.method == "cuped-lin-hc1-msprt" and seq.test.ci.width > fixed.test.ci.width


def test_errors() -> None:
    s = CupedStats.from_values([1.0, 2.0, 4.0], [0.0, 1.0, 1.0])
    with pytest.raises(ParameterError, match="'method' parameter of cuped_test"):
        cuped_test(s, s, method="ols")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="Did you mean test='z'"):
        cuped_test(s, s, method="z")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="'cov_type' parameter of lin_test"):
        lin_test([1, 2, 3], [1, 2, 4], [1, 2, 3], [1, 2, 4], cov_type="HC4")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="use lin_test with the unit values"):
        cuped_test(s, s, method="lin", cov_type="HC3")
    with pytest.raises(InputError, match="covariate is constant within the control arm"):
        lin_test([1.0, 2.0, 3.0], [1.0, 1.0, 1.0], [1.0, 2.0, 3.0], [1.0, 2.0, 4.0])
    with pytest.raises(InputError, match="at least 3 units"):
        cuped_test(CupedStats.from_values([1.0, 2.0], [0.0, 1.0]), s, method="lin")
    with pytest.raises(
        ParameterError, match=r"'alpha' parameter of sequential_cuped_test must be a float in \(0, 0.5\)"
    ):
        sequential_cuped_test(s, s, alpha=0.6, alternative="greater")
