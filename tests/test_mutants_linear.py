"""LinUCB and linear Thompson sampling: edges that mutation testing (``make mutate``) found untested.

Scores against the ridge regression written out by hand (with the default alpha and ridge), one-
dimensional contexts, masks on the compiled k = 1 path and on Thompson sampling's k = 1 race and
slates, slates' propensities against the exact Gaussian probability, ``propensity_draws``, and the
class named in a bad backend's error.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from abrec.errors import ParameterError
from abrec.policies import Feedback, LinearThompson, LinUCB

X = np.array([[1.0, 0.5], [0.2, 1.0], [1.0, -0.3], [0.4, 0.4]])
ITEMS = np.array([7, 8, 7, 9])
REWARDS = np.array([1.0, 0.0, 0.5, 1.0])


def _ridge(item: int, ridge: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(theta, A^-1) of one item's ridge regression on the rows above."""
    x, r = X[ITEMS == item], REWARDS[ITEMS == item]
    a_inv = np.linalg.inv(ridge * np.eye(2) + x.T @ x)
    return a_inv @ (x.T @ r), a_inv


@pytest.mark.parametrize("backend", ["auto", "numpy"])
def test_linucb_scores_with_the_default_alpha_and_ridge(backend: str) -> None:
    # x . theta_a + 1.0 sqrt(x' A_a^-1 x) with A_a = I + X_a' X_a. Mutant: the default alpha 1.0 -> 2.0.
    policy = LinUCB(backend=backend, seed=0)
    assert policy.get_params() == {"alpha": 1.0, "ridge": 1.0, "backend": backend}
    policy.update(Feedback(items=ITEMS, rewards=REWARDS, contexts=X))
    ctx = np.array([[0.3, 0.9], [1.0, 0.0]])
    scores = policy.decide(np.array([7, 8, 9, 10]), ctx).scores
    for j, item in enumerate([7, 8, 9]):
        theta, a_inv = _ridge(item)
        expected = ctx @ theta + np.sqrt(np.einsum("nd,de,ne->n", ctx, a_inv, ctx))
        np.testing.assert_allclose(scores[:, j], expected, rtol=1e-10)
    np.testing.assert_allclose(scores[:, 3], np.linalg.norm(ctx, axis=1), rtol=1e-12)  # new item: A = I


def test_one_dimensional_contexts() -> None:
    # Mutant: `_item_state` returned no state for d == 1 (instead of d == 0, no dimension yet).
    policy = LinUCB(seed=0)
    policy.update(Feedback(items=np.array([1, 2, 1]), rewards=np.array([1.0, 0.0, 1.0]), contexts=np.ones((3, 1))))
    d = policy.decide(np.array([1, 2]), np.ones((1, 1)))
    assert d.scores[0].tolist() == pytest.approx([2 / 3 + math.sqrt(1 / 3), 0.0 + math.sqrt(1 / 2)], rel=1e-12)


def test_linucb_k1_respects_the_mask_and_is_exact() -> None:
    # One request, k = 1 (the compiled path when there is no mask): the masked best item is never chosen,
    # and the propensities are exact (propensity_draws 0). Mutants: the compiled path taken when there IS a
    # mask (`req.mask is not None`), `propensity_draws` 1.
    policy = LinUCB(seed=0)
    policy.update(Feedback(items=np.array([5, 6]), rewards=np.array([1.0, 0.0]), contexts=np.eye(2)))
    ctx = np.array([[1.0, 0.0]])
    free = policy.decide(np.array([5, 6]), ctx)
    assert free.items.tolist() == [[5]] and free.propensity_draws == 0 and free.propensities.tolist() == [[1.0]]
    masked = policy.decide(np.array([5, 6]), ctx, mask=np.array([[False, True]]))
    assert masked.items.tolist() == [[6]] and masked.propensity_draws == 0


@pytest.mark.parametrize("cls", [LinUCB, LinearThompson])
def test_bad_backend_names_the_class(cls: type) -> None:
    # Mutants: `check_backend(None, ...)`, `check_backend(type(None).__name__, ...)`.
    with pytest.raises(ParameterError, match=rf"'backend' parameter of {cls.__name__} must be"):
        cls(backend="cuda")


def test_thompson_defaults_and_posterior_mean() -> None:
    # Scores are the posterior means x . theta_a with ridge 1; propensity_draws 1000 by default.
    # Mutants: the defaults ridge 1.0 -> 2.0, propensity_draws 1000 -> 1001.
    policy = LinearThompson(seed=0)
    assert policy.get_params() == {"v": 0.3, "ridge": 1.0, "propensity_draws": 1000, "backend": "auto"}
    policy.update(Feedback(items=ITEMS, rewards=REWARDS, contexts=X))
    ctx = np.array([[0.3, 0.9]])
    d = policy.decide(np.array([7, 8, 9]), ctx)
    assert d.propensity_draws == 1000
    np.testing.assert_allclose(d.scores[0], [(ctx @ _ridge(i)[0])[0] for i in (7, 8, 9)], rtol=1e-10)


def _two_items(v: float = 1.0) -> LinearThompson:
    # One observation each at x = [1]: A = 2, theta = r / 2, x' A^-1 x = 1/2. Item 1: mean 0.5, item 2: 0.
    policy = LinearThompson(v=v, seed=0)
    policy.update(Feedback(items=np.array([1, 2]), rewards=np.array([1.0, 0.0]), contexts=np.ones((2, 1))))
    return policy


def test_thompson_slate_propensities_are_gaussian() -> None:
    # k = 2 over items 1 and 2 (scores N(0.5, 1/2) and N(0, 1/2)): item 1 leads with probability
    # Phi(0.5 / 1) = 0.691 (counted over 1000 draws: within 4 standard errors). Mutants: `k == 1` -> `k != 1`
    # or `k == 2` (the k = 1 race for slates), `scale / z` for `scale * z` (0.58), no propensities.
    policy = _two_items()
    d = policy.decide(np.array([1, 2]), np.ones((1, 1)), k=2)
    assert d.items.shape == (1, 2) and d.propensities.shape == (1, 2) and d.propensity_draws == 1000
    lead = float(special.ndtr(0.5))
    p_first = d.propensities[0, 0] if d.items[0, 0] == 1 else 1.0 - d.propensities[0, 0]
    assert p_first == pytest.approx(lead, abs=4 * math.sqrt(lead * (1 - lead) / 1000))


def test_thompson_respects_the_mask() -> None:
    # Item 3 has the best mean by far but is masked out of every request: never shown, for k = 1 (the
    # Gaussian race) and for slates. Mutants: the race given no mask; the slate draws not masked (or
    # masked wrongly).
    policy = _two_items(v=0.3)
    policy.update(Feedback(items=np.array([3] * 5), rewards=np.ones(5), contexts=np.ones((5, 1))))
    candidates = np.array([1, 2, 3])
    mask = np.tile([True, True, False], (40, 1))
    for k in (1, 2):
        d = policy.decide(candidates, np.ones((40, 1)), k=k, mask=mask)
        assert not (d.items == 3).any() and d.items.shape == (40, k)
        assert (d.propensities > 0).all() and (d.propensities <= 1).all()
        assert np.isnan(d.scores[:, 2]).all()
