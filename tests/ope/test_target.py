"""policy_action_dist: exact where the policy is deterministic, calibrated Monte Carlo elsewhere."""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from abrec.errors import InputError, ParameterError
from abrec.ope.feedback import LoggedFeedback
from abrec.ope.target import policy_action_dist
from abrec.policies import (
    UCB1,
    BernoulliThompson,
    EpsilonGreedy,
    Feedback,
    HybridLinUCB,
    LinearThompson,
    LinUCB,
    Policy,
    Softmax,
    TextPriorThompson,
    UniformRandom,
    registered_policies,
)
from abrec.policies._slates import greedy_distribution

M, K, D, P = 5, 2, 3, 4  # actions, positions, context and action-feature dimensions


def _feedback(n: int = 60, seed: int = 0, context: bool = True) -> LoggedFeedback:
    rng = np.random.default_rng(seed)
    action = rng.integers(0, M, size=n)
    return LoggedFeedback.from_arrays(
        action=action,
        reward=(rng.random(n) < 0.3).astype(float),
        propensity=1.0 / M,
        position=rng.integers(0, K, size=n),
        context=rng.normal(size=(n, D)) if context else None,
        action_context=rng.normal(size=(M, P)),
        n_actions=M,
        n_positions=K,
        item_ids=np.arange(M),
    )


def _train(policy: Policy, fb: LoggedFeedback) -> Policy:
    features = None if fb.action_context is None else fb.action_context[fb.action]
    policy.update(
        Feedback(items=fb.item_ids[fb.action], rewards=fb.reward, contexts=fb.context, item_features=features)
    )
    return policy


def _z(estimate: np.ndarray, truth: np.ndarray, n_draws: int) -> np.ndarray:
    se = np.sqrt(truth * (1 - truth) / n_draws)
    return np.where(se > 0, (estimate - truth) / np.where(se > 0, se, 1.0), np.where(estimate == truth, 0.0, np.inf))


@pytest.mark.parametrize("name", sorted(registered_policies()))
def test_every_registered_policy_gives_row_distributions(name: str) -> None:
    fb = _feedback(n=30, seed=1)
    policy = _train(registered_policies()[name](seed=0), fb)
    dist = policy_action_dist(policy, fb, n_draws=40, batch_size=100, seed=2)
    assert dist.shape == (fb.n_rows, M)
    assert (dist >= 0).all()
    np.testing.assert_allclose(dist.sum(axis=1), 1.0, atol=1e-12)


def test_greedy_distribution_splits_ties() -> None:
    scores = np.array([[0.1, 0.5, 0.5, 0.2, np.inf], [1.0, 1.0, 1.0, 1.0, 1.0]])
    dist = greedy_distribution(scores, 3)
    at0, at2 = dist[:, :, 0], dist[:, :, 2]
    np.testing.assert_allclose(at0, np.array([[0, 0, 0, 0, 1], [0.2] * 5]))
    np.testing.assert_allclose(at2, np.array([[0, 0.5, 0.5, 0, 0], [0.2] * 5]))


@pytest.mark.parametrize("policy", [LinUCB(alpha=0.3, seed=0), HybridLinUCB(alpha=0.3, seed=0), EpsilonGreedy(0.3)])
def test_exact_distribution_matches_the_decisions_propensities(policy: Policy) -> None:
    fb = _feedback(n=80, seed=3)
    _train(policy, fb)
    dist = policy_action_dist(policy, fb)
    feats = fb.action_context if policy.uses_item_features else None
    decision = policy.decide(fb.item_ids, fb.context, k=K, item_features=feats)
    rows = np.arange(fb.n_rows)
    chosen = decision.slots[rows, fb.position]
    np.testing.assert_allclose(dist[rows, chosen], decision.propensities[rows, fb.position], rtol=1e-12)


def test_monte_carlo_reproduces_a_deterministic_policy_row_by_row() -> None:
    fb = _feedback(n=90, seed=17)
    policy = _train(LinUCB(alpha=0.3), fb)
    exact = policy_action_dist(policy, fb)
    assert set(np.unique(exact)) == {0.0, 1.0}  # no ties: the counts must agree exactly
    np.testing.assert_array_equal(policy_action_dist(policy, fb, method="monte_carlo", n_draws=7, batch_size=20), exact)


def test_ties_split_as_propensities_say() -> None:
    fb = _feedback(n=10, seed=4, context=False)
    dist = policy_action_dist(UCB1(), fb)  # nothing observed: every score is +inf, all tied
    np.testing.assert_allclose(dist, 1.0 / M)
    untrained = policy_action_dist(LinUCB(), _feedback(n=10, seed=4))  # equal widths for every item
    np.testing.assert_allclose(untrained, 1.0 / M)


