"""Edges of abrec.abtest.proportions that the reference tests leave open (found by mutation testing, issue 20).

Reference engines, named next to each expected number: statsmodels' ``confint_proportions_2indep(count1, nobs1,
count2, nobs2, compare=..., method=...)`` (treatment is ``count1``), ``proportions_ztest`` (pooled), and scipy's
``chi2_contingency(table, correction=False)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from abrec.abtest import SampleStats, chi_square_test, newcombe_interval, risk_ratio_interval
from abrec.abtest.proportions import ProportionsInterval
from abrec.errors import InputError, ParameterError


def arm(k: float, n: int) -> SampleStats:
    return SampleStats(n, float(k), float(k))


def test_the_zero_one_check_allows_rounding_of_one_part_in_a_billion_and_no_more() -> None:
    # |sum - sum_sq| may be up to 1e-9 * max(1, sum): a sum accumulated in floating point still passes.
    for control in (SampleStats(10, 3.0, 3.0 + 2e-9), SampleStats(10, 0.0, 1e-9)):
        r = newcombe_interval(control, arm(2, 10))
        assert r.control_rate == control.sum / 10
    # Just past the tolerance (relative to the sum above 1, absolute below) is not 0/1 data.
    for control in (SampleStats(10, 3.0, 3.0 + 4e-9), SampleStats(10, 0.0, 1.5e-9), SampleStats(10, 0.5, 0.5 + 1.5e-9)):
        with pytest.raises(InputError, match=r"newcombe_interval needs 0/1 values \(sum == sum_sq <= n\)"):
            newcombe_interval(control, arm(2, 10))


@pytest.mark.parametrize(("control", "treatment"), [((1, 1), (0, 1)), ((0, 1), (1, 2)), ((1, 1), (1, 1))])
def test_arms_of_a_single_unit_are_accepted(control: tuple[int, int], treatment: tuple[int, int]) -> None:
    (kc, nc), (kt, nt) = control, treatment
    r = newcombe_interval(arm(kc, nc), arm(kt, nt))
    # statsmodels confint_proportions_2indep(kt, nt, kc, nc, compare="diff", method="newcomb")
    low, high = confint_proportions_2indep(kt, nt, kc, nc, compare="diff", method="newcomb")
    assert (r.ci.low, r.ci.high) == pytest.approx((low, high), rel=1e-12, abs=1e-15)
    table = np.array([[kc, kt], [nc - kc, nt - kt]])
    if 0 < kc + kt < nc + nt:
        # scipy chi2_contingency(table, correction=False)
        assert chi_square_test([arm(kc, nc), arm(kt, nt)]).statistic == pytest.approx(
            stats.chi2_contingency(table, correction=False).statistic, rel=1e-12
        )


def test_every_field_of_the_intervals() -> None:
    c, t = arm(30, 200), arm(45, 210)
    r = newcombe_interval(c, t, alpha=0.1, alternative="less")
    assert (r.method, r.alpha, r.alternative, r.null_value, r.note) == ("newcombe", 0.1, "less", 0.0, "")
    assert (r.control_rate, r.treatment_rate, r.ci.level) == (0.15, 45 / 210, 0.9)
    q = risk_ratio_interval(c, t, alpha=0.1, alternative="greater")
    assert (q.method, q.alpha, q.alternative, q.null_value, q.note) == ("risk-ratio-log", 0.1, "greater", 1.0, "")
    assert (q.control_rate, q.treatment_rate, q.ci.level) == (0.15, 45 / 210, 0.9)
    # The undefined ratio keeps every field too, with the whole note.
    for control, treatment, estimate, note in [
        (arm(0, 40), arm(3, 50), math.nan, "risk ratio undefined: the control arm has no conversions"),
        (
            arm(4, 40),
            arm(0, 50),
            0.0,
            "risk-ratio interval undefined: the treatment arm has no conversions (the log scale needs one)",
        ),
    ]:
        u = risk_ratio_interval(control, treatment, alpha=0.2, alternative="less")
        assert (u.method, u.alpha, u.alternative, u.note, u.ci.level) == ("risk-ratio-log", 0.2, "less", note, 0.8)
        assert (u.control_rate, u.treatment_rate) == (control.sum / 40, 0.06 if treatment.sum else 0.0)
        assert u.estimate == estimate or (math.isnan(estimate) and math.isnan(u.estimate))
        assert not u.significant


@pytest.mark.parametrize("alpha", [0.05, 0.2])
def test_a_ratio_of_two_arms_that_all_converted_is_one_with_a_point_interval(alpha: float) -> None:
    # 1/k - 1/n is 0 in both arms: the log-scale standard error is 0 (statsmodels gives the same point).
    r = risk_ratio_interval(arm(12, 12), arm(30, 30), alpha=alpha)
    # statsmodels confint_proportions_2indep(30, 30, 12, 12, compare="ratio", method="log")
    low, high = confint_proportions_2indep(30, 30, 12, 12, compare="ratio", method="log", alpha=alpha)
    assert (r.estimate, r.ci.low, r.ci.high) == (1.0, 1.0, 1.0) == (1.0, low, high)
    assert not r.significant  # the point interval [1, 1] contains the null ratio


def test_chi_square_with_a_single_conversion_or_a_single_non_conversion() -> None:
    for counts in ([(1, 20), (0, 30)], [(0, 9), (0, 7), (1, 5)], [(20, 20), (29, 30)], [(4, 4), (3, 3), (4, 5)]):
        table = np.array([[k for k, _ in counts], [n - k for k, n in counts]])
        expected = stats.chi2_contingency(table, correction=False)  # scipy chi2_contingency(table, correction=False)
        r = chi_square_test([arm(k, n) for k, n in counts])
        assert r.statistic == pytest.approx(expected.statistic, rel=1e-12)
        assert r.p_value == pytest.approx(expected.pvalue, rel=1e-10) and r.note == ""


def test_chi_square_notes_are_joined() -> None:
    r = chi_square_test([arm(0, 20), arm(0, 25), arm(0, 9)], correction=True)
    assert r.method == "chi-square"
    assert r.note == (
        "Yates' correction not applied: it applies to two arms only (one degree of freedom); "
        "chi-square test undefined: no unit converted"
    )
    r = chi_square_test([arm(3, 20), arm(5, 25), arm(1, 9)], correction=True)
    assert r.note == "Yates' correction not applied: it applies to two arms only (one degree of freedom)"
    assert r.alpha == 0.05 and r.df == 2
    r = chi_square_test([arm(5, 5), arm(7, 7)], alpha=0.1)
    assert r.note == "chi-square test undefined: every unit converted" and r.df == 1 and r.alpha == 0.1


def test_chi_square_is_significant_only_below_alpha() -> None:
    arms = [arm(200, 2000), arm(250, 2000)]
    _, p = proportions_ztest([250, 200], [2000, 2000])  # statsmodels proportions_ztest (pooled)
    r = chi_square_test(arms, alpha=0.05)
    assert r.p_value == pytest.approx(p, rel=1e-10) and r.significant
    assert not chi_square_test(arms, alpha=r.p_value).significant  # p < alpha, strictly
    assert chi_square_test(arms, alpha=math.nextafter(r.p_value, 1.0)).significant


def test_newcombe_is_significant_only_when_zero_is_outside() -> None:
    # A significant difference and a non-significant one (statsmodels' newcomb interval brackets 0 or not).
    for control, treatment in [((200, 2000), (250, 2000)), ((20, 200), (25, 200))]:
        (kc, nc), (kt, nt) = control, treatment
        low, high = confint_proportions_2indep(kt, nt, kc, nc, compare="diff", method="newcomb")
        r = newcombe_interval(arm(kc, nc), arm(kt, nt))
        assert r.significant == (not low <= 0.0 <= high)
        assert r.significant == (kc == 200)


@pytest.mark.parametrize("function", [newcombe_interval, risk_ratio_interval])
def test_interval_errors_name_the_function_and_the_arm(function: Callable[..., ProportionsInterval]) -> None:
    name, ok, not_binary, empty = function.__name__, arm(1, 3), SampleStats(2, 2.0, 4.0), SampleStats(0, 0.0, 0.0)
    with pytest.raises(
        ParameterError, match=rf"^The 'alpha' parameter of {name} must be a float in \(0, 1\)\. Got 1\.5"
    ):
        function(ok, ok, alpha=1.5)
    with pytest.raises(ParameterError, match=rf"^The 'alternative' parameter of {name} must be a str among"):
        function(ok, ok, alternative="bigger")
    for control, treatment, side in [(not_binary, ok, "control"), (ok, not_binary, "treatment")]:
        message = (
            f"{name} needs 0/1 values (sum == sum_sq <= n); the {side} arm has n=2, sum=2.0, sum_sq=4.0. "
            "Use welch_ttest or ztest for other values."
        )
        with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
            function(control, treatment)
    for control, treatment, side in [(empty, ok, "control"), (ok, empty, "treatment")]:
        message = f"{name} needs at least one unit in each arm; the {side} arm has none."
        with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
            function(control, treatment)


def test_chi_square_errors_name_the_function_and_the_arm() -> None:
    ok = arm(1, 3)
    with pytest.raises(ParameterError, match=r"^The 'alpha' parameter of chi_square_test must be a float in \(0, 1\)"):
        chi_square_test([ok, ok], alpha=0.0)
    message = (
        "chi_square_test needs 0/1 values (sum == sum_sq <= n); the #2 arm has n=2, sum=2.0, sum_sq=4.0. "
        "Use welch_ttest or ztest for other values."
    )
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        chi_square_test([ok, ok, SampleStats(2, 2.0, 4.0)])
    message = "chi_square_test needs at least one unit in each arm; the #0 arm has none."
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        chi_square_test([SampleStats(0, 0.0, 0.0), ok])


def test_an_undefined_chi_square_keeps_the_rates_and_the_method() -> None:
    r = chi_square_test([arm(0, 20), arm(0, 25), arm(0, 10)], alpha=0.01)
    assert (r.method, r.df, r.alpha, r.rates) == ("chi-square", 2, 0.01, (0.0, 0.0, 0.0))
    r = chi_square_test([arm(4, 4), arm(8, 8)], correction=True)
    assert (r.method, r.df, r.rates, r.note) == (
        "chi-square-yates",
        1,
        (1.0, 1.0),
        "chi-square test undefined: every unit converted",
    )
