from __future__ import annotations

import numpy as np
import pytest

from abrec.errors import InputError
from abrec.policies import HybridLinUCB, LinUCB, UniformRandom


def test_feedback_from_slate_decision() -> None:
    x = np.arange(6.0).reshape(3, 2)
    d = LinUCB(seed=0).decide(np.array([4, 5, 6, 7]), x, k=2)
    fb = d.feedback(np.ones((3, 2)), x)
    assert fb.size == 6
    assert fb.positions is not None and fb.positions.tolist() == [0, 1] * 3
    assert fb.contexts is not None and fb.contexts.tolist() == np.repeat(x, 2, axis=0).tolist()
    assert fb.items.tolist() == d.items.ravel().tolist()
    assert fb.propensities is not None and np.allclose(fb.propensities, d.propensities.ravel())


def test_feedback_item_features_follow_the_chosen_slots() -> None:
    feats = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    x = np.ones((4, 2))
    d = HybridLinUCB(seed=0).decide(np.array(["a", "b", "c"]), x, item_features=feats, k=2)
    fb = d.feedback(np.zeros((4, 2)), x, item_features=feats)
    assert fb.item_features is not None
    assert np.array_equal(fb.item_features, feats[d.slots.ravel()])
    per_request = np.repeat(feats[None], 4, axis=0)
    fb2 = d.feedback(np.zeros((4, 2)), x, item_features=per_request)
    assert fb2.item_features is not None and np.array_equal(fb2.item_features, fb.item_features)


def test_feedback_rejects_wrong_reward_shape() -> None:
    d = UniformRandom(seed=0).decide(np.arange(3), k=2)
    with pytest.raises(InputError, match=r"shape \(1, 2\)"):
        d.feedback(np.ones(3))


def test_decision_shape_helpers() -> None:
    d = UniformRandom(seed=0).decide(np.arange(5), np.zeros((4, 1)), k=3)
    assert (d.n, d.k) == (4, 3) and d.scores.shape == (4, 5)
