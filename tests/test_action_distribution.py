"""What OPE asks of a policy: ``action_distribution``, ``clone`` and ``learns``.

The conformance suite (``check_action_distribution``, ``check_clone``) runs over every registered
policy; these tests pin the exact laws, the Monte Carlo error, the table shared by context-free
requests and the errors.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abrec.errors import InputError, ParameterError
from abrec.ope.bts import bts_action_distribution
from abrec.policies import (
    UCB1,
    ActionDistribution,
    BernoulliThompson,
    EpsilonGreedy,
    Feedback,
    LinearThompson,
    LinUCB,
    Policy,
    Softmax,
    UniformRandom,
    _slates,
    registered_policies,
)

Z = 4.5  # tolerance in binomial standard errors


def _trained_epsilon_greedy(seed: int = 0) -> EpsilonGreedy:
    policy = EpsilonGreedy(epsilon=0.3, seed=seed)
    policy.update(Feedback(items=np.array([0, 1, 2, 2, 3]), rewards=np.array([1.0, 0.0, 1.0, 1.0, 0.0])))
    return policy


# ----------------------------------------------------------------------------- learns
def test_only_the_uniform_policy_does_not_learn() -> None:
    assert {name for name, cls in registered_policies().items() if not cls.learns} == {"uniform"}


# ----------------------------------------------------------------------------- clone
def test_clone_is_fresh_with_the_same_params_and_keep_state_copies_the_state() -> None:
    policy = _trained_epsilon_greedy(seed=3)
    before = pickle.dumps(policy)
    fresh = policy.clone()
    assert type(fresh) is EpsilonGreedy and fresh.get_params() == policy.get_params() and fresh.n_items == 0
    kept = policy.clone(keep_state=True, seed=9)
    assert kept.item_ids.tolist() == policy.item_ids.tolist()
    kept.update(Feedback(items=np.array([7]), rewards=np.array([1.0])))
    kept.decide(np.arange(8), k=3)
    assert pickle.dumps(policy) == before  # the original is never touched
    assert kept._state["count"] is not policy._state["count"] and kept._rng is not policy._rng


def test_clone_keeps_the_seed_value_but_never_the_generator() -> None:
    policy = _trained_epsilon_greedy(seed=4)
    twin = _trained_epsilon_greedy(seed=4)
    clone = policy.clone(keep_state=True)
    cands = np.arange(4)
    np.testing.assert_array_equal(
        clone.decide(cands, np.zeros((50, 1))).slots, twin.decide(cands, np.zeros((50, 1))).slots
    )
    rng = np.random.default_rng(1)
    seeded = EpsilonGreedy(seed=rng)
    copy = seeded.clone(keep_state=True)
    assert copy._rng is not seeded._rng
    np.testing.assert_array_equal(copy._rng.random(3), seeded._rng.random(3))  # same state, own object
    given_generator = np.random.default_rng(2)
    assert seeded.clone(seed=given_generator)._rng is given_generator  # a Generator passed is used as it is


def test_clone_overrides_are_validated_and_unknown_names_suggest_one() -> None:
    policy = LinUCB(alpha=0.5, seed=0)
    assert policy.clone(alpha=2.0).get_params() == {"alpha": 2.0, "ridge": 1.0, "backend": "auto"}
    with pytest.raises(ParameterError, match="'alpha' parameter of LinUCB"):
        policy.clone(alpha=-1.0)
    with pytest.raises(ParameterError, match=r"LinUCB has no parameter 'alhpa'\. Did you mean 'alpha'\?"):
        policy.clone(alhpa=2.0)


def test_clone_keeps_hyperparameters_that_are_mappings_apart() -> None:
    policy = BernoulliThompson(priors={1: (3.0, 1.0)})
    clone = policy.clone()
    assert clone.priors == policy.priors and clone.priors is not policy.priors


# ----------------------------------------------------------------------------- exact laws
@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.sampled_from([-1.0, 0.0, 0.5, 2.0, np.inf]), min_size=2, max_size=7),
    data=st.data(),
)
def test_greedy_distribution_is_a_distribution_that_matches_rank_probability(
    scores: list[float], data: st.DataObject
) -> None:
    m = len(scores)
    valid = np.array(data.draw(st.lists(st.booleans(), min_size=m, max_size=m)))
    valid[data.draw(st.integers(0, m - 1))] = True
    k = data.draw(st.integers(1, int(valid.sum())))
    s = np.array([scores])
    dist = _slates.greedy_distribution(s, k, valid[None])
    np.testing.assert_allclose(dist.sum(axis=1), 1.0, atol=1e-12)
    assert not dist[0][~valid].any()
    masked = np.where(valid, s, -np.inf)
    for p in range(k):
        for j in np.flatnonzero(valid):
            slots = np.full((1, k), j)
            assert dist[0, j, p] == pytest.approx(_slates.rank_probability(masked, slots)[0, p])


def test_exact_distributions_are_the_decisions_propensities() -> None:
    cands = np.array([[0, 1, 2, 3, 4], [4, 3, 2, 1, 0]])
    mask = np.array([[True, True, False, True, True], [True, True, True, True, False]])
    x = np.random.default_rng(0).normal(size=(2, 3))
    for policy in (_trained_epsilon_greedy(), UCB1(seed=0), LinUCB(alpha=0.0, seed=0), UniformRandom(seed=0)):
        dist = policy.action_distribution(cands, x, k=2, mask=mask)
        assert dist.exact and dist.draws == 0 and not dist.standard_error.any()
        decision = policy.decide(cands, x, k=2, mask=mask)
        np.testing.assert_allclose(
            dist.probabilities[np.arange(2)[:, None], decision.slots, np.arange(2)[None, :]], decision.propensities
        )
        assert not dist.probabilities[~mask].any()


def test_softmax_first_position_is_exact_and_slates_are_counted() -> None:
    policy = Softmax(temperature=0.5, initial_value=0.0)
    policy.update(Feedback(items=np.array([0, 1, 1]), rewards=np.array([1.0, 1.0, 0.0])))
    one = policy.action_distribution(np.arange(3))
    means = np.array([1 / 2, 1 / 3, 0.0])  # (total + initial_value) / (count + 1); item 2 never seen
    truth = np.exp(means / 0.5) / np.exp(means / 0.5).sum()
    assert one.exact
    np.testing.assert_allclose(one.probabilities[0, :, 0], truth, rtol=1e-12)
    slate = policy.action_distribution(np.arange(3), k=2, n_draws=20_000, seed=1)
    assert not slate.exact and slate.draws == 20_000
    assert np.all(np.abs(slate.probabilities[0, :, 0] - truth) <= Z * np.sqrt(truth * (1 - truth) / 20_000))


# ----------------------------------------------------------------------------- Monte Carlo
def test_forced_monte_carlo_agrees_with_the_exact_law_within_its_standard_error() -> None:
    policy = _trained_epsilon_greedy()
    cands, mask = np.array([[0, 1, 2, 3]] * 2), np.array([[True] * 4, [True, False, True, True]])
    exact = policy.action_distribution(cands, k=2, mask=mask)
    counted = policy.action_distribution(cands, k=2, mask=mask, n_draws=20_000, seed=2, exact=False)
    assert counted.draws == 20_000 and not counted.exact
    p = exact.probabilities
    np.testing.assert_allclose(
        counted.standard_error, np.sqrt(counted.probabilities * (1 - counted.probabilities) / 20_000)
    )
    assert np.all(np.abs(counted.probabilities - p) <= Z * np.sqrt(p * (1 - p) / 20_000) + 1e-12)


def test_exact_true_is_refused_for_a_sampling_policy() -> None:
    with pytest.raises(ParameterError, match="samples its slates"):
        BernoulliThompson().action_distribution(np.arange(3), exact=True)
    with pytest.raises(ParameterError, match="'n_draws' parameter"):
        UCB1().action_distribution(np.arange(3), n_draws=0)


def test_context_free_requests_share_one_table() -> None:
    policy = BernoulliThompson(priors={0: (5.0, 1.0)}, seed=0)
    dist = policy.action_distribution(np.arange(4), np.zeros((6, 2)), k=2, n_draws=3000, seed=3)
    assert dist.probabilities.shape == (6, 4, 2)
    np.testing.assert_array_equal(dist.probabilities, np.broadcast_to(dist.probabilities[0], (6, 4, 2)))
    assert not dist.probabilities.flags.writeable


def test_bernoulli_thompson_counts_exactly_like_bts_action_distribution() -> None:
    alpha, beta = np.array([3.0, 1.0, 2.0, 8.0, 1.5]), np.array([5.0, 1.0, 4.0, 20.0, 9.0])
    policy = BernoulliThompson(priors={i: (a, b) for i, (a, b) in enumerate(zip(alpha, beta, strict=True))})
    dist = policy.action_distribution(np.arange(5), k=3, n_draws=12_345, seed=7)
    reference = bts_action_distribution(alpha, beta, n_positions=3, n_draws=12_345, seed=7)
    np.testing.assert_array_equal(dist.probabilities, reference.probabilities)  # one record, same numbers
    np.testing.assert_array_equal(dist.standard_error, reference.standard_error)
    assert (dist.exact, dist.draws) == (reference.exact, reference.draws) == (False, 12_345)


def test_contextual_sampling_is_counted_per_request_with_independent_draws() -> None:
    policy = LinearThompson(v=1.0, seed=0)
    x = np.random.default_rng(4).normal(size=(3, 2))
    policy.update(Feedback(items=np.array([0, 1, 2]), rewards=np.array([1.0, 0.0, 0.5]), contexts=x))
    dist = policy.action_distribution(np.arange(3), x, n_draws=20_000, seed=5)
    truth = policy.clone(keep_state=True, propensity_draws=200_000, seed=6).decide(np.arange(3), x)
    got = dist.probabilities[np.arange(3), truth.slots[:, 0], 0]
    p = truth.propensities[:, 0]  # Rao-Blackwellised: accurate to ~1e-3
    assert np.all(np.abs(got - p) <= Z * np.sqrt(p * (1 - p) / 20_000 + 1e-3**2))


# ----------------------------------------------------------------------------- the policy is left alone
@pytest.mark.parametrize("name", sorted(registered_policies()))
def test_asking_changes_nothing_and_knows_new_items(name: str) -> None:
    cls = registered_policies()[name]
    rng = np.random.default_rng(0)
    policy: Policy = cls(seed=1)
    x, f = rng.normal(size=(2, 3)), rng.normal(size=(6, 2))
    feats = {"item_features": f} if cls.uses_item_features else {}
    policy.update(
        Feedback(
            items=np.array([0, 1]),
            rewards=np.array([1.0, 0.0]),
            contexts=x,
            item_features=f[:2] if cls.uses_item_features else None,
        )
    )
    before = pickle.dumps(policy)
    dist = policy.action_distribution(np.arange(6), x, k=2, n_draws=200, **feats)  # items 2..5 are new
    assert isinstance(dist, ActionDistribution) and dist.probabilities.shape == (2, 6, 2)
    np.testing.assert_allclose(dist.probabilities.sum(axis=1), 1.0, atol=1e-12)
    assert pickle.dumps(policy) == before and policy.n_items == 2


def test_bad_requests_are_refused_as_decide_refuses_them() -> None:
    with pytest.raises(InputError, match="contextual"):
        LinUCB().action_distribution(np.arange(3))
    with pytest.raises(InputError, match="k \\(slate size\\)"):
        UCB1().action_distribution(np.arange(3), k=4)
    with pytest.raises(InputError, match="duplicate"):
        UCB1().action_distribution(np.array([1, 1, 2]))
