"""Thompson propensities from one posterior draw per distinct item (``_slates.sampled_items``).

A batch of requests with their own candidates (the service's batch decide) used to draw every (request,
candidate) pair's score afresh for each Monte Carlo slate; one draw per distinct item now serves every
request that shows it. Each request's estimate must stay the same unbiased estimate of its own slate
probabilities, the compiled count must equal the numpy reference, and the decisions themselves must not
share draws.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from abrec.policies import BernoulliThompson, GaussianThompson, _slates
from abrec.policies import _bts_distribution as bts
from abrec.policies.records import Feedback


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_compiled_count_equals_the_numpy_reference(k: int) -> None:
    rng = np.random.default_rng(k)
    n, m, u = 40, 5, 12
    index = np.stack([rng.choice(u, m, replace=False) for _ in range(n)])
    samples = rng.random((300, u))
    slots = np.stack([rng.permutation(m)[:k] for _ in range(n)])
    a, b = np.zeros((n, k)), np.zeros((n, k))
    bts.slate_match_counts(samples, index, slots, a, use_numba=True)
    bts.slate_match_counts(samples, index, slots, b, use_numba=False)
    np.testing.assert_array_equal(a, b)
    assert a.sum() > 0


def _exact_top1(alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """P(item i has the largest Beta draw) = integral of f_i(x) prod_{j != i} F_j(x) dx (fine grid)."""
    x = np.linspace(0.0, 1.0, 200_001)[1:-1]
    pdf = stats.beta.pdf(x[None, :], alpha[:, None], beta[:, None])
    cdf = stats.beta.cdf(x[None, :], alpha[:, None], beta[:, None])
    out = []
    for i in range(alpha.shape[0]):
        others = np.prod(np.delete(cdf, i, axis=0), axis=0)
        out.append(np.trapezoid(pdf[i] * others, x))
    return np.asarray(out)


def test_shared_draws_give_each_request_its_own_unbiased_propensity() -> None:
    # Three requests over five items, overlapping; k = 1 has an exact answer per request.
    alpha = np.array([2.0, 5.0, 3.0, 1.0, 4.0])
    beta = np.array([6.0, 5.0, 3.0, 1.0, 2.0])
    index = np.array([[0, 1, 2], [1, 2, 3], [4, 0, 3]])
    slots = np.array([[1], [2], [0]])
    n_draws = 400_000
    rng = np.random.default_rng(7)
    props = _slates.sampled_items(lambda s: rng.beta(alpha, beta, size=(s, 5)), index, slots, n_draws)
    for r in range(3):
        exact = _exact_top1(alpha[index[r]], beta[index[r]])[slots[r, 0]]
        unbiased = exact + (1.0 - exact) / (n_draws + 1)  # the estimator counts the decision's own draw
        se = np.sqrt(exact * (1 - exact) / n_draws)
        assert abs(props[r, 0] - unbiased) < 5 * se, (r, props[r, 0], exact)


@pytest.mark.parametrize("factory", [BernoulliThompson, GaussianThompson], ids=["bernoulli", "gaussian"])
def test_batch_propensities_match_per_request_draws(factory: type) -> None:
    """The policy's batch path (shared item draws) and per-request draws estimate the same slate probabilities."""
    rng = np.random.default_rng(3)
    policy = factory(propensity_draws=20_000, seed=1)
    items = np.arange(30)
    rewards = (rng.random(600) < np.linspace(0.1, 0.6, 30)[rng.integers(0, 30, 600)]).astype(float)
    shown = rng.integers(0, 30, size=600)
    policy.update(Feedback(items=shown, rewards=rewards))
    cand = np.stack([rng.choice(items, 8, replace=False) for _ in range(6)])
    shared = policy.decide(cand, k=3)
    # The same slates, each request decided alone: its propensities by its own draws (the reference path).
    alone = policy.clone(keep_state=True, seed=2)
    for r in range(cand.shape[0]):
        ref = _slates.sampled(
            lambda s, r=r: alone._sample(alone._request(cand[r : r + 1], None, 3, None, None), s),
            shared.slots[r : r + 1],
            200_000,
        )
        p = shared.propensities[r]
        se = np.sqrt(np.maximum(ref[0] * (1 - ref[0]), 1e-4) / 20_000)
        assert np.all(np.abs(p - ref[0]) < 5 * se + 1e-4), (r, p, ref[0])


def test_decisions_of_a_batch_do_not_share_draws() -> None:
    """50 identical requests in one batch: independent draws give (almost surely) many different slates."""
    policy = BernoulliThompson(propensity_draws=50, seed=0)
    cand = np.tile(np.arange(20), (50, 1))
    cand[:, [0, 1]] = cand[:, [1, 0]]  # 2-D candidates (not one shared list) that are the same for everyone
    decision = policy.decide(cand, k=3)
    distinct = {tuple(row) for row in decision.items.tolist()}
    assert len(distinct) > 40


def test_counts_are_exact_and_chunks_bound_the_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """A known table of draws: the estimate is exactly (1 + hits) / (1 + draws), whatever the chunking, and each
    chunk asks for at most _CHUNK_FLOATS // (items) draws (memory), the chunks summing to the draws asked for."""
    rng = np.random.default_rng(11)
    n_items, n_draws = 5, 23
    table = rng.random((n_draws, n_items))
    index = np.array([[0, 1, 2], [2, 3, 4], [4, 0, 1], [1, 3, 0]])
    slots = np.array([[0, 1], [2, 0], [1, 2], [0, 2]])
    gathered = table[:, index]  # (draws, requests, candidates)
    top = np.argsort(-gathered, axis=-1, kind="stable")[..., :2]
    want = ((top == slots[None]).sum(axis=0) + 1.0) / (n_draws + 1.0)
    for floats, per_chunk in ((10**6, n_draws), (10, 2), (5, 1), (1, 1)):
        monkeypatch.setattr(_slates, "_CHUNK_FLOATS", floats)
        sizes: list[int] = []

        def draw(s: int, sizes: list[int] = sizes) -> np.ndarray:
            start = sum(sizes)
            sizes.append(s)
            return table[start : start + s]

        got = _slates.sampled_items(draw, index, slots, n_draws)
        np.testing.assert_array_equal(got, want)
        assert sum(sizes) == n_draws and all(s == min(per_chunk, n_draws - sum(sizes[:i])) for i, s in enumerate(sizes))
        assert got.dtype == np.float64


def test_one_item_chunks_by_the_whole_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """One distinct item: a chunk may hold _CHUNK_FLOATS draws of it (2 here: chunks of 2, 2 and 1)."""
    monkeypatch.setattr(_slates, "_CHUNK_FLOATS", 2)
    sizes: list[int] = []

    def draw(s: int) -> np.ndarray:
        sizes.append(s)
        return np.ones((s, 1))

    got = _slates.sampled_items(draw, np.array([[0]]), np.array([[0]]), 5)
    assert sizes == [2, 2, 1]
    np.testing.assert_array_equal(got, [[1.0]])
