"""Power, sample size and MDE against statsmodels.stats.power and GrowthBook's formulas; simulated power matches the
prediction (means, proportions, Cohen's h, relative lifts, the mSPRT read once or at every batch, many arms)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower, zt_ind_solve_power
from statsmodels.stats.proportion import power_proportions_2indep, proportion_effectsize

from abrec.abtest import (
    Moments,
    SampleStats,
    cohens_h,
    mde_means,
    mde_proportions,
    mde_relative,
    optimal_allocation,
    power_means,
    power_proportions,
    power_relative,
    power_sequential,
    proportions_ztest,
    sample_size_means,
    sample_size_proportions,
    sample_size_relative,
    sample_size_sequential,
    sequential_test,
    welch_ttest,
    ztest,
)
from abrec.abtest.sequential import mixture_k, msprt_half_width
from abrec.errors import InputError, ParameterError

Z99 = 2.5758293035489  # simulated rates must lie within the binomial 99% band: +/- Z99 standard errors


def _band(p: float, sims: int) -> float:
    return Z99 * math.sqrt(p * (1 - p) / sims)


SM_ALT = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}
CASES = [("two-sided", 1.0, 0.05), ("greater", 2.0, 0.05), ("less", 0.5, 0.1)]


@pytest.mark.parametrize(("alternative", "ratio", "alpha"), CASES)
def test_means_match_statsmodels(alternative: str, ratio: float, alpha: float) -> None:
    effect = -0.15 if alternative == "less" else 0.15
    sd, n = 1.5, 700
    d = effect / sd
    alt = SM_ALT[alternative]
    kw = {"ratio": ratio, "alpha": alpha, "alternative": alternative}
    assert power_means(effect, sd, n, test="t", **kw) == pytest.approx(  # type: ignore[arg-type]
        TTestIndPower().power(d, n, alpha, ratio=ratio, alternative=alt),
        rel=1e-8,  # statsmodels TTestIndPower.power
    )
    assert power_means(effect, sd, n, test="z", **kw) == pytest.approx(  # type: ignore[arg-type]
        NormalIndPower().power(d, n, alpha, ratio=ratio, alternative=alt),
        rel=1e-10,  # statsmodels NormalIndPower.power
    )
    n_z = zt_ind_solve_power(effect_size=d, alpha=alpha, power=0.8, ratio=ratio, alternative=alt)  # statsmodels
    assert sample_size_means(effect, sd, power=0.8, test="z", **kw) == math.ceil(n_z)  # type: ignore[arg-type]
    n_t = TTestIndPower().solve_power(effect_size=d, alpha=alpha, power=0.8, ratio=ratio, alternative=alt)
    assert sample_size_means(effect, sd, power=0.8, test="t", **kw) == math.ceil(n_t)  # type: ignore[arg-type]
    mde = mde_means(sd, n, power=0.8, test="z", **kw)  # type: ignore[arg-type]
    d_z = zt_ind_solve_power(nobs1=n, alpha=alpha, power=0.8, ratio=ratio, alternative=alt)  # statsmodels
    assert mde == pytest.approx(abs(d_z) * sd, rel=1e-5)  # statsmodels' root finder stops earlier
    signed = math.copysign(mde / sd, effect)
    assert NormalIndPower().power(signed, n, alpha, ratio=ratio, alternative=alt) == pytest.approx(0.8, rel=1e-9)


@pytest.mark.parametrize(("alternative", "ratio", "alpha"), CASES)
def test_proportions_match_statsmodels(alternative: str, ratio: float, alpha: float) -> None:
    p_c, p_t = (0.2, 0.17) if alternative == "less" else (0.2, 0.23)
    kw = {"ratio": ratio, "alpha": alpha, "alternative": alternative}
    for n in (300, 2000):
        ref = power_proportions_2indep(  # statsmodels power_proportions_2indep (sample 1 = treatment)
            p_t - p_c, p_c, n * ratio, ratio=1 / ratio, alpha=alpha, alternative=SM_ALT[alternative]
        ).power
        assert power_proportions(p_c, p_t, n, **kw) == pytest.approx(ref, rel=1e-9)  # type: ignore[arg-type]
    n = sample_size_proportions(p_c, p_t, power=0.8, **kw)  # type: ignore[arg-type]
    assert power_proportions(p_c, p_t, n, **kw) >= 0.8 > power_proportions(p_c, p_t, n - 1, **kw)  # type: ignore[arg-type]
    mde = mde_proportions(p_c, n, power=0.8, **kw)  # type: ignore[arg-type]
    assert mde <= abs(p_t - p_c) and power_proportions(
        p_c, p_c + math.copysign(mde, p_t - p_c), n, **kw
    ) == pytest.approx(0.8)  # type: ignore[arg-type]


def test_simulated_power_matches_prediction() -> None:
    rng = np.random.default_rng(16)
    sims = 3000
    # means, Welch's t test: n from sample_size_means, data normal (exact sums)
    n = sample_size_means(0.3, 1.0, power=0.8)
    predicted = power_means(0.3, 1.0, n)
    mc, mt = rng.normal(0.0, 1 / math.sqrt(n), sims), rng.normal(0.3, 1 / math.sqrt(n), sims)
    vc, vt = rng.chisquare(n - 1, sims) / (n - 1), rng.chisquare(n - 1, sims) / (n - 1)
    hits = np.mean(
        [
            welch_ttest(Moments(n, a, u), Moments(n, b, v)).p_value < 0.05
            for a, b, u, v in zip(mc, mt, vc, vt, strict=True)
        ]
    )
    assert abs(hits - predicted) <= 4.5 * math.sqrt(predicted * (1 - predicted) / sims), (hits, predicted)
    # proportions, pooled z test, unequal allocation and one-sided
    n = sample_size_proportions(0.1, 0.12, power=0.7, ratio=2.0, alternative="greater")
    predicted = power_proportions(0.1, 0.12, n, ratio=2.0, alternative="greater")
    kc, kt = rng.binomial(n, 0.1, sims), rng.binomial(2 * n, 0.12, sims)
    hits = np.mean(
        [
            proportions_ztest(SampleStats(n, a, a), SampleStats(2 * n, b, b), alternative="greater").p_value < 0.05
            for a, b in zip(kc, kt, strict=True)
        ]
    )
    assert abs(hits - predicted) <= 4.5 * math.sqrt(predicted * (1 - predicted) / sims), (hits, predicted)


def test_errors() -> None:
    with pytest.raises(InputError, match="nonzero, > 0 for 'greater'"):
        sample_size_means(-0.1, 1.0, alternative="greater")
    with pytest.raises(ParameterError, match="'sd' parameter of power_means"):
        power_means(0.1, 0.0, 100)
    with pytest.raises(ParameterError, match="'test' parameter of mde_means"):
        mde_means(1.0, 100, test="f")
    with pytest.raises(ParameterError, match="'p_treatment' parameter of power_proportions"):
        power_proportions(0.1, 1.0, 100)
    with pytest.raises(InputError, match="add units"):
        mde_proportions(0.5, 3, power=0.99)


# --- GrowthBook's relative-lift power -------------------------------------------------------------------------------


def growthbook_power(
    lift: float, mean: float, var: float, n: float, n_variations: int, alpha: float, two: bool
) -> float:
    """growthbook packages/shared/src/power/power.ts, transcribed: powerEstFrequentist (no sequential testing)
    = powerFrequentist(effect, powerStandardError(metric, n / nVariations, relative=true), alpha, twoTailed),
    frequentistVariance(varA, meanA, nA, varB, meanB, nB, true) = varB / (meanA^2 nB) + varA meanB^2 / (meanA^4 nA)."""
    n_per = n / n_variations
    mean_b = mean * (1 + lift)
    se = math.sqrt(var / (mean**2 * n_per) + var * mean_b**2 / (mean**4 * n_per))
    z_star = stats.norm.ppf(1 - 0.5 * alpha) if two else stats.norm.ppf(1 - alpha)
    power = 1 - stats.norm.cdf(z_star - lift / se)
    return float(power + (stats.norm.cdf(-z_star - lift / se) if two else 0.0))


def growthbook_mde(mean: float, var: float, n: float, n_variations: int, alpha: float, power: float, z: float) -> float:
    """growthbook power.ts findMdeFrequentist, transcribed (``z = q(1 - alpha/2) - q(1 - power)`` there)."""
    n_a = n / n_variations
    sigma2 = var / n_a
    a_star, b_star, c_star = 1 - z**2 * sigma2 / mean**2, -2 * mean, mean**2 - z**2 * sigma2
    sol = (-b_star + math.sqrt(b_star**2 - 4 * a_star * c_star)) / (2 * a_star)
    return (sol - mean) / mean


# (lift, mean, variance, users in all, variations, alpha): a mean metric, binomial metrics (variance p (1 - p)),
# small samples, three and four variations
GB_CASES = [
    (0.05, 10.0, 25.0, 3000, 2, 0.05),
    (0.03, 0.1, 0.09, 60000, 3, 0.1),
    (0.2, 0.5, 4.0, 500, 2, 0.01),
    (0.1, 0.02, 0.0196, 100000, 4, 0.05),
    (0.1, 100.0, 900.0, 50, 2, 0.05),
    (-0.04, 3.0, 9.0, 40000, 2, 0.05),
]


@pytest.mark.parametrize(("lift", "mean", "var", "n", "k", "alpha"), GB_CASES)
def test_relative_power_matches_growthbook(lift: float, mean: float, var: float, n: int, k: int, alpha: float) -> None:
    sd, n_per = math.sqrt(var), n / k
    assert power_relative(lift, mean, sd, n_per, alpha=alpha) == pytest.approx(
        growthbook_power(lift, mean, var, n, k, alpha, two=True), rel=1e-10
    )
    if lift > 0:
        assert power_relative(lift, mean, sd, n_per, alpha=alpha, alternative="greater") == pytest.approx(
            growthbook_power(lift, mean, var, n, k, alpha, two=False), rel=1e-10
        )
        # gbstats power/midexperimentpower.py MidExperimentPower.power (no prior, not sequential), given the lift's
        # standard error: 1 - Phi((halfwidth - mde) / se) + Phi(-(halfwidth + mde) / se), halfwidth = z* se
        se = math.sqrt(var / (mean**2 * n_per) + var * (mean * (1 + lift)) ** 2 / (mean**4 * n_per))
        half = stats.norm.ppf(1 - alpha / 2) * se
        ref = 1 - stats.norm.cdf((half - lift) / se) + stats.norm.cdf(-(half + lift) / se)
        assert power_relative(lift, mean, sd, n_per, alpha=alpha) == pytest.approx(ref, rel=1e-10)
    try:
        z = stats.norm.ppf(1 - alpha / 2) - stats.norm.ppf(0.2)
        gb_mde = growthbook_mde(mean, var, n, k, alpha, 0.8, z)
    except ValueError:  # GrowthBook: "need to increase number of users"
        with pytest.raises(InputError, match="no lift reaches"):
            mde_relative(mean, sd, n_per, alpha=alpha)
        return
    mde = mde_relative(mean, sd, n_per, alpha=alpha)
    assert power_relative(mde, mean, sd, n_per, alpha=alpha) == pytest.approx(0.8, rel=1e-10)
    assert mde == pytest.approx(gb_mde, rel=1e-4)  # GrowthBook's quadratic drops the far tail (< 1e-5 of power)
    one_sided = growthbook_mde(mean, var, n, k, alpha, 0.8, stats.norm.ppf(1 - alpha) - stats.norm.ppf(0.2))
    assert mde_relative(mean, sd, n_per, alpha=alpha, alternative="greater") == pytest.approx(one_sided, rel=1e-9)


def test_relative_power_is_what_simulation_finds() -> None:
    # Normal data, the z test of the delta-method lift (what abrec's relative interval and GrowthBook test), the
    # sample size from sample_size_relative; means and variances drawn from their exact sampling distributions.
    # The formula is asymptotic and slightly conservative: with a coefficient of variation of 0.5, 100,000 runs
    # find 0.9 points more power than it predicts at 1,300 units per arm, 0.5 at 6,000 (the lift's skewness).
    rng = np.random.default_rng(31)
    sims = 4000
    for lift, ratio, alternative in ((0.02, 1.0, "two-sided"), (0.025, 2.0, "greater")):
        mean, sd = 10.0, 5.0
        n = sample_size_relative(lift, mean, sd, power=0.7, ratio=ratio, alternative=alternative)  # type: ignore[arg-type]
        n_t = round(ratio * n)
        predicted = power_relative(lift, mean, sd, n, ratio=n_t / n, alternative=alternative)  # type: ignore[arg-type]
        mc = rng.normal(mean, sd / math.sqrt(n), sims)
        mt = rng.normal(mean * (1 + lift), sd / math.sqrt(n_t), sims)
        vc, vt = sd**2 * rng.chisquare(n - 1, sims) / (n - 1), sd**2 * rng.chisquare(n_t - 1, sims) / (n_t - 1)
        rel = mt / mc - 1
        se = np.sqrt(vt / (n_t * mc**2) + vc * mt**2 / (n * mc**4))
        crit = stats.norm.ppf(0.975 if alternative == "two-sided" else 0.95)
        hits = np.abs(rel / se) > crit if alternative == "two-sided" else rel / se > crit
        for s in range(5):  # the simulated rule is abrec's relative interval excluding 0
            r = ztest(Moments(n, mc[s], vc[s]), Moments(n_t, mt[s], vt[s]), alternative=alternative)  # type: ignore[arg-type]
            assert (not r.relative_ci.contains(0.0)) == hits[s]
        print(f"relative lift {lift:+.1%}, {alternative}: predicted power {predicted:.3f}, simulated {hits.mean():.3f}")
        assert abs(hits.mean() - predicted) <= _band(predicted, sims)


# --- the mSPRT -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effect", "sd", "n_control", "ratio", "n_star", "alpha"),
    [(0.1, 1.0, 1500, 1.0, 3000, 0.05), (0.02, 0.5, 20000, 0.5, 5000, 0.05), (-0.3, 2.0, 200, 2.0, 1000, 0.1),
     (0.05, 1.0, 30, 1.0, 5000, 0.05), (1.0, 3.0, 100, 3.0, 200, 0.01)],
)  # fmt: skip
def test_sequential_power_matches_gbstats(
    effect: float, sd: float, n_control: int, ratio: float, n_star: float, alpha: float
) -> None:
    # gbstats power/midexperimentpower.py MidExperimentPower.power with sequential=True, transcribed: with
    # pairwise_sample_size N and sigmahat_2_delta = se^2, s2 = N se^2 and (scaling factor 0)
    # halfwidth = sequential_interval_halfwidth(s2, N, n*, alpha) (frequentist/tests.py, Waudby-Smith eq. 9)
    n = n_control * (1 + ratio)
    se = sd * math.sqrt(1 / n_control + 1 / (ratio * n_control))
    rho = math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / n_star)
    half = math.sqrt(n * se**2) * math.sqrt(
        2 * (n * rho**2 + 1) * math.log(math.sqrt(n * rho**2 + 1) / alpha) / (n * rho) ** 2
    )
    mde = abs(effect)
    ref = 1 - stats.norm.cdf((half - mde) / se) + stats.norm.cdf(-(half + mde) / se)
    kw = {"ratio": ratio, "alpha": alpha, "tuning_parameter": n_star}
    assert power_sequential(effect, sd, n_control, **kw) == pytest.approx(ref, rel=1e-10)  # type: ignore[arg-type]
    tau2 = rho**2 * n * se**2  # the same mixture on the effect's scale
    assert power_sequential(effect, sd, n_control, ratio=ratio, alpha=alpha, tau_squared=tau2) == pytest.approx(ref)
    # the boundary is sequential_test's: its interval's half-width in standard errors
    c, t = Moments(n_control, 0.0, sd**2), Moments(round(ratio * n_control), effect, sd**2)
    r = sequential_test(c, t, alpha=alpha, tuning_parameter=n_star, alternative="greater")
    one_sided = power_sequential(effect, sd, n_control, **kw, alternative="greater")  # type: ignore[arg-type]
    z = effect / r.standard_error
    assert one_sided == pytest.approx(stats.norm.cdf(z - (effect - r.ci[0]) / r.standard_error), rel=1e-9, abs=1e-15)


def test_three_looks_match_the_trivariate_normal() -> None:
    # P(cross at some look) = 1 - P(|S_j| < b_j for j = 1..3), the scores S_j multivariate normal with
    # cov(S_i, S_j) = I_min(i, j) (scipy's multivariate_normal.cdf, Genz's algorithm, as the exact reference)
    effect, sd, n_c, alpha, n_star = 0.1, 1.0, 1200, 0.05, 2400
    n = n_c * np.arange(1, 4) / 3
    info = n / (2 * sd**2)
    b = msprt_half_width(mixture_k(2.0 * n, alpha, n_star), alpha, "two-sided") * np.sqrt(info)
    cov = np.minimum.outer(info, info)
    stay = stats.multivariate_normal.cdf(b, effect * info, cov, lower_limit=-b, abseps=1e-9, releps=1e-9)
    got = power_sequential(effect, sd, n_c, alpha=alpha, tuning_parameter=n_star, looks=3)
    assert got == pytest.approx(1 - stay, abs=2e-6)


def test_sequential_power_is_what_simulation_finds() -> None:
    # 4,000 experiments read after each of 10 batches (sequential_test's rule, vectorised with its own formulas);
    # each batch's sum and centred sum of squares drawn from their exact distributions.
    rng = np.random.default_rng(32)
    sims, looks, batch, effect, sd, alpha, n_star = 4000, 10, 150, 0.1, 1.0, 0.05, 3000
    n_c = looks * batch
    sums, squares = [], []
    for mu in (0.0, effect):
        s = rng.normal(batch * mu, sd * math.sqrt(batch), (sims, looks))
        ss = sd**2 * rng.chisquare(batch - 1, (sims, looks)) + s**2 / batch
        sums.append(s.cumsum(1))
        squares.append(ss.cumsum(1))
    n = batch * np.arange(1, looks + 1)
    var = [(q - s**2 / n) / (n - 1) for s, q in zip(sums, squares, strict=True)]
    est = (sums[1] - sums[0]) / n
    se = np.sqrt((var[0] + var[1]) / n)
    crossed = np.abs(est / se) >= msprt_half_width(mixture_k(2.0 * n, alpha, n_star), alpha, "two-sided")
    for s in range(3):  # the vectorised rule is sequential_test's
        for j in (0, looks - 1):
            arms = [SampleStats(int(n[j]), float(x[s, j]), float(q[s, j])) for x, q in zip(sums, squares, strict=True)]
            assert (sequential_test(*arms, tuning_parameter=n_star).p_value <= alpha) == crossed[s, j]
    for looks_read, rate in ((1, crossed[:, -1].mean()), (looks, crossed.any(axis=1).mean())):
        predicted = power_sequential(effect, sd, n_c, alpha=alpha, tuning_parameter=n_star, looks=looks_read)
        print(f"mSPRT power, read {looks_read:>2} time(s): predicted {predicted:.3f}, simulated {rate:.3f}")
        assert abs(rate - predicted) <= _band(predicted, sims)


def test_sequential_sample_size() -> None:
    kw = {"tuning_parameter": 2000.0, "alpha": 0.05}
    for looks in (1, 5):
        n = sample_size_sequential(0.1, 1.0, power=0.8, looks=looks, **kw)  # type: ignore[arg-type]
        assert (
            power_sequential(0.1, 1.0, n, looks=looks, **kw)
            >= 0.8
            > power_sequential(0.1, 1.0, n - 1, looks=looks, **kw)
        )  # type: ignore[arg-type]
    assert sample_size_sequential(0.1, 1.0, looks=5, **kw) < sample_size_sequential(0.1, 1.0, **kw)  # type: ignore[arg-type]
    assert sample_size_sequential(0.1, 1.0, **kw) > sample_size_means(0.1, 1.0, test="z")  # type: ignore[arg-type]
    n = sample_size_sequential(-0.1, 1.0, alternative="less", ratio=2.0, **kw)  # type: ignore[arg-type]
    assert power_sequential(-0.1, 1.0, n, alternative="less", ratio=2.0, **kw) >= 0.8  # type: ignore[arg-type]


# --- Cohen's h -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("alternative", "ratio", "alpha"), CASES)
def test_cohens_h_matches_statsmodels(alternative: str, ratio: float, alpha: float) -> None:
    p_c, p_t = (0.2, 0.17) if alternative == "less" else (0.2, 0.23)
    h = proportion_effectsize(p_t, p_c)  # statsmodels proportion_effectsize
    assert cohens_h(p_c, p_t) == pytest.approx(h, rel=1e-12)
    kw = {"ratio": ratio, "alpha": alpha, "alternative": alternative, "method": "cohens-h"}
    for n in (300, 2000):
        ref = NormalIndPower().power(h, n, alpha, ratio=ratio, alternative=SM_ALT[alternative])  # statsmodels
        assert power_proportions(p_c, p_t, n, **kw) == pytest.approx(ref, rel=1e-10)  # type: ignore[arg-type]
    ref_n = NormalIndPower().solve_power(h, alpha=alpha, power=0.8, ratio=ratio, alternative=SM_ALT[alternative])
    n = sample_size_proportions(p_c, p_t, power=0.8, **kw)  # type: ignore[arg-type]
    assert n == math.ceil(ref_n - 1e-6)  # statsmodels' root finder stops within 1e-6 of the root
    mde = mde_proportions(p_c, n, **kw)  # type: ignore[arg-type]
    moved = p_c + math.copysign(mde, p_t - p_c)
    power = NormalIndPower().power(
        proportion_effectsize(moved, p_c), n, alpha, ratio=ratio, alternative=SM_ALT[alternative]
    )
    assert power == pytest.approx(0.8, rel=1e-9)


def test_cohens_h_power_is_what_simulation_finds() -> None:
    # the arcsine test: z = (2 asin sqrt(p_t) - 2 asin sqrt(p_c)) / sqrt(1 / n_c + 1 / n_t)
    rng = np.random.default_rng(33)
    sims, p_c, p_t, ratio = 4000, 0.05, 0.065, 1.5
    n = sample_size_proportions(p_c, p_t, power=0.75, ratio=ratio, method="cohens-h")
    n_t = round(ratio * n)
    predicted = power_proportions(p_c, p_t, n, ratio=n_t / n, method="cohens-h")
    k_c, k_t = rng.binomial(n, p_c, sims), rng.binomial(n_t, p_t, sims)
    z = (2 * np.arcsin(np.sqrt(k_t / n_t)) - 2 * np.arcsin(np.sqrt(k_c / n))) / math.sqrt(1 / n + 1 / n_t)
    rate = float(np.mean(np.abs(z) > stats.norm.ppf(0.975)))
    print(f"Cohen's h, n_control {n}: predicted power {predicted:.3f}, simulated {rate:.3f}")
    assert abs(rate - predicted) <= _band(predicted, sims)


# --- many arms -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sd", [None, [1.0, 2.0, 0.5, 1.5], [3.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
def test_optimal_allocation_minimises_the_summed_contrast_variance(sd: list[float] | None) -> None:
    k = 4 if sd is None else len(sd)
    sds = np.ones(k) if sd is None else np.asarray(sd)
    shares = optimal_allocation(k, sd=sd)

    def total(w: np.ndarray) -> float:
        return float(np.sum(sds[0] ** 2 / w[0] + sds[1:] ** 2 / w[1:]))

    best = optimize.minimize(
        total, np.full(k, 1 / k), method="SLSQP", bounds=[(1e-6, 1)] * k,
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}], options={"ftol": 1e-14, "maxiter": 500},
    )  # fmt: skip
    np.testing.assert_allclose(shares, best.x, atol=1e-5)
    assert total(shares) <= best.fun + 1e-12 and shares.sum() == pytest.approx(1.0)
    if sd is None:  # Dunnett's square-root rule
        assert shares[0] / shares[1] == pytest.approx(math.sqrt(k - 1))


def test_optimal_allocation_power_is_what_simulation_finds() -> None:
    # 1 control + 3 treatments, 3,600 units, each treatment +0.12 sd, Bonferroni alpha / 3: every contrast's power
    # at the sqrt(3) allocation is what power_means predicts, and higher than at an equal split
    rng = np.random.default_rng(34)
    sims, k, total, effect, alpha = 4000, 4, 3600, 0.12, 0.05 / 3
    found = {}
    for name, shares in (("optimal", optimal_allocation(k)), ("equal", np.full(k, 1 / k))):
        n = np.round(shares * total).astype(int)
        predicted = power_means(effect, 1.0, float(n[0]), ratio=float(n[1] / n[0]), alpha=alpha, test="z")
        means = rng.normal(0.0, 1.0 / np.sqrt(n), (sims, k)) + np.r_[0.0, [effect] * (k - 1)]
        z = (means[:, 1:] - means[:, :1]) / np.sqrt(1 / n[0] + 1 / n[1:])
        rate = float(np.mean(np.abs(z) > stats.norm.ppf(1 - alpha / 2)))  # over all 3 x 4,000 contrasts
        print(f"{name} allocation {np.round(shares, 3).tolist()}: power {predicted:.3f}, simulated {rate:.3f}")
        assert abs(rate - predicted) <= _band(predicted, sims)  # conservative: 12,000 correlated contrasts
        found[name] = predicted
    assert found["optimal"] > found["equal"] + 0.02


def test_new_errors() -> None:
    with pytest.raises(InputError, match="no lift reaches"):
        mde_relative(1.0, 10.0, 50)
    with pytest.raises(ParameterError, match="'mean' parameter of power_relative"):
        power_relative(0.1, -1.0, 1.0, 100)
    with pytest.raises(ParameterError, match="'method' parameter of power_proportions"):
        power_proportions(0.1, 0.2, 100, method="arcsin")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="'looks' parameter of power_sequential"):
        power_sequential(0.1, 1.0, 100, looks=0)
    with pytest.raises(
        ParameterError, match=r"'alpha' parameter of sample_size_sequential must be a float in \(0, 0.5\)"
    ):
        sample_size_sequential(0.1, 1.0, alpha=0.6, alternative="greater")
    with pytest.raises(InputError, match="3 positive finite standard deviations"):
        optimal_allocation(3, sd=[1.0, -1.0, 1.0])
    with pytest.raises(ParameterError, match="'n_arms' parameter of optimal_allocation"):
        optimal_allocation(1)
    with pytest.raises(InputError, match="nonzero"):
        sample_size_relative(-0.1, 1.0, 1.0, alternative="greater")