def test_epsilon_greedy_exact_and_monte_carlo_agree_within_binomial_error() -> None:
    fb = _feedback(n=200, seed=5, context=False)
    policy = _train(EpsilonGreedy(epsilon=0.4), fb)
    exact = policy_action_dist(policy, fb)
    n_draws = 20_000
    mc = policy_action_dist(policy, fb, method="monte_carlo", n_draws=n_draws, seed=6)
    table = exact[np.unique(fb.position, return_index=True)[1]]  # one row per position
    z = _z(mc[np.unique(fb.position, return_index=True)[1]], table, n_draws)
    assert np.abs(z).max() < 4.5, np.abs(z).max()


def test_softmax_monte_carlo_matches_the_closed_form_first_slot() -> None:
    fb = LoggedFeedback.from_arrays(action=[0, 1, 2], reward=[1, 0, 0], propensity=1 / 4, n_actions=4)
    policy = Softmax(temperature=0.5, initial_value=0.0)
    policy.update(Feedback(items=np.array([0, 1, 1, 2]), rewards=np.array([1.0, 1.0, 0.0, 0.0])))
    means = np.array([0.5, 1 / 3, 0.0, 0.0])  # (total + 0) / (count + 1); item 3 never seen
    truth = np.exp(means / 0.5) / np.exp(means / 0.5).sum()
    n_draws = 50_000
    dist = policy_action_dist(policy, fb, n_draws=n_draws, seed=7)
    np.testing.assert_array_equal(dist, np.broadcast_to(dist[0], dist.shape))  # one table for all rows
    assert np.abs(_z(dist[0], truth, n_draws)).max() < 4.5


def test_contextual_monte_carlo_is_calibrated_against_rao_blackwell_propensities() -> None:
    # LinearThompson, k = 1: its decisions carry Rao-Blackwellised propensities (exact Gaussian tails);
    # with many propensity draws they are the truth to ~1e-3, which the counted draws must match.
    fb = _feedback(n=120, seed=8)
    one_slot = LoggedFeedback.from_arrays(
        action=fb.action, reward=fb.reward, propensity=fb.propensity, context=fb.context, n_actions=M
    )
    policy = _train(LinearThompson(v=1.0, propensity_draws=50_000, seed=9), fb)
    decision = policy.decide(np.arange(M), fb.context)
    n_draws = 3000
    dist = policy_action_dist(policy, one_slot, n_draws=n_draws, batch_size=50_000, seed=10)
    rows = np.arange(fb.n_rows)
    truth = decision.propensities[:, 0]
    z = (dist[rows, decision.slots[:, 0]] - truth) / np.sqrt(truth * (1 - truth) / n_draws + 1e-3**2)
    assert np.abs(z).max() < 4.5, np.abs(z).max()
    assert abs(float(np.mean(z))) < 4.5 / np.sqrt(z.size)  # no shared bias across rows


def test_context_free_policies_get_one_table_read_at_each_position() -> None:
    fb = _feedback(n=50, seed=11)
    dist = policy_action_dist(BernoulliThompson(priors={3: (5.0, 1.0)}), fb, n_draws=500)
    for j in range(K):
        rows = dist[fb.position == j]
        np.testing.assert_array_equal(rows, np.broadcast_to(rows[0], rows.shape))
    assert not np.array_equal(dist[fb.position == 0][0], dist[fb.position == 1][0])


def test_item_feature_policies_read_the_action_context() -> None:
    fb = _feedback(n=40, seed=12)
    policy = _train(TextPriorThompson(seed=0), fb)
    dist = policy_action_dist(policy, fb, n_draws=200)
    np.testing.assert_allclose(dist.sum(axis=1), 1.0)
    no_features = LoggedFeedback.from_arrays(action=fb.action, reward=fb.reward, propensity=0.2, n_actions=M)
    with pytest.raises(InputError, match="action_context"):
        policy_action_dist(policy, no_features)


def test_the_policy_is_not_changed_and_the_seed_reproduces() -> None:
    fb = _feedback(n=40, seed=13)
    policy = _train(BernoulliThompson(seed=14), fb)
    before = pickle.dumps(policy)
    first = policy_action_dist(policy, fb, n_draws=300, seed=15)
    assert pickle.dumps(policy) == before
    np.testing.assert_array_equal(first, policy_action_dist(policy, fb, n_draws=300, seed=15))
    assert not np.array_equal(first, policy_action_dist(policy, fb, n_draws=300, seed=16))


def test_contextual_policy_without_context_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no context"):
        policy_action_dist(LinUCB(), _feedback(context=False))


def test_uniform_policy_is_exactly_uniform() -> None:
    np.testing.assert_array_equal(policy_action_dist(UniformRandom(), _feedback(n=7)), np.full((7, M), 1 / M))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_draws": 0}, "'n_draws' parameter of policy_action_dist"),
        ({"batch_size": 1.5}, "'batch_size' parameter"),
        ({"method": "mc"}, "'method' parameter"),
        ({"method": "exact"}, "samples its slates"),
    ],
)
def test_bad_parameters(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        policy_action_dist(BernoulliThompson(), _feedback(n=5), **kwargs)
