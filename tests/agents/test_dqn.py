"""The DQN agent: double DQN learns the long-term choice, same data gives the same network, exact state files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _toy import FEATURES, FRESH, toy_transitions

from _shared import require_module
from abrec.agents import DQNAgent
from abrec.policies import Policy

torch = require_module("torch", "the 'llm' extra (torch) is not installed")
torch.set_num_threads(1)


def _trained(gamma: float, seed: int = 0, **params: object) -> DQNAgent:
    settings: dict[str, object] = {"hidden": 16, "learning_rate": 3e-3, "target_every": 25, "replay_ratio": 8.0}
    settings.update(params)
    agent = DQNAgent(gamma=gamma, seed=seed, **settings)  # type: ignore[arg-type]
    for i in range(40):
        agent.learn(toy_transitions(64, seed=i, gamma=gamma, reward_a=0.7))
    return agent


@pytest.mark.parametrize("double", [True, False])
def test_dqn_learns_to_prefer_what_keeps_the_user_fresh(double: bool) -> None:
    # A pays 0.7 and tires the user, B 0.6: with gamma 0.5, Q(fresh, B) = 0.6 / 0.5 = 1.2 and
    # Q(fresh, A) = 0.7 + 0.5 * 0.5 * 1.2 = 1.0; with gamma 0, Q = the immediate rewards.
    far = _trained(0.5, double=double)
    q = far.q_values(FRESH[None], FEATURES)[0]
    np.testing.assert_allclose(q, [1.0, 1.2], atol=0.06)
    myopic = _trained(0.0, double=double)
    q0 = myopic.q_values(FRESH[None], FEATURES)[0]
    np.testing.assert_allclose(q0, [0.7, 0.6], atol=0.06)


def test_the_network_depends_on_the_data_and_train_seed_not_the_decision_seed() -> None:
    a, b = _trained(0.9, seed=1), _trained(0.9, seed=2)
    states = np.random.default_rng(0).normal(size=(5, 2))
    np.testing.assert_array_equal(a.q_values(states, FEATURES), b.q_values(states, FEATURES))
    c = _trained(0.9, seed=1, train_seed=7)
    assert not np.array_equal(a.q_values(states, FEATURES), c.q_values(states, FEATURES))


def test_weights_adam_and_replay_round_trip_exactly(tmp_path: Path) -> None:
    agent = _trained(0.9, n_step=1, buffer_size=500)
    assert agent.gradient_steps > 0 and len(agent.replay) == 500  # the ring buffer has wrapped
    agent.save(str(tmp_path / "dqn.npz"))
    loaded = Policy.load(str(tmp_path / "dqn.npz"))
    assert isinstance(loaded, DQNAgent)
    states = np.random.default_rng(1).normal(size=(4, 2))
    for round_ in range(3):
        np.testing.assert_array_equal(loaded.q_values(states, FEATURES), agent.q_values(states, FEATURES), round_)
        batch = toy_transitions(64, seed=100 + round_)
        agent.learn(batch)
        loaded.learn(batch)  # the same gradient steps: same replay draws, same Adam moments
    assert loaded.gradient_steps == agent.gradient_steps


def test_the_target_network_follows_every_target_every_steps() -> None:
    agent = DQNAgent(hidden=8, batch_size=8, learning_starts=8, replay_ratio=1.0, target_every=3, seed=0)
    agent.learn(toy_transitions(16, seed=0))  # 16 samples -> 2 steps: the target lags
    online = [p.detach().clone() for p in agent._online.parameters()]
    target = [p.detach().clone() for p in agent._target.parameters()]
    assert agent.gradient_steps == 2 and any(not torch.equal(o, t) for o, t in zip(online, target, strict=True))
    agent.learn(toy_transitions(8, seed=1))  # the third step copies
    assert all(torch.equal(o, t) for o, t in zip(agent._online.parameters(), agent._target.parameters(), strict=True))
