"""Pair features: what an agent reads of each (session, candidate) pair besides the item's text.

An agent's ``decide`` / ``action_distribution`` take ``pair_features`` (n, m, q) and read them as further
item-feature columns (same propensities, same state files); ``run_sessions`` fills them from the env's
observation for agents and never for bandits; and with them a DQN learns not to show what tires the user.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from _shared import require_module
from abrec.agents import DQNAgent, StateEncoder, TabularQAgent, Transitions, run_sessions
from abrec.embeddings import ItemFeatures, PCAReducer, item_features, make_encoder
from abrec.envs import make_env
from abrec.errors import InputError
from abrec.policies import make_policy

torch = require_module("torch", "the 'llm' extra (torch) is not installed")
torch.set_num_threads(1)


def _tired_batch(n: int, m: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random states, text features and a 0/2 fatigue per candidate; a shown item clicks w.p. 0.8 exp(-fatigue)."""
    states = rng.normal(size=(n, 3))
    text = rng.normal(size=(n, m, 4))
    fatigue = np.where(rng.random((n, m)) < 0.5, 2.0, 0.0)[:, :, None]
    return states, text, fatigue


def test_pair_features_are_extra_item_columns_with_exact_propensities() -> None:
    rng = np.random.default_rng(0)
    states, text, fatigue = _tired_batch(6, 5, rng)
    cands = np.array(["a", "b", "c", "d", "e"])
    both = np.concatenate([text, fatigue], axis=2)
    for make in (lambda: TabularQAgent(seed=3), lambda: DQNAgent(hidden=8, seed=3, epsilon=0.2)):
        a, b = make(), make()
        d1 = a.decide(cands, states, k=2, item_features=text, pair_features=fatigue)
        d2 = b.decide(cands, states, k=2, item_features=both)
        np.testing.assert_array_equal(d1.slots, d2.slots)
        np.testing.assert_array_equal(d1.propensities, d2.propensities)
        law = a.action_distribution(cands, states, k=2, item_features=text, pair_features=fatigue)
        chosen = law.probabilities[np.arange(6)[:, None], d1.slots, np.arange(2)[None, :]]
        np.testing.assert_allclose(chosen, d1.propensities)
    shared = DQNAgent(hidden=8, seed=0).decide(cands, states, item_features=text[0], pair_features=fatigue)
    assert shared.slots.shape == (6, 1)  # (m, p) item features are broadcast over the requests


@pytest.mark.parametrize(
    "pairs",
    [np.zeros((6, 4, 1)), np.zeros((5, 5, 1)), np.zeros((6, 5)), np.full((6, 5, 1), np.nan)],
    ids=["columns", "rows", "2d", "nan"],
)
def test_malformed_pair_features_are_refused(pairs: np.ndarray) -> None:
    states, text, _ = _tired_batch(6, 5, np.random.default_rng(0))
    with pytest.raises(InputError, match="pair_features"):
        DQNAgent(hidden=8, seed=0).decide(np.arange(5), states, item_features=text, pair_features=pairs)


def test_a_dqn_reading_fatigue_learns_not_to_show_what_tires_the_user() -> None:
    rng = np.random.default_rng(1)
    agent = DQNAgent(gamma=0.0, hidden=16, learning_rate=3e-3, replay_ratio=4.0, seed=0)
    for _ in range(40):
        states, text, fatigue = _tired_batch(64, 1, rng)
        clicks = (rng.random(64) < 0.8 * np.exp(-fatigue[:, 0, 0])).astype(float)
        agent.learn(Transitions.terminal(states, np.concatenate([text, fatigue], axis=2)[:, 0], clicks))
    states, text, fatigue = _tired_batch(500, 6, rng)
    d = agent.decide(np.arange(6), states, item_features=text, pair_features=fatigue)
    fresh = np.take_along_axis(fatigue[:, :, 0], d.slots, axis=1) == 0
    has_fresh = (fatigue[:, :, 0] == 0).any(axis=1)
    # epsilon = 0.1 explores uniformly; the greedy choice is an untired candidate wherever there is one.
    assert fresh[has_fresh].mean() > 0.85


@pytest.fixture(scope="module")
def env_and_features() -> tuple[Any, ItemFeatures]:
    env = make_env(
        {
            "env": "abrec/SyntheticCatalog-Session-v0",
            "seed": 0,
            "world": {"n_items": 80, "click_rate": 0.3},
            "view": {"n_users": 20, "n_candidates": 6, "slate_size": 1, "max_steps": 4, "fatigue": 1.0},
        }
    )
    features = item_features(env.unwrapped.world, make_encoder("hashing", dim=32), reducer=PCAReducer(4))
    return env, features


def test_run_sessions_gives_agents_the_observed_fatigue_and_bandits_nothing(
    env_and_features: tuple[Any, ItemFeatures],
) -> None:
    env, features = env_and_features
    p = features.vectors.shape[1]
    seen: list[np.ndarray] = []

    class Spy(DQNAgent):
        def decide(self, *args: Any, **kwargs: Any) -> Any:
            seen.append(np.asarray(kwargs["pair_features"]))
            return super().decide(*args, **kwargs)

    agent, bandit = Spy(hidden=8, seed=0), make_policy("text_prior_ts", seed=0)
    encoder = StateEncoder(features, horizon=4)
    obs, _ = env.unwrapped.reset(seed=4)
    state = encoder.start(obs["context"])
    cands = np.asarray(env.unwrapped.world.item_ids)[obs["candidates"]]
    expected = encoder.pair_features(state, cands, obs["fatigue"])
    list(run_sessions(env, {"dqn": agent}, features=features, encoder=encoder, episodes=1, seed=4, log=False))
    np.testing.assert_array_equal(seen[0], expected)
    assert any(s[:, :, 0].max() > 0 for s in seen[1:])  # the observed fatigue, once something was shown
    assert agent._feature_dim == p + len(StateEncoder.PAIR_FEATURES)
    list(run_sessions(env, {"ts": bandit}, features=features, episodes=1, seed=4, log=False))
    assert bandit._feature_dim == p
    plain = DQNAgent(hidden=8, seed=0)
    list(run_sessions(env, {"dqn": plain}, features=features, episodes=1, seed=4, log=False, pair_features=False))
    assert plain._feature_dim == p
