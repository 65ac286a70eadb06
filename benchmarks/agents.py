"""Workload ``rl``: session agents against bandits and a myopic oracle, cold start, and the DQN's training speed.

- ``compare``: in each environment every policy learns online for ``EPISODES`` episodes (episode ``e`` of seed
  ``s`` resets the env with ``1000 s + e``); its score is the mean return per session over the last
  ``EVAL_EPISODES`` episodes. One line per (env, policy, long_term): the mean over the seeds and its 95% t
  interval. Environments (``$ABREC_BENCH_RL_ENVS``, comma-separated, default all):

  - ``synthetic``: the SyntheticCatalog session view (256 concurrent sessions, 20 candidates, one item per
    step, up to 50 steps), with its long-term effects on (``long_term: true``: fatigue 2.0 decaying 10% a
    step, interest drift, leaving after misses) and off (``false``: no fatigue, drift or leaving, 20 steps);
  - ``movielens``: the MovieLens-100K session view (``../shared/data/ml-100k`` or ``$ABREC_SHARED``), same
    view and long-term effects, on only;
  - ``interest_evolution``: RecSim's interest-evolution env (``abrec/InterestEvolution-v0``, 64 sessions,
    10 candidates, slates of 2) with ``reward="clicks"`` (the return counts clicks, so that the bandits learn
    what is scored; the published study scores watch time), its long-term effects (budget, interest
    evolution) always on.

  Policies: ``uniform`` (random), the myopic bandits ``text_prior_ts`` (Thompson sampling with
  text-predicted priors) and ``linucb`` (per item, on the user's context), the ``myopic_oracle`` (greedy on
  the true immediate click probability, fatigue included: it reads the simulator's hidden state), and the
  agents ``tabular_q``, ``dqn_myopic`` (gamma 0, epsilon 0.01) and ``dqn`` (gamma 0.9, 3-step returns, epsilon
  0.03), both DQNs with a per-item offset besides the text features, all agents reading the pair features
  (``abrec.agents.run_sessions``), and ``slateq`` (SlateQ, gamma 0.9, one-step, epsilon 0.03, same offsets).
  Item features: the ``auto`` encoder (MiniLM when installed) reduced by PCA to 16 dimensions plus a
  constant. Agents' settings were tuned on seeds 100 and 101, never on the reported seeds 0-4.
- ``cold_start``: two DQNs (gamma 0, epsilon 0.1) learn online for ``COLD_START_EPISODES`` episodes, then,
  frozen, run 2 episodes where some items are new to them: ``text`` reads the item text features, ``ids``
  only a per-item offset (``id_buckets``) over a constant feature (the pair features too, for both), so it
  cannot tell new items apart but by the fatigue it observes. Clicks per impression of a never-seen item,
  per seed (``COLD_START_SEEDS``, 0-19; the settings were chosen on seeds 100 and 101), averaged with a 95%
  t interval, and the paired difference (text minus ids, same seed, same users and candidates) with its
  95% t interval. Environments (``$ABREC_BENCH_RL_ENVS``):

  - ``synthetic``: the long-term session view, whose catalog holds back its new arrivals (20% of the items)
    in training; in evaluation every item is available, about one candidate in five new. A new item's text
    names its attributes but says "New arrival, no reviews yet." where an old one's reviews tell its quality;
  - ``interest_evolution``: training on the corpus of seed 0, evaluation on a second corpus (seed 1) of as
    many videos, all new (public ids after the first's), the users and their choice model unchanged; a
    video's text names its topic and a word for its quality ("a good video about cooking").
- ``train_speed``: the synthetic long-term env, DQN with batches of 256 (gamma 0.9, 3-step, epsilon 0.03,
  per-item offsets, learning rate 1e-3, seed 0) at replay ratios (gradient samples per new sample) 4, 2 and 1,
  and at ratio 1 with 32 hidden units instead of 64; episodes of the env alone (random slates) alternate with
  the agent's, so both see the same machine load. Environment steps (active session-steps) per second with
  the agent deciding and learning, gradient steps per second, the env's own speed (``env_only_steps_per_s``),
  their ratio (``share_of_env_speed``), the seconds until the episode return first reaches 90% of its final
  level and that final level (mean of the last 3 episodes). torch's one-off imports (``torch.optim`` loads
  ``torch._dynamo``, about 1.5 s) happen before any clock starts. Each setting runs with ``learner="inline"``
  and ``learner="process"`` (gradient steps in a forked child on the second core; the fork, and the wait for
  the child's last steps at the end of each episode, are inside the agent's time; ``$ABREC_BENCH_RL_LEARNERS``
  picks one), the process learner with ``actor_lag`` 1 and 2 (the agent decides on the weights 1 or 2 learning
  batches old, and waits for the child only when it is further behind; ``$ABREC_BENCH_RL_ACTOR_LAGS``). The
  CPU-time share counts the parent process only.

Quick runs: ``$ABREC_BENCH_RL_CASES`` (comma-separated among ``compare``, ``cold_start``, ``train_speed``),
``$ABREC_BENCH_RL_ENVS``, ``$ABREC_BENCH_RL_POLICIES`` (names above) and ``$ABREC_BENCH_RL_REGIMES``
(``long_term``, ``no_long_term``) each run a part only, e.g.
``ABREC_BENCH_RL_ENVS=synthetic ABREC_BENCH_RL_CASES=compare make bench BENCH=rl``.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import w1
from abrec.agents import DQNAgent, SlateQAgent, TabularQAgent, run_sessions
from abrec.embeddings import ItemFeatures
from abrec.envs import RecSessionEnv, make_env
from abrec.experiments.simulation import world_item_features
from abrec.policies import Policy, make_policy

EPISODES = 20
EVAL_EPISODES = 5
SEEDS = (0, 1, 2, 3, 4)
WORLD = {"n_items": 500, "click_rate": 0.2}
VIEW = {"n_users": 256, "n_candidates": 20, "slate_size": 1, "max_steps": 50}
LONG_TERM = {"fatigue": 2.0, "fatigue_decay": 0.1}
NO_LONG_TERM = {"fatigue": 0.0, "drift": 0.0, "leave_base": 0.0, "leave_per_miss": 0.0, "max_steps": 20}
IE_VIEW = {"n_users": 64, "reward": "clicks", "max_steps": 200}
COLD_START_EPISODES = 10
#: Seeds of the cold-start comparison (its settings were chosen on seeds 100 and 101).
COLD_START_SEEDS = tuple(range(20))
COLD_START_ENVS = ("synthetic", "interest_evolution")
ENVS = ("synthetic", "movielens", "interest_evolution")
ENV_IDS = {
    "synthetic": "abrec/SyntheticCatalog-Session-v0",
    "movielens": "abrec/MovieLens-Session-v0",
    "interest_evolution": "abrec/InterestEvolution-v0",
}
REGIMES = {"synthetic": (True, False), "movielens": (True,), "interest_evolution": (True,)}

Factory = Callable[[int], Policy]
POLICIES: dict[str, tuple[str, Factory | None]] = {
    "uniform": ("random", lambda s: make_policy("uniform", seed=s)),
    "text_prior_ts": ("myopic_bandit", lambda s: make_policy("text_prior_ts", propensity_draws=100, seed=s)),
    "linucb": ("myopic_bandit", lambda s: make_policy("linucb", seed=s)),
    "myopic_oracle": ("myopic_oracle", None),
    "tabular_q": ("agent", lambda s: TabularQAgent(n_state_cells=32, n_item_cells=32, warmup=2000, seed=s)),
    "dqn_myopic": ("agent", lambda s: DQNAgent(gamma=0.0, id_buckets=4096, epsilon=0.01, seed=s, train_seed=s)),
    "dqn": (
        "agent",
        lambda s: DQNAgent(gamma=0.9, n_step=3, id_buckets=4096, epsilon=0.03, seed=s, train_seed=s),
    ),
    "slateq": ("agent", lambda s: SlateQAgent(gamma=0.9, id_buckets=4096, epsilon=0.03, seed=s, train_seed=s)),
}


def _say(line: str) -> None:
    print(f"[rl] {line}", file=sys.stderr, flush=True)


def _env(name: str, long_term: bool) -> Any:
    if name == "interest_evolution":
        return make_env({"env": ENV_IDS[name], "seed": 0, "view": IE_VIEW}).unwrapped
    view = {**VIEW, **(LONG_TERM if long_term else NO_LONG_TERM)}
    world: dict[str, Any] = dict(WORLD)
    if name == "movielens":
        folder = w1.shared_dir() / "data" / "ml-100k"
        if not folder.is_dir():
            raise SystemExit(f"MovieLens-100K not found at {folder}; set ABREC_SHARED to the folder holding data/.")
        world = {"path": str(folder)}
    return make_env({"env": ENV_IDS[name], "seed": 0, "world": world, "view": view}).unwrapped


def _catalog(env: Any) -> Any:
    return getattr(env, "world", None) or env.corpus


def _features(env: Any) -> ItemFeatures:
    features, identity = world_item_features(_catalog(env), "auto", 16, notify=_say)
    _say(f"item features: {identity}, {features.vectors.shape[1]} columns")
    return features


def _policy_returns(env: Any, features: ItemFeatures, policy: Policy, seed: int, episodes: int) -> np.ndarray:
    """Mean return per session of each episode, the policy learning online."""
    out = np.zeros(episodes)
    for step in run_sessions(env, {"p": policy}, features=features, episodes=episodes, seed=1000 * seed, log=False):
        out[step.episode] = float(step.info["returns"].mean())
    return out


def _oracle_action(env: Any, obs: dict[str, Any]) -> np.ndarray:
    """Greedy on the true immediate click probability (attraction x fatigue; RecSim's own myopic slates)."""
    if hasattr(env, "myopic_slates"):
        return np.asarray(env.myopic_slates())
    attraction = env.world.attraction(env.users, obs["candidates"]) * np.exp(-env.fatigue * obs["fatigue"])
    return np.argsort(-attraction, axis=1, kind="stable")[:, : env.slate_size]


def _oracle_returns(env: Any, seed: int, episodes: int) -> np.ndarray:
    """The myopic oracle's mean return per session, one episode at a time."""
    out = np.zeros(episodes)
    for episode in range(episodes):
        obs, _ = env.reset(seed=1000 * seed + episode)
        while True:
            obs, _, terminated, truncated, info = env.step(_oracle_action(env, obs))
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
    envs: tuple[str, ...] = ENVS,
    regimes: tuple[bool, ...] = (True, False),
) -> Iterator[dict[str, Any]]:
    for env_name in envs:
        for long_term in REGIMES[env_name]:
            if long_term not in regimes:
                continue
            env = _env(env_name, long_term)
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
                        f"{env_name} long_term={long_term} {name} seed {seed}: {scores[-1]:.3f} "
                        f"({time.perf_counter() - start:.0f} s)"
                    )
                mean, low, high = _interval(scores)
                yield {
                    "bench": "rl",
                    "case": "compare",
                    "env": ENV_IDS[env_name],
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


def _new_item_click_rate(
    env: Any, features: ItemFeatures, agent: DQNAgent, seed: int, new: np.ndarray
) -> tuple[float, int]:
    """Clicks per impression of the ``new`` item rows (those never seen in training), the agent frozen."""
    shown_new = clicked_new = 0
    for step in run_sessions(
        env, {"p": agent}, features=features, episodes=2, seed=1000 * seed + 500, learn=False, log=False
    ):
        shown = np.asarray(step.info["shown"])
        hit = (shown >= 0) & new[np.maximum(shown, 0)]
        shown_new += int(hit.sum())
        clicked_new += int((hit & np.asarray(step.info["clicks"], dtype=bool)).sum())
    return clicked_new / max(shown_new, 1), shown_new


def _cold_start_worlds(env_name: str) -> tuple[Any, Any, ItemFeatures, np.ndarray]:
    """(training env, evaluation env, text features of both envs' items, which evaluation rows are new).

    ``synthetic``: the long-term session view whose catalog holds back its new arrivals (20% of the items)
    in training; in evaluation every item is available, the held-back ones being new. ``interest_evolution``:
    training on the corpus of seed 0, evaluation on a second corpus (seed 1) of as many videos, all new
    (public ids after the first corpus's), the users and their choice model unchanged.
    """
    train_env = _env(env_name, True)
    if env_name == "synthetic":
        world = train_env.world
        arrived = copy.copy(world)
        arrived.arrival = np.zeros_like(world.arrival)  # every item available: the held-back ones are new
        eval_env = RecSessionEnv(arrived, seed=0, **{**VIEW, **LONG_TERM})
        return train_env, eval_env, _features(train_env), np.asarray(world.arrival) > 0
    if env_name != "interest_evolution":
        raise SystemExit(f"cold_start runs on synthetic or interest_evolution, not {env_name}.")
    eval_env = make_env({"env": ENV_IDS[env_name], "seed": 1, "view": IE_VIEW}).unwrapped
    old, fresh = train_env.corpus, eval_env.corpus
    n = old.n_items
    eval_env.corpus = dataclasses.replace(fresh, item_ids=fresh.item_ids + n)  # rows unchanged, new public ids
    both = dataclasses.replace(
        old,
        item_ids=np.arange(2 * n),
        topic=np.concatenate([old.topic, fresh.topic]),
        quality=np.concatenate([old.quality, fresh.quality]),
        length=np.concatenate([old.length, fresh.length]),
    )
    features, identity = world_item_features(both, "auto", 16, notify=_say)  # one encoder and PCA for both
    _say(f"item features: {identity}, {features.vectors.shape[1]} columns")
    return train_env, eval_env, features, np.ones(n, dtype=bool)


def cold_start(seeds: tuple[int, ...], episodes: int, envs: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    for env_name in envs:
        if env_name not in COLD_START_ENVS:
            continue
        train_env, eval_env, text, new = _cold_start_worlds(env_name)
        ids = ItemFeatures(text.ids, np.ones((text.ids.shape[0], 1), dtype=np.float32))
        rates: dict[str, list[float]] = {"text": [], "ids": []}
        impressions: dict[str, list[int]] = {"text": [], "ids": []}
        for seed in seeds:
            for name, features, buckets in (("text", text, 0), ("ids", ids, 4096)):
                agent = DQNAgent(gamma=0.0, id_buckets=buckets, seed=seed, train_seed=seed)
                _policy_returns(train_env, features, agent, seed, episodes)
                rate, shown = _new_item_click_rate(eval_env, features, agent, seed, new)
                rates[name].append(rate)
                impressions[name].append(shown)
                _say(
                    f"cold_start {env_name} {name} seed {seed}: {rate:.4f} clicks per new-item impression "
                    f"({shown} impressions)"
                )
        difference = [t - i for t, i in zip(rates["text"], rates["ids"], strict=True)]
        diff_mean, diff_low, diff_high = _interval(difference)
        for name in ("text", "ids"):
            mean, low, high = _interval(rates[name])
            yield {
                "bench": "rl",
                "case": "cold_start",
                "env": ENV_IDS[env_name],
                "agent": f"dqn_{name}",
                "reads": "item text features" if name == "text" else "item ids only (id_buckets)",
                "clicks_per_new_item_impression": round(mean, 4),
                "ci_low": round(low, 4),
                "ci_high": round(high, 4),
                "per_seed": [round(r, 4) for r in rates[name]],
                "new_item_impressions": impressions[name],
                "seeds": len(seeds),
                "episodes": episodes,
                # Paired over the seeds (same seed, same users and candidates): text minus ids, 95% t interval.
                "paired_difference": round(diff_mean, 4),
                "paired_ci_low": round(diff_low, 4),
                "paired_ci_high": round(diff_high, 4),
                "text_ahead_in": int(sum(d > 0 for d in difference)),
            }


def _random_episode(env: Any, seed: int, rng: np.random.Generator) -> int:
    """One episode of random slates; the active session-steps it took."""
    obs, _ = env.reset(seed=seed)
    steps = 0
    while True:
        steps += int(obs["active"].sum())
        action = rng.integers(0, env.n_candidates, size=(env.n_users, env.slate_size))
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            return steps


def train_speed(
    episodes: int,
    replay_ratio: float,
    hidden: int = 64,
    seed: int = 0,
    learning_rate: float = 1e-3,
    learner: str = "inline",
    actor_lag: int = 1,
) -> dict[str, Any]:
    """DQN training speed; episodes of the env alone and of the agent alternate, so both see the same load."""
    env = _env("synthetic", True)
    features = _features(env)
    rng = np.random.default_rng(seed)
    agent = DQNAgent(
        hidden=hidden,
        learning_rate=learning_rate,
        gamma=0.9,
        n_step=3,
        id_buckets=4096,
        epsilon=0.03,
        batch_size=256,
        replay_ratio=replay_ratio,
        seed=seed,
        train_seed=seed,
        device="cpu" if learner == "process" else "auto",
        learner=learner,
        actor_lag=actor_lag,
    )
    env_seconds = agent_seconds = env_cpu = agent_cpu = 0.0
    env_steps = agent_steps = 0
    curve: list[tuple[float, float]] = []
    for episode in range(episodes):
        start, cpu = time.perf_counter(), time.process_time()
        env_steps += _random_episode(env, 1000 * seed + episode, rng)
        env_seconds += time.perf_counter() - start
        env_cpu += time.process_time() - cpu
        start, cpu = time.perf_counter(), time.process_time()
        for step in run_sessions(
            env, {"dqn": agent}, features=features, episodes=1, seed=1000 * seed + episode, log=False
        ):
            agent_steps += int(step.info["active"].sum())
            last = step
        agent.wait()  # the learner process's last steps count too (a no-op inline)
        agent_seconds += time.perf_counter() - start
        agent_cpu += time.process_time() - cpu
        curve.append((agent_seconds, float(last.info["returns"].mean())))
    final = float(np.mean([r for _, r in curve[-3:]]))
    reach = next((t for t, r in curve if r >= 0.9 * final), math.nan)
    env_only = env_steps / env_seconds
    agent.close()
    return {
        "bench": "rl",
        "case": "train_speed",
        "agent": "dqn",
        "learner": learner,
        "actor_lag": actor_lag,
        "batch_size": 256,
        "hidden": hidden,
        "replay_ratio": replay_ratio,
        "learning_rate": learning_rate,
        "seed": seed,
        "device": agent._torch_device(),
        "env_steps_per_s": round(agent_steps / agent_seconds, 1),
        "grad_steps_per_s": round(agent.gradient_steps / agent_seconds, 1),
        "env_only_steps_per_s": round(env_only, 1),
        "share_of_env_speed": round(agent_steps / agent_seconds / env_only, 4),
        # The same on the process's CPU time: what the code costs, whatever else the machine runs.
        "env_steps_per_cpu_s": round(agent_steps / agent_cpu, 1),
        "env_only_steps_per_cpu_s": round(env_steps / env_cpu, 1),
        "share_of_env_speed_cpu": round((agent_steps / agent_cpu) / (env_steps / env_cpu), 4),
        "seconds_to_90pct": round(reach, 1),
        "final_return": round(final, 4),
        "episodes": episodes,
    }


def _chosen(variable: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    raw = os.environ.get(variable, "")
    chosen = tuple(part.strip() for part in raw.split(",") if part.strip()) or allowed
    unknown = sorted(set(chosen) - set(allowed))
    if unknown:
        raise SystemExit(f"{variable}: unknown {unknown}; choose among {list(allowed)}.")
    return chosen


def run(options: w1.Options) -> Iterator[dict[str, Any]]:
    import torch

    torch.set_num_threads(1)
    # torch.optim imports torch._dynamo (about 1.5 s) the first time a process builds an optimizer: done here,
    # before any clock starts, so that train_speed run alone times what it times after the other cases.
    torch.optim.Adam([torch.zeros(1, requires_grad=True)], fused=True)
    seeds = options.seeds if len(options.seeds) > 1 else SEEDS
    episodes = options.rounds or EPISODES
    cases = _chosen("ABREC_BENCH_RL_CASES", ("compare", "cold_start", "train_speed"))
    if "compare" in cases:
        names = options.policies or _chosen("ABREC_BENCH_RL_POLICIES", tuple(POLICIES))
        regimes = _chosen("ABREC_BENCH_RL_REGIMES", ("long_term", "no_long_term"))
        envs = _chosen("ABREC_BENCH_RL_ENVS", ENVS)
        yield from compare(seeds, episodes, names, envs, tuple(r == "long_term" for r in regimes))
    if "cold_start" in cases:
        cold_seeds = options.seeds if len(options.seeds) > 1 else COLD_START_SEEDS
        envs = _chosen("ABREC_BENCH_RL_ENVS", ENVS)
        yield from cold_start(cold_seeds, min(episodes, COLD_START_EPISODES), envs)
    if "train_speed" in cases:
        learners = _chosen("ABREC_BENCH_RL_LEARNERS", ("inline", "process"))
        raw_lags = os.environ.get("ABREC_BENCH_RL_ACTOR_LAGS", "1,2")
        if not all(part.strip().isdigit() and int(part) >= 1 for part in raw_lags.split(",")):
            raise SystemExit(f"ABREC_BENCH_RL_ACTOR_LAGS: {raw_lags!r} is not a comma-separated list of integers >= 1.")
        lags = tuple(int(part) for part in raw_lags.split(","))
        for ratio, hidden in ((4.0, 64), (2.0, 64), (1.0, 64), (1.0, 32)):
            for learner in learners:
                for lag in lags if learner == "process" else (1,):
                    yield train_speed(min(episodes, 10), ratio, hidden, learner=learner, actor_lag=lag)
