"""Workload ``sim``: simulator throughput, and the cold-start comparison on new items.

- Throughput: user-steps per second of each world's bandit view with 1,000 users per step, 50
  candidates and slates of 3 (a user-step = one user getting one slate), a fixed action, after a
  warm-up; and of the session view (1,000 concurrent sessions, 20 candidates). Each env is built
  by ``make_env``, so ``user_steps_per_s`` includes Gymnasium's standard wrappers (TimeLimit,
  OrderEnforcing, PassiveEnvChecker); ``unwrapped_user_steps_per_s`` is the same env's
  ``env.unwrapped``, timed in alternation with it (median of 3 runs each), and ``wrapper_cost``
  the fraction of throughput the wrappers take.
- Cold start: in each world, ``text_prior_ts`` (Thompson sampling whose per-item prior comes from
  the items' text embeddings: the ``auto`` encoder, MiniLM when installed, reduced by PCA to 8
  dimensions plus a constant) against context-free ``bernoulli_ts``, both learning online over the
  same episode (200 users per step, 20 candidates, slates of 3, 100 steps; new items arrive during
  it; 100 propensity draws each). Each line carries the cumulative clicks and impressions of new
  items after every step (``cold_clicks_curve``, ``cold_impressions_curve``), their click rate per
  impression, and all clicks.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

import w1
from abrec.embeddings import ItemFeatures
from abrec.envs import RecBanditEnv, World, make_env
from abrec.experiments import rollout
from abrec.experiments.simulation import world_item_features
from abrec.policies import BernoulliThompson, Policy, TextPriorThompson


def _throughput(env: Any, steps: int) -> float:
    """User-steps per second: users that got a slate (for sessions: the ones still active), per second."""
    env.reset(seed=0)
    action = np.tile(np.arange(env.action_space.shape[1]), (env.action_space.shape[0], 1))
    served, seconds = 0, 0.0
    for i in range(steps + 5):
        start = time.perf_counter()
        _, _, terminated, truncated, info = env.step(action)
        if i >= 5:  # warm-up steps are not timed
            seconds += time.perf_counter() - start
            served += int(np.sum(info["active"])) if "active" in info else env.action_space.shape[0]
        if terminated or truncated:
            env.reset()
    return served / seconds


def _throughputs(env: Any, steps: int, runs: int = 3) -> dict[str, Any]:
    """Median throughput of ``env`` (as make_env returns it) and of ``env.unwrapped``, timed alternately."""
    wrapped, bare = [], []
    for _ in range(runs):
        wrapped.append(_throughput(env, steps))
        bare.append(_throughput(env.unwrapped, steps))
    w, b = float(np.median(wrapped)), float(np.median(bare))
    return {"user_steps_per_s": round(w), "unwrapped_user_steps_per_s": round(b), "wrapper_cost": round(1 - w / b, 3)}


def _cold_start(world: World, policy: Policy, features: ItemFeatures, steps: int, seed: int) -> dict[str, Any]:
    env = RecBanditEnv(world, n_users=200, n_candidates=20, slate_size=3, horizon=steps, seed=seed)
    curve, shown_curve, cold_clicks, cold_shown, clicks = [], [], 0, 0, 0
    start = time.perf_counter()
    for step in rollout(env, {policy.name: policy}, features=features, seed=seed):
        new = step.info["new_items"]
        cold_clicks += int(step.info["clicks"][new].sum())
        cold_shown += int(new.sum())
        clicks += int(step.info["clicks"].sum())
        curve.append(cold_clicks)
        shown_curve.append(cold_shown)
    return {
        "cold_clicks": cold_clicks,
        "cold_impressions": cold_shown,
        "cold_click_rate": round(cold_clicks / max(cold_shown, 1), 4),
        "clicks": clicks,
        "seconds": round(time.perf_counter() - start, 2),
        "cold_clicks_curve": curve,
        "cold_impressions_curve": shown_curve,
    }


def run(options: w1.Options) -> Iterator[dict[str, Any]]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    worlds: dict[str, tuple[str, dict[str, Any]]] = {"synthetic_catalog": ("SyntheticCatalog", {"n_items": 1000})}
    folder = w1.shared_dir() / "data" / "ml-100k"
    if folder.is_dir():
        worlds["movielens"] = ("MovieLens", {"path": str(folder)})
    else:
        print(f"[sim] MovieLens not found at {folder}: skipping its world", file=sys.stderr)
    built: dict[str, World] = {}
    for name, (world_id, world_args) in worlds.items():
        config = {"seed": 0, "world": world_args}
        view = {"n_users": 1000, "n_candidates": 50, "slate_size": 3}
        bandit = make_env({**config, "env": f"abrec/{world_id}-Bandit-v0", "view": view})
        built[name] = bandit.unwrapped.world
        yield {
            "workload": "sim",
            "world": name,
            "view": "bandit",
            "users_per_step": 1000,
            "candidates": 50,
            **_throughputs(bandit, 200),
            "target": 1_000_000 if name == "synthetic_catalog" else None,
        }
        view = {"n_users": 1000, "n_candidates": 20, "slate_size": 3, "max_steps": 10_000}
        session = make_env({**config, "env": f"abrec/{world_id}-Session-v0", "view": view})
        yield {
            "workload": "sim",
            "world": name,
            "view": "session",
            "users_per_step": 1000,
            "candidates": 20,
            **_throughputs(session, 30),
        }
    for name, world in built.items():
        features, identity = world_item_features(
            world, "auto", 8, notify=lambda line: print(f"[sim] {line}", file=sys.stderr)
        )
        for seed in options.seeds:
            policies: tuple[Policy, ...] = (
                TextPriorThompson(propensity_draws=100, seed=seed),
                BernoulliThompson(propensity_draws=100, seed=seed),
            )
            for policy in policies:
                print(f"[sim] cold start: {name} {policy.name} seed {seed}", file=sys.stderr, flush=True)
                result = _cold_start(world, policy, features, steps=100, seed=seed)
                yield {
                    "workload": "sim",
                    "world": name,
                    "comparison": "cold_start",
                    "policy": policy.name,
                    "encoder": identity if policy.uses_item_features else None,
                    "seed": seed,
                    **result,
                }
