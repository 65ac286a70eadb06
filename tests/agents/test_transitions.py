"""n-step transitions of concurrent sessions, and the replay buffer's storage and state."""

from __future__ import annotations

import numpy as np
import pytest

from abrec.agents import NStepCollector, ReplayBuffer, Transitions
from abrec.errors import InputError


def _step(c: NStepCollector, t: int, rewards: list[float], active: list[bool]) -> None:
    n = len(rewards)
    c.push(np.full((n, 1), float(t)), np.full((n, 1, 1), float(t)), np.array(rewards)[:, None], np.array(active))


def _emit(c: NStepCollector, t: int, ended: list[bool], truncated: bool = False) -> Transitions | None:
    n = len(ended)
    return c.emit(
        np.full((n, 1), float(t + 1)), np.zeros((n, 2, 1)), np.ones((n, 2), bool), np.array(ended), truncated=truncated
    )


def test_three_step_returns_end_and_truncation() -> None:
    gamma = 0.5
    c = NStepCollector(2, n_step=3, gamma=gamma)
    _step(c, 0, [1.0, 2.0], [True, True])
    assert _emit(c, 0, [False, False]) is None
    _step(c, 1, [0.0, 4.0], [True, True])
    # Session 1 leaves after step 1: its two pending transitions end there (discount 0).
    out = _emit(c, 1, [False, True])
    assert out is not None
    assert out.states[:, 0].tolist() == [0.0, 1.0]
    np.testing.assert_allclose(out.rewards[:, 0], [2.0 + gamma * 4.0, 4.0])
    assert out.discounts.tolist() == [0.0, 0.0]
    assert not out.next_mask.any()
    _step(c, 2, [8.0, 0.0], [True, False])
    out = _emit(c, 2, [False, False])
    assert out is not None and out.size == 1  # session 0's first transition spans 3 steps
    np.testing.assert_allclose(out.rewards[0, 0], 1.0 + gamma * 0.0 + gamma**2 * 8.0)
    assert out.discounts.tolist() == [gamma**3] and out.next_states[0, 0] == 3.0
    _step(c, 3, [16.0, 0.0], [True, False])
    out = _emit(c, 3, [False, False], truncated=True)  # the episode is cut: bootstrap from the last state
    assert out is not None
    np.testing.assert_allclose(
        np.sort(out.rewards[:, 0]), np.sort([0.0 + gamma * 8 + gamma**2 * 16, 8 + gamma * 16, 16])
    )
    np.testing.assert_allclose(np.sort(out.discounts), np.sort([gamma**3, gamma**2, gamma]))
    assert _emit(c, 4, [False, False]) is None


def test_replay_buffer_grows_wraps_and_round_trips() -> None:
    buffer = ReplayBuffer(capacity=5)
    for i in range(4):
        m = 2 + i % 2  # candidate sets of two widths: the narrower is padded and masked
        t = Transitions(
            np.full((2, 1), float(i)),
            np.full((2, 1, 1), float(i)),
            np.full((2, 1), float(i)),
            np.full(2, 0.5),
            np.zeros((2, 1)),
            np.ones((2, m, 1)),
            np.ones((2, m), bool),
        )
        buffer.add(t)
    assert len(buffer) == 5 and buffer.head == 3
    assert sorted(buffer.data["returns"].tolist()) == [1.0, 2.0, 2.0, 3.0, 3.0]  # oldest overwritten
    assert buffer.data["next_mask"].shape[1] == 3
    copy = ReplayBuffer.from_arrays(buffer.arrays("r."), "r.")
    for key, value in buffer.data.items():
        np.testing.assert_array_equal(copy.data[key], value[: len(buffer)])
    a, b = buffer.sample(7, np.random.default_rng(1)), copy.sample(7, np.random.default_rng(1))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


def test_malformed_transitions_are_refused() -> None:
    good = Transitions.terminal(np.zeros((2, 3)), np.zeros((2, 4)), np.zeros(2))
    good.checked("x")
    with pytest.raises(InputError, match="discounts must lie in"):
        good._replace(discounts=np.full(2, 1.5)).checked("x")
    with pytest.raises(InputError, match="valid next candidate"):
        good._replace(discounts=np.full(2, 0.5)).checked("x")
    with pytest.raises(InputError, match="NaN"):
        good._replace(rewards=np.full((2, 1), np.nan)).checked("x")
    with pytest.raises(InputError, match="rewards"):
        good._replace(rewards=np.zeros((3, 1))).checked("x")
