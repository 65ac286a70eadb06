"""Shared helpers of the A/B test modules: the summary protocol, argument checks, normal and t tails."""

from __future__ import annotations

import math
from typing import Literal, Protocol

from scipy import special

from .._interval import ConfidenceInterval
from .._params import Interval, StrOptions, validate_params
from ..errors import InputError

Alternative = Literal["two-sided", "greater", "less"]
"""The alternative hypothesis about ``treatment - control``."""

ALTERNATIVES: tuple[str, ...] = ("two-sided", "greater", "less")

_ALPHA = {"alpha": Interval("float", 0.0, 1.0, closed="neither")}
_ALTERNATIVE = {"alternative": StrOptions(ALTERNATIVES)}


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
