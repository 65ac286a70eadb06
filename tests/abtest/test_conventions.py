"""Compatibility modes: each ``convention`` reproduces its engine on the same inputs.

statsmodels is computed in the test. GrowthBook's gbstats and Spotify's confidence are transcribed below, each
function naming the file it comes from (growthbook/growthbook ``packages/stats/gbstats``; spotify/confidence
``spotify_confidence/analysis/frequentist/confidence_computers``). Every quantity is checked on at least five
input sets: small samples, unequal arms, zero conversions, a rate near 1, and three variants (each treatment
against the one control).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import zt_ind_solve_power
from statsmodels.stats.proportion import proportions_ztest as sm_proportions_ztest
from statsmodels.stats.weightstats import ttest_ind as sm_ttest_ind
from statsmodels.stats.weightstats import ztest as sm_ztest

from abrec.abtest import SampleStats, proportions_ztest, sequential_test, welch_ttest, ztest
from abrec.abtest._common import POOLED_NULL, proportion_null_variance
from abrec.errors import ParameterError

ALPHA = 0.05

# (successes, units) of control and treatment: small, unequal, zero conversions, near 1, and 3 variants.
PROPORTIONS = [
    ((3, 14), (7, 16)),  # small samples
    ((40, 3000), (9, 180)),  # unequal arms
    ((0, 60), (4, 55)),  # zero conversions in control
    ((5, 70), (0, 65)),  # zero conversions in treatment
    ((48, 50), (45, 52)),  # a rate near 1
    ((120, 1000), (150, 1010)),  # three variants: A vs B ...
    ((120, 1000), (101, 990)),  # ... and A vs C
]


def _values(k: int, n: int) -> np.ndarray:
    return np.r_[np.ones(k), np.zeros(n - k)]


def _mean_data() -> list[tuple[np.ndarray, np.ndarray]]:
    """Raw per-unit values of control and treatment: the input sets of the tests on means."""
    rng = np.random.default_rng(21)
    a, b, c = rng.exponential(2.0, 400), rng.exponential(2.3, 410), rng.exponential(1.9, 395)
    return [
        (rng.normal(5.0, 1.0, 4), rng.normal(6.0, 2.0, 3)),  # small samples
        (rng.lognormal(1.0, 1.0, 2000), rng.lognormal(1.1, 1.0, 60)),  # unequal arms, skewed
        (_values(0, 40), _values(5, 45)),  # 0/1 values, zero conversions in control
        (_values(7, 30), _values(12, 33)),  # 0/1 values, small
        (a, b),  # three variants: A vs B ...
        (a, c),  # ... and A vs C
    ]


# ------------------------------------------------------------------------- gbstats, transcribed


def gbstats_variance(x: np.ndarray, binomial: bool) -> float:
    """gbstats models/statistics.py: ``ProportionStatistic.variance`` (binomial) or ``SampleMeanStatistic.variance``."""
    n, s, ss = x.size, x.sum(), (x * x).sum()
    if binomial:
        return (s / n) * (1 - s / n)
    return (ss - s**2 / n) / (n - 1)


def gbstats_ttest(
    xa: np.ndarray, xb: np.ndarray, relative: bool, binomial: bool, alpha: float = ALPHA
) -> tuple[float, float, float, float] | None:
    """gbstats frequentist/tests.py ``TwoSidedTTest`` on ``EffectMoments`` (models/tests.py) and utils.py's
    ``frequentist_diff`` / ``frequentist_variance`` / ``variance_of_ratios``: (estimate, se, p, halfwidth), or
    None where ``EffectMoments.compute_result`` returns its default output (a zero variance, a control mean of 0).
    """
    na, nb = xa.size, xb.size
    ma, mb = xa.mean(), xb.mean()
    va, vb = gbstats_variance(xa, binomial), gbstats_variance(xb, binomial)
    if relative:
        estimate = (mb - ma) / abs(ma) if ma != 0 else 0.0
        var = vb / nb / ma**2 + va / na * mb**2 / ma**4 if ma != 0 else 0.0  # variance_of_ratios(cov=0)
    else:
        estimate, var = mb - ma, vb / nb + va / na
    if va <= 0 or vb <= 0 or var <= 0 or ma == 0:
        return None
    se = math.sqrt(var)
    dof = (vb / nb + va / na) ** 2 / (vb**2 / (nb**2 * (nb - 1)) + va**2 / (na**2 * (na - 1)))
    p = 2 * (1 - float(stats.t.cdf(abs(estimate / se), dof)))
    return estimate, se, p, float(stats.t.ppf(1 - alpha / 2, dof)) * se


def gbstats_rho(alpha: float, tuning: float, two_sided: bool) -> float:
    """gbstats frequentist/tests.py ``sequential_rho``."""
    a = alpha if two_sided else 2 * alpha
    return math.sqrt((-2 * math.log(a) + math.log(-2 * math.log(a) + 1)) / tuning)


def gbstats_one_sided_halfwidth(s2: float, n: float, alpha: float, rho: float) -> float:
    """gbstats frequentist/tests.py ``sequential_interval_halfwidth_one_sided`` (Waudby-Smith eq. 134)."""
    return math.sqrt(s2 * 2 * (n * rho**2 + 1) / (n * rho) ** 2 * math.log(1 + math.sqrt(n * rho**2 + 1) / (2 * alpha)))


def gbstats_one_sided_p(estimate: float, se: float, n: float, rho: float, lesser: bool) -> float:
    """gbstats frequentist/tests.py ``SequentialOneSidedTreatmentLesserTTest.compute_p_value``: bisection on alpha."""
    s2 = se**2 * n

    def bound(alpha: float) -> float:  # the finite end of the one-sided interval at alpha
        half = gbstats_one_sided_halfwidth(s2, n, alpha, rho)
        return estimate + half if lesser else estimate - half

    min_alpha, max_alpha, tol = 1e-5, 0.4999, 1e-6
    small = bound(min_alpha)
    if lesser:
        if small < 0:
            return min_alpha
        if bound(max_alpha) > 0:
            return max_alpha
    else:
        if small > 0:
            return min_alpha
        if bound(max_alpha) < 0:
            return max_alpha
    this_alpha, diff = 0.5 * (min_alpha + max_alpha), 0.0
    for _ in range(100):
        diff = bound(this_alpha)
        if lesser:
            min_alpha, max_alpha = (this_alpha, max_alpha) if diff > 0 else (min_alpha, this_alpha)
        else:
            min_alpha, max_alpha = (this_alpha, max_alpha) if diff < 0 else (min_alpha, this_alpha)
        this_alpha = 0.5 * (min_alpha + max_alpha)
        if abs(diff) < tol:
            break
    return this_alpha


def gbstats_sequential_two_sided(
    estimate: float, se: float, n: float, tuning: float, alpha: float
) -> tuple[float, float]:
    """gbstats frequentist/tests.py ``SequentialTwoSidedTTest``: (halfwidth, p-value), eq. 9 and eq. 155."""
    rho = gbstats_rho(alpha, tuning, True)
    s2 = se**2 * n
    half = math.sqrt(s2) * math.sqrt(
        2 * (n * rho**2 + 1) * math.log(math.sqrt(n * rho**2 + 1) / alpha) / (n * rho) ** 2
    )
    st2 = estimate**2 * n / se**2
    tr2p1 = n * rho**2 + 1
    evalue = math.exp(rho**2 * st2 / (2 * tr2p1)) / math.sqrt(tr2p1)
    return half, min(1 / evalue, 1)


# ------------------------------------------------------------------------- Spotify's confidence, transcribed


def spotify_variance(x: np.ndarray) -> float:
    """confidence_computers/z_test_computer.py and t_test_computer.py ``variance``: p(1-p) when binary."""
    n, s, ss = x.size, x.sum(), (x * x).sum()
    if ss == s:
        return ss / n - (s / n) ** 2
    return (ss - s**2 / n) / (n - 1)


def spotify_test(
    x1: np.ndarray, x2: np.ndarray, test: str, absolute: bool, alpha: float = ALPHA
) -> tuple[float, float, float, float]:
    """``ZTest`` / ``TTest`` of confidence_computers (``std_err``, ``p_value``, ``ci``, ``_dof``) and
    confidence_computer.py ``_adjust_if_absolute`` (relative: difference and bounds divided by the control mean):
    (difference, low, high, p)."""
    v1, v2, n1, n2 = spotify_variance(x1), spotify_variance(x2), x1.size, x2.size
    diff, se = x2.mean() - x1.mean(), math.sqrt(v1 / n1 + v2 / n2)
    if test == "z":
        p, crit = 2 * float(stats.norm.sf(abs(diff / se))), float(stats.norm.ppf(1 - alpha / 2))
    else:
        dof = (v1 / n1 + v2 / n2) ** 2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
        p, crit = 2 * float(stats.t.sf(abs(diff / se), dof)), float(stats.t.ppf(1 - alpha / 2, dof))
    low, high = diff - crit * se, diff + crit * se
    if not absolute:
        diff, low, high = diff / x1.mean(), low / x1.mean(), high / x1.mean()
    return diff, low, high, p


# ------------------------------------------------------------------------- statsmodels


@pytest.mark.parametrize(("control", "treatment"), PROPORTIONS)
def test_statsmodels_proportions_ztest(control: tuple[int, int], treatment: tuple[int, int]) -> None:
    (kc, nc), (kt, nt) = control, treatment
    r = proportions_ztest(SampleStats(nc, kc, kc), SampleStats(nt, kt, kt), convention="statsmodels")
    for alternative, sm_alt in [("two-sided", "two-sided"), ("greater", "larger"), ("less", "smaller")]:
        z, p = sm_proportions_ztest([kt, kc], [nt, nc], alternative=sm_alt)  # statsmodels, pooled under H0
        one = proportions_ztest(SampleStats(nc, kc, kc), SampleStats(nt, kt, kt), alternative=alternative)  # type: ignore[arg-type]
        assert one.statistic == pytest.approx(z, rel=1e-10) and one.p_value == pytest.approx(p, rel=1e-9)
    assert r.statistic == pytest.approx(one.statistic, rel=1e-12) and r.convention == "statsmodels"
    # the pooled null variance it divides by is the helper the power functions share
    pooled = proportion_null_variance(kc / nc, nc, kt / nt, nt, pooled=POOLED_NULL["statsmodels"])
    assert r.statistic == pytest.approx(r.effect / math.sqrt(pooled), rel=1e-12)


@pytest.mark.parametrize(("control", "treatment"), PROPORTIONS)
def test_null_variance_helper_reproduces_statsmodels_and_spotify_power(
    control: tuple[int, int], treatment: tuple[int, int]
) -> None:
    (kc, nc), (kt, nt) = control, treatment
    pc, pt = kc / nc, kt / nt
    if pc == pt:
        return
    # statsmodels NormalIndPower (zt_ind_solve_power) with Cohen's d on the pooled sd: ncp = delta / sqrt(V0 pooled)
    pbar = (nc * pc + nt * pt) / (nc + nt)
    power = zt_ind_solve_power(
        effect_size=(pt - pc) / math.sqrt(pbar * (1 - pbar)), nobs1=nc, ratio=nt / nc, alpha=0.05
    )
    ncp = abs(pt - pc) / math.sqrt(proportion_null_variance(pc, nc, pt, nt, pooled=True))
    z = stats.norm.ppf(0.975)
    assert power == pytest.approx(stats.norm.cdf(ncp - z) + stats.norm.cdf(-ncp - z), rel=1e-9)
    # Spotify z_test_computer._treatment_group_sample_size: n_t = ((z_a + z_b) / delta)**2 (var_c / kappa + var_t),
    # kappa = n_c / n_t: the unpooled variance of the difference
    kappa, var_c, var_t = nc / nt, pc * (1 - pc), pt * (1 - pt)
    assert (var_c / kappa + var_t) / nt == pytest.approx(proportion_null_variance(pc, nc, pt, nt, pooled=False))
    assert POOLED_NULL == {"abrec": True, "gbstats": False, "spotify": False, "statsmodels": True}


@pytest.mark.parametrize(("control", "treatment"), _mean_data())
def test_statsmodels_ttest_ind_and_ztest(control: np.ndarray, treatment: np.ndarray) -> None:
    c, t = SampleStats.from_values(control), SampleStats.from_values(treatment)
    if c.variance == 0 and t.variance == 0:
        return
    for alternative, sm_alt in [("two-sided", "two-sided"), ("greater", "larger"), ("less", "smaller")]:
        stat, p, df = sm_ttest_ind(treatment, control, alternative=sm_alt)  # statsmodels default usevar="pooled"
        r = welch_ttest(c, t, convention="statsmodels", alternative=alternative)  # type: ignore[arg-type]
        assert (r.statistic, r.p_value, r.df) == pytest.approx((stat, p, df), rel=1e-9)
        assert r.method == "pooled-t"
        stat, p, df = sm_ttest_ind(treatment, control, alternative=sm_alt, usevar="unequal")  # = abrec's default
        r = welch_ttest(c, t, alternative=alternative)  # type: ignore[arg-type]
        assert (r.statistic, r.p_value, r.df) == pytest.approx((stat, p, df), rel=1e-9)
        z, p = sm_ztest(treatment, control, alternative=sm_alt)  # statsmodels default usevar="pooled"
        r = ztest(c, t, convention="statsmodels", alternative=alternative)  # type: ignore[arg-type]
        assert (r.statistic, r.p_value) == pytest.approx((z, p), rel=1e-9) and r.method == "pooled-z"


# ------------------------------------------------------------------------- gbstats


@pytest.mark.parametrize(("control", "treatment"), PROPORTIONS)
def test_gbstats_proportions(control: tuple[int, int], treatment: tuple[int, int]) -> None:
    (kc, nc), (kt, nt) = control, treatment
    xa, xb = _values(kc, nc), _values(kt, nt)
    r = proportions_ztest(SampleStats(nc, kc, kc), SampleStats(nt, kt, kt), convention="gbstats")
    absolute = gbstats_ttest(xa, xb, relative=False, binomial=True)
    relative = gbstats_ttest(xa, xb, relative=True, binomial=True)
    if absolute is None:  # gbstats refuses a zero variance: so does the mode, saying why
        assert math.isnan(r.p_value) and math.isnan(r.relative_p_value) and math.isnan(r.ci.low)
        assert "convention='gbstats'" in r.note
        return
    assert relative is not None
    est, se, p, half = absolute
    assert (r.effect, r.standard_error, r.p_value) == pytest.approx((est, se, p), rel=1e-9)
    assert r.ci == pytest.approx((est - half, est + half), rel=1e-9)
    est, se, p, half = relative
    assert (r.relative_effect, r.relative_se, r.relative_p_value) == pytest.approx((est, se, p), rel=1e-9)
    assert r.relative_ci == pytest.approx((est - half, est + half), rel=1e-9)
    # welch_ttest on the 0/1 values under the same convention is the same test (gbstats' ProportionStatistic)
    w = welch_ttest(SampleStats.from_values(xa), SampleStats.from_values(xb), convention="gbstats")
    assert (w.p_value, w.relative_p_value) == pytest.approx((r.p_value, r.relative_p_value), rel=1e-9)


@pytest.mark.parametrize(("control", "treatment"), _mean_data())
def test_gbstats_ttest_on_means(control: np.ndarray, treatment: np.ndarray) -> None:
    binary = set(np.unique(np.r_[control, treatment])) <= {0.0, 1.0}
    r = welch_ttest(SampleStats.from_values(control), SampleStats.from_values(treatment), convention="gbstats")
    absolute = gbstats_ttest(control, treatment, relative=False, binomial=binary)
    relative = gbstats_ttest(control, treatment, relative=True, binomial=binary)
    if absolute is None:
        assert math.isnan(r.p_value) and "convention='gbstats'" in r.note
        return
    assert relative is not None
    est, se, p, half = relative
    assert (r.relative_effect, r.relative_se, r.relative_p_value) == pytest.approx((est, se, p), rel=1e-9)
    assert r.relative_ci == pytest.approx((est - half, est + half), rel=1e-9)
    assert r.p_value == pytest.approx(absolute[2], rel=1e-9)
    if not binary:  # gbstats' SampleMeanStatistic and abrec agree: the default is gbstats' on means
        default = welch_ttest(SampleStats.from_values(control), SampleStats.from_values(treatment))
        if math.isfinite(default.relative_effect):
            assert default.relative_p_value == pytest.approx(p, rel=1e-9)


SEQUENTIAL = [  # (control n, mean, variance), (treatment n, mean, variance), tuning n*
    ((30, 1.0, 1.0), (25, 1.6, 1.5), 100.0),  # small samples
    ((3000, 2.0, 4.0), (400, 2.3, 5.0), 5000.0),  # unequal arms
    ((2000, 0.1, 0.09), (2000, 0.118, 0.1039), 4000.0),  # proportions
    ((1000, 5.0, 9.0), (1000, 5.02, 9.0), 2000.0),  # a small lift: p near the 0.4999 cap
    ((800, 1.0, 1.0), (800, 0.8, 1.0), 1600.0),  # a decrease: clear for 'less', the wrong side for 'greater'
    ((5000, 1.0, 1.0), (5000, 1.12, 1.0), 10000.0),  # strong evidence: p at the 1e-5 floor
]


@pytest.mark.parametrize(("control", "treatment", "tuning"), SEQUENTIAL)
def test_gbstats_sequential(
    control: tuple[int, float, float], treatment: tuple[int, float, float], tuning: float
) -> None:
    from abrec.abtest import Moments

    c, t = Moments(*control), Moments(*treatment)
    n = c.n + t.n
    for relative in (False, True):
        two = sequential_test(c, t, tuning_parameter=tuning, convention="gbstats")
        est, se = (two.relative_effect, two.relative_se) if relative else (two.effect, two.standard_error)
        half, p = gbstats_sequential_two_sided(est, se, n, tuning, ALPHA)
        ci, p_mode = (two.relative_ci, two.relative_p_value) if relative else (two.ci, two.p_value)
        assert ci == pytest.approx((est - half, est + half), rel=1e-10) and p_mode == pytest.approx(p, rel=1e-10)
        for alternative in ("greater", "less"):
            one = sequential_test(c, t, tuning_parameter=tuning, alternative=alternative, convention="gbstats")  # type: ignore[arg-type]
            rho = gbstats_rho(ALPHA, tuning, two_sided=False)
            est, se = (one.relative_effect, one.relative_se) if relative else (one.effect, one.standard_error)
            want = gbstats_one_sided_p(est, se, n, rho, lesser=alternative == "less")
            got = one.relative_p_value if relative else one.p_value
            # gbstats stops its bisection when the bound is within 1e-6 of 0; the mode is the exact root
            assert got == pytest.approx(want, rel=1e-3, abs=1e-7), (alternative, relative)
            half = gbstats_one_sided_halfwidth(se**2 * n, n, ALPHA, rho)
            ci = one.relative_ci if relative else one.ci
            assert (ci.low if alternative == "greater" else ci.high) == pytest.approx(
                est - half if alternative == "greater" else est + half, rel=1e-10
            )
            plain = sequential_test(c, t, tuning_parameter=tuning, alternative=alternative)  # type: ignore[arg-type]
            raw = plain.relative_p_value if relative else plain.p_value
            assert got == pytest.approx(min(max(raw, 1e-5), 0.4999), rel=1e-12)  # abrec's, clipped as gbstats does


# ------------------------------------------------------------------------- Spotify's confidence


@pytest.mark.parametrize(("control", "treatment"), PROPORTIONS)
def test_spotify_proportions(control: tuple[int, int], treatment: tuple[int, int]) -> None:
    (kc, nc), (kt, nt) = control, treatment
    x1, x2 = _values(kc, nc), _values(kt, nt)
    r = proportions_ztest(SampleStats(nc, kc, kc), SampleStats(nt, kt, kt), convention="spotify")
    diff, low, high, p = spotify_test(x1, x2, "z", absolute=True)
    assert (r.effect, r.ci.low, r.ci.high, r.p_value) == pytest.approx((diff, low, high, p), rel=1e-9, abs=1e-15)
    z = ztest(SampleStats.from_values(x1), SampleStats.from_values(x2), convention="spotify")  # same ZTest
    assert (z.p_value, z.ci.low) == pytest.approx((r.p_value, r.ci.low), rel=1e-9)
    if kc == 0:  # Spotify divides by a control mean of 0; the mode says why it cannot
        assert math.isnan(r.relative_effect) and "control mean is 0" in r.note
        return
    rel, low, high, _ = spotify_test(x1, x2, "z", absolute=False)
    assert (r.relative_effect, r.relative_ci.low, r.relative_ci.high) == pytest.approx((rel, low, high), rel=1e-9)
    assert r.relative_p_value == pytest.approx(p, rel=1e-9)  # Spotify's relative lift has the absolute p-value


@pytest.mark.parametrize(("control", "treatment"), _mean_data())
def test_spotify_t_and_z_tests(control: np.ndarray, treatment: np.ndarray) -> None:
    c, t = SampleStats.from_values(control), SampleStats.from_values(treatment)
    for test, run in (("t", welch_ttest), ("z", ztest)):
        r = run(c, t, convention="spotify")  # type: ignore[operator]
        diff, low, high, p = spotify_test(control, treatment, test, absolute=True)
        assert (r.effect, r.ci.low, r.ci.high, r.p_value) == pytest.approx((diff, low, high, p), rel=1e-9)
        if control.mean() == 0:
            assert math.isnan(r.relative_effect)
            continue
        rel, low, high, _ = spotify_test(control, treatment, test, absolute=False)
        assert (r.relative_effect, *r.relative_ci) == pytest.approx((rel, low, high), rel=1e-9)
        assert r.relative_p_value == pytest.approx(p, rel=1e-9)


# ------------------------------------------------------------------------- the modes against each other


def test_modes_differ_where_the_engines_do() -> None:
    c, t = SampleStats(40, 6.0, 6.0), SampleStats(45, 13.0, 13.0)  # 0/1 data
    results = {m: welch_ttest(c, t, convention=m) for m in ("abrec", "gbstats", "spotify", "statsmodels")}  # type: ignore[arg-type]
    # p(1 - p) (gbstats, Spotify) is smaller than the n - 1 sample variance (abrec, statsmodels)
    assert results["gbstats"].standard_error < results["abrec"].standard_error
    assert results["gbstats"].standard_error == pytest.approx(results["spotify"].standard_error, rel=1e-12)
    # Spotify leaves the control's uncertainty out of the relative interval: narrower than gbstats'
    assert results["spotify"].relative_ci.width < results["gbstats"].relative_ci.width
    assert results["statsmodels"].df == 83 and {r.convention for r in results.values()} == set(results)
    unpooled = proportions_ztest(c, t, convention="spotify")
    assert unpooled.statistic == pytest.approx(unpooled.effect / unpooled.standard_error)
    assert proportions_ztest(c, t, convention="spotify", pooled=True).statistic == pytest.approx(
        proportions_ztest(c, t).statistic
    )


def test_near_zero_control_is_refused_by_abrec_and_flagged_by_the_engines() -> None:
    c, t = SampleStats(50, 2.0, 2.0), SampleStats(50, 6.0, 6.0)  # the control's interval reaches 0
    assert math.isnan(proportions_ztest(c, t).relative_effect)
    for mode in ("gbstats", "spotify", "statsmodels"):
        r = proportions_ztest(c, t, convention=mode)  # type: ignore[arg-type]
        assert r.relative_effect == pytest.approx(2.0) and "unstable" in r.note and mode in r.note


def test_unknown_or_unsupported_conventions_are_refused() -> None:
    s = SampleStats(10, 3.0, 3.0)
    with pytest.raises(ParameterError, match=r"'convention' parameter of welch_ttest .* Did you mean 'gbstats'"):
        welch_ttest(s, s, convention="gbstat")  # type: ignore[arg-type]
    with pytest.raises(
        ParameterError, match=r"'convention' parameter of ztest must be a str among \{'abrec', 'spotify'"
    ):
        ztest(s, s, convention="gbstats")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"sequential_test must be a str among \{'abrec', 'gbstats'\}"):
        sequential_test(s, s, convention="spotify")  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        proportions_ztest(SampleStats(10, 0.0, 0.0), SampleStats(12, 0.0, 0.0), convention="gbstats")  # no crash
