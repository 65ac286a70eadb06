"""Doubly robust with optimistic shrinkage (DRos): weights shrunk towards 0 by ``lambda w / (w^2 + lambda)``."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ._tuning import Hyper, TunedDoublyRobust
from .base import register_estimator

__all__ = ["DoublyRobustWithShrinkage"]

FloatArray = npt.NDArray[np.float64]


@register_estimator
class DoublyRobustWithShrinkage(TunedDoublyRobust):
    """DRos: ``mean(dm_i + w_hat_i (r_i - q_i))`` with ``w_hat = lambda w / (w^2 + lambda)`` (Su et al. 2020).

    As OBP 0.5.7's ``DoublyRobustWithShrinkage``: ``lambda = 0`` is DM, ``lambda = inf`` is DR. Even a
    unit weight is shrunk (to ``lambda / (1 + lambda)``), so the estimate is not the mean reward when
    target and logging policy agree (``exact_on_policy`` is False).

    Parameters
    ----------
    lambda_ : float, sequence of floats, or None (default)
        The shrinkage, or candidates among which the one of least estimated MSE is used (reported in
        ``result.params['lambda_']``). Default None: OBP's example grid
        ``(10, 50, 100, 500, 1000, 5000, 10000, inf)``; OBP's own class default, 0, would be DM.
    bias_upper_bound, delta, alpha, n_bootstrap, seed, ess_threshold
        As :class:`~abrec.ope.SwitchDoublyRobust`.

    Examples
    --------
    >>> from abrec.ope import LoggedFeedback
    >>> fb = LoggedFeedback.from_arrays(action=[0, 1], reward=[1, 0], propensity=0.5)
    >>> q = [[0.5, 0.0], [0.5, 0.0]]
    >>> DoublyRobustWithShrinkage(lambda_=4.0).value(fb, [[1.0], [0.0]], estimated_rewards=q)  # w_hat = 8/8 = 1
    0.75
    """

    name: ClassVar[str] = "dros"
    exact_on_policy: ClassVar[bool] = False
    _hyper: ClassVar[str] = "lambda_"

    def __init__(
        self, lambda_: Hyper = None, *, bias_upper_bound: bool = False, delta: float = 0.05, **common: Any
    ) -> None:
        self.lambda_ = lambda_
        self.bias_upper_bound = bias_upper_bound
        self.delta = delta
        super().__init__(**common)
        self._validate_hyper(lambda_)

    def _shrink(self, w: FloatArray, h: FloatArray) -> FloatArray:
        denom = w * w + h
        with np.errstate(divide="ignore", invalid="ignore"):
            shrunk = np.where(denom > 0, h * w / denom, 0.0)
        out: FloatArray = np.where(np.isinf(h), w, shrunk)
        return out
