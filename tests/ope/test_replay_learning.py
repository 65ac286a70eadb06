"""Replay of learning policies (Li et al. 2011): unbiased for fixed policies, equal in law to online runs."""

from __future__ import annotations

import pickle
from typing import Any, ClassVar

import numpy as np
import pytest

from abrec.errors import InputError, ParameterError
from abrec.ope import ReplayResult, replay_learning, replay_slates
from abrec.ope.feedback import LoggedFeedback
from abrec.policies import BernoulliThompson, Policy, Request, UniformRandom

M, K, D, POOL = 4, 2, 3, 40
Z = 4.5  # tolerance in standard errors


class FixedLinear(Policy):
    """A contextual policy that never learns: rank items by ``x . w_item`` (test double)."""

    name: ClassVar[str] = "fixed_linear"
    contextual: ClassVar[bool] = True

    def __init__(self, weights: np.ndarray, *, seed: Any = None) -> None:
        self.weights = weights
        super().__init__(seed=seed)

    def _extra_params(self) -> tuple[str, ...]:
        return ("weights",)

    def _scores(self, req: Request) -> np.ndarray:
        assert req.contexts is not None
        w = self.weights[req.candidates]  # (m, d) for shared candidates, (n, m, d) per request
        scores: np.ndarray = req.contexts @ w.T if w.ndim == 2 else np.einsum("nd,nmd->nm", req.contexts, w)
        return scores

    def _update(self, *args: Any) -> None:
        return None


def _world(k: int = K) -> tuple[np.ndarray, np.ndarray, FixedLinear, float]:
    """A context pool, click probabilities q[context, action, position], a fixed policy and its true value."""
    rng = np.random.default_rng(2024)
    pool = rng.normal(size=(POOL, D))
    beta = rng.normal(size=(M, D))
    bias = np.array([1.0, 0.6])[:k]
    q = (1 / (1 + np.exp(-(pool @ beta.T))))[:, :, None] * bias[None, None, :]
    policy = FixedLinear(beta + rng.normal(scale=0.8, size=(M, D)))  # good, not perfect
    items = policy.decide(np.arange(M), pool, k=k).items  # deterministic: no ties
    truth = float(np.mean([q[i, items[i, j], j] for i in range(POOL) for j in range(k)]))
    return pool, q, policy, truth


def _log(pool: np.ndarray, q: np.ndarray, n: int, seed: int, logging: np.ndarray | None = None) -> LoggedFeedback:
    rng = np.random.default_rng(seed)
    k = q.shape[2]
    ctx = rng.integers(0, POOL, size=n)
    position = rng.integers(0, k, size=n)
    mu = np.full(M, 1.0 / M) if logging is None else logging
    action = rng.choice(M, size=n, p=mu)
    reward = (rng.random(n) < q[ctx, action, position]).astype(float)
    return LoggedFeedback.from_arrays(
        action=action, reward=reward, propensity=mu[action], position=position, context=pool[ctx], n_actions=M
    )


def _calibrated(results: list[ReplayResult], truth: float) -> None:
    values = np.array([r.value for r in results])
    bias_se = values.std(ddof=1) / np.sqrt(values.size)
    assert abs(values.mean() - truth) < Z * bias_se, (values.mean(), truth, bias_se)
    covered = np.mean([r.ci[0] <= truth <= r.ci[1] for r in results])
    assert abs(covered - 0.95) < Z * np.sqrt(0.95 * 0.05 / len(results)), covered


def test_fixed_policy_replay_is_unbiased_and_its_interval_covers() -> None:
    pool, q, policy, truth = _world()
    n = 2000
    results = [replay_learning(policy, _log(pool, q, n, seed), batch_size=n, seed=seed) for seed in range(300)]
    assert abs(np.mean([r.n_accepted for r in results]) - n / M) < Z * np.sqrt(n * (1 / M) * (1 - 1 / M) / 300)
    _calibrated(results, truth)


def test_exact_replay_equals_batched_replay_for_a_deterministic_fixed_policy() -> None:
    pool, q, policy, _ = _world()
    log = _log(pool, q, 1500, seed=1)
    exact = replay_learning(policy, log, seed=0)
    batched = replay_learning(policy, log, batch_size=1500, seed=5)
    np.testing.assert_array_equal(exact.accepted, batched.accepted)
    assert exact.value == batched.value
    slots = policy.decide(np.arange(M), log.context, k=K).slots
    accepted = np.flatnonzero(slots[np.arange(1500), log.position] == log.action)
    np.testing.assert_array_equal(exact.accepted, accepted)


def test_rejection_sampling_recovers_the_value_from_a_non_uniform_log() -> None:
    pool, q, policy, truth = _world(k=1)
    mu = np.array([0.1, 0.2, 0.3, 0.4])
    n, seeds = 3000, 200
    results = [
        replay_learning(policy, _log(pool, q, n, seed, logging=mu), batch_size=n, min_propensity=0.1, seed=seed)
        for seed in range(seeds)
    ]
    assert abs(np.mean([r.n_accepted for r in results]) - 0.1 * n) < Z * np.sqrt(n * 0.1 * 0.9 / seeds)
    _calibrated(results, truth)


MEANS = np.array([0.1, 0.2, 0.3, 0.4, 0.7])
T = 120  # rounds compared between replay and online runs
SEEDS = 50


@pytest.fixture(scope="module")
def ts_replays() -> list[ReplayResult]:
    out = []
    for seed in range(SEEDS):
        rng = np.random.default_rng(10_000 + seed)
        action = rng.integers(0, MEANS.size, size=1000)
        reward = (rng.random(1000) < MEANS[action]).astype(float)
        log = LoggedFeedback.from_arrays(action=action, reward=reward, propensity=1 / MEANS.size, n_actions=MEANS.size)
        out.append(replay_learning(BernoulliThompson(), log, seed=seed))
    return out


