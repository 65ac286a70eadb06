"""DRos: edges that mutation testing (``make mutate``) found untested.

``lambda_ = 0`` is DM even on rows whose weight is 0 (``w_hat = 0 w / (w^2 + 0)`` is 0 / 0 there, set
to 0), and the default ``bias_upper_bound=False`` decides which shrinkage the default grid picks.
"""

from __future__ import annotations

import numpy as np
import pytest

from abrec.ope import DirectMethod, DoublyRobustWithShrinkage, LoggedFeedback


def skewed_log(seed: int = 4, n: int = 300) -> tuple[LoggedFeedback, np.ndarray, np.ndarray]:
    """A log whose weights span OBP's grid: 97% of rows log action 0, the target prefers the others."""
    rng = np.random.default_rng(seed)
    p = np.array([0.97, 0.01, 0.01, 0.01])
    action = rng.choice(4, n, p=p)
    reward = (rng.random(n) < 0.3 + 0.1 * action).astype(float)
    fb = LoggedFeedback.from_arrays(action=action, reward=reward, propensity=p[action], n_actions=4)
    return fb, np.tile([0.1, 0.3, 0.3, 0.3], (n, 1)), np.full((n, 4), 0.3)


def test_zero_shrinkage_is_dm_also_where_the_weight_is_zero() -> None:
    # Rows 1 and 2: the target never takes the logged action (w = 0) and r != q there.
    # Mutants: `denom > 0` -> `denom >= 0` (NaN), the 0.0 of 0 / 0 -> 1.0 (a DR term).
    fb = LoggedFeedback.from_arrays(action=[0, 1, 1, 0], reward=[1.0, 1.0, 0.0, 1.0], propensity=0.5)
    pi = np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.5, 0.5]])
    q = np.array([[0.5, 0.0], [0.5, 0.2], [0.1, 0.3], [0.4, 0.4]])
    dm = DirectMethod().value(fb, pi, q)
    for lam in (0.0, [0.0]):
        assert DoublyRobustWithShrinkage(lambda_=lam).value(fb, pi, q) == pytest.approx(dm, rel=1e-12)


def test_default_grid_choice_leaves_out_the_bernstein_terms() -> None:
    # On this log the grid picks lambda = 100 without the Bernstein terms and inf (DR) with them.
    # Mutant: the default `bias_upper_bound=False` -> True.
    fb, pi, q = skewed_log()
    default = DoublyRobustWithShrinkage(n_bootstrap=0)
    assert default.bias_upper_bound is False
    off = DoublyRobustWithShrinkage(n_bootstrap=0, bias_upper_bound=False).estimate(fb, pi, q)
    on = DoublyRobustWithShrinkage(n_bootstrap=0, bias_upper_bound=True).estimate(fb, pi, q)
    assert (off.params, on.params) == ({"lambda_": 100.0}, {"lambda_": float("inf")})
    result = default.estimate(fb, pi, q)
    assert result.params == off.params and result.value == off.value
