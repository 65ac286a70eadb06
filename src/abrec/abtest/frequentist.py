"""Fixed-horizon tests of treatment against control: Welch's t test, the z test, and the two-proportion z test.

Each takes the two arms' summaries (any record with ``n``, ``mean`` and per-unit ``variance``: see
:mod:`abrec.abtest.stats`) and returns a :class:`TestResult` with the absolute effect
``mean_t - mean_c``, its standard error, the confidence interval at level ``1 - alpha`` (one-sided
for one-sided alternatives), the p-value, and the **relative lift** ``mean_t / mean_c - 1`` with its
own inference: the delta-method standard error (the arms independent, both means asymptotically
normal; :func:`~abrec.abtest._common.relative_standard_error`), the p-value of ``H0: lift = 0`` from
``lift / se`` on the same reference distribution (t with the test's degrees of freedom, or z) and
the interval ``lift -/+ crit * se``, as GrowthBook's gbstats computes them (its ``TTest`` with
``difference_type="relative"``). The relative numbers are NaN, with a ``note`` saying why, whenever
the control mean is not clearly positive (zero, negative, or its own interval reaches 0): a ratio to a
mean that may be 0 has no useful interval, and abrec never returns a silent infinity; the absolute
effect is then the readout.

``convention`` reproduces another engine where engines differ (the README's table): ``"gbstats"``
and ``"spotify"`` use ``p (1 - p)`` as the variance of 0/1 data, ``"spotify"`` divides the absolute
interval by the control mean (no control uncertainty in the relative interval) and gives the relative
lift the absolute test's p-value, ``"statsmodels"`` uses statsmodels' default pooled variance
(``ttest_ind`` / ``ztest`` with ``usevar="pooled"``), and the two-proportion test pools the null
variance under ``"abrec"`` and ``"statsmodels"`` only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from .._interval import ConfidenceInterval
from ..errors import InputError
from ._common import (
    POOLED_NULL,
    Alternative,
    Convention,
    Summary,
    check_alpha,
    check_alternative,
    check_convention,
    check_summaries,
    critical_value,
    interval,
    proportion_null_variance,
    relative_standard_error,
    tail_p_value,
)
from .stats import Moments, SampleStats

__all__ = ["TestResult", "proportions_ztest", "welch_ttest", "ztest"]


@dataclass(frozen=True, slots=True)
class TestResult:
    """The outcome of comparing treatment with control (all effects are ``treatment - control``).

    Attributes
    ----------
    method : str
        The test: 'welch-t', 'pooled-t', 'z', 'pooled-z', 'proportions-z', 'proportions-t',
        'cuped-welch-t', 'cuped-z', 'msprt'.
    effect : float
        Absolute effect ``mean_t - mean_c``.
    standard_error : float
        Standard error of ``effect``.
    ci : ConfidenceInterval
        Confidence interval of ``effect`` at level ``1 - alpha`` (``-inf``/``inf`` on the open side
        of a one-sided test); it unpacks as ``low, high = ci``.
    p_value : float
        P-value under ``alternative`` (NaN when the standard error is 0).
    statistic : float
        ``effect / standard_error`` (t or z).
    df : float
        Degrees of freedom (Welch-Satterthwaite for the t test, ``inf`` for z tests).
    alpha : float
        Significance level; the interval's level is ``1 - alpha``.
    alternative : str
        'two-sided', 'greater' (treatment > control) or 'less'.
    relative_effect : float
        ``mean_t / mean_c - 1``, or NaN (see ``note``).
    relative_ci : ConfidenceInterval
        Interval of the relative effect at the same level and with the same critical value (always-valid
        for the mSPRT); NaN bounds when undefined.
    control_mean, treatment_mean : float
        The arms' means.
    relative_se : float
        Delta-method standard error of ``relative_effect`` (NaN when undefined).
    relative_p_value : float
        P-value of ``H0: relative effect = 0`` under ``alternative``, from ``relative_effect / relative_se``
        (always-valid for the mSPRT; the absolute test's p-value under ``convention="spotify"``).
    note : str
        Empty, or why a value is NaN or should be read with care.
    convention : str
        Whose conventions produced the numbers: 'abrec', 'gbstats', 'spotify' or 'statsmodels'.
    """

    __test__ = False  # not a pytest test class

    method: str
    effect: float
    standard_error: float
    ci: ConfidenceInterval
    p_value: float
    statistic: float
    df: float
    alpha: float
    alternative: str
    relative_effect: float
    relative_ci: ConfidenceInterval
    control_mean: float
    treatment_mean: float
    relative_se: float = math.nan
    relative_p_value: float = math.nan
    note: str = ""
    convention: str = "abrec"

    @property
    def significant(self) -> bool:
        """Whether ``p_value < alpha`` (False when the p-value is NaN)."""
        return self.p_value < self.alpha

    def confidence_interval(self, *, relative: bool = False) -> ConfidenceInterval:
        """The interval of the absolute effect, or of the relative effect with ``relative=True``."""
        return self.relative_ci if relative else self.ci


def _relative(control: Summary, treatment: Summary, alpha: float, convention: str) -> tuple[float, float, str]:
    """Relative effect ``mean_t / mean_c - 1`` and its delta-method standard error, or NaN and why."""
    mc, mt = control.mean, treatment.mean
    absolute = "; the absolute effect is the readout"
    if mc == 0:
        return math.nan, math.nan, "relative effect undefined: the control mean is 0" + absolute
    if mc < 0:
        return math.nan, math.nan, f"relative effect undefined: the control mean is negative ({mc:.4g})" + absolute
    var_c, var_t = control.variance / control.n, treatment.variance / treatment.n
    note = ""
    if mc - critical_value(alpha, "two-sided", math.inf) * math.sqrt(var_c) <= 0:
        why = f"the control mean's {1 - alpha:.0%} confidence interval reaches 0"
        if convention == "abrec":
            return math.nan, math.nan, f"relative effect undefined: {why}" + absolute
        note = f"relative effect unstable: {why} (computed anyway, as {convention} does)"
    se = relative_standard_error(mc, var_c, mt, var_t, control_uncertainty=convention != "spotify")
    return mt / mc - 1.0, se, note


def build_result(
    method: str,
    control: Summary,
    treatment: Summary,
    se: float,
    df: float,
    alpha: float,
    alternative: str,
    *,
    crit: float | None = None,
    p_value: float | None = None,
    p_of: Callable[[float], float] | None = None,
    convention: str = "abrec",
    undefined: str = "",
) -> TestResult:
    """A TestResult for the effect ``treatment.mean - control.mean`` with standard error ``se``.

    ``crit`` (interval half-width in standard errors) defaults to the t (finite ``df``) or z test's;
    ``p_of`` maps a standardised statistic (``effect / se`` or ``relative / relative_se``) to its p-value
    and defaults to the t or z tail; ``p_value`` overrides the absolute test's p-value only. The
    sequential test passes its own ``crit`` and ``p_of``. ``undefined`` (a reason) makes every
    inferential number NaN, as an engine that refuses the input would.
    """
    effect = treatment.mean - control.mean
    level = 1.0 - alpha
    if crit is None:
        crit = critical_value(alpha, alternative, df)

    def tail(statistic: float) -> float:
        return tail_p_value(statistic, alternative, df)

    p_at = tail if p_of is None else p_of
    notes = []
    if undefined:
        se, statistic, rel, rel_se = math.nan, math.nan, math.nan, math.nan
        notes.append(undefined)
    else:
        if se > 0:
            statistic = effect / se
        else:
            statistic = math.nan
            notes.append("p-value undefined: the standard error is 0 (both arms constant)")
        rel, rel_se, rel_note = _relative(control, treatment, alpha, convention)
        notes += [rel_note] if rel_note else []
    undefined_ci = ConfidenceInterval.undefined(level)
    rel_ci = undefined_ci if math.isnan(rel) or math.isnan(rel_se) else interval(rel, rel_se, crit, alternative, level)
    rel_p = p_at(rel / rel_se) if rel_se > 0 else math.nan
    if math.isnan(statistic):
        p = math.nan
    else:
        p = p_at(statistic) if p_value is None else p_value
    return TestResult(
        method=method,
        effect=effect,
        standard_error=se,
        ci=undefined_ci if math.isnan(se) else interval(effect, se, crit, alternative, level),
        p_value=p,
        statistic=statistic,
        df=df,
        alpha=alpha,
        alternative=alternative,
        relative_effect=rel,
        relative_ci=rel_ci,
        control_mean=control.mean,
        treatment_mean=treatment.mean,
        relative_se=rel_se,
        relative_p_value=rel_p,
        note="; ".join(notes),
        convention=convention,
    )


def with_relative(
    result: TestResult,
    relative: float,
    relative_se: float,
    *,
    crit: float,
    p_of: Callable[[float], float] | None = None,
) -> TestResult:
    """``result`` with another estimate of the relative lift (e.g. gbstats' CUPED lift on the unadjusted control
    mean): its interval ``relative -/+ crit * relative_se`` and p-value from ``relative / relative_se`` (the t or z
    tail of ``result``, or ``p_of``), all three relative fields together so that they never disagree."""
    level = 1.0 - result.alpha
    if math.isnan(relative) or not relative_se >= 0:
        ci = ConfidenceInterval.undefined(level)
    else:
        ci = interval(relative, relative_se, crit, result.alternative, level)
    if p_of is None:
        p = tail_p_value(relative / relative_se, result.alternative, result.df) if relative_se > 0 else math.nan
    else:
        p = p_of(relative / relative_se) if relative_se > 0 else math.nan
    return replace(result, relative_effect=relative, relative_se=relative_se, relative_ci=ci, relative_p_value=p)


def arms_for(convention: str, control: Summary, treatment: Summary) -> tuple[Summary, Summary]:
    """The arms as ``convention`` reads them: gbstats and Spotify give 0/1 data the variance ``p (1 - p)``.

    Spotify's ``z_test_computer.variance`` calls data binary when the sum of squares equals the sum
    (each unit's value is 0 or 1) and then uses ``p (1 - p)``, not the ``n - 1`` sample variance; gbstats'
    ``ProportionStatistic`` (its binomial metrics) does the same. The test asks only the summary's
    moments: the per-unit second moment ``variance (n - 1) / n + mean**2`` equals the mean for 0/1 data.
    """
    if convention not in ("gbstats", "spotify"):
        return control, treatment
    return _binary(control), _binary(treatment)


def _binary(arm: Summary) -> Summary:
    if arm.n < 2 or not 0.0 <= arm.mean <= 1.0:
        return arm
    biased = arm.variance * (arm.n - 1) / arm.n
    if abs(biased + arm.mean**2 - arm.mean) > 1e-12 * max(1.0, arm.mean):
        return arm
    return Moments(arm.n, arm.mean, arm.mean * (1.0 - arm.mean))


def gbstats_refusal(control: Summary, treatment: Summary) -> str:
    """Why gbstats returns no result for these arms (``EffectMoments.compute_result``), or ''."""
    if control.variance <= 0 or treatment.variance <= 0:
        return "no result under convention='gbstats': an arm's variance is 0 (gbstats' ZERO_NEGATIVE_VARIANCE)"
    if control.mean == 0:
        return "no result under convention='gbstats': the control mean is 0 (gbstats' BASELINE_VARIATION_ZERO)"
    return ""


def welch_df(control: Summary, treatment: Summary) -> float:
    """Welch-Satterthwaite degrees of freedom of the difference of two means."""
    a = control.variance / control.n
    b = treatment.variance / treatment.n
    denominator = a * a / (control.n - 1) + b * b / (treatment.n - 1)
    return (a + b) ** 2 / denominator if denominator > 0 else math.inf


def _pooled_se(control: Summary, treatment: Summary) -> float:
    """Standard error of the difference with the pooled (equal) variance: Student's t, statsmodels' default."""
    pooled = ((control.n - 1) * control.variance + (treatment.n - 1) * treatment.variance) / (
        control.n + treatment.n - 2
    )
    return math.sqrt(pooled * (1.0 / control.n + 1.0 / treatment.n))


def welch_ttest(
    control: Summary,
    treatment: Summary,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    convention: Convention = "abrec",
) -> TestResult:
    """Welch's unequal-variance t test of ``treatment - control`` (Welch-Satterthwaite degrees of freedom).

    Equals ``scipy.stats.ttest_ind(treatment, control, equal_var=False)`` on raw values, and gbstats'
    ``TwoSidedTTest`` (its relative lift with ``difference_type="relative"``).

    Parameters
    ----------
    control, treatment : SampleStats, RatioStats, Moments or any object with n, mean, variance
        Each arm's summary; at least two units each.
    alpha : float, default 0.05
        Significance level in (0, 1); the interval's level is ``1 - alpha``.
    alternative : {'two-sided', 'greater', 'less'}, default 'two-sided'
        'greater' tests treatment > control, with a one-sided interval ``(lower, inf)``.
    convention : {'abrec', 'gbstats', 'spotify', 'statsmodels'}, default 'abrec'
        'gbstats': gbstats' t test (``p (1 - p)`` for 0/1 data, no result for a zero-variance arm or a
        control mean of 0); 'spotify': confidence's ``TTest`` (``p (1 - p)`` for 0/1 data, relative
        interval = absolute interval / control mean, relative p-value = the absolute one);
        'statsmodels': ``statsmodels.stats.weightstats.ttest_ind`` with its default ``usevar="pooled"``
        (Student's t, pooled variance, ``n_c + n_t - 2`` df; method 'pooled-t'; its ``usevar="unequal"``
        equals 'abrec').

    Returns
    -------
    TestResult

    Raises
    ------
    abrec.errors.ParameterError
        For an alpha outside (0, 1), an unknown alternative or convention.
    abrec.errors.InputError
        When an arm has fewer than two units or a non-finite mean or variance.

    Examples
    --------
    >>> control = SampleStats.from_values([1.0, 2.0, 3.0, 4.0])
    >>> treatment = SampleStats.from_values([3.0, 4.0, 5.0, 6.0, 7.0])
    >>> r = welch_ttest(control, treatment)
    >>> r.effect, round(r.p_value, 4), round(r.df, 2)
    (2.5, 0.0349, 6.98)
    >>> round(r.relative_effect, 2), r.confidence_interval() == r.ci, r.ci.level
    (1.0, True, 0.95)
    >>> low, high = r.confidence_interval()
    >>> round(low, 3), round(high, 3), r.ci.contains(0.0)
    (0.235, 4.765, False)

    The relative lift has its own test (delta method) beside the absolute one:

    >>> c, t = Moments(2000, 10.0, 16.0), Moments(2000, 10.4, 16.0)
    >>> r = welch_ttest(c, t)
    >>> round(r.relative_effect, 3), round(r.relative_se, 4), round(r.relative_p_value, 4), round(r.p_value, 4)
    (0.04, 0.0129, 0.002, 0.0016)
    >>> [round(x, 4) for x in r.confidence_interval(relative=True)]
    [0.0147, 0.0653]
    """
    check_alpha("welch_ttest", alpha)
    check_alternative("welch_ttest", alternative)
    check_convention("welch_ttest", convention)
    check_summaries("welch_ttest", control, treatment)
    c, t = arms_for(convention, control, treatment)
    refused = gbstats_refusal(c, t) if convention == "gbstats" else ""
    if convention == "statsmodels":
        se, df, method = _pooled_se(c, t), float(c.n + t.n - 2), "pooled-t"
    else:
        se, df, method = math.sqrt(c.variance / c.n + t.variance / t.n), welch_df(c, t), "welch-t"
    return build_result(method, c, t, se, df, alpha, alternative, convention=convention, undefined=refused)


def ztest(
    control: Summary,
    treatment: Summary,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    convention: Literal["abrec", "spotify", "statsmodels"] = "abrec",
) -> TestResult:
    """Two-sample z test of ``treatment - control`` with unequal variances (large samples).

    Equals statsmodels' ``CompareMeans(...).ztest_ind(usevar="unequal")``. Parameters, returns and
    errors as in :func:`welch_ttest`; ``df`` is ``inf``. ``convention`` is 'abrec', 'spotify'
    (confidence's ``ZTest``, its default test: ``p (1 - p)`` for 0/1 data, relative interval =
    absolute interval / control mean) or 'statsmodels' (``statsmodels.stats.weightstats.ztest`` with its
    default ``usevar="pooled"``, method 'pooled-z'); gbstats has no z test (its tests are Welch t).

    Examples
    --------
    >>> control = SampleStats(n=1000, sum=500.0, sum_sq=750.0)
    >>> treatment = SampleStats(n=1000, sum=560.0, sum_sq=800.0)
    >>> r = ztest(control, treatment, alternative="greater")
    >>> round(r.effect, 2), round(r.statistic, 3), round(r.p_value, 4), r.ci[1]
    (0.06, 1.909, 0.0281, inf)
    """
    check_alpha("ztest", alpha)
    check_alternative("ztest", alternative)
    check_convention("ztest", convention, ("abrec", "spotify", "statsmodels"))
    check_summaries("ztest", control, treatment)
    c, t = arms_for(convention, control, treatment)
    if convention == "statsmodels":
        se, method = _pooled_se(c, t), "pooled-z"
    else:
        se, method = math.sqrt(c.variance / c.n + t.variance / t.n), "z"
    return build_result(method, c, t, se, math.inf, alpha, alternative, convention=convention)


def _successes(name: str, stats: SampleStats) -> float:
    if not isinstance(stats, SampleStats):
        raise InputError(
            f"proportions_ztest needs SampleStats of 0/1 values; the {name} arm is {type(stats).__name__}."
        )
    if abs(stats.sum - stats.sum_sq) > 1e-9 * max(1.0, stats.sum) or not 0 <= stats.sum <= stats.n:
        raise InputError(
            f"proportions_ztest needs 0/1 values (sum == sum_sq <= n); the {name} arm has "
            f"n={stats.n}, sum={stats.sum}, sum_sq={stats.sum_sq}. Use welch_ttest or ztest for other values."
        )
    return stats.sum


def proportions_ztest(
    control: SampleStats,
    treatment: SampleStats,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    pooled: bool | None = None,
    convention: Convention = "abrec",
) -> TestResult:
    """Two-proportion z test of ``p_t - p_c`` from counts of 0/1 outcomes.

    With a pooled null variance (the default under 'abrec' and 'statsmodels') the statistic uses the
    pooled proportion under the null, as statsmodels' ``proportions_ztest`` does; the interval always
    uses the unpooled standard error ``sqrt(p_c (1 - p_c) / n_c + p_t (1 - p_t) / n_t)`` (Wald), which
    is ``standard_error``. The relative lift's p-value and interval come from its delta-method standard
    error with the same variances.

    Parameters
    ----------
    control, treatment : SampleStats
        Statistics of 0/1 values (``sum`` successes out of ``n``), e.g. from
        ``SampleStats.from_values(converted)`` or ``SampleStats(n, k, k)``.
    alpha, alternative
        As in :func:`welch_ttest`.
    pooled : bool, optional
        Pool the proportions for the test statistic; default the convention's
        (:data:`~abrec.abtest._common.POOLED_NULL`: pooled for 'abrec' and 'statsmodels').
    convention : {'abrec', 'gbstats', 'spotify', 'statsmodels'}, default 'abrec'
        'gbstats': its Welch t test on ``ProportionStatistic`` (unpooled, Welch-Satterthwaite df from the
        ``p (1 - p)`` variances, method 'proportions-t'; no result when an arm has no conversions or all);
        'spotify': confidence's ``ZTest`` (unpooled z, relative interval = absolute interval / control
        mean); 'statsmodels': as 'abrec'.

    Examples
    --------
    >>> r = proportions_ztest(SampleStats(2000, 200, 200), SampleStats(2000, 250, 250))
    >>> round(r.effect, 3), round(r.statistic, 3), round(r.p_value, 4), round(r.relative_effect, 2)
    (0.025, 2.502, 0.0124, 0.25)
    >>> round(r.relative_p_value, 4), [round(x, 3) for x in r.relative_ci]
    (0.0253, [0.031, 0.469])
    >>> round(proportions_ztest(SampleStats(2000, 200, 200), SampleStats(2000, 250, 250),
    ...                         convention="spotify").relative_ci.low, 3)
    0.054
    """
    check_alpha("proportions_ztest", alpha)
    check_alternative("proportions_ztest", alternative)
    check_convention("proportions_ztest", convention)
    k_c, k_t = _successes("control", control), _successes("treatment", treatment)
    check_summaries("proportions_ztest", control, treatment, min_n=1)
    p_c, p_t = k_c / control.n, k_t / treatment.n
    wald_c = Moments(control.n, p_c, p_c * (1 - p_c))
    wald_t = Moments(treatment.n, p_t, p_t * (1 - p_t))
    se = math.sqrt(wald_c.variance / wald_c.n + wald_t.variance / wald_t.n)
    if convention == "gbstats":
        refused = gbstats_refusal(wald_c, wald_t)
        df = math.nan if refused else welch_df(wald_c, wald_t)
        result = build_result(
            "proportions-t", wald_c, wald_t, se, df, alpha, alternative, convention=convention, undefined=refused
        )
    else:
        result = build_result("proportions-z", wald_c, wald_t, se, math.inf, alpha, alternative, convention=convention)
    if not (POOLED_NULL[convention] if pooled is None else pooled) or math.isnan(result.standard_error):
        return result
    se0 = math.sqrt(proportion_null_variance(p_c, control.n, p_t, treatment.n, pooled=True))
    statistic = result.effect / se0 if se0 > 0 else math.nan
    return replace(result, statistic=statistic, p_value=tail_p_value(statistic, alternative, result.df))