def test_learning_policy_replay_scores_above_uniform(ts_replays: list[ReplayResult]) -> None:
    values = np.array([r.value for r in ts_replays])
    uniform = MEANS.mean()
    assert values.mean() - uniform > Z * values.std(ddof=1) / np.sqrt(values.size)
    # and it learns: the second half of the curve beats the first
    late = np.array([r.curve[-1] * r.n_accepted - r.curve[T - 1] * T for r in ts_replays]) / np.array(
        [r.n_accepted - T for r in ts_replays]
    )
    early = np.array([r.curve[T - 1] for r in ts_replays])
    assert (late - early).mean() > Z * (late - early).std(ddof=1) / np.sqrt(SEEDS)


def test_learning_policy_replay_matches_its_online_runs(ts_replays: list[ReplayResult]) -> None:
    # Li et al. (2011), Theorem 1: the first T accepted rows are distributed as T online rounds.
    assert min(r.n_accepted for r in ts_replays) >= T
    replayed = np.array([r.curve[T - 1] for r in ts_replays])
    online = np.empty(SEEDS)
    for seed in range(SEEDS):
        rng = np.random.default_rng(20_000 + seed)
        policy = BernoulliThompson(propensity_draws=1, seed=seed)
        total = 0.0
        for _ in range(T):
            decision = policy.decide(np.arange(MEANS.size))
            reward = float(rng.random() < MEANS[decision.items[0, 0]])
            policy.update(decision.feedback([reward]))
            total += reward
        online[seed] = total / T
    se = np.sqrt(replayed.var(ddof=1) / SEEDS + online.var(ddof=1) / SEEDS)
    assert abs(replayed.mean() - online.mean()) < Z * se, (replayed.mean(), online.mean(), se)


def test_batched_replay_runs_and_accepts_about_one_row_in_n_actions() -> None:
    pool, q, _, _ = _world()
    log = _log(pool, q, 4000, seed=7)
    result = replay_learning(BernoulliThompson(), log, batch_size=100, seed=0)
    assert abs(result.n_accepted - 1000) < Z * np.sqrt(4000 * 0.25 * 0.75)
    assert result.curve.shape == (result.n_accepted,) and result.policy == "bernoulli_ts"
    assert np.all(np.diff(result.accepted) > 0)


def test_policy_is_not_changed_and_seed_reproduces() -> None:
    pool, q, _, _ = _world()
    log = _log(pool, q, 600, seed=8)
    policy = BernoulliThompson(seed=3)
    before = pickle.dumps(policy)
    first = replay_learning(policy, log, seed=11)
    assert pickle.dumps(policy) == before
    again = replay_learning(policy, log, seed=11)
    np.testing.assert_array_equal(first.accepted, again.accepted)
    assert first.value == again.value


def test_result_record() -> None:
    r = ReplayResult.from_rewards(np.array([0.0, 1.0, 1.0]), np.array([2, 4, 9]), n_rows=12, policy="x", level=0.9)
    assert r.value == pytest.approx(2 / 3) and r.acceptance_rate == 0.25
    np.testing.assert_allclose(r.curve, [0.0, 0.5, 2 / 3])
    lo, hi = r.confidence_interval(0.9)
    assert r.confidence_interval(0.9) == r.ci == r.confidence_interval() and lo < r.value < hi
    assert r.confidence_interval(0.99)[1] > hi
    with pytest.raises(ParameterError, match="'level' parameter"):
        r.confidence_interval(1.0)
    empty = ReplayResult.from_rewards(np.zeros(0), np.zeros(0, dtype=np.int64), n_rows=5, policy="x")
    assert empty.n_accepted == 0 and np.isnan(empty.value) and empty.curve.shape == (0,)


def test_non_uniform_log_needs_min_propensity() -> None:
    pool, q, policy, _ = _world(k=1)
    log = _log(pool, q, 200, seed=9, logging=np.array([0.1, 0.2, 0.3, 0.4]))
    with pytest.raises(InputError, match="uniformly random"):
        replay_learning(policy, log)
    with pytest.raises(InputError, match="bound every logging propensity"):
        replay_learning(policy, log, min_propensity=0.15)
    with pytest.raises(ParameterError, match="'min_propensity' parameter"):
        replay_learning(policy, log, min_propensity=0.0)


def test_contextual_policy_on_a_log_without_context() -> None:
    log = LoggedFeedback.from_arrays(action=[0, 1], reward=[1, 0], propensity=0.5, n_actions=2)
    _, _, policy, _ = _world()
    with pytest.raises(InputError, match="no context"):
        replay_learning(policy, log)
    assert replay_learning(UniformRandom(), log).n_rows == 2


def test_replay_learning_is_replay_slates_of_one_item_over_all_actions() -> None:
    """One accept-and-learn core: a log of single (k = 1) slates over all actions replays the same either way."""
    pool, q, policy, _ = _world(k=1)
    mu = np.array([0.1, 0.2, 0.3, 0.4])
    for logging, bound in ((None, None), (mu, 0.1)):
        log = _log(pool, q, 1000, seed=12, logging=logging)
        assert log.context is not None
        learning = replay_learning(policy, log, batch_size=1000, min_propensity=bound, seed=4)
        slates = replay_slates(
            policy,
            log.context,
            np.tile(np.arange(M), (1000, 1)),
            log.action[:, None],
            log.reward[:, None],
            log.propensity[:, None],
            batches=np.zeros(1000, dtype=np.int64),
            min_propensity=bound,
            seed=4,
        )
        np.testing.assert_array_equal(learning.accepted, slates.accepted)
        assert learning.value == slates.value
