"""The session state: what the encoder makes of a session, step by step, from item text features."""

from __future__ import annotations

import numpy as np
import pytest

from abrec.agents import StateEncoder
from abrec.embeddings import ItemFeatures
from abrec.errors import InputError, ParameterError

FEATS = ItemFeatures(np.array([10, 20, 30]), np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32))


def test_profiles_decay_and_count_only_active_sessions() -> None:
    enc = StateEncoder(FEATS, decay=0.5, horizon=4)
    s0 = enc.start(np.array([[7.0], [8.0]]))
    s1 = enc.advance(s0, np.array([[10, 30], [20, 10]]), np.array([[1.0, 0.0], [0.0, 0.0]]))
    s2 = enc.advance(s1, np.array([[20, 10], [30, 20]]), np.array([[1.0, 0.0], [1.0, 1.0]]), active=[True, False])
    v = enc.encode(s2)
    # session 0: clicked 10 then 20 -> 0.5 * [1, 0] + [0, 1]; shown [2, 1] then [1, 1] -> 0.5 * [2, 1] + [1, 1]
    np.testing.assert_allclose(v[0], [7.0, 0.5, 1.0, 2.0, 1.5, 2 / 4, 0.0, 1.0])
    # session 1 was inactive at the second step: as after the first (no click: one miss)
    np.testing.assert_allclose(v[1], [8.0, 0.0, 0.0, 1.0, 1.0, 1 / 4, 1 / 4, 1.0])
    assert enc.dim(1) == v.shape[1]
    np.testing.assert_array_equal(enc.encode(s0)[:, 1:5], 0.0)  # the earlier state is unchanged


def test_bad_inputs_say_what_was_wrong() -> None:
    enc = StateEncoder(FEATS)
    s = enc.start(np.zeros((2, 1)))
    with pytest.raises(InputError, match="one row per session"):
        enc.advance(s, np.array([[10]]), np.array([[1.0]]))
    with pytest.raises(InputError, match="not in the item features"):
        enc.advance(s, np.array([[10], [99]]), np.array([[1.0], [0.0]]))
    with pytest.raises(ParameterError, match="'decay' parameter of StateEncoder"):
        StateEncoder(FEATS, decay=1.5)
