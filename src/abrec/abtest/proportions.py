"""Tests and intervals for conversion rates from counts of 0/1 outcomes.

Each arm is a :class:`~abrec.abtest.stats.SampleStats` of 0/1 values (``sum`` conversions out of ``n``
units; ``SampleStats(n, k, k)`` or ``SampleStats.from_values(converted)``). Effects are treatment
against control.

- :func:`newcombe_interval`: Newcombe's (1998, method 10) hybrid score interval of ``p_t - p_c``, built
  from the two Wilson intervals; good coverage for small samples and rates near 0 or 1, and defined with
  no conversions at all. Equals statsmodels' ``confint_proportions_2indep(method="newcomb")``.
- :func:`risk_ratio_interval`: the interval of ``p_t / p_c`` from the normal approximation on the log
  scale, ``log(p_t / p_c) -/+ z sqrt(1/k_t - 1/n_t + 1/k_c - 1/n_c)`` (Katz et al., 1978). Equals
  statsmodels' ``confint_proportions_2indep(compare="ratio", method="log")``; undefined (NaN bounds and a
  note, no crash) when an arm has no conversions.
- :func:`chi_square_test`: Pearson's chi-square test of the 2 x k table (converted or not x variant) for
  two or more variants, with or without Yates' continuity correction (applied with two arms only, one
  degree of freedom, as scipy's ``chi2_contingency(table, correction=...)`` does). Without correction and
  with two arms its p-value is ``proportions_ztest``'s (pooled).

One-sided alternatives give one-sided intervals: the bound of the two-sided interval at level
``1 - 2 alpha``, open (``-inf``/``inf``) on the other side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from .._interval import ConfidenceInterval
from .._params import Constraint, validate_params
from ..errors import InputError
from ._common import Alternative, check_alpha, check_alternative
from .stats import SampleStats

__all__ = ["ChiSquareResult", "ProportionsInterval", "chi_square_test", "newcombe_interval", "risk_ratio_interval"]


@dataclass(frozen=True, slots=True)
class ProportionsInterval:
    """An effect of treatment on a conversion rate with its confidence interval.

    Attributes
    ----------
    method : str
        'newcombe' (difference ``p_t - p_c``) or 'risk-ratio-log' (ratio ``p_t / p_c``).
    estimate : float
        The difference or the ratio (NaN when undefined, see ``note``).
    ci : ConfidenceInterval
        The interval at level ``1 - alpha`` (NaN bounds when undefined).
    alpha : float
        Significance level.
    alternative : str
        'two-sided', 'greater' (treatment > control) or 'less'.
    control_rate, treatment_rate : float
        ``k / n`` of each arm.
    note : str
        Empty, or why a value is NaN.
    """

    method: str
    estimate: float
    ci: ConfidenceInterval
    alpha: float
    alternative: str
    control_rate: float
    treatment_rate: float
    note: str = ""

    @property
    def null_value(self) -> float:
        """The effect under no difference: 0 for a difference, 1 for a ratio."""
        return 1.0 if self.method == "risk-ratio-log" else 0.0

    @property
    def significant(self) -> bool:
        """Whether the interval excludes ``null_value`` (False when it is undefined)."""
        return not math.isnan(self.ci.low) and not self.ci.contains(self.null_value)

    def confidence_interval(self) -> ConfidenceInterval:
        """The interval of ``estimate``."""
        return self.ci


@dataclass(frozen=True, slots=True)
class ChiSquareResult:
    """Pearson's chi-square test that every variant has the same conversion rate.

    Attributes
    ----------
    method : str
        'chi-square', or 'chi-square-yates' when Yates' continuity correction was applied.
    statistic : float
        The chi-square statistic (NaN when undefined, see ``note``).
    p_value : float
        Its upper tail probability with ``df`` degrees of freedom.
    df : int
        ``k - 1`` for ``k`` variants.
    alpha : float
        Significance level.
    rates : tuple of float
        Each variant's conversion rate, in the order given.
    note : str
        Empty, or why a value is NaN or the correction was not applied.

    An omnibus test over ``k`` variants has no single effect and hence no interval; compare pairs
    with :func:`newcombe_interval` or :func:`risk_ratio_interval`.
    """

    method: str
    statistic: float
    p_value: float
    df: int
    alpha: float
    rates: tuple[float, ...]
    note: str = ""

    @property
    def significant(self) -> bool:
        """Whether ``p_value < alpha`` (False when the p-value is NaN)."""
        return self.p_value < self.alpha


def _counts(owner: str, name: str, stats: SampleStats) -> tuple[float, int]:
    """``(conversions, units)`` of one arm, checked to be 0/1 values of at least one unit."""
    if not isinstance(stats, SampleStats):
        raise InputError(f"{owner} needs SampleStats of 0/1 values; the {name} arm is {type(stats).__name__}.")
    if abs(stats.sum - stats.sum_sq) > 1e-9 * max(1.0, stats.sum) or not 0 <= stats.sum <= stats.n:
        raise InputError(
            f"{owner} needs 0/1 values (sum == sum_sq <= n); the {name} arm has n={stats.n}, "
            f"sum={stats.sum}, sum_sq={stats.sum_sq}. Use welch_ttest or ztest for other values."
        )
    if stats.n < 1:
        raise InputError(f"{owner} needs at least one unit in each arm; the {name} arm has none.")
    return stats.sum, stats.n


def _z(alpha: float, alternative: str) -> float:
    return float(special.ndtri(1.0 - (alpha / 2.0 if alternative == "two-sided" else alpha)))


def _open(low: float, high: float, alternative: str, level: float) -> ConfidenceInterval:
    """``[low, high]``, open on the side a one-sided alternative does not bound."""
    return ConfidenceInterval(
        low if alternative != "less" else -math.inf, high if alternative != "greater" else math.inf, level
    )


def _wilson(k: float, n: int, z: float) -> tuple[float, float]:
    """Wilson's score interval of one proportion (statsmodels' ``proportion_confint(method="wilson")``)."""
    p, z2 = k / n, z * z
    denominator = 1.0 + z2 / n
    center = (p + z2 / (2.0 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denominator
    return center - half, center + half


def newcombe_interval(
    control: SampleStats,
    treatment: SampleStats,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> ProportionsInterval:
    """Newcombe's hybrid score interval of the difference of conversion rates ``p_t - p_c``.

    With Wilson intervals ``(l_t, u_t)`` and ``(l_c, u_c)`` of each rate at the same level, the interval is
    ``d - sqrt((p_t - l_t)**2 + (u_c - p_c)**2)`` to ``d + sqrt((u_t - p_t)**2 + (p_c - l_c)**2)``, with
    ``d = p_t - p_c`` (Newcombe 1998, Statistics in Medicine 17:873, method 10).

    Parameters
    ----------
    control, treatment : SampleStats
        Statistics of 0/1 values, at least one unit each (no conversions is fine).
    alpha : float, default 0.05
        Significance level in (0, 1); the interval's level is ``1 - alpha``.
    alternative : {'two-sided', 'greater', 'less'}, default 'two-sided'
        'greater' gives the one-sided interval ``(lower, inf)`` for treatment > control.

    Returns
    -------
    ProportionsInterval

    Raises
    ------
    abrec.errors.ParameterError
        For an alpha outside (0, 1) or an unknown alternative.
    abrec.errors.InputError
        For an arm that is not SampleStats of 0/1 values or has no units.

    Examples
    --------
    >>> r = newcombe_interval(SampleStats(50, 0, 0), SampleStats(40, 3, 3))  # no control conversions
    >>> r.estimate, [round(x, 4) for x in r.ci], r.significant
    (0.075, [-0.0116, 0.1986], False)
    """
    check_alpha("newcombe_interval", alpha)
    check_alternative("newcombe_interval", alternative)
    k_c, n_c = _counts("newcombe_interval", "control", control)
    k_t, n_t = _counts("newcombe_interval", "treatment", treatment)
    p_c, p_t = k_c / n_c, k_t / n_t
    z = _z(alpha, alternative)
    low_c, high_c = _wilson(k_c, n_c, z)
    low_t, high_t = _wilson(k_t, n_t, z)
    d = p_t - p_c
    low = d - math.sqrt((p_t - low_t) ** 2 + (high_c - p_c) ** 2)
    high = d + math.sqrt((high_t - p_t) ** 2 + (p_c - low_c) ** 2)
    return ProportionsInterval(
        method="newcombe",
        estimate=d,
        ci=_open(low, high, alternative, 1.0 - alpha),
        alpha=alpha,
        alternative=alternative,
        control_rate=p_c,
        treatment_rate=p_t,
    )


def risk_ratio_interval(
    control: SampleStats,
    treatment: SampleStats,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> ProportionsInterval:
    """The risk ratio ``p_t / p_c`` with its interval from the normal approximation on the log scale.

    The interval is ``exp(log(p_t / p_c) -/+ z * s)`` with ``s**2 = 1/k_t - 1/n_t + 1/k_c - 1/n_c`` (Katz
    et al. 1978, Biometrics 34:469). ``relative lift = ratio - 1``.

    Parameters and errors as in :func:`newcombe_interval`.

    Returns
    -------
    ProportionsInterval
        With NaN bounds and a ``note`` when an arm has no conversions (the estimate is 0 when only the
        treatment arm has none, NaN when the control arm has none).

    Examples
    --------
    >>> r = risk_ratio_interval(SampleStats(2000, 200, 200), SampleStats(2000, 250, 250))
    >>> r.estimate, [round(x, 4) for x in r.ci], r.significant
    (1.25, [1.049, 1.4895], True)
    >>> r = risk_ratio_interval(SampleStats(300, 0, 0), SampleStats(300, 2, 2))
    >>> r.estimate, r.note
    (nan, 'risk ratio undefined: the control arm has no conversions')
    """
    check_alpha("risk_ratio_interval", alpha)
    check_alternative("risk_ratio_interval", alternative)
    k_c, n_c = _counts("risk_ratio_interval", "control", control)
    k_t, n_t = _counts("risk_ratio_interval", "treatment", treatment)
    p_c, p_t = k_c / n_c, k_t / n_t
    level = 1.0 - alpha

    def undefined(estimate: float, note: str) -> ProportionsInterval:
        ci = ConfidenceInterval.undefined(level)
        return ProportionsInterval("risk-ratio-log", estimate, ci, alpha, alternative, p_c, p_t, note)

    if k_c == 0:
        return undefined(math.nan, "risk ratio undefined: the control arm has no conversions")
    if k_t == 0:
        return undefined(
            0.0, "risk-ratio interval undefined: the treatment arm has no conversions (the log scale needs one)"
        )
    ratio = p_t / p_c
    half = _z(alpha, alternative) * math.sqrt(max(1.0 / k_t - 1.0 / n_t + 1.0 / k_c - 1.0 / n_c, 0.0))
    log_ratio = math.log(ratio)
    ci = _open(math.exp(log_ratio - half), math.exp(log_ratio + half), alternative, level)
    return ProportionsInterval("risk-ratio-log", ratio, ci, alpha, alternative, p_c, p_t)


_CORRECTION = {"correction": Constraint("bool")}


def chi_square_test(arms: Sequence[SampleStats], *, correction: bool = False, alpha: float = 0.05) -> ChiSquareResult:
    """Pearson's chi-square test of equal conversion rates across two or more variants.

    Parameters
    ----------
    arms : sequence of SampleStats
        Two or more arms' statistics of 0/1 values (at least one unit each), e.g. control first.
    correction : bool, default False
        Apply Yates' continuity correction (two arms only; scipy's default is True). Off by default:
        it makes the test conservative (false-positive rate below ``alpha``), and without it the
        two-arm test equals ``proportions_ztest``.
    alpha : float, default 0.05
        Significance level in (0, 1), for ``significant``.

    Returns
    -------
    ChiSquareResult
        With a NaN statistic and p-value and a ``note`` when no arm converts or every unit converts
        (the table has an empty row).

    Raises
    ------
    abrec.errors.ParameterError
        For an alpha outside (0, 1) or a non-bool correction.
    abrec.errors.InputError
        For fewer than two arms, or an arm that is not SampleStats of 0/1 values or has no units.

    Examples
    --------
    >>> arms = [SampleStats(1000, 100, 100), SampleStats(1000, 130, 130), SampleStats(1000, 95, 95)]
    >>> r = chi_square_test(arms)
    >>> round(r.statistic, 3), r.df, round(r.p_value, 4), r.significant
    (7.419, 2, 0.0245, True)
    >>> round(chi_square_test(arms[:2], correction=True).p_value, 4)
    0.0421
    """
    check_alpha("chi_square_test", alpha)
    validate_params("chi_square_test", _CORRECTION, {"correction": correction})
    if isinstance(arms, SampleStats) or len(arms) < 2:
        raise InputError("chi_square_test needs a sequence of two or more arms, e.g. [control, treatment].")
    counts = [_counts("chi_square_test", f"#{i}", arm) for i, arm in enumerate(arms)]
    conversions = np.array([k for k, _ in counts], dtype=np.float64)
    units = np.array([n for _, n in counts], dtype=np.float64)
    rates = tuple((conversions / units).tolist())
    df = len(arms) - 1
    yates = correction and df == 1
    method = "chi-square-yates" if yates else "chi-square"
    notes = []
    if correction and not yates:
        notes.append("Yates' correction not applied: it applies to two arms only (one degree of freedom)")
    total = float(units.sum())
    converted = float(conversions.sum())
    if converted == 0 or converted == total:
        notes.append(f"chi-square test undefined: {'no unit' if converted == 0 else 'every unit'} converted")
        return ChiSquareResult(method, math.nan, math.nan, df, alpha, rates, "; ".join(notes))
    observed = np.stack([conversions, units - conversions])
    expected = np.outer([converted, total - converted], units) / total
    deviation = np.abs(observed - expected)
    if yates:
        deviation = np.maximum(deviation - 0.5, 0.0)
    statistic = float(np.sum(deviation**2 / expected))
    p_value = float(special.chdtrc(df, statistic))
    return ChiSquareResult(method, statistic, p_value, df, alpha, rates, "; ".join(notes))
