"""Shared helpers of the A/B test modules: the summary protocol, argument checks, normal and t tails, the
engine conventions, the relative lift's delta-method standard error and the two-proportion null variance.

The functions on numbers (:func:`relative_standard_error`, :func:`proportion_null_variance`) take floats or
numpy arrays alike, so that simulations run them vectorised on exactly the code the tests use.
"""

from __future__ import annotations

import math
from typing import Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt
from scipy import special

from .._interval import ConfidenceInterval
from .._params import Interval, StrOptions, validate_params
from ..errors import InputError

Alternative = Literal["two-sided", "greater", "less"]
"""The alternative hypothesis about ``treatment - control``."""

ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater", "less")

Convention = Literal["abrec", "gbstats", "spotify", "statsmodels"]
"""Whose conventions a test follows where engines differ (see the README's table)."""

CONVENTIONS: tuple[str, ...] = ("abrec", "gbstats", "spotify", "statsmodels")

POOLED_NULL: dict[str, bool] = {"abrec": True, "gbstats": False, "spotify": False, "statsmodels": True}
"""Whether each convention's two-proportion test uses the pooled proportion for the variance under the null.

abrec and statsmodels (``proportions_ztest``, ``power_proportions_2indep``) pool; gbstats (its t test on
``ProportionStatistic``) and Spotify's confidence (``z_test_computer.std_err``) use the unpooled variance.
"""

_ALPHA = {"alpha": Interval("float", 0.0, 1.0, closed="neither")}
_ALTERNATIVE = {"alternative": StrOptions(ALTERNATIVES)}

Num = TypeVar("Num", float, npt.NDArray[np.float64])


class Summary(Protocol):
    """Anything with a unit count, a mean and a per-unit variance (``variance / n`` is the squared standard error)."""

    @property
    def n(self) -> int: ...

    @property
    def mean(self) -> float: ...

    @property
    def variance(self) -> float: ...


def check_alpha(owner: str, alpha: float) -> None:
    """Raise ParameterError unless ``alpha`` is a float in (0, 1)."""
    validate_params(owner, _ALPHA, {"alpha": alpha})


def check_alternative(owner: str, alternative: str) -> None:
    """Raise ParameterError unless ``alternative`` is 'two-sided', 'greater' or 'less'."""
    validate_params(owner, _ALTERNATIVE, {"alternative": alternative})


def check_convention(owner: str, convention: str, allowed: tuple[str, ...] = CONVENTIONS) -> None:
    """Raise ParameterError unless ``convention`` is one of ``allowed`` (the engines that have this test)."""
    validate_params(owner, {"convention": StrOptions(allowed)}, {"convention": convention})


def check_summaries(owner: str, control: Summary, treatment: Summary, *, min_n: int = 2) -> None:
    """Raise InputError unless both arms have at least ``min_n`` units and finite moments."""
    for name, arm in (("control", control), ("treatment", treatment)):
        if arm.n < min_n:
            raise InputError(
                f"{owner} needs at least {min_n} units in each arm; the {name} arm has {arm.n}. "
                "Collect more data before testing."
            )
        if not (math.isfinite(arm.mean) and math.isfinite(arm.variance)):
            raise InputError(
                f"{owner} got a non-finite mean or variance in the {name} arm "
                f"(mean={arm.mean!r}, variance={arm.variance!r}); check the sufficient statistics."
            )


def tail_p_value(statistic: float, alternative: str, df: float) -> float:
    """The p-value of a t (finite ``df``) or z (``df = inf``) statistic under ``alternative``."""

    def cdf(x: float) -> float:
        return float(special.ndtr(x)) if math.isinf(df) else float(special.stdtr(df, x))

    if math.isnan(statistic):
        return math.nan
    if alternative == "greater":
        return cdf(-statistic)
    if alternative == "less":
        return cdf(statistic)
    return min(1.0, 2.0 * cdf(-abs(statistic)))


def critical_value(alpha: float, alternative: str, df: float) -> float:
    """The quantile ``q`` with ``P(T > q) = alpha`` (one-sided) or ``alpha / 2`` (two-sided)."""
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    return float(special.ndtri(1.0 - tail)) if math.isinf(df) else float(special.stdtrit(df, 1.0 - tail))


def interval(estimate: float, se: float, crit: float, alternative: str, level: float) -> ConfidenceInterval:
    """``estimate -/+ crit * se`` at ``level``, open on the side the one-sided alternative does not bound."""
    lower = estimate - crit * se if alternative != "less" else -math.inf
    upper = estimate + crit * se if alternative != "greater" else math.inf
    return ConfidenceInterval(lower, upper, level)


def relative_standard_error(
    mean_c: Num, var_mean_c: Num, mean_t: Num, var_mean_t: Num, *, control_uncertainty: bool = True
) -> Num:
    """Delta-method standard error of the relative lift ``mean_t / mean_c - 1`` of two independent arms.

    ``var_mean_c`` and ``var_mean_t`` are the squared standard errors of the means (``variance / n``). With
    ``control_uncertainty`` (abrec, gbstats' ``frequentist_variance(..., relative=True)``, i.e.
    ``variance_of_ratios`` with covariance 0)::

        Var(mean_t / mean_c) = var_mean_t / mean_c**2 + var_mean_c * mean_t**2 / mean_c**4

    Without it (Spotify's confidence: the absolute interval divided by the control mean) the control mean
    is treated as known: ``(var_mean_t + var_mean_c) / mean_c**2``. Floats or arrays; ``mean_c`` must not be 0.

    Examples
    --------
    >>> round(relative_standard_error(2.0, 0.01, 2.2, 0.01), 6)
    0.07433
    >>> round(relative_standard_error(2.0, 0.01, 2.2, 0.01, control_uncertainty=False), 6)
    0.070711
    """
    if control_uncertainty:
        variance = var_mean_t / mean_c**2 + var_mean_c * mean_t**2 / mean_c**4
    else:
        variance = (var_mean_t + var_mean_c) / mean_c**2
    root = np.sqrt(variance)
    return root if isinstance(variance, np.ndarray) else float(root)


def proportion_null_variance(p_c: Num, n_c: Num, p_t: Num, n_t: Num, *, pooled: bool) -> Num:
    """Variance of ``p_t - p_c`` that a two-proportion test divides by: pooled under the null, or unpooled.

    Pooled: ``p (1 - p) (1 / n_c + 1 / n_t)`` with ``p = (n_c p_c + n_t p_t) / (n_c + n_t)`` (statsmodels'
    ``proportions_ztest`` and ``power_proportions_2indep``); unpooled: ``p_c (1 - p_c) / n_c + p_t (1 - p_t) / n_t``
    (gbstats, Spotify). :data:`POOLED_NULL` says which each convention uses. Floats or arrays.

    Examples
    --------
    >>> round(proportion_null_variance(0.1, 1000, 0.12, 1000, pooled=True), 8)
    0.0001958
    >>> round(proportion_null_variance(0.1, 1000, 0.12, 1000, pooled=False), 8)
    0.0001956
    """
    if pooled:
        p = (n_c * p_c + n_t * p_t) / (n_c + n_t)
        return p * (1.0 - p) * (1.0 / n_c + 1.0 / n_t)
    return p_c * (1.0 - p_c) / n_c + p_t * (1.0 - p_t) / n_t
