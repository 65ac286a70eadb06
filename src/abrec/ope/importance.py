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


_SAFE_EXPONENT = 512
"""Weights whose largest lies within ``2**(+-512)`` (about 1e+-154) are used as they are."""


def rescaled_weights(weight: FloatArray) -> FloatArray:
    """The weights, times a power of two where the largest is tiny or huge (else unchanged).

    A self-normalised estimate ``sum(w x) / sum(w)`` (and its delta-method SE) does not change when
    every weight is scaled by the same factor, and a power of two scales each weight exactly. Without
    it, weights near the smallest float make ``mean(w)`` underflow to 0 while ``mean(w r)`` does not
    (an estimate of inf), and huge weights make the sums overflow (NaN). Weights whose largest lies
    within ``2**(+-512)`` are returned as they are; others are scaled so that it lies at that bound.

    >>> w = rescaled_weights(np.array([1e-323, 0.0, 3e-323]))
    >>> bool(0.0 < w.max() < 1e-150), (w / w.max()).tolist()
    (True, [0.3333333333333333, 0.0, 1.0])
    >>> rescaled_weights(np.array([0.5, 2.0])).tolist()
    [0.5, 2.0]
    """
    _, exponent = np.frexp(np.max(weight, initial=0.0))
    shift = exponent - np.clip(exponent, -_SAFE_EXPONENT, _SAFE_EXPONENT)
    out: FloatArray = np.ldexp(weight, -shift)
    return out


def ratio_or_nan(num: FloatArray, den: FloatArray) -> FloatArray:
    """``num / den`` where ``den > 0``, NaN elsewhere (a resample, or rows, without weight), quietly."""
    out: FloatArray = np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)
    return out


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

    Standard error by the delta method: ``std(w (r - V)) / (mean(w) sqrt(n))``. Tiny or huge weights
    are rescaled by a power of two first (:func:`rescaled_weights`), so they give the same finite
    answer as moderate ones; where no row has weight (``sum(w) = 0``) there is no estimate (NaN).

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
        w = rescaled_weights(rows.weight)
        return np.column_stack([w * rows.reward, w])

    def _combine(self, means: FloatArray, n_rows: int) -> FloatArray:
        return ratio_or_nan(means[:, 0], means[:, 1])

    def _gradient(self, means: FloatArray) -> FloatArray | None:
        a, b = means
        return None if b == 0 else np.array([1.0 / b, -a / b**2])
