"""The record every off-policy estimator returns: a point estimate with its uncertainty."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._interval import ConfidenceInterval

__all__ = ["EstimateResult"]


def _json_float(x: float) -> float | None:
    """A float for JSON: NaN and infinities become None (JSON has no such numbers)."""
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True)
class EstimateResult:
    """One estimator's estimate of a target policy's value, with its standard error and confidence interval.

    Attributes
    ----------
    estimator : str
        The registry name of the estimator ("ipw", "dr", ...).
    value : float
        The point estimate (mean reward per logged row under the target policy).
    standard_error : float
        Analytic (sample mean, or delta method for self-normalised estimators) where one exists, else
        the bootstrap standard deviation; NaN where neither exists.
    ci_low, ci_high : float
        The ``1 - alpha`` confidence interval: percentile bootstrap when ``n_bootstrap > 0``, else the
        normal interval ``value -+ z * standard_error``; :attr:`ci` is it as a :class:`ConfidenceInterval`.
    alpha : float
        One minus the interval's level.
    n_bootstrap : int
        Bootstrap resamples used (0: none).
    seed : int or None
        The seed of the bootstrap (None when a generator or OS entropy was used).
    n_rows : int
        Logged rows used.
    effective_sample_size : float
        ``(sum w)^2 / sum w^2`` of the importance weights; NaN for estimators without weights (DM).
    params : Mapping[str, float]
        Hyperparameters used, e.g. the ``tau`` chosen by Switch-DR.

    Examples
    --------
    >>> r = EstimateResult("ipw", 0.5, 0.1, 0.3, 0.7, alpha=0.05, n_bootstrap=0, seed=0, n_rows=10,
    ...                    effective_sample_size=8.0)
    >>> r.confidence_interval()
    ConfidenceInterval(low=0.3, high=0.7, level=0.95)
    >>> low, high = r.ci
    >>> r.to_dict()["estimator"], r.to_dict()["params"]
    ('ipw', {})
    """

    estimator: str
    value: float
    standard_error: float
    ci_low: float
    ci_high: float
    alpha: float
    n_bootstrap: int
    seed: int | None
    n_rows: int
    effective_sample_size: float
    params: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", {str(k): float(v) for k, v in self.params.items()})
        self.confidence_interval()  # the bounds and alpha make a valid interval

    @property
    def ci(self) -> ConfidenceInterval:
        """The ``1 - alpha`` confidence interval ``(ci_low, ci_high)``."""
        return ConfidenceInterval(self.ci_low, self.ci_high, 1.0 - self.alpha)

    def confidence_interval(self) -> ConfidenceInterval:
        """The ``1 - alpha`` confidence interval; ``low, high = r.confidence_interval()`` unpacks it."""
        return self.ci

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers become None)."""
        return {
            "estimator": self.estimator,
            "value": _json_float(self.value),
            "standard_error": _json_float(self.standard_error),
            "ci_low": _json_float(self.ci_low),
            "ci_high": _json_float(self.ci_high),
            "alpha": self.alpha,
            "n_bootstrap": self.n_bootstrap,
            "seed": self.seed,
            "n_rows": self.n_rows,
            "effective_sample_size": _json_float(self.effective_sample_size),
            "params": {k: _json_float(float(v)) for k, v in self.params.items()},
        }
