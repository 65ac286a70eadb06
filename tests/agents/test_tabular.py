"""Tabular Q-learning on its codebooks: long-term vs myopic choice, cold start from text, exact state files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from _toy import FEATURES, FRESH, TIRED, A, B, C, toy_transitions

from abrec.agents import TabularQAgent
from abrec.policies import Policy


def _trained(gamma: float, **params: object) -> TabularQAgent:
    settings: dict[str, object] = {"n_state_cells": 2, "n_item_cells": 2, "warmup": 50, "learning_rate": 0.5}
    settings.update(params)
    agent = TabularQAgent(gamma=gamma, seed=0, **settings)  # type: ignore[arg-type]
    for i in range(150):  # each batch contracts the error by about 1 - 0.5 (1 - gamma)
        agent.learn(toy_transitions(100, seed=i, gamma=gamma))
    return agent


def test_a_long_term_agent_prefers_what_keeps_the_user_fresh() -> None:
    far, myopic = _trained(0.9), _trained(0.0)
    q_far = far.q_values(FRESH[None], FEATURES)[0]
    q_myopic = myopic.q_values(FRESH[None], FEATURES)[0]
    assert q_far[1] > q_far[0]  # B: 6 against A's 1 + 0.9 * 0.9 * 6 = 5.86 (the exact values)
    np.testing.assert_allclose(q_far, [1 + 0.81 * 6, 6.0], rtol=0.01)
    assert q_myopic[0] > q_myopic[1]
    np.testing.assert_allclose(q_myopic, [1.0, 0.6], atol=1e-9)
    # Greedy decisions follow: the long-term agent shows B in the fresh state.
    greedy = far.clone(keep_state=True, epsilon=0.0)
    assert greedy.decide(np.array(["A", "B"]), FRESH[None], item_features=FEATURES).items[0, 0] == "B"
    assert (
        myopic.clone(keep_state=True, epsilon=0.0)
        .decide(np.array(["A", "B"]), FRESH[None], item_features=FEATURES)
        .items[0, 0]
        == "A"
    )


def test_a_never_seen_item_takes_the_value_of_items_with_similar_text() -> None:
    agent = _trained(0.0)
    q = agent.q_values(np.stack([FRESH, TIRED]), np.stack([A, B, C]))
    np.testing.assert_allclose(q[:, 2], q[:, 0])  # C reads like A


def test_fitted_codebooks_and_table_round_trip_exactly(tmp_path: Path) -> None:
    agent = _trained(0.9, learning_rate=0.2)
    assert agent.state_codebook is not None
    path = tmp_path / "tabular.npz"
    agent.save(str(path))
    loaded = Policy.load(str(path))
    assert isinstance(loaded, TabularQAgent)
    np.testing.assert_array_equal(loaded.table, agent.table)
    more = toy_transitions(40, seed=99)
    agent.learn(more)
    loaded.learn(more)
    np.testing.assert_array_equal(loaded.table, agent.table)
    a = agent.decide(np.array(["A", "B"]), np.stack([FRESH, TIRED] * 20), item_features=FEATURES)
    b = loaded.decide(np.array(["A", "B"]), np.stack([FRESH, TIRED] * 20), item_features=FEATURES)
    np.testing.assert_array_equal(a.slots, b.slots)


def test_the_warm_up_buffer_round_trips_and_fits_the_same_codebooks(tmp_path: Path) -> None:
    agent = TabularQAgent(warmup=150, n_state_cells=2, n_item_cells=2, seed=0)
    agent.learn(toy_transitions(100, seed=0))
    agent.save(str(tmp_path / "warm.npz"))
    loaded = Policy.load(str(tmp_path / "warm.npz"))
    assert isinstance(loaded, TabularQAgent) and loaded.state_codebook is None
    for a in (agent, loaded):
        a.learn(toy_transitions(100, seed=1))
    assert agent.state_codebook is not None and loaded.state_codebook is not None
    np.testing.assert_array_equal(agent.state_codebook, loaded.state_codebook)
    np.testing.assert_array_equal(agent.table, loaded.table)
