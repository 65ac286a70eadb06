"""Fixed-horizon tests of treatment against control: Welch's t test, the z test, and the two-proportion z test.

Each takes the two arms' summaries (any record with ``n``, ``mean`` and per-unit ``variance``: see
:mod:`abrec.abtest.stats`) and returns a :class:`TestResult` with the absolute effect
``mean_t - mean_c``, its standard error, the confidence interval at level ``1 - alpha`` (one-sided
for one-sided alternatives), the p-value, and the relative effect ``mean_t / mean_c - 1`` with a
delta-method interval. The relative effect is NaN, with a ``note`` saying why, whenever the
control mean is not clearly positive (zero, negative, or its own interval reaches 0): a ratio to a
mean that may be 0 has no useful interval, and abrec never returns a silent infinity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .._interval import ConfidenceInterval
from ..errors import InputError
from ._common import (
    Alternative,
    Summary,
    check_alpha,
    check_alternative,
    check_summaries,
    critical_value,
    interval,
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
        The test: 'welch-t', 'z', 'proportions-z', 'cuped-welch-t', 'cuped-z', 'msprt'.
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
        Delta-method interval of the relative effect at the same level (NaN bounds when undefined).
    control_mean, treatment_mean : float
        The arms' means.
    note : str
        Empty, or why a value is NaN.
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
    note: str = ""

    @property
    def significant(self) -> bool:
        """Whether ``p_value < alpha`` (False when the p-value is NaN)."""
        return self.p_value < self.alpha

    def confidence_interval(self, *, relative: bool = False) -> ConfidenceInterval:
        """The interval of the absolute effect, or of the relative effect with ``relative=True``."""
        return self.relative_ci if relative else self.ci


def _relative(control: Summary, treatment: Summary, alpha: float) -> tuple[float, float, str]:
    """Relative effect ``mean_t / mean_c - 1`` and its delta-method standard error, or NaN and why."""
    mc, mt = control.mean, treatment.mean
    if mc == 0:
        return math.nan, math.nan, "relative effect undefined: the control mean is 0"
    if mc < 0:
        return math.nan, math.nan, "relative effect undefined: the control mean is negative"
    if mc - critical_value(alpha, "two-sided", math.inf) * math.sqrt(control.variance / control.n) <= 0:
        return math.nan, math.nan, "relative effect undefined: the control mean's confidence interval reaches 0"
    var = treatment.variance / (treatment.n * mc**2) + control.variance * mt**2 / (control.n * mc**4)
    return mt / mc - 1.0, math.sqrt(var), ""


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
) -> TestResult:
    """A TestResult for the effect ``treatment.mean - control.mean`` with standard error ``se``.

    ``crit`` (interval half-width in standard errors) and ``p_value`` default to the t (finite ``df``)
    or z test's; the sequential test passes its own.
    """
    effect = treatment.mean - control.mean
    if crit is None:
        crit = critical_value(alpha, alternative, df)
    note = ""
    if se > 0:
        statistic = effect / se
    else:
        statistic = math.nan
        note = "p-value undefined: the standard error is 0 (both arms constant)"
    rel, rel_se, rel_note = _relative(control, treatment, alpha)
    level = 1.0 - alpha
    rel_ci = ConfidenceInterval.undefined(level) if math.isnan(rel) else interval(rel, rel_se, crit, alternative, level)
    return TestResult(
        method=method,
        effect=effect,
        standard_error=se,
        ci=interval(effect, se, crit, alternative, level),
        p_value=tail_p_value(statistic, alternative, df) if p_value is None or se == 0 else p_value,
        statistic=statistic,
        df=df,
        alpha=alpha,
        alternative=alternative,
        relative_effect=rel,
        relative_ci=rel_ci,
        control_mean=control.mean,
        treatment_mean=treatment.mean,
        note="; ".join(x for x in (note, rel_note) if x),
    )


def welch_df(control: Summary, treatment: Summary) -> float:
    """Welch-Satterthwaite degrees of freedom of the difference of two means."""
    a = control.variance / control.n
    b = treatment.variance / treatment.n
    denominator = a * a / (control.n - 1) + b * b / (treatment.n - 1)
    return (a + b) ** 2 / denominator if denominator > 0 else math.inf


def welch_ttest(
    control: Summary,
    treatment: Summary,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> TestResult:
    """Welch's unequal-variance t test of ``treatment - control`` (Welch-Satterthwaite degrees of freedom).

    Equals ``scipy.stats.ttest_ind(treatment, control, equal_var=False)`` on raw values.

    Parameters
    ----------
    control, treatment : SampleStats, RatioStats, Moments or any object with n, mean, variance
        Each arm's summary; at least two units each.
    alpha : float, default 0.05
        Significance level in (0, 1); the interval's level is ``1 - alpha``.
    alternative : {'two-sided', 'greater', 'less'}, default 'two-sided'
        'greater' tests treatment > control, with a one-sided interval ``(lower, inf)``.

    Returns
    -------
    TestResult

    Raises
    ------
    abrec.errors.ParameterError
        For an alpha outside (0, 1) or an unknown alternative.
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
    """
    check_alpha("welch_ttest", alpha)
    check_alternative("welch_ttest", alternative)
    check_summaries("welch_ttest", control, treatment)
    se = math.sqrt(control.variance / control.n + treatment.variance / treatment.n)
    return build_result("welch-t", control, treatment, se, welch_df(control, treatment), alpha, alternative)


def ztest(
    control: Summary,
    treatment: Summary,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> TestResult:
    """Two-sample z test of ``treatment - control`` with unequal variances (large samples).

    Equals statsmodels' ``CompareMeans(...).ztest_ind(usevar="unequal")``. Parameters, returns and
    errors as in :func:`welch_ttest`; ``df`` is ``inf``.

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
    check_summaries("ztest", control, treatment)
    se = math.sqrt(control.variance / control.n + treatment.variance / treatment.n)
    return build_result("z", control, treatment, se, math.inf, alpha, alternative)


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
    pooled: bool = True,
) -> TestResult:
    """Two-proportion z test of ``p_t - p_c`` from counts of 0/1 outcomes.

    With ``pooled=True`` (default) the statistic uses the pooled proportion under the null, as
    statsmodels' ``proportions_ztest`` does; the interval always uses the unpooled standard error
    ``sqrt(p_c (1 - p_c) / n_c + p_t (1 - p_t) / n_t)`` (Wald), which is ``standard_error``.

    Parameters
    ----------
    control, treatment : SampleStats
        Statistics of 0/1 values (``sum`` successes out of ``n``), e.g. from
        ``SampleStats.from_values(converted)`` or ``SampleStats(n, k, k)``.
    alpha, alternative
        As in :func:`welch_ttest`.
    pooled : bool, default True
        Pool the proportions for the test statistic.

    Examples
    --------
    >>> r = proportions_ztest(SampleStats(2000, 200, 200), SampleStats(2000, 250, 250))
    >>> round(r.effect, 3), round(r.statistic, 3), round(r.p_value, 4), round(r.relative_effect, 2)
    (0.025, 2.502, 0.0124, 0.25)
    """
    check_alpha("proportions_ztest", alpha)
    check_alternative("proportions_ztest", alternative)
    k_c, k_t = _successes("control", control), _successes("treatment", treatment)
    check_summaries("proportions_ztest", control, treatment, min_n=1)
    p_c, p_t = k_c / control.n, k_t / treatment.n
    wald_c = Moments(control.n, p_c, p_c * (1 - p_c))
    wald_t = Moments(treatment.n, p_t, p_t * (1 - p_t))
    se = math.sqrt(wald_c.variance / wald_c.n + wald_t.variance / wald_t.n)
    result = build_result("proportions-z", wald_c, wald_t, se, math.inf, alpha, alternative)
    if not pooled:
        return result
    p = (k_c + k_t) / (control.n + treatment.n)
    se0 = math.sqrt(p * (1 - p) * (1 / control.n + 1 / treatment.n))
    statistic = result.effect / se0 if se0 > 0 else math.nan
    return replace(result, statistic=statistic, p_value=tail_p_value(statistic, alternative, math.inf))
