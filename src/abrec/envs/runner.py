"""Run a policy against a bandit with pre-drawn rewards: decide, observe, update."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..errors import InputError
from ..policies.base import Policy
from ..policies.records import Feedback
from .linear_bandit import LinearBandit


@dataclass(frozen=True, slots=True)
class BanditRun:
    """Outcome of :func:`run_bandit`: totals, speed, and the cumulative reward after each round."""

    policy: str
    batch: int
    rounds: int
    reward: int
    oracle_reward: int
    seconds: float
    cumulative_reward: npt.NDArray[np.int64]

    @property
    def regret(self) -> int:
        return self.oracle_reward - self.reward

    @property
    def rounds_per_s(self) -> float:
        return self.rounds / self.seconds if self.seconds > 0 else float("inf")


def run_bandit(
    policy: Policy,
    bandit: LinearBandit,
    batch: int = 1,
    rounds: int | None = None,
    progress: Callable[[int], None] | None = None,
    max_seconds: float | None = None,
) -> BanditRun:
    """Run ``policy`` on ``bandit`` for ``rounds`` rounds (default all), ``batch`` contexts at a time.

    ``batch=1`` is the online loop (decide for one context, observe its click, update); larger
    batches decide for ``batch`` contexts at once, then update with all their outcomes.
    ``progress(rounds_done)`` is called after each batch (or every 1,000 online rounds). With
    ``max_seconds``, the run stops at the first check past that time (every 100 online rounds, or
    after a batch) and reports the rounds it did; nothing is extrapolated.

    Examples
    --------
    >>> from abrec.envs import make_linear_bandit
    >>> from abrec.policies import LinUCB
    >>> run = run_bandit(LinUCB(seed=0), make_linear_bandit(arms=5, dim=4, rounds=200, seed=0))
    >>> run.rounds, run.reward <= run.oracle_reward
    (200, True)
    """
    total = bandit.rounds if rounds is None else rounds
    if not 1 <= total <= bandit.rounds:
        raise InputError(f"rounds must be in [1, {bandit.rounds}]. Got {rounds}.")
    if batch < 1:
        raise InputError(f"batch must be >= 1. Got {batch}.")
    X, R = bandit.X, bandit.R
    candidates = np.arange(bandit.arms)
    chosen = np.empty(total, dtype=np.int64)
    deadline = math.inf if max_seconds is None else time.perf_counter() + max_seconds
    start = time.perf_counter()
    done = 0
    if batch == 1:
        for t in range(total):
            x = X[t : t + 1]
            decision = policy.decide(candidates, x)
            a = decision.items[0]
            chosen[t] = a[0]
            policy.update(Feedback(a, R[t, a].astype(np.float64), x))
            done = t + 1
            if done % 100 == 0:
                if progress is not None and done % 1000 == 0:
                    progress(done)
                if time.perf_counter() > deadline:
                    break
    else:
        for s in range(0, total, batch):
            e = min(s + batch, total)
            x = X[s:e]
            decision = policy.decide(candidates, x)
            a = decision.items[:, 0]
            chosen[s:e] = a
            policy.update(Feedback(a, R[np.arange(s, e), a].astype(np.float64), x))
            done = e
            if progress is not None:
                progress(e)
            if time.perf_counter() > deadline:
                break
    seconds = time.perf_counter() - start
    total = done
    rewards = R[np.arange(total), chosen[:total]].astype(np.int64)
    oracle = int(R[np.arange(total), bandit.oracle[:total]].sum())
    return BanditRun(policy.name, batch, total, int(rewards.sum()), oracle, seconds, np.cumsum(rewards))
