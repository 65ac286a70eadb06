"""Switch-DR: edges that mutation testing (``make mutate``) found untested.

A weight exactly at the threshold keeps its DR correction (``w <= tau``), and the default
``bias_upper_bound=False`` (the Bernstein terms off) decides which threshold the default grid picks.
"""

from __future__ import annotations

import numpy as np
import pytest

from abrec.ope import DirectMethod, DoublyRobust, LoggedFeedback, SwitchDoublyRobust


def skewed_log(seed: int = 4, n: int = 300) -> tuple[LoggedFeedback, np.ndarray, np.ndarray]:
    """A log whose weights span OBP's grid: 97% of rows log action 0, the target prefers the others."""
    rng = np.random.default_rng(seed)
    p = np.array([0.97, 0.01, 0.01, 0.01])
    action = rng.choice(4, n, p=p)
    reward = (rng.random(n) < 0.3 + 0.1 * action).astype(float)
    fb = LoggedFeedback.from_arrays(action=action, reward=reward, propensity=p[action], n_actions=4)
    return fb, np.tile([0.1, 0.3, 0.3, 0.3], (n, 1)), np.full((n, 4), 0.3)


def test_a_weight_at_the_threshold_is_kept() -> None:
    # Every weight is 1.0 / 0.5 = 2 = tau: Switch-DR is DR. Mutant: `w <= h` -> `w < h` (DM only).
    fb = LoggedFeedback.from_arrays(action=[0, 1, 1, 0], reward=[1.0, 0.0, 1.0, 1.0], propensity=0.5)
    pi = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])
    q = np.array([[0.5, 0.0], [0.5, 0.2], [0.1, 0.3], [0.4, 0.4]])
    dr = DoublyRobust().value(fb, pi, q)
    assert SwitchDoublyRobust(tau=2.0).value(fb, pi, q) == pytest.approx(dr, rel=1e-12)
    assert dr != pytest.approx(DirectMethod().value(fb, pi, q))
    assert SwitchDoublyRobust(tau=1.999).value(fb, pi, q) == pytest.approx(DirectMethod().value(fb, pi, q))


def test_default_grid_choice_leaves_out_the_bernstein_terms() -> None:
    # On this log the grid picks tau = 10 without the Bernstein terms and tau = 50 with them.
    # Mutant: the default `bias_upper_bound=False` -> True.
    fb, pi, q = skewed_log()
    default = SwitchDoublyRobust(n_bootstrap=0)
    assert default.bias_upper_bound is False
    off = SwitchDoublyRobust(n_bootstrap=0, bias_upper_bound=False).estimate(fb, pi, q)
    on = SwitchDoublyRobust(n_bootstrap=0, bias_upper_bound=True).estimate(fb, pi, q)
    assert (off.params, on.params) == ({"tau": 10.0}, {"tau": 50.0})
    result = default.estimate(fb, pi, q)
    assert result.params == off.params and result.value == off.value
