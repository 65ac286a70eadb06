"""Frequentist tests: edges that mutation testing (``make mutate``) found untested.

The function named in every error, the method labels, the notes' exact text, the relative interval's and
p-value's edges (a zero or a one-sided standard error, an override of the p-value), the reading of 0/1 data
under the gbstats and Spotify conventions at its edges, and the two-proportion test's edges (one unit per
arm, all arms at 0, gbstats' refusals).
"""

from __future__ import annotations

import math

import pytest
from scipy import special, stats

from abrec.abtest import Moments, SampleStats, proportions_ztest, welch_ttest, ztest
from abrec.abtest.frequentist import build_result, with_relative
from abrec.errors import InputError, ParameterError

C, T = Moments(50, 2.0, 1.0), Moments(60, 2.3, 1.5)
P_C, P_T = SampleStats(200, 40.0, 40.0), SampleStats(250, 70.0, 70.0)


@pytest.mark.parametrize(
    ("owner", "call"),
    [
        ("welch_ttest", lambda **kw: welch_ttest(C, T, **kw)),
        ("ztest", lambda **kw: ztest(C, T, **kw)),
        ("proportions_ztest", lambda **kw: proportions_ztest(P_C, P_T, **kw)),
    ],
)
def test_errors_name_the_function(owner: str, call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ParameterError, match=rf"'alternative' parameter of {owner}\b"):
        call(alternative="both")
    with pytest.raises(ParameterError, match=rf"'alpha' parameter of {owner}\b"):
        call(alpha=1.5)
    with pytest.raises(ParameterError, match=rf"'convention' parameter of {owner}\b"):
        call(convention="eppo")


def test_too_few_units_name_the_function() -> None:
    for owner, test in (("welch_ttest", welch_ttest), ("ztest", ztest)):
        with pytest.raises(InputError, match=rf"^{owner} needs at least 2 units"):
            test(Moments(1, 1.0, 0.0), T)
    with pytest.raises(InputError, match=r"^proportions_ztest needs at least 1 units"):
        proportions_ztest(SampleStats(0, 0.0, 0.0), P_T)


def test_method_labels() -> None:
    assert ztest(C, T).method == "z" and ztest(C, T, convention="statsmodels").method == "pooled-z"
    assert proportions_ztest(P_C, P_T).method == "proportions-z"
    assert proportions_ztest(P_C, P_T, convention="gbstats").method == "proportions-t"


def test_successes_check_names_the_arm_and_its_bounds() -> None:
    bad = SampleStats(10, 3.0, 5.0)
    with pytest.raises(InputError, match="the control arm has"):
        proportions_ztest(bad, P_T)
    with pytest.raises(InputError, match="the treatment arm has"):
        proportions_ztest(P_C, bad)
    # Every unit converted (sum == n) is 0/1 data; sum_sq off by 1.5e-9 at sum 1 is not (tolerance 1e-9 *
    # max(1, sum)); at sum 1e6 a rounding gap of 1e-6 is (tolerance 1e-3).
    assert proportions_ztest(SampleStats(10, 10.0, 10.0), P_T).control_mean == 1.0
    with pytest.raises(InputError, match="needs 0/1 values"):
        proportions_ztest(SampleStats(10, 1.0, 1.0 + 1.5e-9), P_T)
    big = SampleStats(2_000_000, 1e6, 1e6 + 1e-6)
    assert proportions_ztest(big, P_T).control_mean == 0.5


def test_all_zero_arms_give_no_p_value_and_no_error() -> None:
    # Pooled null variance 0: no statistic (NaN), not a ZeroDivisionError.
    r = proportions_ztest(SampleStats(10, 0.0, 0.0), SampleStats(12, 0.0, 0.0))
    assert math.isnan(r.statistic) and math.isnan(r.p_value)


