"""The direct method (DM): the reward model's value of the target policy."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import numpy.typing as npt

from .base import Estimator, Rows, register_estimator

__all__ = ["DirectMethod"]


@register_estimator
class DirectMethod(Estimator):
    """Direct method: ``mean_i sum_a pi(a | x_i, pos_i) q(x_i, a, pos_i)``.

    As OBP 0.5.7's ``DirectMethod``. Low variance, but biased as much as the reward model is wrong;
    it never looks at the logged rewards or propensities (so no weights, no support check).
    The standard error is that of a sample mean and ignores the reward model's own error.

    Examples
    --------
    >>> from abrec.ope import LoggedFeedback
    >>> fb = LoggedFeedback.from_arrays(action=[0, 1], reward=[1, 0], propensity=0.5)
    >>> DirectMethod(n_bootstrap=0).value(fb, [[0.8], [0.2]], estimated_rewards=[[0.5, 0.0], [0.5, 0.0]])
    0.4
    """

    name: ClassVar[str] = "dm"
    needs_reward_model: ClassVar[bool] = True
    bias_rank: ClassVar[int] = 2
    uses_weights: ClassVar[bool] = False
    exact_on_policy: ClassVar[bool] = False

    def _terms(self, rows: Rows) -> npt.NDArray[np.float64]:
        _, dm = rows.model(self.name)
        return dm[:, None]
