"""The DQN agent: double DQN learns the long-term choice, same data gives the same network, exact state files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from _toy import FEATURES, FRESH, ITEMS, toy_transitions

from _shared import require_module
from abrec.agents import DQNAgent, Transitions
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


@pytest.mark.parametrize("all_bootstrap", [False, True])
@pytest.mark.parametrize("double", [True, False])
def test_the_targets_are_the_textbook_ones_over_every_next_candidate(double: bool, all_bootstrap: bool) -> None:
    # The fast path values only the picked next candidate and skips samples that do not bootstrap; the
    # textbook targets evaluate both networks at every next candidate of every sample.
    agent = _trained(0.9, double=double, id_buckets=8)
    agent._target.hidden2.weight.data.mul_(0.5)  # the two networks differ
    rng = np.random.default_rng(3)
    n, m, p = 32, 5, FEATURES.shape[1]
    s2 = torch.as_tensor(rng.normal(size=(n, 2)), dtype=torch.float32)
    f2 = torch.as_tensor(rng.normal(size=(n, m, p)), dtype=torch.float32)
    mask = torch.as_tensor(rng.random((n, m)) < 0.7)
    mask[:, 0] = True
    if not all_bootstrap:
        mask[:4] = False  # sessions that ended
    rows2 = torch.as_tensor(rng.integers(-1, 8, size=(n, m)))
    g = torch.as_tensor(rng.normal(size=n), dtype=torch.float32)
    disc = torch.as_tensor(np.where(rng.random(n) < 0.3 * (not all_bootstrap), 0.0, 0.9), dtype=torch.float32)
    with torch.no_grad():
        q_target = agent._target(s2, f2, rows2).masked_fill(~mask, -torch.inf)
        q_online = agent._online(s2, f2, rows2).masked_fill(~mask, -torch.inf)
        best = q_target.gather(1, q_online.argmax(dim=1, keepdim=True)).squeeze(1) if double else q_target.max(1).values
        expected = g + disc * torch.where(mask.any(dim=1), best, torch.zeros_like(best))
    np.testing.assert_allclose(agent._bootstrapped(g, disc, s2, f2, mask, rows2).numpy(), expected.numpy(), atol=1e-6)


def _with_ids(t: Transitions) -> Transitions:
    shown = np.where(t.item_features[:, :, 0] > 0.5, "A", "B")
    return t._replace(items=shown, next_items=np.broadcast_to(ITEMS, t.next_mask.shape).copy())


def test_per_item_offsets_take_their_own_step_size_and_round_trip(tmp_path: Path) -> None:
    agents = []
    for extra in ({}, {"id_learning_rate": 0.05}):
        agent = DQNAgent(gamma=0.0, hidden=16, id_buckets=8, learning_rate=1e-3, seed=0, **extra)  # type: ignore[arg-type]
        for i in range(10):
            agent.learn(_with_ids(toy_transitions(64, seed=i, gamma=0.0)))
        agents.append(agent)
    slow, fast = agents
    assert [g["lr"] for g in fast._optimizer.param_groups] == [1e-3, 0.05]
    # Only items A and B (rows 0 and 1) have records: their offsets moved further with the larger step.
    assert (fast._online.item_bias[:2].abs() > 3 * slow._online.item_bias[:2].abs()).all()
    fast.save(str(tmp_path / "fast.npz"))
    loaded = Policy.load(str(tmp_path / "fast.npz"))
    assert isinstance(loaded, DQNAgent) and loaded._optimizer.param_groups[1]["lr"] == 0.05
    batch = _with_ids(toy_transitions(64, seed=200, gamma=0.0))
    fast.learn(batch)
    loaded.learn(batch)
    states = np.random.default_rng(1).normal(size=(4, 2))
    np.testing.assert_array_equal(loaded.q_values(states, FEATURES), fast.q_values(states, FEATURES))
