"""Multiple-testing corrections: adjusted p-values against statsmodels, adjusted intervals, and calibration.

Reference engines: statsmodels' ``multipletests`` for every adjusted p-value (and for the hypotheses BH
and BY select), scipy's ``norm.interval`` / ``t.interval`` for the intervals at the adjusted level, and
GrowthBook's ``getAdjustedCI`` (packages/shared/src/experiments/experiments.ts, transcribed below) for
``convention="gbstats"``. Calibration: independent tests simulated 4,000 times (vectorised with
``axis=-1``); every rate sits in the binomial 99% band around its exact value under independence.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from abrec.abtest import CORRECTION_METHODS, adjust, adjusted_intervals, benjamini_hochberg, holm
from abrec.errors import InputError, ParameterError

STATSMODELS = {
    "bonferroni": "bonferroni",
    "sidak": "sidak",
    "holm": "holm",
    "holm-sidak": "holm-sidak",
    "bh": "fdr_bh",
    "by": "fdr_by",
}
ALPHA = 0.05
Z99 = float(stats.norm.ppf(0.995))  # the binomial 99% band is +/- Z99 standard errors


def _statsmodels(
    p: npt.ArrayLike, method: str, alpha: float = ALPHA
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64]]:
    """statsmodels' (reject, adjusted) on the flattened p-values (it warns on log1p(-1) for p = 1)."""
    with np.errstate(divide="ignore"):
        reject, adjusted, _, _ = multipletests(np.ravel(p), alpha=alpha, method=STATSMODELS[method])
    return reject, adjusted


def _band(rate: float, sims: int) -> float:
    return Z99 * math.sqrt(rate * (1 - rate) / sims)


P_SETS = {
    "ties (rounded, 3x7)": np.round(np.random.default_rng(0).beta(0.5, 2.0, (3, 7)), 2),
    "ties (rounded, seed 1)": np.round(np.random.default_rng(1).beta(0.5, 2.0, 25), 2),
    "p = 0 and p = 1": np.array([0.0, 1.0, 0.3, 0.0, 1.0, 0.02]),
    "one p-value": np.array([0.03]),
    "all equal": np.full(5, 0.2),
    "tiny (Sidak precision)": np.array([1e-15, 1e-9, 3e-5, 0.5]),
    "many, 2x3x4": np.random.default_rng(2).uniform(0, 0.1, (2, 3, 4)),
}


@pytest.mark.parametrize("method", CORRECTION_METHODS)
@pytest.mark.parametrize("name", P_SETS)
def test_adjusted_p_values_equal_statsmodels(method: str, name: str) -> None:
    p = P_SETS[name]
    expected = _statsmodels(p, method)[1]  # statsmodels multipletests(p, method=STATSMODELS[method])
    got = adjust(p, method)
    assert got.shape == p.shape
    np.testing.assert_allclose(got.ravel(), expected, rtol=1e-12, atol=0)


def test_holm_and_bh_are_adjust() -> None:
    p = P_SETS["ties (rounded, 3x7)"]
    np.testing.assert_array_equal(holm(p), adjust(p, "holm"))
    np.testing.assert_array_equal(benjamini_hochberg(p), adjust(p, "bh"))


@pytest.mark.parametrize("method", CORRECTION_METHODS)
def test_axis_adjusts_each_slice_as_its_own_family(method: str) -> None:
    p = np.round(np.random.default_rng(3).beta(0.5, 2.0, (4, 6, 5)), 2)
    by_axis1 = adjust(p, method, axis=1)
    assert by_axis1.shape == p.shape
    for i in range(4):
        for k in range(5):  # each family p[i, :, k] on its own (1-D adjust equals statsmodels, above)
            np.testing.assert_array_equal(by_axis1[i, :, k], adjust(p[i, :, k], method))
    np.testing.assert_allclose(by_axis1[1, :, 3], _statsmodels(p[1, :, 3], method)[1], rtol=1e-12)
    np.testing.assert_array_equal(adjust(p, method, axis=-1), adjust(p, method, axis=2))
    np.testing.assert_array_equal(adjust(p[0], method, axis=0)[:, 2], adjust(p[0, :, 2], method))


