"""Agents and bandits on a session environment: every decision logged, every session-step learned, A/B readout."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from _shared import require_module
from abrec.abtest.assignment import Experiment
from abrec.abtest.readout import analyze_log
from abrec.agents import DQNAgent, StateEncoder, TabularQAgent, run_sessions
from abrec.embeddings import ItemFeatures, PCAReducer, item_features, make_encoder
from abrec.envs import make_env
from abrec.policies import UniformRandom

torch = require_module("torch", "the 'llm' extra (torch) is not installed")
torch.set_num_threads(1)

VIEW = {"n_users": 40, "n_candidates": 8, "slate_size": 2, "max_steps": 6}


@pytest.fixture(scope="module")
def env_and_features() -> tuple[Any, ItemFeatures]:
    env = make_env(
        {
            "env": "abrec/SyntheticCatalog-Session-v0",
            "seed": 0,
            "world": {"n_items": 120, "click_rate": 0.3},
            "view": VIEW,
        }
    )
    features = item_features(env.unwrapped.world, make_encoder("hashing", dim=64), reducer=PCAReducer(4))
    return env, features


def test_every_session_step_is_logged_and_learned_once(env_and_features: tuple[Any, ItemFeatures]) -> None:
    env, features = env_and_features
    agent = DQNAgent(hidden=8, n_step=3, gamma=0.8, seed=0)
    steps = list(run_sessions(env, {"dqn": agent}, features=features, episodes=2, seed=5))
    lengths = np.zeros(2 * VIEW["n_users"])
    returns = np.zeros(2 * VIEW["n_users"])
    for step in steps:
        if step.step == max(s.step for s in steps if s.episode == step.episode):
            rows = slice(step.episode * VIEW["n_users"], (step.episode + 1) * VIEW["n_users"])
            lengths[rows], returns[rows] = step.info["session_lengths"], step.info["returns"]
    # Each active session-step gives the agent exactly one n-step transition (ended, cut or complete).
    assert agent.transitions_seen == lengths.sum() > 0
    frame = pd_concat([s.log for s in steps])
    assert (frame["session_id"] == frame["unit"]).all()
    assert frame.groupby("unit")["request_id"].nunique().sum() == lengths.sum()
    totals = frame.groupby("unit", sort=False)["reward"].sum()
    units = [f"e{e}-u{i}" for e in range(2) for i in range(VIEW["n_users"])]
    np.testing.assert_array_equal(totals.reindex(units, fill_value=0.0).to_numpy(), returns)
    assert ((frame["propensity"] > 0) & (frame["propensity"] <= 1) & (frame["propensity_draws"] == 0)).all()
    assert set(frame["step"]) == set(range(VIEW["max_steps"])) or frame["step"].max() < VIEW["max_steps"]


def pd_concat(logs: list[Any]) -> Any:
    import pandas as pd

    return pd.concat([log.frame for log in logs], ignore_index=True)


def test_an_ab_test_of_agents_against_a_bandit_reads_out_from_the_log(
    env_and_features: tuple[Any, ItemFeatures],
) -> None:
    env, features = env_and_features
    experiment = Experiment.create("agents", {"random": 1.0, "tabular": 1.0, "dqn": 1.0})

    def assign(units: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
        return experiment.assign(units), dict(experiment.weights)

    policies = {
        "random": UniformRandom(seed=0),
        "tabular": TabularQAgent(warmup=50, seed=1),
        "dqn": DQNAgent(hidden=8, seed=2),
    }
    steps = list(
        run_sessions(
            env,
            policies,
            features=features,
            assign=assign,
            episodes=2,
            seed=0,
            experiment="agents",
            encoder=StateEncoder(features, decay=0.5, horizon=VIEW["max_steps"]),
        )
    )
    from abrec.data.interactions import InteractionLog

    log = InteractionLog.concat([s.log for s in steps])
    readout = analyze_log(log, control="random")
    assert readout.variants[0].variant == "random"
    assert sum(v.units for v in readout.variants) == 2 * VIEW["n_users"]
    by_variant = log.frame.groupby("variant")["unit"].nunique().to_dict()
    assert {v.variant: v.units for v in readout.variants} == by_variant
    # The per-session return of each arm is its units' mean total click count.
    per_unit = log.frame.groupby(["variant", "unit"])["reward"].sum().groupby("variant").mean()
    for v in readout.variants:
        assert v.mean == pytest.approx(per_unit[v.variant])


def test_frozen_evaluation_changes_no_policy(env_and_features: tuple[Any, ItemFeatures]) -> None:
    env, features = env_and_features
    agent = DQNAgent(hidden=8, seed=0)
    list(run_sessions(env, {"dqn": agent}, features=features, episodes=1, seed=1))
    before = agent.clone(keep_state=True)
    list(run_sessions(env, {"dqn": agent}, features=features, episodes=1, seed=2, learn=False, log=False))
    states = np.random.default_rng(0).normal(size=(3, agent._dim or 0))
    feats = np.random.default_rng(1).normal(size=(5, agent._feature_dim or 0))  # text and pair features
    np.testing.assert_array_equal(agent.q_values(states, feats), before.q_values(states, feats))
    assert agent.transitions_seen == before.transitions_seen
