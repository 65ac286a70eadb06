"""Workload W1: the linear contextual bandit of ``shared/bench`` (K=50 items, d=32, T=100,000).

Every registered policy that needs no item features runs, with default hyperparameters, under two
protocols on the same pre-drawn click outcomes:

- online (``batch`` 1): decide for one context, observe ``R[t, chosen]``, update with that one row;
- batches of 1,000 (``batch`` 1000): decide for 1,000 contexts at once, then update with their outcomes.

A policy whose online loop would run past the time cap (``--max-seconds``, 60 s by default) is measured
on the rounds it finished in that time, and the line says so (``"rounds"`` < T, ``"capped": true``);
nothing is extrapolated.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from abrec.envs import LinearBandit, run_bandit
from abrec.policies import make_policy, registered_policies

FILE_NAME = "linear_bandit_K50_d32_T100k.npz"
UNIFORM_REWARD_REF = 5982
BATCH = 1000

T_ROUNDS = 100_000  # rounds in the W1 file


@dataclass(frozen=True)
class Options:
    """What to run: ``rounds`` (None = all T), ``policies`` (None = all eligible), seeds, time cap (s);
    ``peers``: also run the peers side by side (``w1_peers``, ``ope_peers``), ``repeats`` times each."""

    rounds: int | None = None
    policies: tuple[str, ...] | None = None
    seeds: tuple[int, ...] = (0,)
    max_seconds: float = 60.0
    peers: bool = False
    repeats: int = 1


class MissingDataError(RuntimeError):
    """The shared benchmark file is not where it should be."""


def shared_dir() -> Path:
    """``$ABREC_SHARED`` if set, else ``<repo>/../shared`` (the repo being this file's grandparent)."""
    env = os.environ.get("ABREC_SHARED")
    if env:
        return Path(env).expanduser().resolve()
    return Path(__file__).resolve().parents[1].parent / "shared"


def data_path() -> Path:
    return shared_dir() / "bench" / FILE_NAME


def load(path: Path | None = None) -> LinearBandit:
    """Load W1 (the logic of ``shared/bench/make_linear_bandit.py``'s ``load``), contexts as float64."""
    path = path or data_path()
    if not path.is_file():
        raise MissingDataError(
            f"W1 data file not found: {path}. It lives in the shared folder next to the repository "
            "(<repo>/../shared/bench/); set ABREC_SHARED to the folder that holds bench/ if it is elsewhere, "
            "or regenerate it with: python make_linear_bandit.py --seed 0"
        )
    with np.load(path) as z:
        _, k = z["R_shape"]
        R = np.unpackbits(z["R_packed"], axis=1, count=int(k))
        X = z["X"].astype(np.float64)
        theta = z["theta"].astype(np.float64)
        oracle = z["oracle"].astype(np.int64)
    return LinearBandit(X, theta, R, oracle)


def _import_policy_modules() -> None:
    """Import every module of ``abrec.policies`` so that each ``@register``-ed policy is in the registry."""
    import abrec.policies

    for module in pkgutil.iter_modules(abrec.policies.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"abrec.policies.{module.name}")


def eligible(options: Options) -> tuple[list[str], list[tuple[str, str]]]:
    """Policies to run, and (name, reason) of those skipped."""
    registry = registered_policies()
    names = list(options.policies) if options.policies is not None else list(registry)
    run, skipped = [], []
    for name in names:
        cls = registry[name]  # unknown names were rejected by run.py
        if cls.uses_item_features:
            skipped.append((name, "reads item features (uses_item_features); W1 has none"))
        else:
            run.append(name)
    return run, skipped


def _warm_up(name: str, d: int, k: int) -> None:
    """Compile numba kernels (decide/update, one row and a batch) on a throwaway instance."""
    rng = np.random.default_rng(12345)
    policy = make_policy(name, seed=1)
    cands = np.arange(k, dtype=np.int64)
    for n in (1, 1, 1, BATCH, 1):
        x = rng.standard_normal((n, d))
        dec = policy.decide(cands, x)
        policy.update(dec.feedback(rng.integers(0, 2, n).astype(np.float64), x))


def _summary(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def run(options: Options) -> Iterator[dict[str, Any]]:
    """Yield one result dict per (policy, protocol), then the skipped policies."""
    data = load()
    _import_policy_modules()
    T = data.X.shape[0]
    total = T if options.rounds is None else min(options.rounds, T)
    names, skipped = eligible(options)
    oracle_cum = np.concatenate([[0], np.cumsum(data.R[np.arange(T), data.oracle], dtype=np.int64)])
    for name in names:
        print(f"[w1] warming up {name}", file=sys.stderr, flush=True)
        _warm_up(name, data.X.shape[1], data.R.shape[1])
        for batch in (1, BATCH):
            rewards: list[float] = []
            speeds: list[float] = []
            seconds: list[float] = []
            limit = total
            for seed in options.seeds:
                policy = make_policy(name, seed=seed)
                result = run_bandit(policy, data, batch=batch, rounds=limit, max_seconds=options.max_seconds)
                done, reward, secs = result.rounds, result.reward, result.seconds
                # Every further seed runs exactly as many rounds as the first, so the numbers compare.
                limit = done
                rewards.append(reward)
                seconds.append(secs)
                speeds.append(done / secs)
                print(
                    f"[w1] {name} batch={batch} seed={seed}: {done} rounds, reward {reward}, "
                    f"{done / secs:,.0f} rounds/s",
                    file=sys.stderr,
                    flush=True,
                )
            oracle = int(oracle_cum[limit])
            reward_mean, reward_sd = _summary(rewards)
            speed_mean, speed_sd = _summary(speeds)
            line: dict[str, Any] = {
                "workload": "w1",
                "policy": name,
                "batch": batch,
                "rounds": limit,
                "rounds_per_s": round(speed_mean, 1),
                "reward": rewards[0] if len(rewards) == 1 else round(reward_mean, 1),
                "oracle_reward": oracle,
                "regret": round(oracle - reward_mean, 1) if len(rewards) > 1 else oracle - int(rewards[0]),
                "seconds": round(statistics.fmean(seconds), 3),
            }
            if len(options.seeds) == 1:
                line["seed"] = options.seeds[0]
            else:
                line.update(
                    seeds=list(options.seeds),
                    reward_sd=round(reward_sd, 1),
                    rewards=[int(r) for r in rewards],
                    rounds_per_s_sd=round(speed_sd, 1),
                )
            if limit < total:
                line["capped"] = True
                line["note"] = f"stopped after {options.max_seconds:g} s; measured on the first {limit} rounds only"
            line["uniform_reward_ref"] = UNIFORM_REWARD_REF
            yield line
    for name, reason in skipped:
        yield {"workload": "w1", "policy": name, "skipped": reason}
