"""Epsilon-greedy: edges that mutation testing (``make mutate``) found untested.

The scores themselves (``(total + initial_value) / (count + 1)``, with the default initial value 1),
and ``propensity_draws == 0``: its propensities are exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from abrec.policies import EpsilonGreedy, Feedback


def test_scores_count_the_initial_value_as_one_pseudo_observation() -> None:
    # Item 1: rewards 1.0 and 0.5 -> (1.5 + 1) / 3; item 2: 0.0 -> (0 + 1) / 2; item 3 unseen -> 1.
    # Mutants: the default `initial_value=1.0` -> 2.0, `count + 1.0` -> `count + 2.0`.
    policy = EpsilonGreedy(seed=0)
    assert policy.get_params()["initial_value"] == 1.0
    policy.update(Feedback(items=np.array([1, 1, 2]), rewards=np.array([1.0, 0.5, 0.0])))
    scores = policy.decide(np.array([1, 2, 3])).scores[0]
    assert scores.tolist() == pytest.approx([2.5 / 3.0, 0.5, 1.0], rel=1e-12)
    custom = EpsilonGreedy(initial_value=-0.5, seed=0)
    custom.update(Feedback(items=np.array([1]), rewards=np.array([1.0])))
    assert custom.decide(np.array([1, 2])).scores[0].tolist() == pytest.approx([0.25, -0.5], rel=1e-12)


def test_propensities_are_exact() -> None:
    # Mutant: `_choose` reported one Monte Carlo draw (`propensity_draws` 1) instead of 0 (exact).
    policy = EpsilonGreedy(epsilon=0.3, seed=0)
    policy.update(Feedback(items=np.array([1, 2]), rewards=np.array([1.0, 0.0])))
    decision = policy.decide(np.array([1, 2, 3, 4]), np.zeros((5, 1)), k=2)
    assert decision.propensity_draws == 0
