"""Exact P(best) and P(second best): closed forms for two variants, a large Monte Carlo for more, the identities that
tie best, second and joint together, and the Monte Carlo win rates of abrec's Thompson allocator."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from abrec.abtest import (
    PeriodStats,
    ThompsonAllocator,
    prob_best_beta,
    prob_best_gaussian,
    top_two_beta,
    top_two_gaussian,
)
from abrec.errors import InputError


def evan_miller(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    """P(p_B > p_A) for p_A ~ Beta(a_a, b_a), p_B ~ Beta(a_b, b_b), integer a_b: Evan Miller, "Formulas for Bayesian
    A/B testing" (2015), sum_{i < a_b} B(a_a + i, b_a + b_b) / ((b_b + i) B(1 + i, b_b) B(a_a, b_a))."""
    i = np.arange(a_b)
    terms = special.betaln(a_a + i, b_a + b_b) - np.log(b_b + i) - special.betaln(1 + i, b_b) - special.betaln(a_a, b_a)
    return float(np.exp(terms).sum())


@pytest.mark.parametrize(
    ("means", "sds"),
    [([0.0, 1.0], [1.0, 1.0]), ([0.10, 0.11], [0.002, 0.01]), ([5.0, -3.0], [1.0, 2.0]), ([0.0, 0.0], [1e-6, 3.0]),
     ([0.0, 0.5], [0.05, 0.05])],
)  # fmt: skip
def test_two_gaussians_match_the_closed_form(means: list[float], sds: list[float]) -> None:
    p = prob_best_gaussian(means, sds)
    exact = stats.norm.cdf((means[1] - means[0]) / math.hypot(*sds))  # Phi(d / s)
    assert p[1] == pytest.approx(exact, rel=1e-10, abs=1e-13) and p[0] == pytest.approx(1 - exact, rel=1e-10, abs=1e-13)
    r = top_two_gaussian(means, sds)
    np.testing.assert_allclose(r.second, r.best[::-1], atol=1e-12)
    np.testing.assert_allclose(r.joint, [[0, r.best[0]], [r.best[1], 0]], atol=1e-12)


@pytest.mark.parametrize(
    ("a_a", "b_a", "a_b", "b_b"),
    [(1, 1, 1, 1), (101, 901, 126, 876), (1, 200, 3, 198), (2, 3, 5, 1), (1201, 8801, 1260, 8742), (31, 1, 30, 2)],
)
def test_two_betas_match_evan_millers_closed_form(a_a: int, b_a: int, a_b: int, b_b: int) -> None:
    p = prob_best_beta([a_a, a_b], [b_a, b_b])
    exact = evan_miller(a_a, b_a, a_b, b_b)
    assert p[1] == pytest.approx(exact, rel=1e-10, abs=1e-13)
    assert p[0] == pytest.approx(1 - exact, rel=1e-9, abs=1e-13)
    assert top_two_beta([a_a, a_b], [b_a, b_b]).second[0] == pytest.approx(exact, rel=1e-10, abs=1e-13)


