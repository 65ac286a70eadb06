"""Workload ``rl``: session agents against bandits and a myopic oracle, and the DQN's training speed.

- ``compare``: on the SyntheticCatalog session view (256 concurrent sessions, 20 candidates, one item per
  step, up to 50 steps), with its long-term effects on (``long_term: true``: fatigue 2.0 decaying 10% a
  step, interest drift, leaving after misses) and off (``false``: no fatigue, drift or leaving, 20 steps),
  every policy learns online for ``EPISODES`` episodes (episode ``e`` of seed ``s`` resets the env with
  ``1000 s + e``); its score is the mean return per session (clicks) over the last ``EVAL_EPISODES``
  episodes. One line per (env, policy): the mean over the seeds and its 95% t interval. Policies:
  ``uniform`` (random), the myopic bandits ``text_prior_ts`` (Thompson sampling with text-predicted priors)
  and ``linucb`` (per item, on the user's context), the ``myopic_oracle`` (greedy on the true immediate
  click probability, fatigue included: it reads the simulator's hidden state), and the agents
  ``tabular_q``, ``dqn_myopic`` (gamma 0) and ``dqn`` (gamma 0.9, 3-step returns), both DQNs with a
  per-item offset besides the text features. Item features: the ``auto`` encoder (MiniLM when
  installed) reduced by PCA to 16 dimensions plus a constant.
- ``train_speed``: the same long-term env, DQN with batches of 256: environment steps (active
  session-steps) per second with the agent deciding and learning, gradient steps per second, the env's
  own speed under random actions in the same run (``env_only_steps_per_s``), and the seconds until the
  episode return first reaches 90% of its final level.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import w1
from abrec.agents import DQNAgent, TabularQAgent, run_sessions
from abrec.embeddings import ItemFeatures
from abrec.envs import make_env
from abrec.experiments.simulation import world_item_features
from abrec.policies import Policy, make_policy

EPISODES = 20
EVAL_EPISODES = 5
SEEDS = (0, 1, 2, 3, 4)
WORLD = {"n_items": 500, "click_rate": 0.2}
VIEW = {"n_users": 256, "n_candidates": 20, "slate_size": 1, "max_steps": 50}
LONG_TERM = {"fatigue": 2.0, "fatigue_decay": 0.1}
NO_LONG_TERM = {"fatigue": 0.0, "drift": 0.0, "leave_base": 0.0, "leave_per_miss": 0.0, "max_steps": 20}

Factory = Callable[[int], Policy]
POLICIES: dict[str, tuple[str, Factory | None]] = {
    "uniform": ("random", lambda s: make_policy("uniform", seed=s)),
    "text_prior_ts": ("myopic_bandit", lambda s: make_policy("text_prior_ts", propensity_draws=100, seed=s)),
    "linucb": ("myopic_bandit", lambda s: make_policy("linucb", seed=s)),
    "myopic_oracle": ("myopic_oracle", None),
    "tabular_q": ("agent", lambda s: TabularQAgent(n_state_cells=32, n_item_cells=32, warmup=2000, seed=s)),
    "dqn_myopic": ("agent", lambda s: DQNAgent(gamma=0.0, id_buckets=4096, seed=s, train_seed=s)),
    "dqn": ("agent", lambda s: DQNAgent(gamma=0.9, n_step=3, id_buckets=4096, seed=s, train_seed=s)),
}


def _say(line: str) -> None:
    print(f"[rl] {line}", file=sys.stderr, flush=True)


def _env(long_term: bool) -> Any:
    view = {**VIEW, **(LONG_TERM if long_term else NO_LONG_TERM)}
    return make_env({"env": "abrec/SyntheticCatalog-Session-v0", "seed": 0, "world": WORLD, "view": view}).unwrapped


def _features(env: Any) -> ItemFeatures:
    features, identity = world_item_features(env.world, "auto", 16, notify=_say)
    _say(f"item features: {identity}, {features.vectors.shape[1]} columns")
    return features


def _policy_returns(env: Any, features: ItemFeatures, policy: Policy, seed: int, episodes: int) -> np.ndarray:
    """Mean return per session of each episode, the policy learning online."""
    out = np.zeros(episodes)
    for step in run_sessions(env, {"p": policy}, features=features, episodes=episodes, seed=1000 * seed, log=False):
        out[step.episode] = float(step.info["returns"].mean())
    return out


def _oracle_returns(env: Any, seed: int, episodes: int) -> np.ndarray:
    """Greedy on the true immediate click probability (attraction x fatigue), one episode at a time."""
    out = np.zeros(episodes)
    for episode in range(episodes):
        obs, _ = env.reset(seed=1000 * seed + episode)
        while True:
            attraction = env.world.attraction(env.users, obs["candidates"]) * np.exp(-env.fatigue * obs["fatigue"])
            action = np.argsort(-attraction, axis=1, kind="stable")[:, : env.slate_size]
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        out[episode] = float(info["returns"].mean())
    return out


def _interval(values: list[float]) -> tuple[float, float, float]:
    from scipy import stats

    a = np.asarray(values)
    mean = float(a.mean())
    if a.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.975, a.size - 1) * a.std(ddof=1) / math.sqrt(a.size))
    return mean, mean - half, mean + half


def compare(
    seeds: tuple[int, ...],
    episodes: int,
    names: tuple[str, ...] | None = None,
    regimes: tuple[bool, ...] = (True, False),
) -> Iterator[dict[str, Any]]:
    for long_term in regimes:
        env = _env(long_term)
        features = _features(env)
        for name, (kind, factory) in POLICIES.items():
            if names is not None and name not in names:
                continue
            scores, curves, seconds = [], [], 0.0
            for seed in seeds:
                start = time.perf_counter()
                if factory is None:
                    per_episode = _oracle_returns(env, seed, episodes)
                else:
                    per_episode = _policy_returns(env, features, factory(seed), seed, episodes)
                seconds += time.perf_counter() - start
                scores.append(float(per_episode[-EVAL_EPISODES:].mean()))
                curves.append(per_episode.round(4).tolist())
                _say(
                    f"long_term={long_term} {name} seed {seed}: {scores[-1]:.3f} ({time.perf_counter() - start:.0f} s)"
                )
            mean, low, high = _interval(scores)
            yield {
                "bench": "rl",
                "case": "compare",
                "env": "abrec/SyntheticCatalog-Session-v0",
                "policy": name,
                "kind": kind,
                "long_term": long_term,
                "return_mean": round(mean, 4),
                "ci_low": round(low, 4),
                "ci_high": round(high, 4),
                "seeds": len(seeds),
                "returns": [round(s, 4) for s in scores],
                "episodes": episodes,
                "eval_episodes": EVAL_EPISODES,
                "return_curves": curves,
                "seconds": round(seconds, 1),
            }


def train_speed(episodes: int) -> dict[str, Any]:
    env = _env(True)
    features = _features(env)
    rng = np.random.default_rng(0)
    start, steps = time.perf_counter(), 0
    for episode in range(episodes):
        obs, _ = env.reset(seed=episode)
        while True:
            steps += int(obs["active"].sum())
            obs, _, terminated, truncated, _ = env.step(
                rng.integers(0, VIEW["n_candidates"], size=(VIEW["n_users"], 1))
            )
            if terminated or truncated:
                break
    env_only = steps / (time.perf_counter() - start)
    agent = DQNAgent(gamma=0.9, n_step=3, id_buckets=4096, batch_size=256, seed=0, device="auto")
    start, steps, curve = time.perf_counter(), 0, []
    for step in run_sessions(env, {"dqn": agent}, features=features, episodes=episodes, seed=0, log=False):
        steps += int(step.info["active"].sum())
        if step.info["active"].sum() and (
            step.step + 1 == VIEW["max_steps"] or not (step.info["active"] & ~step.info["left"]).any()
        ):
            curve.append((time.perf_counter() - start, float(step.info["returns"].mean())))
    seconds = time.perf_counter() - start
    final = float(np.mean([r for _, r in curve[-3:]])) if curve else math.nan
    reach = next((t for t, r in curve if r >= 0.9 * final), math.nan)
    return {
        "bench": "rl",
        "case": "train_speed",
        "agent": "dqn",
        "batch_size": 256,
        "device": agent._torch_device(),
        "env_steps_per_s": round(steps / seconds, 1),
        "grad_steps_per_s": round(agent.gradient_steps / seconds, 1),
        "env_only_steps_per_s": round(env_only, 1),
        "share_of_env_speed": round(steps / seconds / env_only, 4),
        "seconds_to_90pct": round(reach, 1),
        "episodes": episodes,
    }


def run(options: w1.Options) -> Iterator[dict[str, Any]]:
    import torch

    torch.set_num_threads(1)
    seeds = options.seeds if len(options.seeds) > 1 else SEEDS
    episodes = options.rounds or EPISODES
    yield from compare(seeds, episodes, options.policies)
    yield train_speed(min(episodes, 10))
