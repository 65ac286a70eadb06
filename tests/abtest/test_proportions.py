"""Conversion-rate intervals and the 2 x k chi-square test against statsmodels and scipy; A/A calibration.

Reference engines, named next to each expected number: statsmodels'
``confint_proportions_2indep(count1, nobs1, count2, nobs2, compare=..., method=...)`` (treatment is
``count1``) for Newcombe's and the log risk-ratio interval, scipy's ``chi2_contingency(table,
correction=...)`` for the chi-square test, statsmodels' ``proportions_ztest`` for the two-arm identity.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep
from statsmodels.stats.proportion import proportions_ztest as sm_proportions_ztest

from abrec.abtest import (
    SampleStats,
    chi_square_test,
    newcombe_interval,
    proportions_ztest,
    risk_ratio_interval,
)
from abrec.errors import InputError, ParameterError

Z99 = float(stats.norm.ppf(0.995))  # the binomial 99% band is +/- Z99 standard errors


def arm(k: float, n: int) -> SampleStats:
    return SampleStats(n, float(k), float(k))


# (control (k, n), treatment (k, n)): small samples, unequal arms, zero conversions, all converted, tiny rates.
PAIRS = {
    "small samples": ((2, 8), (5, 9)),
    "unequal arms": ((3, 25), (400, 4000)),
    "large, equal arms": ((200, 2000), (250, 2000)),
    "no control conversions": ((0, 50), (3, 40)),
    "no treatment conversions": ((5, 60), (0, 70)),
    "no conversions at all": ((0, 20), (0, 25)),
    "every unit converted": ((10, 10), (7, 9)),
    "tiny rates": ((1, 5000), (4, 6000)),
}
DEFINED_RATIO = [name for name, ((kc, _), (kt, _)) in PAIRS.items() if kc > 0 and kt > 0]


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
@pytest.mark.parametrize("name", PAIRS)
def test_newcombe_equals_statsmodels(name: str, alpha: float) -> None:
    (kc, nc), (kt, nt) = PAIRS[name]
    r = newcombe_interval(arm(kc, nc), arm(kt, nt), alpha=alpha)
    # statsmodels confint_proportions_2indep(kt, nt, kc, nc, compare="diff", method="newcomb", alpha=alpha)
    low, high = confint_proportions_2indep(kt, nt, kc, nc, compare="diff", method="newcomb", alpha=alpha)
    assert (r.ci.low, r.ci.high) == pytest.approx((low, high), rel=1e-12, abs=1e-15)
    assert r.ci.level == 1 - alpha and r.confidence_interval() is r.ci
    assert r.estimate == pytest.approx(kt / nt - kc / nc, abs=1e-15) and r.note == ""
    assert (r.control_rate, r.treatment_rate) == (kc / nc, kt / nt)
    assert r.significant == (not low <= 0 <= high)


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
@pytest.mark.parametrize("name", DEFINED_RATIO)
def test_risk_ratio_equals_statsmodels(name: str, alpha: float) -> None:
    (kc, nc), (kt, nt) = PAIRS[name]
    r = risk_ratio_interval(arm(kc, nc), arm(kt, nt), alpha=alpha)
    # statsmodels confint_proportions_2indep(kt, nt, kc, nc, compare="ratio", method="log", alpha=alpha)
    low, high = confint_proportions_2indep(kt, nt, kc, nc, compare="ratio", method="log", alpha=alpha)
    assert (r.ci.low, r.ci.high) == pytest.approx((low, high), rel=1e-12)
    assert r.estimate == pytest.approx((kt / nt) / (kc / nc), rel=1e-15) and r.note == ""
    assert r.null_value == 1.0 and r.significant == (not low <= 1 <= high)


@pytest.mark.parametrize("alternative", ["greater", "less"])
@pytest.mark.parametrize("name", ["small samples", "unequal arms", "no control conversions", "tiny rates"])
def test_one_sided_intervals_are_the_two_sided_bound_at_twice_alpha(
    name: str, alternative: Literal["greater", "less"]
) -> None:
    (kc, nc), (kt, nt) = PAIRS[name]
    side = 0 if alternative == "greater" else 1
    newcombe = newcombe_interval(arm(kc, nc), arm(kt, nt), alpha=0.05, alternative=alternative)
    # statsmodels' two-sided newcomb interval at alpha = 0.10
    reference = confint_proportions_2indep(kt, nt, kc, nc, method="newcomb", alpha=0.10)
    assert newcombe.ci[side] == pytest.approx(reference[side], rel=1e-12, abs=1e-15)
    assert newcombe.ci[1 - side] == (math.inf if alternative == "greater" else -math.inf)
    if kc > 0:
        ratio = risk_ratio_interval(arm(kc, nc), arm(kt, nt), alpha=0.05, alternative=alternative)
        reference = confint_proportions_2indep(kt, nt, kc, nc, compare="ratio", method="log", alpha=0.10)
        assert ratio.ci[side] == pytest.approx(reference[side], rel=1e-12)
        assert ratio.ci[1 - side] == (math.inf if alternative == "greater" else -math.inf)


@pytest.mark.parametrize(
    ("name", "estimate", "note"),
    [
        ("no control conversions", math.nan, "risk ratio undefined: the control arm has no conversions"),
        ("no conversions at all", math.nan, "risk ratio undefined: the control arm has no conversions"),
        ("no treatment conversions", 0.0, "risk-ratio interval undefined: the treatment arm has no conversions"),
    ],
)
def test_risk_ratio_without_conversions_is_nan_with_a_note(name: str, estimate: float, note: str) -> None:
    (kc, nc), (kt, nt) = PAIRS[name]
    for alternative in ("two-sided", "greater"):
        r = risk_ratio_interval(arm(kc, nc), arm(kt, nt), alternative=alternative)
        assert math.isnan(r.ci.low) and math.isnan(r.ci.high) and r.ci.level == 0.95
        assert r.estimate == estimate or (math.isnan(estimate) and math.isnan(r.estimate))
        assert r.note.startswith(note) and not r.significant


# Lists of (conversions, units) per variant: 2 to 5 arms, small samples, unequal arms, zero conversions.
TABLES = {
    "2 arms, large": [(200, 2000), (250, 2000)],
    "2 arms, small": [(2, 8), (5, 9)],
    "2 arms, |O - E| < 0.5": [(10, 100), (10, 101)],
    "2 arms, one without conversions": [(0, 40), (6, 35)],
    "3 arms, unequal": [(100, 1000), (130, 1200), (95, 800)],
    "4 arms, one without conversions": [(0, 50), (3, 40), (5, 45), (1, 60)],
    "5 arms, small": [(1, 9), (4, 10), (2, 7), (6, 12), (0, 5)],
}


@pytest.mark.parametrize("correction", [False, True])
@pytest.mark.parametrize("name", TABLES)
def test_chi_square_equals_scipy(name: str, correction: bool) -> None:
    counts = TABLES[name]
    table = np.array([[k for k, _ in counts], [n - k for k, n in counts]])
    expected = stats.chi2_contingency(table, correction=correction)  # scipy chi2_contingency(table, correction=...)
    r = chi_square_test([arm(k, n) for k, n in counts], correction=correction)
    assert r.statistic == pytest.approx(expected.statistic, rel=1e-12, abs=1e-15)
    assert r.p_value == pytest.approx(expected.pvalue, rel=1e-10)
    assert r.df == expected.dof == len(counts) - 1
    assert r.rates == tuple(k / n for k, n in counts)
    yates = correction and len(counts) == 2
    assert r.method == ("chi-square-yates" if yates else "chi-square")
    assert ("Yates' correction not applied" in r.note) == (correction and not yates)


@pytest.mark.parametrize("name", [n for n in TABLES if n.startswith("2 arms")])
def test_two_arm_chi_square_is_the_pooled_z_test(name: str) -> None:
    (kc, nc), (kt, nt) = TABLES[name]
    r = chi_square_test([arm(kc, nc), arm(kt, nt)])
    _, p = sm_proportions_ztest([kt, kc], [nt, nc])  # statsmodels proportions_ztest (pooled)
    assert r.p_value == pytest.approx(p, rel=1e-10)
    assert r.p_value == pytest.approx(proportions_ztest(arm(kc, nc), arm(kt, nt)).p_value, rel=1e-10)


@pytest.mark.parametrize(
    ("counts", "word"), [([(0, 20), (0, 25), (0, 9)], "no unit"), ([(5, 5), (7, 7)], "every unit")]
)
def test_chi_square_of_an_empty_row_is_nan_with_a_note(counts: list[tuple[int, int]], word: str) -> None:
    table = np.array([[k for k, _ in counts], [n - k for k, n in counts]])
    with pytest.raises(ValueError, match="zero element"):  # scipy chi2_contingency refuses the table
        stats.chi2_contingency(table)
    r = chi_square_test([arm(k, n) for k, n in counts], correction=True)
    assert math.isnan(r.statistic) and math.isnan(r.p_value) and not r.significant
    assert f"chi-square test undefined: {word} converted" in r.note


def test_errors() -> None:
    with pytest.raises(InputError, match="0/1 values"):
        newcombe_interval(SampleStats.from_values([0.0, 2.0]), arm(1, 3))
    with pytest.raises(InputError, match="at least one unit in each arm; the treatment arm has none"):
        risk_ratio_interval(arm(1, 3), SampleStats(0, 0.0, 0.0))
    with pytest.raises(InputError, match="two or more arms"):
        chi_square_test([arm(1, 3)])
    with pytest.raises(InputError, match="two or more arms"):
        chi_square_test(arm(1, 3))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="the #1 arm is list"):
        chi_square_test([arm(1, 3), [1, 3]])  # type: ignore[list-item]
    with pytest.raises(ParameterError, match="'correction' parameter of chi_square_test must be a bool"):
        chi_square_test([arm(1, 3), arm(2, 3)], correction="yates")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="'alternative' parameter of newcombe_interval"):
        newcombe_interval(arm(1, 3), arm(2, 3), alternative="greatr")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="'alpha' parameter of risk_ratio_interval"):
        risk_ratio_interval(arm(1, 3), arm(2, 3), alpha=0.0)


# A/A and coverage calibration: binomial counts drawn for 4,000 experiments at once, then each tested.
SIMS, ALPHA = 4000, 0.05


def _band(rate: float) -> float:
    return Z99 * math.sqrt(rate * (1 - rate) / SIMS)


def _aa_rejections(seed: int, units: list[int], rate: float, correction: bool) -> float:
    counts = np.random.default_rng(seed).binomial(units, rate, size=(SIMS, len(units)))
    p = [
        chi_square_test([arm(k, n) for k, n in zip(row, units, strict=True)], correction=correction).p_value
        for row in counts
    ]
    return float(np.mean(np.array(p) < ALPHA))


@pytest.mark.parametrize(
    ("units", "rate", "correction"),
    [
        ([1000, 1000], 0.1, False),
        ([800, 1000, 1200], 0.1, False),
        ([300, 400, 500, 600, 700], 0.3, False),
        ([20000, 20000], 0.2, True),  # Yates' shift of 0.5 is 0.01 standard errors here
    ],
)
def test_chi_square_aa_false_positive_rate_is_alpha(units: list[int], rate: float, correction: bool) -> None:
    fpr = _aa_rejections(30 + len(units), units, rate, correction)
    print(f"\nA/A chi-square, {units} units at {rate}, Yates {correction}: false-positive rate {fpr:.4f}")
    assert abs(fpr - ALPHA) <= _band(ALPHA)


def test_yates_is_conservative() -> None:
    plain = _aa_rejections(35, [300, 300], 0.1, correction=False)
    yates = _aa_rejections(35, [300, 300], 0.1, correction=True)  # the same draws
    print(f"\nA/A 300 vs 300 units at 0.1: chi-square {plain:.4f}, with Yates {yates:.4f}")
    assert abs(plain - ALPHA) <= _band(ALPHA)
    assert yates < plain and yates <= ALPHA


# (control units, rate, treatment units, rate); exact coverage at 95%, from enumerating every outcome with
# statsmodels' confint_proportions_2indep: Newcombe 0.9500, 0.9502, 0.9498, 0.9505 (one-sided 0.9511, 0.9501,
# 0.9502, 0.9510); log risk ratio 0.9513, 0.9514, 0.9517, 0.9499.
SETTINGS = [(400, 0.2, 600, 0.25), (800, 0.1, 800, 0.1), (150, 0.3, 100, 0.4), (1000, 0.1, 1500, 0.12)]


@pytest.mark.parametrize("setting", SETTINGS)
def test_newcombe_and_risk_ratio_cover_at_their_level(setting: tuple[int, float, int, float]) -> None:
    n_c, p_c, n_t, p_t = setting
    rng = np.random.default_rng(50 + SETTINGS.index(setting))
    k_c, k_t = rng.binomial(n_c, p_c, SIMS), rng.binomial(n_t, p_t, SIMS)
    pairs = [(arm(a, n_c), arm(b, n_t)) for a, b in zip(k_c, k_t, strict=True)]
    newcombe = np.mean([newcombe_interval(c, t).ci.contains(p_t - p_c) for c, t in pairs])
    ratio = np.mean([risk_ratio_interval(c, t).ci.contains(p_t / p_c) for c, t in pairs])
    one_sided = np.mean([newcombe_interval(c, t, alternative="greater").ci.contains(p_t - p_c) for c, t in pairs])
    print(f"\ncoverage at 95%, {setting}: Newcombe {newcombe:.4f} (one-sided {one_sided:.4f}), risk ratio {ratio:.4f}")
    for coverage in (newcombe, ratio, one_sided):
        assert abs(coverage - 0.95) <= _band(0.95)
