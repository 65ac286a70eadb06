"""The replay method of Li et al. (2011) for a fixed (possibly stochastic) target policy."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from ..errors import InputError
from ._support import uniform_propensity
from .base import Estimator, Rewards, Rows, register_estimator
from .feedback import LoggedFeedback

__all__ = ["Replay"]

FloatArray = npt.NDArray[np.float64]


@register_estimator
class Replay(Estimator):
    """Replay: keep the rows where the target would have taken the logged action, average their rewards.

    Li, Chu, Langford and Wang (2011). In its expected (rejection-sampling) form each row is kept with
    the target's probability of its logged action, ``pi_i = pi(a_i | x_i, pos_i)``::

        V = sum(pi_i r_i) / sum(pi_i)

    which is unbiased up to O(1/n) only when the logging policy is uniform, so the log must hold one
    propensity per position (else InputError). Where that propensity differs between positions,
    rows are weighted by ``pi_i / p_i`` so that each position counts by its rows (with one propensity
    everywhere this is the formula above; on such logs replay equals SNIPW). A deterministic target
    gives OBP's ``ReplayMethod``. Standard error by the delta method.

    Examples
    --------
    >>> from abrec.ope import LoggedFeedback
    >>> fb = LoggedFeedback.from_arrays(action=[0, 1, 0, 1], reward=[1, 0, 0, 1], propensity=0.5)
    >>> Replay().value(fb, [[1.0], [0.0]])  # keeps rows 0 and 2
    0.5
    """

    name: ClassVar[str] = "replay"
    requires_support: ClassVar[bool] = True

    @classmethod
    def applies(cls, feedback: LoggedFeedback, estimated_rewards: Rewards | None = None) -> bool:
        return uniform_propensity(feedback) is not None

    def _check_inputs(self, feedback: LoggedFeedback, pi: FloatArray) -> None:
        if uniform_propensity(feedback) is None:
            raise InputError(
                "replay needs a uniform logging policy: one logged propensity for all rows of a position; this log's "
                "propensities vary within a position. Use ipw, snipw or dr for non-uniform logs."
            )

    def _terms(self, rows: Rows) -> FloatArray:
        keep = rows.weight / rows.weight.max() if rows.weight.max() > 0 else rows.weight  # pi_i up to a constant
        return np.column_stack([keep * rows.reward, keep])

    def _combine(self, means: FloatArray, n_rows: int) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out: FloatArray = means[:, 0] / means[:, 1]
        return out

    def _gradient(self, means: FloatArray) -> FloatArray | None:
        a, b = means
        return None if b == 0 else np.array([1.0 / b, -a / b**2])
