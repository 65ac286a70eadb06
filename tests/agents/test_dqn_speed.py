"""The DQN's fast paths compute what the slow, textbook ones do.

- the Q-network's first layer, computed from one product per state and one per candidate, is
  ``hidden1([s, f, (A s) * (B f)])`` of the concatenated inputs, with the per-item offset of known items only;
- a learning rollout hands the agent, at every step, the session states and pair features it computed for the
  previous step's transitions: they are the ones a rollout that learns nothing computes afresh.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from _shared import require_module
from abrec.agents import DQNAgent, run_sessions
from abrec.agents.dqn import _build_network
from abrec.embeddings import ItemFeatures, PCAReducer, item_features, make_encoder
from abrec.envs import make_env
from abrec.policies.records import Decision

torch = require_module("torch", "the 'llm' extra (torch) is not installed")
torch.set_num_threads(1)


def test_the_q_network_is_the_documented_mlp_over_concatenated_inputs() -> None:
    torch.manual_seed(0)
    d, p, hidden, buckets = 7, 5, 16, 8
    net = _build_network(torch, d, p, hidden, buckets)
    with torch.no_grad():
        net.item_bias.normal_()  # offsets start at 0: make them count
        gen = torch.Generator().manual_seed(1)
        s = torch.randn(6, d, generator=gen)
        f = torch.randn(6, 4, p, generator=gen)
        rows = torch.randint(-1, 20, (6, 4), generator=gen)
        states = s[:, None, :].expand(-1, 4, -1)
        cross = net.state_map(states) * net.item_map(f)
        x = torch.relu(net.hidden1(torch.cat([states, f, cross], dim=2)))
        expected = net.out(torch.relu(net.hidden2(x))).squeeze(-1)
        expected = expected + torch.where(rows >= 0, net.item_bias[rows.clamp(min=0) % buckets], 0.0)
        torch.testing.assert_close(net(s, f, rows), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(net(s, f), expected - torch.where(rows >= 0, net.item_bias[rows % buckets], 0.0))


class _Recording(DQNAgent):
    """A DQN that keeps what every decision was given (states and pair features)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.seen: list[tuple[np.ndarray, np.ndarray]] = []

    def decide(self, candidates: Any, contexts: Any = None, **kwargs: Any) -> Decision:
        self.seen.append((np.array(contexts), np.array(kwargs["pair_features"])))
        return super().decide(candidates, contexts, **kwargs)


@pytest.mark.parametrize("n_step", [1, 3])
def test_a_learning_rollout_decides_on_the_states_a_frozen_one_computes(n_step: int) -> None:
    env = make_env(
        {
            "env": "abrec/SyntheticCatalog-Session-v0",
            "seed": 0,
            "world": {"n_items": 80, "click_rate": 0.3},
            "view": {"n_users": 12, "n_candidates": 6, "slate_size": 2, "max_steps": 7, "fatigue": 1.0},
        }
    )
    features: ItemFeatures = item_features(env.unwrapped.world, make_encoder("hashing", dim=32), reducer=PCAReducer(4))
    runs = []
    for learn in (True, False):
        # learning_starts beyond the data: the learning agent stores transitions but its network never moves,
        # so both agents take the same decisions and the two rollouts visit the same states.
        agent = _Recording(hidden=8, gamma=0.9, n_step=n_step, learning_starts=10**6, seed=3)
        list(run_sessions(env, {"dqn": agent}, features=features, episodes=2, seed=4, learn=learn, log=False))
        runs.append(agent)
    learned, frozen = runs
    assert learned.transitions_seen > 0 and frozen.transitions_seen == 0
    assert len(learned.seen) == len(frozen.seen) > 7
    assert any(pairs[:, :, 0].any() for _, pairs in frozen.seen)  # fatigue is observed: the pairs vary
    for (s1, p1), (s2, p2) in zip(learned.seen, frozen.seen, strict=True):
        np.testing.assert_array_equal(s1, s2)
        np.testing.assert_array_equal(p1, p2)
