"""Position-wise replay of logged slates from per-request candidate sets: uniform logs, and skewed ones (rejection)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from abrec.errors import InputError, ParameterError
from abrec.ope import replay_slates
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
    """n requests, each with M distinct candidates out of N_ITEMS and a uniformly random slate of K of them.

    Returns contexts, candidates, shown, rewards and the logged propensities (all 1 / M).
    """
    candidates = np.argsort(rng.random((n, N_ITEMS)), axis=1)[:, :M]
    order = np.argsort(rng.random((n, M)), axis=1)[:, :K]
    shown = np.take_along_axis(candidates, order, axis=1)
    rewards = (rng.random((n, K)) < attraction[shown] * THETA).astype(np.float64)
    contexts = rng.normal(size=(n, 3))
    return contexts, candidates, shown, rewards, np.full((n, K), 1.0 / M)


def test_bad_shapes_are_input_errors() -> None:
    rng = np.random.default_rng(0)
    x, c, s, r, p = uniform_log(rng, 10, np.full(N_ITEMS, 0.2))
    policy = UniformRandom(seed=0)
    with pytest.raises(InputError):
        replay_slates(policy, x[:9], c, s, r, p)  # contexts of another length
    with pytest.raises(InputError):
        replay_slates(policy, x[:, 0], c, s, r, p)  # 1-d contexts
    with pytest.raises(InputError):
        replay_slates(policy, x, c, s, r[:, :1], p)  # rewards unlike the slates
    with pytest.raises(InputError):
        replay_slates(policy, x, c, s, r, p[:, :1])  # propensities unlike the slates
    with pytest.raises(InputError):
        replay_slates(policy, x, c, s[:5], r[:5], p[:5])  # slates of fewer requests
    with pytest.raises(InputError, match="candidates"):
        replay_slates(policy, x, c[:, :1], s, r, p)  # slates longer than the candidate lists
    with pytest.raises(InputError, match="batches"):
        replay_slates(policy, x, c, s, r, p, batches=np.arange(9))
    with pytest.raises(InputError, match="batches"):
        replay_slates(policy, x, c, s, r, p, batches=np.arange(10)[::-1])
    with pytest.raises(InputError, match="propensities must be in"):
        replay_slates(policy, x, c, s, r, np.zeros_like(p))
    with pytest.raises(InputError, match="bound every logging propensity"):
        replay_slates(policy, x, c, s, r, p, min_propensity=0.5)
    with pytest.raises(ParameterError, match="'min_propensity' parameter"):
        replay_slates(policy, x, c, s, r, p, min_propensity=0.0)


def test_the_policy_is_not_changed_and_the_result_is_deterministic() -> None:
    rng = np.random.default_rng(1)
    x, c, s, r, p = uniform_log(rng, 200, np.full(N_ITEMS, 0.3))
    policy = UniformRandom(seed=0)
    state = policy._rng.bit_generator.state
    a = replay_slates(policy, x, c, s, r, p, seed=3)
    b = replay_slates(policy, x, c, s, r, p, seed=3)
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
        x, c, s, r, p = uniform_log(rng, n, attraction)
        res = replay_slates(UniformRandom(seed=seed), x, c, s, r, p, batches=np.arange(n) // 100, seed=seed)
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
        x, c, s, r, p = uniform_log(rng, n, attraction)
        batches = np.arange(n) // 150
        b = replay_slates(BestFirst(best, seed=seed), x, c, s, r, p, batches=batches, seed=seed)
        u = replay_slates(UniformRandom(seed=seed), x, c, s, r, p, batches=batches, seed=seed)
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


# ---------------------------------------------------------------- non-uniform logging: rejection sampling
SKEW = 0.7  # the logger's probability of item 0 at position 0
ATTRACTION = np.array([0.6, 0.05, 0.1, 0.15, 0.2])  # of items 0 .. M - 1


class Rotating(Policy):
    """A fixed contextual target: item ``j`` (the context's one-hot index) first, then ``j + 1``, ... (mod M)."""

    name: ClassVar[str] = "rotating"
    contextual: ClassVar[bool] = True

    def _scores(self, req: Request) -> Any:
        assert req.contexts is not None
        first = np.argmax(req.contexts, axis=1)[:, None]
        return -((req.candidates - first) % M).astype(np.float64)

    def _update(self, rows: Any, rewards: Any, contexts: Any, item_features: Any, feedback: Any) -> None:
        return None


class PropensityRecorder(Policy):
    """Random slates (all scores tie); records the propensities it is updated with (class-wide: copies share it)."""

    name: ClassVar[str] = "propensity_recorder"
    seen: ClassVar[list[np.ndarray]] = []

    def _scores(self, req: Request) -> Any:
        return np.zeros(req.candidates.shape)

    def _update(self, rows: Any, rewards: Any, contexts: Any, item_features: Any, feedback: Any) -> None:
        PropensityRecorder.seen.append(np.asarray(feedback.propensities).copy())


def skewed_log(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """Items 0 .. M-1 as every request's candidates; the logger shows item 0 at position 0 with probability SKEW
    (each other item (1 - SKEW) / (M - 1)), then one of the other M - 1 items uniformly at position 1.

    Returns one-hot contexts, candidates, shown, rewards (position-based clicks) and the logged propensities: each
    shown item's marginal probability at its position, as ``Decision.propensities`` logs it.
    """
    candidates = np.argsort(rng.random((n, M)), axis=1)  # the same items, in a random order per request
    mu0 = np.full(M, (1 - SKEW) / (M - 1))
    mu0[0] = SKEW
    first = rng.choice(M, size=n, p=mu0)
    second = (first + rng.integers(1, M, size=n)) % M
    shown = np.column_stack([first, second])
    propensities = np.column_stack([mu0[first], (1 - mu0[second]) / (M - 1)])
    rewards = (rng.random((n, K)) < ATTRACTION[shown] * THETA).astype(np.float64)
    contexts = np.eye(M)[rng.integers(0, M, size=n)]
    return contexts, candidates, shown, rewards, propensities


def test_skewed_logging_is_corrected_by_rejection_sampling() -> None:
    """Li et al. 2011, Sec. 3.2: accepting a match with probability c / p_logged removes the logger's skew.

    The old replay read every log as uniform (propensity 1/m, every match accepted): on this log it
    over-weights item 0 at position 0, where the target shows it a fifth of the time but the logger 70%.
    """
    n_seeds, n = 200, 2000
    truth = ATTRACTION.mean() * THETA.mean()  # the target puts each item at each position for 1/M of contexts
    new, old, as_uniform = [], [], []
    for seed in range(n_seeds):
        x, c, s, r, p = skewed_log(np.random.default_rng(3000 + seed), n)
        one_batch = np.zeros(n, dtype=np.int64)  # a fixed target: freezing it over the log changes nothing
        res = replay_slates(Rotating(), x, c, s, r, p, batches=one_batch, seed=seed)
        new.append(res.value)
        # the old formula: every position where the target's item is the logged one, accepted
        target = (np.argmax(x, axis=1)[:, None] + np.arange(K)) % M
        match = s == target
        old.append(r[match].mean())
        # ... which is what replay_slates does when told the log is uniform (propensities 1/m): today's result
        uniform = replay_slates(Rotating(), x, c, s, r, np.full((n, K), 1 / M), batches=one_batch, seed=seed)
        np.testing.assert_array_equal(uniform.accepted, np.flatnonzero(match.ravel()))
        as_uniform.append(uniform.value)
        # rejection thins each position to c = min propensity (0.075) of its rows on average
        assert res.n_accepted < uniform.n_accepted
    new_a, old_a = np.array(new), np.array(old)
    assert old == as_uniform
    se_new = new_a.std(ddof=1) / np.sqrt(n_seeds)
    se_old = old_a.std(ddof=1) / np.sqrt(n_seeds)
    assert abs(new_a.mean() - truth) < 4 * se_new, (new_a.mean(), truth, se_new)
    assert abs(old_a.mean() - truth) > 20 * se_old, (old_a.mean(), truth, se_old)  # ~0.28 vs 0.176: biased
    # a user-given bound equal to the smallest logged propensity is the default
    x, c, s, r, p = skewed_log(np.random.default_rng(3000), n)
    default = replay_slates(Rotating(), x, c, s, r, p, batches=np.zeros(n, dtype=np.int64), seed=0)
    given = replay_slates(
        Rotating(), x, c, s, r, p, batches=np.zeros(n, dtype=np.int64), min_propensity=float(p.min()), seed=0
    )
    np.testing.assert_array_equal(default.accepted, given.accepted)


def test_the_policy_learns_from_the_logged_propensities() -> None:
    x, c, s, r, p = skewed_log(np.random.default_rng(7), 300)
    PropensityRecorder.seen.clear()
    res = replay_slates(PropensityRecorder(seed=0), x, c, s, r, p, batches=np.arange(300) // 10, seed=1)
    assert res.n_accepted > 0
    np.testing.assert_array_equal(np.concatenate(PropensityRecorder.seen), p.ravel()[res.accepted])
    PropensityRecorder.seen.clear()