def _monte_carlo(draws: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = draws.shape[1]
    order = np.argsort(-draws, axis=1)
    best, second = order[:, 0], order[:, 1]
    joint = np.bincount(best * k + second, minlength=k * k).reshape(k, k) / len(draws)
    return np.bincount(best, minlength=k) / len(draws), np.bincount(second, minlength=k) / len(draws), joint


def _within_4_se(exact: np.ndarray, simulated: np.ndarray, draws: int) -> None:
    se = np.sqrt(np.maximum(exact * (1 - exact), 1e-12) / draws)
    assert np.all(np.abs(simulated - exact) <= 4 * se + 1e-12), (exact, simulated)


def test_many_gaussians_match_a_large_monte_carlo() -> None:
    rng = np.random.default_rng(41)
    means, sds, n = np.array([0.10, 0.12, 0.11, 0.125, 0.05]), np.array([0.01, 0.01, 0.02, 0.03, 0.04]), 1_000_000
    r = top_two_gaussian(means, sds)
    best, second, joint = _monte_carlo(rng.normal(means, sds, (n, 5)))
    for exact, simulated in ((r.best, best), (r.second, second), (r.joint, joint)):
        _within_4_se(exact, simulated, n)
    np.testing.assert_allclose(prob_best_gaussian(means, sds), r.best, atol=1e-12)


def test_many_betas_match_a_large_monte_carlo() -> None:
    rng = np.random.default_rng(42)
    a, b, n = np.array([1.0, 21.5, 25.0, 18.0, 2.0]), np.array([400.0, 380.5, 377.0, 384.0, 20.0]), 1_000_000
    r = top_two_beta(a, b)  # a variant with no conversions, fractional priors, a small arm with a wide posterior
    best, second, joint = _monte_carlo(rng.beta(a, b, (n, 5)))
    for exact, simulated in ((r.best, best), (r.second, second), (r.joint, joint)):
        _within_4_se(exact, simulated, n)
    np.testing.assert_allclose(prob_best_beta(a, b), r.best, atol=1e-12)


@pytest.mark.parametrize("family", ["gaussian", "beta"])
def test_identities(family: str) -> None:
    rng = np.random.default_rng(43)
    for k in (3, 6):
        if family == "gaussian":
            x, y = rng.normal(0, 1, k), rng.uniform(0.1, 2.0, k)
            r, same = top_two_gaussian(x, y), top_two_gaussian(np.zeros(k), np.full(k, 0.3))
        else:
            x, y = rng.integers(1, 60, k).astype(float), rng.integers(200, 400, k).astype(float)
            r, same = top_two_beta(x, y), top_two_beta(np.full(k, 30.0), np.full(k, 300.0))
        assert r.best.sum() == pytest.approx(1.0, abs=1e-9) and r.second.sum() == pytest.approx(1.0, abs=1e-9)
        np.testing.assert_allclose(r.joint.sum(axis=1), r.best, atol=1e-9)  # separate integrals agree
        assert np.all(np.diag(r.joint) == 0.0)
        np.testing.assert_allclose(same.best, 1 / k, atol=1e-10)  # exchangeable variants
        np.testing.assert_allclose(same.joint[~np.eye(k, dtype=bool)], 1 / (k * (k - 1)), atol=1e-10)
        perm = rng.permutation(k)
        swapped = top_two_gaussian(x[perm], y[perm]) if family == "gaussian" else top_two_beta(x[perm], y[perm])
        np.testing.assert_allclose(swapped.best, r.best[perm], atol=1e-10)
        np.testing.assert_allclose(swapped.joint, r.joint[np.ix_(perm, perm)], atol=1e-10)
        leader = int(np.argmax(r.best))
        assert r.runner_up(leader).sum() == pytest.approx(1.0, abs=1e-9) and r.runner_up(leader)[leader] == 0.0


def test_a_near_certain_leader_keeps_an_exact_runner_up() -> None:
    # Monte Carlo gives the leader 1.0 and its challengers 0/0; the integrals still rank the rest
    r = top_two_beta([5000.0, 400.0, 420.0], [5000.0, 9600.0, 9580.0])
    assert r.best[0] == pytest.approx(1.0, abs=1e-10) and r.best[1:].max() < 1e-100
    exact = evan_miller(400, 9600, 420, 9580)  # given variant 0 leads, the runner-up is the better of 1 and 2
    np.testing.assert_allclose(r.runner_up(0), [0.0, 1 - exact, exact], rtol=1e-9)


def test_matches_the_thompson_allocators_monte_carlo() -> None:
    # allocation.py estimates P(best) from 10,000 posterior draws; prob_best_beta is what those draws estimate
    alloc = ThompsonAllocator(["A", "B", "C"], draws=200_000, seed=1)
    alloc.update(PeriodStats.from_counts(n=[1000, 1000, 900], sum=[100, 118, 104], variants=["A", "B", "C"]))
    exact = prob_best_beta(1.0 + np.array([100, 118, 104]), 1.0 + np.array([900, 882, 796]))
    _within_4_se(exact, alloc.probability_best(), 200_000)


def test_errors() -> None:
    with pytest.raises(InputError, match="at least 2"):
        prob_best_gaussian([1.0], [1.0])
    with pytest.raises(InputError, match="one length"):
        prob_best_beta([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="positive and finite"):
        top_two_gaussian([0.0, 1.0], [1.0, 0.0])
    with pytest.raises(InputError, match="finite"):
        top_two_beta([1.0, np.nan], [1.0, 1.0])
