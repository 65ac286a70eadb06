"""Inverse propensity weighting (IPW) and its self-normalised form (SNIPW), as estimator classes.

Each logged row is one (item, position) action with its reward and the logging policy's propensity
``p_i`` of that item at that position. Assuming the reward depends only on the item, its position and the
context (OBP's simplification for the Open Bandit Dataset), the target's value is estimated with the
weights ``w_i = pi(a_i | x_i, pos_i) / p_i``::

    IPW   = mean(w * reward)
    SNIPW = sum(w * reward) / sum(w)

which is what OBP 0.5.7's ``InverseProbabilityWeighting`` and ``SelfNormalizedInverseProbabilityWeighting``
compute with ``action_dist[round, item, position]`` (checked against OBP's numbers on the Open Bandit
Dataset in the tests), with a standard error and a bootstrap interval added. The per-row weights are
``estimator.rows(feedback, action_dist).weight``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from .base import Estimator, Rows, register_estimator

__all__ = ["IPW", "SNIPW"]

FloatArray = npt.NDArray[np.float64]


@register_estimator
class IPW(Estimator):
    """Inverse propensity weighting: ``mean(w * r)``.

    Unbiased when every action the target may take has a positive logging propensity (else
    :class:`~abrec.errors.SupportError`); high variance when the weights are large. Standard error:
    ``std(w r) / sqrt(n)``.

    Examples
    --------
    >>> from abrec.ope import LoggedFeedback
    >>> fb = LoggedFeedback.from_arrays(action=[0, 1, 0], reward=[1, 0, 0], propensity=0.5)
    >>> IPW().value(fb, [[1.0], [0.0]])  # weights 2, 0, 2
    0.6666666666666666
    """

    name: ClassVar[str] = "ipw"
    requires_support: ClassVar[bool] = True

    def _terms(self, rows: Rows) -> FloatArray:
        return (rows.weight * rows.reward)[:, None]


@register_estimator
class SNIPW(Estimator):
    """Self-normalised IPW: ``sum(w r) / sum(w)``; bounded by the observed rewards, consistent, O(1/n) biased.

    Standard error by the delta method: ``std(w (r - V)) / (mean(w) sqrt(n))``.

    Examples
    --------
    >>> from abrec.ope import LoggedFeedback
    >>> fb = LoggedFeedback.from_arrays(action=[0, 1, 0], reward=[1, 0, 0], propensity=0.5)
    >>> SNIPW().value(fb, [[1.0], [0.0]])
    0.5
    """

    name: ClassVar[str] = "snipw"
    requires_support: ClassVar[bool] = True

    def _terms(self, rows: Rows) -> FloatArray:
        return np.column_stack([rows.weight * rows.reward, rows.weight])

    def _combine(self, means: FloatArray, n_rows: int) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out: FloatArray = means[:, 0] / means[:, 1]
        return out

    def _gradient(self, means: FloatArray) -> FloatArray | None:
        a, b = means
        return None if b == 0 else np.array([1.0 / b, -a / b**2])