def test_gbstats_refusal_notes_and_undefined_numbers() -> None:
    # A control arm with no conversions: gbstats' ZERO_NEGATIVE_VARIANCE, every inferential number NaN,
    # df NaN too; a one-sided interval is NaN on both sides, never (NaN, inf).
    r = proportions_ztest(SampleStats(50, 0.0, 0.0), P_T, convention="gbstats", alternative="greater")
    assert r.note == "no result under convention='gbstats': an arm's variance is 0 (gbstats' ZERO_NEGATIVE_VARIANCE)"
    assert math.isnan(r.df) and math.isnan(r.p_value) and math.isnan(r.ci.high) and math.isnan(r.relative_ci.high)
    # Only the control constant (the treatment varies) is refused too.
    w = welch_ttest(Moments(20, 1.0, 0.0), Moments(20, 1.5, 1.0), convention="gbstats")
    assert "ZERO_NEGATIVE_VARIANCE" in w.note and math.isnan(w.p_value)
    zero_mean = welch_ttest(Moments(20, 0.0, 1.0), Moments(20, 0.5, 1.0), convention="gbstats")
    assert zero_mean.note == (
        "no result under convention='gbstats': the control mean is 0 (gbstats' BASELINE_VARIATION_ZERO)"
    )


def _binary_moments(n: int, p: float) -> Moments:
    return Moments(n, p, p * (1 - p) * n / (n - 1))  # the n - 1 sample variance of 0/1 values


def test_two_unit_binary_arms_read_as_proportions() -> None:
    # Two units of 0/1 data are binary data: Spotify and gbstats use p (1 - p), not the n - 1 variance.
    # Mutants: `n < 2` -> `n <= 2` / `n < 3`.
    c, t = _binary_moments(2, 0.5), _binary_moments(4, 0.75)
    r = welch_ttest(c, t, convention="spotify")
    assert r.standard_error == pytest.approx(math.sqrt(0.25 / 2 + 0.1875 / 4), rel=1e-12)


def test_near_binary_moments_within_and_beyond_the_tolerance() -> None:
    # biased variance + mean^2 - mean = 1.5e-12 (> 1e-12): not 0/1 data, its own variance is kept.
    # Mutant: the tolerance's floor max(1, mean) -> max(2, mean).
    n, m = 10, 0.5
    biased = m - m * m + 1.5e-12
    arm = Moments(n, m, biased * n / (n - 1))
    r = welch_ttest(arm, T, convention="spotify")
    assert r.standard_error == pytest.approx(math.sqrt(arm.variance / n + T.variance / T.n), rel=1e-12)


def test_relative_notes_exact_text_and_the_control_interval_edge() -> None:
    absolute = "; the absolute effect is the readout"
    zero = welch_ttest(Moments(20, 0.0, 1.0), T)
    assert zero.note == "relative effect undefined: the control mean is 0" + absolute
    clean = welch_ttest(C, T)
    assert clean.note == "" and math.isfinite(clean.relative_p_value)
    # The control mean's two-sided 95% interval reaches 0 exactly (mean = z * se): undefined. A one-sided
    # critical value (1.645) would not reach it. Mutants: `<= 0` -> `< 0`, the alternative of that check.
    z = float(special.ndtri(0.975))
    edge = welch_ttest(Moments(4, z * 1.0, 4.0), T)
    assert math.isnan(edge.relative_effect) and "confidence interval reaches 0" in edge.note
    between = welch_ttest(Moments(4, 1.8, 4.0), T)  # 1.645 < 1.8 < 1.96 standard errors from 0
    assert math.isnan(between.relative_effect)
    gb = welch_ttest(Moments(4, 1.8, 4.0), T, convention="gbstats")
    assert gb.note == (
        "relative effect unstable: the control mean's 95% confidence interval reaches 0 (computed anyway, as "
        "gbstats does)"
    )


