"""Position-wise replay of slates logged uniformly at random from per-request candidate sets."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from abrec.errors import InputError
from abrec.ope.learning import replay_slates
from abrec.policies import UniformRandom
from abrec.policies.base import Policy, Request

N_ITEMS, M, K = 20, 5, 2
THETA = np.array([1.0, 0.6])  # position-based click model: examination probability per position


class BestFirst(Policy):
    """Ranks a known item first whenever it is a candidate; the rest in random order. Learns nothing."""

    name: ClassVar[str] = "best_first"

    def __init__(self, best: int, *, seed: Any = None) -> None:
        self.best = best
        super().__init__(seed=seed)

    def _extra_params(self) -> tuple[str, ...]:
        return ("best",)

    def _scores(self, req: Request) -> Any:
        return (req.candidates == self.best).astype(np.float64)

    def _update(self, rows: Any, rewards: Any, contexts: Any, item_features: Any, feedback: Any) -> None:
        return None


def uniform_log(rng: np.random.Generator, n: int, attraction: np.ndarray) -> tuple[np.ndarray, ...]:
    """n requests, each with M distinct candidates out of N_ITEMS and a uniformly random slate of K of them."""
    candidates = np.argsort(rng.random((n, N_ITEMS)), axis=1)[:, :M]
    order = np.argsort(rng.random((n, M)), axis=1)[:, :K]
    shown = np.take_along_axis(candidates, order, axis=1)
    rewards = (rng.random((n, K)) < attraction[shown] * THETA).astype(np.float64)
    contexts = rng.normal(size=(n, 3))
    return contexts, candidates, shown, rewards


def test_bad_shapes_are_input_errors() -> None:
    rng = np.random.default_rng(0)
    x, c, s, r = uniform_log(rng, 10, np.full(N_ITEMS, 0.2))
    policy = UniformRandom(seed=0)
    with pytest.raises(InputError):
        replay_slates(policy, x[:9], c, s, r)  # contexts of another length
    with pytest.raises(InputError):
        replay_slates(policy, x[:, 0], c, s, r)  # 1-d contexts
    with pytest.raises(InputError):
        replay_slates(policy, x, c, s, r[:, :1])  # rewards unlike the slates
    with pytest.raises(InputError):
        replay_slates(policy, x, c, s[:5], r[:5])  # slates of fewer requests
    with pytest.raises(InputError, match="candidates"):
        replay_slates(policy, x, c[:, :1], s, r)  # slates longer than the candidate lists
    with pytest.raises(InputError, match="batches"):
        replay_slates(policy, x, c, s, r, batches=np.arange(9))
    with pytest.raises(InputError, match="batches"):
        replay_slates(policy, x, c, s, r, batches=np.arange(10)[::-1])


def test_the_policy_is_not_changed_and_the_result_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    x, c, s, r = uniform_log(rng, 200, np.full(N_ITEMS, 0.3))
    policy = UniformRandom(seed=0)
    state = policy._rng.bit_generator.state
    a = replay_slates(policy, x, c, s, r, seed=3)
    b = replay_slates(policy, x, c, s, r, seed=3)
    assert policy._rng.bit_generator.state == state
    assert a.value == b.value and np.array_equal(a.accepted, b.accepted)
    assert a.n_rows == 200 * K and a.n_accepted == a.accepted.size
    # accepted indices are request * K + position where the replayed slate matched the log
    assert len(set(a.accepted.tolist())) == a.n_accepted and (0 <= a.accepted).all() and (a.accepted < a.n_rows).all()
    assert a.value == pytest.approx(r.ravel()[a.accepted].mean())


def test_uniform_replay_is_unbiased_pooled_over_seeds() -> None:
    """A uniform policy on uniform logs: the accepted positions are a uniform sample of (request, position)."""
    n_seeds, n = 100, 600
    attraction = np.linspace(0.05, 0.6, N_ITEMS)
    truth = attraction.mean() * THETA.mean()  # random candidates, uniform positions
    accepted_rewards, n_accepted, logged = 0.0, 0, []
    for seed in range(n_seeds):
        rng = np.random.default_rng(1000 + seed)
        x, c, s, r = uniform_log(rng, n, attraction)
        res = replay_slates(UniformRandom(seed=seed), x, c, s, r, batches=np.arange(n) // 100, seed=seed)
        accepted_rewards += res.value * res.n_accepted
        n_accepted += res.n_accepted
        logged.append(r.mean())
    pooled = accepted_rewards / n_accepted
    se = np.sqrt(truth * (1 - truth) / n_accepted)
    assert abs(pooled - truth) < 4.5 * se
    # the logged mean click per position estimates the same value (much more precisely)
    logged_mean = float(np.mean(logged))
    assert abs(logged_mean - truth) < 4.5 * np.sqrt(truth * (1 - truth) / (n_seeds * n * K))
    assert abs(pooled - logged_mean) < 4.5 * se
    # each position is accepted with probability 1 / M
    total = n_seeds * n * K
    assert abs(n_accepted - total / M) < 4.5 * np.sqrt(total * (1 / M) * (1 - 1 / M))


def test_a_policy_ranking_the_best_item_first_earns_more() -> None:
    best = 0
    attraction = np.full(N_ITEMS, 0.05)
    attraction[best] = 0.6
    n_seeds, n = 10, 1500
    clicks_best, clicks_uniform, accepted_best, accepted_uniform = 0.0, 0.0, 0, 0
    for seed in range(n_seeds):
        rng = np.random.default_rng(2000 + seed)
        x, c, s, r = uniform_log(rng, n, attraction)
        batches = np.arange(n) // 150
        b = replay_slates(BestFirst(best, seed=seed), x, c, s, r, batches=batches, seed=seed)
        u = replay_slates(UniformRandom(seed=seed), x, c, s, r, batches=batches, seed=seed)
        clicks_best += b.value * b.n_accepted
        clicks_uniform += u.value * u.n_accepted
        accepted_best += b.n_accepted
        accepted_uniform += u.n_accepted
    # true values: best item present with probability M / N_ITEMS; then it sits at position 0
    present = M / N_ITEMS
    other = attraction[best + 1 :].mean()
    truth_best = (present * attraction[best] + (1 - present) * other) * THETA[0] / 2 + other * THETA[1] / 2
    truth_uniform = attraction.mean() * THETA.mean()
    mean_best, mean_uniform = clicks_best / accepted_best, clicks_uniform / accepted_uniform
    assert truth_best > truth_uniform
    assert mean_best > mean_uniform
    assert abs(mean_best - truth_best) < 4.5 * np.sqrt(truth_best * (1 - truth_best) / accepted_best)
    assert abs(mean_uniform - truth_uniform) < 4.5 * np.sqrt(truth_uniform * (1 - truth_uniform) / accepted_uniform)