# (estimates, standard errors, p-values or None, df): >= 5 families per interval quantity.
INTERVAL_SETS = {
    "one effect": ([0.3], [0.1], None, math.inf),
    "three, one clear": ([0.30, 0.05, -0.02], [0.10, 0.10, 0.10], None, math.inf),
    "ten, unequal SEs, 2x5": (
        np.random.default_rng(4).normal([[0, 0, 0.5, 0, 0], [0, 0.8, 0, 0, -0.6]], 0.15),
        np.random.default_rng(5).uniform(0.1, 0.2, (2, 5)),
        None,
        math.inf,
    ),
    "all significant": ([0.9, -0.8, 1.2, 0.7], [0.1, 0.12, 0.2, 0.1], None, math.inf),
    "none significant": ([0.01, -0.02, 0.03], [0.1, 0.1, 0.1], None, math.inf),
    "small-sample t (df 6, 15, 40)": ([1.1, 0.4, -0.9], [0.3, 0.3, 0.25], None, np.array([6.0, 15.0, 40.0])),
}


def _set(
    name: str,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    est, se, p, df = INTERVAL_SETS[name]
    est, se = np.asarray(est, dtype=float), np.asarray(se, dtype=float)
    dof = np.broadcast_to(np.asarray(df, dtype=float), est.shape)
    if p is None:  # two-sided p-values: scipy's norm.sf / t.sf
        p = 2 * np.where(
            np.isinf(dof), stats.norm.sf(np.abs(est) / se), stats.t.sf(np.abs(est) / se, np.minimum(dof, 1e9))
        )
    return est, se, np.asarray(p, dtype=float), dof


def _reference_level(method: str, p: npt.NDArray[np.float64]) -> float:
    """Each method's documented level; R = the number statsmodels' multipletests rejects."""
    m = p.size
    if method in ("bonferroni", "holm"):
        return 1 - ALPHA / m
    if method in ("sidak", "holm-sidak"):
        return float((1 - ALPHA) ** (1 / m))
    selected = max(int(_statsmodels(p, method)[0].sum()), 1)
    harmonic = sum(1 / i for i in range(1, m + 1))
    return 1 - selected * ALPHA / m / (1.0 if method == "bh" else harmonic)  # Benjamini & Yekutieli 2005


@pytest.mark.parametrize("method", CORRECTION_METHODS)
@pytest.mark.parametrize("name", INTERVAL_SETS)
def test_intervals_at_the_adjusted_level_equal_scipy(method: str, name: str) -> None:
    est, se, p, dof = _set(name)
    level = _reference_level(method, p)
    reject = _statsmodels(p, method)[0]  # statsmodels multipletests(p, alpha=0.05, method=...)
    with_p = adjusted_intervals(est, se, p, method=method, alpha=ALPHA, df=dof)
    without_p = adjusted_intervals(est, se, method=method, alpha=ALPHA, df=dof)
    for r in (with_p, without_p):
        assert r.low.shape == est.shape and len(r) == est.size
        np.testing.assert_allclose(r.level, level, rtol=1e-12)
        for i, ci in enumerate(r):
            e, s, d = est.flat[i], se.flat[i], dof.flat[i]
            # scipy.stats.norm.interval / t.interval(level, loc=estimate, scale=standard error)
            low, high = stats.norm.interval(level, e, s) if math.isinf(d) else stats.t.interval(level, d, e, s)
            assert ci.level == pytest.approx(level, rel=1e-12)
            assert (ci.low, ci.high) == pytest.approx((low, high), rel=1e-9, abs=1e-12)
        np.testing.assert_array_equal(r.p_adjusted.ravel(), adjust(p, method).ravel())
        np.testing.assert_array_equal(r.rejected.ravel(), reject)


@pytest.mark.parametrize("method", ["bonferroni", "sidak", "bh", "by"])
def test_single_step_and_fcr_intervals_exclude_zero_exactly_when_rejected(method: str) -> None:
    rng = np.random.default_rng(6)
    est = rng.normal(0, 2.5, 60) * rng.uniform(0.05, 0.2, 60)
    se = rng.uniform(0.05, 0.2, 60)
    r = adjusted_intervals(est, se, method=method)
    excludes_zero = (r.low > 0) | (r.high < 0)
    np.testing.assert_array_equal(excludes_zero, r.rejected)
    assert 0 < r.rejected.sum() < 60


def _growthbook_adjusted_ci(
    p_adjusted: float, lift: float, threshold: float, ci: tuple[float, float]
) -> tuple[float, float]:
    """GrowthBook's getAdjustedCI and adjustedCI (packages/shared/src/experiments/experiments.ts), transcribed."""
    if p_adjusted > 0.999999:
        return (-math.inf, math.inf)
    if not lift:
        adj = (0.0, 0.0)
    else:
        z = stats.norm.ppf(1 - threshold / 2)
        adj_sd = abs(lift / stats.norm.ppf(1 - p_adjusted / 2))
        adj = (lift - z * adj_sd, lift + z * adj_sd)
    return adj if adj[0] < ci[0] and adj[1] > ci[1] else ci


@pytest.mark.parametrize("method", ["holm", "bh", "bonferroni", "by"])
@pytest.mark.parametrize("name", [n for n in INTERVAL_SETS if not n.startswith("small")])
def test_gbstats_convention_equals_growthbooks_adjusted_ci(method: str, name: str) -> None:
    est, se, p, _ = _set(name)
    est = est.copy()
    est.flat[0] = 0.0 if name == "none significant" else est.flat[0]  # GrowthBook's `!lift` branch
    p = 2 * stats.norm.sf(np.abs(est) / se)
    adjusted = _statsmodels(p, method)[1]
    r = adjusted_intervals(est, se, p, method=method, convention="gbstats")
    for i, ci in enumerate(r):
        e, s = est.flat[i], se.flat[i]
        raw = (e - stats.norm.ppf(1 - ALPHA / 2) * s, e + stats.norm.ppf(1 - ALPHA / 2) * s)
        expected = _growthbook_adjusted_ci(adjusted[i], e, ALPHA, raw)  # GrowthBook getAdjustedCI
        assert (ci.low, ci.high) == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert ci.level == 1 - ALPHA
    excludes_zero = (r.low > 0) | (r.high < 0)
    np.testing.assert_array_equal(excludes_zero.ravel(), adjusted < ALPHA)


def test_zero_standard_error_and_records() -> None:
    r = adjusted_intervals([0.2, 0.0, 0.1], [0.0, 0.0, 0.05], method="holm")
    assert tuple(r.confidence_interval(0)) == (0.2, 0.2) and tuple(r.confidence_interval(1)) == (0.0, 0.0)
    assert r.p_adjusted.tolist()[:2] == [0.0, 1.0]  # p = 0 for a nonzero effect with no noise, 1 for none
    assert not r.low.flags.writeable and not r.rejected.flags.writeable
    two_d = adjusted_intervals([[0.3, 0.1], [0.0, -0.4]], [[0.1, 0.1], [0.1, 0.1]], method="bonferroni")
    assert two_d.confidence_interval((1, 1)) == list(two_d)[3]
    per_row = adjusted_intervals([[0.3, 0.1], [0.0, -0.4]], [[0.1, 0.1], [0.1, 0.1]], method="sidak", axis=1)
    np.testing.assert_allclose(per_row.level, np.full((2, 2), math.sqrt(0.95)), rtol=1e-12)


def test_errors() -> None:
    with pytest.raises(InputError, match="drop the NaN"):
        adjust([0.1, np.nan], "holm")
    with pytest.raises(InputError, match="at least one"):
        benjamini_hochberg([])
    with pytest.raises(ParameterError, match=r"'method' parameter of adjust .* Did you mean 'sidak'"):
        adjust([0.1], "sidac")
    with pytest.raises(InputError, match="axis None or an int in"):
        adjust([[0.1, 0.2]], "holm", axis=2)
    with pytest.raises(ParameterError, match="'convention' parameter of adjusted_intervals"):
        adjusted_intervals([0.1], [0.1], method="holm", convention="growthbook")
    with pytest.raises(ParameterError, match="'alpha' parameter of adjusted_intervals"):
        adjusted_intervals([0.1], [0.1], method="holm", alpha=1.0)
    with pytest.raises(InputError, match="one non-empty shape"):
        adjusted_intervals([0.1, 0.2], [0.1], method="holm")
    with pytest.raises(InputError, match="standard errors >= 0"):
        adjusted_intervals([0.1], [-0.1], method="holm")
    with pytest.raises(InputError, match="one p-value per estimate"):
        adjusted_intervals([0.1, 0.2], [0.1, 0.1], [0.5], method="holm")
    with pytest.raises(InputError, match="degrees of freedom > 0"):
        adjusted_intervals([0.1], [0.1], method="holm", df=0)


# Calibration: m independent two-sided z tests, 4,000 simulated families, one family per row (axis=-1).
SIMS, M = 4000, 10
HARMONIC = sum(1 / i for i in range(1, M + 1))


def _null_p(seed: int, shift: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    z = np.random.default_rng(seed).standard_normal((SIMS, M)) + shift
    return z, 2 * stats.norm.sf(np.abs(z))


# Exact family-wise error under the global null of independent tests: Bonferroni and Holm reject iff
# min p <= alpha / m; Sidak and Holm-Sidak iff min p <= 1 - (1 - alpha)^(1/m); BH iff some p_(i) <= i alpha / m,
# whose probability is alpha (Simes); BY is BH at alpha / H_m.
GLOBAL_NULL_FWER = {
    "bonferroni": 1 - (1 - ALPHA / M) ** M,
    "holm": 1 - (1 - ALPHA / M) ** M,
    "sidak": ALPHA,
    "holm-sidak": ALPHA,
    "bh": ALPHA,
    "by": ALPHA / HARMONIC,
}


def test_family_wise_error_under_the_global_null() -> None:
    _, p = _null_p(20, np.zeros(M))
    rates = {method: float(np.mean((adjust(p, method, axis=-1) <= ALPHA).any(axis=1))) for method in CORRECTION_METHODS}
    raw = float(np.mean((p <= ALPHA).any(axis=1)))
    print(f"\nFWER under the global null, m={M}, {SIMS} runs: {rates}, uncorrected {raw:.3f}")
    for method, rate in rates.items():
        exact = GLOBAL_NULL_FWER[method]
        assert exact <= ALPHA + 1e-15
        assert abs(rate - exact) <= _band(exact, SIMS), (method, rate, exact)
    assert raw > 0.35  # 1 - 0.95**10 = 0.40 without correction


def test_error_rates_with_true_effects() -> None:
    """6 null and 4 real effects: FWER at most alpha; the FDR of BH and BY at their exact values under independence.

    Under independence the FDR of BH at level q is exactly q m0 / m (Benjamini & Yekutieli 2001, Theorem 5.1,
    equality for continuous p-values), so BY's is alpha m0 / (m H_m).
    """
    shift = np.array([0.0] * 6 + [2.0, 2.5, 3.0, 3.5])
    null = shift == 0
    _, p = _null_p(21, shift)
    for method in ("bonferroni", "sidak", "holm", "holm-sidak"):
        false = (adjust(p, method, axis=-1) <= ALPHA) & null
        fwer = float(np.mean(false.any(axis=1)))
        assert fwer <= ALPHA + _band(ALPHA, SIMS), (method, fwer)
    fdr = {}
    for method, q in (("bh", ALPHA), ("by", ALPHA / HARMONIC)):
        rejected = adjust(p, method, axis=-1) <= ALPHA
        fdp = (rejected & null).sum(axis=1) / np.maximum(rejected.sum(axis=1), 1)
        fdr[method] = float(fdp.mean())
        exact = q * null.sum() / M
        # the false discovery proportion lies in [0, 1], so its variance is at most FDR (1 - FDR): a binomial band
        assert abs(fdr[method] - exact) <= _band(exact, SIMS), (method, fdr[method], exact)
        assert fdr[method] <= ALPHA
    by_exact = ALPHA * 0.6 / HARMONIC
    print(f"\nFDR with 6 of 10 nulls: BH {fdr['bh']:.4f} (exact 0.0300), BY {fdr['by']:.4f} (exact {by_exact:.4f})")


# Exact simultaneous coverage of the intervals of m independent normal estimates.
SIMULTANEOUS_COVERAGE = {
    "bonferroni": (1 - ALPHA / M) ** M,
    "holm": (1 - ALPHA / M) ** M,
    "sidak": 1 - ALPHA,
    "holm-sidak": 1 - ALPHA,
}


def test_simultaneous_coverage_and_false_coverage_rate() -> None:
    rng = np.random.default_rng(22)
    theta = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.3, 0.4, 0.5, 0.6])
    se = np.linspace(0.1, 0.2, M)
    est = theta + se * rng.standard_normal((SIMS, M))
    found = {}
    for method in CORRECTION_METHODS:
        r = adjusted_intervals(est, np.broadcast_to(se, est.shape), method=method, axis=-1)
        miss = (theta < r.low) | (theta > r.high)
        if method in SIMULTANEOUS_COVERAGE:
            found[method] = float(np.mean(~miss.any(axis=1)))
            exact = SIMULTANEOUS_COVERAGE[method]
            assert abs(found[method] - exact) <= _band(exact, SIMS), (method, found[method], exact)
        else:  # FCR: the expected share of non-covering intervals among the selected (Benjamini & Yekutieli 2005)
            fcp = (miss & r.rejected).sum(axis=1) / np.maximum(r.rejected.sum(axis=1), 1)
            found[method] = float(fcp.mean())
            assert found[method] <= ALPHA + _band(ALPHA, SIMS), (method, found[method])
            unadjusted = (theta < est - 1.96 * se) | (theta > est + 1.96 * se)  # what the FCR adjustment prevents
            assert float(((unadjusted & r.rejected).sum(axis=1) / np.maximum(r.rejected.sum(axis=1), 1)).mean()) > 0.06
    print(f"\nsimultaneous coverage / FCR, m={M}, {SIMS} runs: {found}")
