"""Doubly robust (DR) and self-normalised doubly robust (SNDR) estimators."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from .base import Estimator, Rows, register_estimator
from .importance import ratio_or_nan, rescaled_weights

__all__ = ["DoublyRobust", "SelfNormalizedDoublyRobust"]

FloatArray = npt.NDArray[np.float64]


@register_estimator
class DoublyRobust(Estimator):
    """Doubly robust: ``mean(dm_i + w_i (r_i - q(x_i, a_i)))``, as OBP 0.5.7's ``DoublyRobust`` (no clipping).

    Unbiased when the propensities are right, whatever the reward model; low variance when the model
    is good. Actions outside the logging support are covered by the model's ``dm`` term only (no
    support error: the estimate is then as good as the model there). Standard error: sample mean.

    Examples
    --------
    >>> from abrec.ope import LoggedFeedback
    >>> fb = LoggedFeedback.from_arrays(action=[0, 1], reward=[1, 0], propensity=0.5)
    >>> q = [[0.5, 0.0], [0.5, 0.0]]
    >>> DoublyRobust().value(fb, [[1.0], [0.0]], estimated_rewards=q)  # 0.5 + mean(2 * 0.5, 0)
    1.0
    """

    name: ClassVar[str] = "dr"
    needs_reward_model: ClassVar[bool] = True

    def _terms(self, rows: Rows) -> FloatArray:
        q, dm = rows.model(self.name)
        return (dm + rows.weight * (rows.reward - q))[:, None]


@register_estimator
class SelfNormalizedDoublyRobust(Estimator):
    """SNDR: ``mean(dm_i) + sum(w_i (r_i - q_i)) / sum(w_i)``, as OBP 0.5.7's ``SelfNormalizedDoublyRobust``.

    Standard error by the delta method. Tiny or huge weights are rescaled by a power of two first
    (:func:`~abrec.ope.importance.rescaled_weights`: the ratio does not change), so they give a finite
    answer; where no row has weight it is NaN.

    Examples
    --------
    >>> from abrec.ope import LoggedFeedback
    >>> fb = LoggedFeedback.from_arrays(action=[0, 1], reward=[1, 0], propensity=0.5)
    >>> SelfNormalizedDoublyRobust().value(fb, [[1.0], [0.0]], estimated_rewards=[[0.5, 0.0], [0.5, 0.0]])
    1.0
    """

    name: ClassVar[str] = "sndr"
    needs_reward_model: ClassVar[bool] = True

    def _terms(self, rows: Rows) -> FloatArray:
        q, dm = rows.model(self.name)
        w = rescaled_weights(rows.weight)
        return np.column_stack([dm, w * (rows.reward - q), w])

    def _combine(self, means: FloatArray, n_rows: int) -> FloatArray:
        out: FloatArray = means[:, 0] + ratio_or_nan(means[:, 1], means[:, 2])
        return out

    def _gradient(self, means: FloatArray) -> FloatArray | None:
        _, c, b = means
        return None if b == 0 else np.array([1.0, 1.0 / b, -c / b**2])
