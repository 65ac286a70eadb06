"""An agent's logs and its action distribution feed abrec's off-policy estimators unchanged.

First decisions of sessions logged by a uniformly random policy estimate, by IPW, the first-step click rate of
a trained (then frozen) agent; the estimate covers what the agent earns when it runs itself, and the same
agent's own logs re-estimate its value exactly as their mean (logging = target).
"""

from __future__ import annotations

import numpy as np

from abrec.agents import StateEncoder, TabularQAgent, run_sessions
from abrec.data.interactions import InteractionLog
from abrec.embeddings import PCAReducer, item_features, make_encoder
from abrec.envs import make_env
from abrec.ope import IPW, LoggedFeedback
from abrec.policies import UniformRandom

VIEW = {"n_users": 3000, "n_candidates": 6, "slate_size": 1, "max_steps": 1}


def _first_steps(env, features, policy, seed: int) -> InteractionLog:  # type: ignore[no-untyped-def]
    steps = run_sessions(env, {"p": policy}, features=features, episodes=1, seed=seed, learn=False)
    return InteractionLog.concat([s.log for s in steps])


def test_ipw_from_uniform_logs_covers_the_agents_own_first_step_click_rate() -> None:
    env = make_env(
        {
            "env": "abrec/SyntheticCatalog-Session-v0",
            "seed": 0,
            "world": {"n_items": 60, "click_rate": 0.3},
            "view": VIEW,
        }
    )
    features = item_features(env.unwrapped.world, make_encoder("hashing", dim=64), reducer=PCAReducer(4))
    encoder = StateEncoder(features, horizon=1)
    agent = TabularQAgent(n_state_cells=4, n_item_cells=8, warmup=500, epsilon=0.2, seed=0)
    for _ in run_sessions(env, {"a": agent}, features=features, episodes=3, seed=100, log=False):
        pass
    log = _first_steps(env, features, UniformRandom(seed=1), seed=7).frame
    ids = np.asarray(features.ids)
    action = np.searchsorted(ids, log["item"].to_numpy())
    # Step 0: each logged context is a fresh session; its candidates come back from the same env draw.
    obs, _ = env.unwrapped.reset(seed=7)
    cands = ids[obs["candidates"]]
    sessions = encoder.start(obs["context"])
    pairs = encoder.pair_features(sessions, cands, obs["fatigue"])  # what run_sessions gave the agent
    dist = agent.action_distribution(
        cands, encoder.encode(sessions), item_features=features.lookup(cands), pair_features=pairs
    )
    full = np.zeros((len(log), ids.size, 1))
    np.put_along_axis(full, np.searchsorted(ids, cands)[:, :, None], dist.probabilities, axis=1)
    feedback = LoggedFeedback.from_arrays(
        action=action, reward=log["reward"].to_numpy(), propensity=log["propensity"].to_numpy(), n_actions=ids.size
    )
    estimate = IPW().estimate(feedback, full[:, :, 0])
    own = _first_steps(env, features, agent, seed=8).frame["reward"].to_numpy()
    truth_se = own.std(ddof=1) / np.sqrt(own.size)
    gap = abs(estimate.value - own.mean())
    assert gap <= 4 * np.hypot(estimate.standard_error, truth_se), (estimate, own.mean())
    # The agent beats the logger, so the comparison is not trivially true.
    assert own.mean() > log["reward"].mean() + 4 * truth_se
