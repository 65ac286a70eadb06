"""Doubly robust estimators with a modified weight ``w_hat(w; h)`` and automatic choice of ``h`` (private).

Switch-DR (``w_hat = w 1{w <= tau}``) and DRos (``w_hat = lambda w / (w^2 + lambda)``) share it. Given
several candidate values of the hyperparameter, the one with the least estimated MSE is used, as in
OBP 0.5.7's ``_estimate_mse_score`` (Su et al. 2020, section 5)::

    MSE(h) = var(terms_h) / n + bias(h)^2,   bias(h) = |mean((w - w_hat_h) (r - q))|

with ``bias_upper_bound=True`` adding OBP's Bernstein terms
``sqrt(2 mean(w^2) log(2/delta) / n) + 2 max(w) log(2/delta) / (3 n)`` (they assume rewards in [0, 1],
so they do not scale with the rewards: off by default). The choice is redone on every bootstrap
resample, so the interval accounts for it; the reported standard error is then the bootstrap one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from .._params import Constraint, Interval
from ..errors import ParameterError
from .base import Estimator, Rows

__all__ = ["TunedDoublyRobust"]

FloatArray = npt.NDArray[np.float64]
Hyper = float | Sequence[float] | None

#: OBP's candidate grid in its examples (``lambdas=[10, 50, 100, 500, 1000, 5000, 10000, np.inf]``).
OBP_GRID: tuple[float, ...] = (10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, math.inf)


class TunedDoublyRobust(Estimator):
    """Base of Switch-DR and DRos: a DR estimator with modified weights and an MSE-tuned hyperparameter."""

    needs_reward_model: ClassVar[bool] = True
    bias_rank: ClassVar[int] = 1
    _hyper: ClassVar[str]
    bias_upper_bound: bool
    delta: float
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "bias_upper_bound": Constraint("bool"),
        "delta": Interval("float", 0.0, 1.0, closed="neither"),
    }

    def _validate_hyper(self, value: Hyper) -> None:
        ok = value is None
        if not ok:
            values = [value] if isinstance(value, int | float) else value
            ok = (
                isinstance(values, Sequence)
                and len(values) > 0
                and all(isinstance(v, int | float) and not isinstance(v, bool) and v >= 0 for v in values)
            )
        if not ok:
            raise ParameterError(
                f"The {self._hyper!r} parameter of {type(self).__name__} must be a float in [0, inf], a non-empty "
                f"sequence of them, or None (the default grid). Got {value!r} instead."
            )

    def candidates(self) -> tuple[float, ...]:
        """The candidate values of the hyperparameter (the default grid when it is None)."""
        value: Hyper = getattr(self, self._hyper)
        if value is None:
            return OBP_GRID
        if isinstance(value, int | float):
            return (float(value),)
        return tuple(float(v) for v in value)

    def _shrink(self, w: FloatArray, h: FloatArray) -> FloatArray:
        """``w_hat`` for weights ``w`` (n, 1) and hyperparameters ``h`` (1, K)."""
        raise NotImplementedError

    # layout of the terms: [t_1..t_K, t_1^2..t_K^2, b_1..b_K, w^2, w] (only t when K == 1)
    def _terms(self, rows: Rows) -> FloatArray:
        q, dm = rows.model(self.name)
        h = np.asarray(self.candidates())[None, :]
        w, resid = rows.weight[:, None], (rows.reward - q)[:, None]
        w_hat = self._shrink(w, h)
        t = dm[:, None] + w_hat * resid
        if h.shape[1] == 1:
            return t
        return np.hstack([t, t * t, (w - w_hat) * resid, w * w, w])

    def _model_columns(self, k: int) -> npt.NDArray[np.intp]:
        """``t_1..t_K`` and ``b_1..b_K`` are linear in the reward model (the squares are not)."""
        n_h = len(self.candidates())
        if n_h == 1:
            return np.arange(k)
        return np.concatenate([np.arange(n_h), np.arange(2 * n_h, 3 * n_h)])

    def _select(self, means: FloatArray, n: int, w_max: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
        k = len(self.candidates())
        if k == 1:
            return means[:, 0], np.zeros(means.shape[0], dtype=np.intp)
        mt, mt2, mb = means[:, :k], means[:, k : 2 * k], means[:, 2 * k : 3 * k]
        variance = np.maximum(mt2 - mt * mt, 0.0) / n
        bias = np.abs(mb)
        if self.bias_upper_bound:
            log_term = math.log(2.0 / self.delta)
            bias = bias + (np.sqrt(2.0 * means[:, 3 * k] * log_term / n) + 2.0 * w_max * log_term / (3.0 * n))[:, None]
        best = np.argmin(variance + bias * bias, axis=1)
        return mt[np.arange(means.shape[0]), best], best

    def _point(self, terms: FloatArray) -> float:
        n = terms.shape[0]
        value, _ = self._select(terms.mean(axis=0)[None, :], n, terms[:, -1:].max(axis=0))
        return float(value[0])

    def _resample(self, terms: FloatArray, counts: FloatArray) -> FloatArray:
        n = terms.shape[0]
        w_max = np.where(counts > 0, terms[:, -1][None, :], -np.inf).max(axis=1)
        return self._select(counts @ terms / n, n, w_max)[0]

    def _gradient(self, means: FloatArray) -> FloatArray | None:
        return np.ones(1) if len(self.candidates()) == 1 else None

    def _chosen(self, terms: FloatArray) -> int:
        n = terms.shape[0]
        return int(self._select(terms.mean(axis=0)[None, :], n, terms[:, -1:].max(axis=0))[1][0])

    def _standard_error(self, terms: FloatArray, means: FloatArray) -> float:
        if len(self.candidates()) == 1:
            return super()._standard_error(terms, means)
        if self.n_bootstrap > 0:
            return math.nan  # the bootstrap SE, which accounts for the choice
        t = terms[:, self._chosen(terms)]  # conditional on the choice (no bootstrap asked)
        return float(np.std(t, ddof=1) / np.sqrt(t.shape[0])) if t.shape[0] > 1 else math.nan

    def _params(self, terms: FloatArray, n_rows: int) -> dict[str, float]:
        return {self._hyper: self.candidates()[self._chosen(terms)]}
