"""Switch doubly robust (Switch-DR): DR where the weight is small, the reward model alone where it is large."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from ._tuning import Hyper, TunedDoublyRobust
from .base import register_estimator

__all__ = ["SwitchDoublyRobust"]

FloatArray = npt.NDArray[np.float64]


@register_estimator
class SwitchDoublyRobust(TunedDoublyRobust):
    """Switch-DR: ``mean(dm_i + w_i 1{w_i <= tau} (r_i - q_i))``, as OBP 0.5.7's ``SwitchDoublyRobust``.

    Rows whose weight exceeds ``tau`` keep only the DM term, trading a bias for less variance
    (Wang, Agarwal and Dudik 2017). ``tau = inf`` is DR, ``tau = 0`` is DM.

    Parameters
    ----------
    tau : float, sequence of floats, or None (default)
        The switching threshold, or candidates among which the one of least estimated MSE is used
        (see :mod:`abrec.ope._tuning`; the chosen one is in ``result.params['tau']``). Default None:
        OBP's example grid ``(10, 50, 100, 500, 1000, 5000, 10000, inf)``. No single threshold fits
        every log (the weights' scale grows with the number of actions), so the default tunes rather
        than pretend one does; with uniform logging over 80 items (OBD) weights stay below 80 and the
        grid chooses between switching at 10 or 50 and plain DR.
    bias_upper_bound : bool, default False
        Add OBP's Bernstein terms to the bias estimate (they assume rewards in [0, 1]).
    delta : float, default 0.05
        Confidence of those terms.
    alpha, n_bootstrap, seed, ess_threshold
        As :class:`~abrec.ope.Estimator`.

    Examples
    --------
    >>> from abrec.ope import LoggedFeedback
    >>> fb = LoggedFeedback.from_arrays(action=[0, 1], reward=[1, 0], propensity=0.5)
    >>> q = [[0.5, 0.0], [0.5, 0.0]]
    >>> SwitchDoublyRobust(tau=1.0).value(fb, [[1.0], [0.0]], estimated_rewards=q)  # weight 2 > 1: DM only
    0.5
    """

    name: ClassVar[str] = "switch_dr"
    _hyper: ClassVar[str] = "tau"

    def __init__(
        self, tau: Hyper = None, *, bias_upper_bound: bool = False, delta: float = 0.05, **common: Any
    ) -> None:
        self.tau = tau
        self.bias_upper_bound = bias_upper_bound
        self.delta = delta
        super().__init__(**common)
        self._validate_hyper(tau)

    def _shrink(self, w: FloatArray, h: FloatArray) -> FloatArray:
        out: FloatArray = w * (w <= h)
        return out