def test_build_result_fields_notes_and_p_value_override() -> None:
    c, t = Moments(5, 0.0, 0.0), Moments(5, 0.0, 0.0)
    r = build_result("x", c, t, 0.0, math.inf, 0.05, "greater")
    assert r.convention == "abrec" and r.alternative == "greater"
    assert r.note == (
        "p-value undefined: the standard error is 0 (both arms constant); "
        "relative effect undefined: the control mean is 0; the absolute effect is the readout"
    )
    constant = build_result("x", Moments(5, 1.0, 0.0), Moments(5, 2.0, 0.0), 0.0, math.inf, 0.05, "two-sided")
    assert constant.note == "p-value undefined: the standard error is 0 (both arms constant)"
    s = build_result("x", C, T, 0.2, 100.0, 0.05, "greater", p_value=0.123)
    assert s.p_value == 0.123 and (s.control_mean, s.treatment_mean) == (2.0, 2.3)
    undefined = build_result("x", Moments(5, 0.0, 1.0), T, 0.2, math.inf, 0.05, "greater")
    assert math.isnan(undefined.relative_ci.low) and math.isnan(undefined.relative_ci.high)


def test_with_relative_edges() -> None:
    base = welch_ttest(C, T, alternative="greater")
    r = with_relative(base, 0.1, 0.04, crit=1.7)
    assert (r.relative_effect, r.relative_se) == (0.1, 0.04)
    assert r.relative_ci.low == pytest.approx(0.1 - 1.7 * 0.04) and r.relative_ci.high == math.inf
    assert r.relative_p_value == pytest.approx(stats.t.sf(2.5, base.df), rel=1e-9)
    flat = with_relative(base, 0.1, 0.0, crit=1.7)  # a zero SE: a point interval, no p-value
    assert (flat.relative_ci.low, flat.relative_ci.high) == (0.1, math.inf) and math.isnan(flat.relative_p_value)
    none = with_relative(base, math.nan, 0.04, crit=1.7)
    assert math.isnan(none.relative_ci.low) and math.isnan(none.relative_ci.high)

    def p_of(z: float) -> float:
        return z / 100.0

    custom = with_relative(base, 0.1, 0.5, crit=1.7, p_of=p_of)
    assert custom.relative_p_value == pytest.approx(0.002)
    assert math.isnan(with_relative(base, 0.1, 0.0, crit=1.7, p_of=p_of).relative_p_value)


def test_tolerances_at_their_exact_bounds() -> None:
    # |sum - sum_sq| equal to the tolerance 1e-9 max(1, sum) to the last bit: still 0/1 data (the check is
    # strict). Mutant: `>` -> `>=` in _successes.
    assert proportions_ztest(SampleStats(10, 0.0, 1e-9), P_T).control_mean == 0.0
    # biased variance + mean^2 - mean equal to 1e-12 exactly (n = 2: variance 2e-12, biased 1e-12): read as
    # 0/1 data (variance p (1 - p) = 0). Mutant: `>` -> `>=` in _binary.
    r = welch_ttest(Moments(2, 0.0, 2e-12), T, convention="spotify")
    assert r.standard_error == math.sqrt(T.variance / T.n)
    # The same at mean 1 (all converted): the bounds of [0, 1] are 0/1 data. Mutants: `0 <= mean` -> `0 <`,
    # `mean <= 1` -> `mean < 1`.
    one = welch_ttest(Moments(2, 1.0, 1e-12), Moments(60, 2.3, 1.5), convention="spotify")
    assert one.standard_error == math.sqrt(1.5 / 60)
    half = welch_ttest(Moments(2, 0.0, 1e-12), T, convention="spotify")  # biased 5e-13: 0/1 data as well
    assert half.standard_error == math.sqrt(T.variance / T.n)
    # A mean one ulp above 1 with no spread is not 0/1 data (it would get a negative p (1 - p)).
    # Mutant: the mean's upper bound 1 -> 2.
    above = welch_ttest(Moments(10, math.nextafter(1.0, 2.0), 0.0), T, convention="spotify")
    assert above.standard_error == pytest.approx(math.sqrt(T.variance / T.n), rel=1e-12)
