"""Slate helpers: exact tie propensities, uniform slates, Monte Carlo propensities."""

from __future__ import annotations

import numpy as np
import pytest

from abrec.policies import _kernels, _slates


def _tolerance(p: np.ndarray, n: int) -> np.ndarray:
    return 4.5 * np.sqrt(p * (1 - p) / n) + 1e-12


@pytest.mark.parametrize("k", [1, 2, 3])
def test_greedy_tie_propensities_match_frequencies(k: int) -> None:
    rng = np.random.default_rng(0)
    scores = np.array([[0.5, 0.9, 0.9, 0.1, 0.9, 0.5]])
    n = 6000
    slots, props = _slates.greedy(np.repeat(scores, n, axis=0), k, rng)
    for j in range(k):
        for col in range(scores.shape[1]):
            freq = (slots[:, j] == col).mean()
            expected = _slates.rank_probability(scores, np.array([[col] * k]))[0, j]
            assert abs(freq - expected) <= _tolerance(expected, n)
            assert np.allclose(props[slots[:, j] == col, j], expected)


def test_rank_probability_blocks() -> None:
    scores = np.array([[3.0, 2.0, 2.0, 1.0]])
    # Items 1 and 2 share ranks 1..2; item 0 is always first; item 3 always last.
    assert _slates.rank_probability(scores, np.array([[0, 1, 2]])).tolist() == [[1.0, 0.5, 0.5]]
    assert _slates.rank_probability(scores, np.array([[1, 0, 3]])).tolist() == [[0.0, 0.0, 0.0]]


def test_top1_numba_matches_numpy() -> None:
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 3, size=(500, 7)).astype(float)
    u = rng.random(500)
    a = _kernels.top1(scores, u)
    b = _kernels.top1_numpy(scores, u)
    assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])


def test_uniform_slates_distinct_and_within_mask() -> None:
    rng = np.random.default_rng(2)
    mask = rng.random((400, 8)) < 0.6
    mask[:, :3] = True
    counts = mask.sum(axis=1)
    slots, props = _slates.uniform(counts, mask, 400, 8, 3, rng)
    assert np.take_along_axis(mask, slots, axis=1).all()
    assert (np.sort(slots, axis=1)[:, 1:] != np.sort(slots, axis=1)[:, :-1]).all()
    assert np.allclose(props, 1.0 / counts[:, None])


def test_sampled_propensities_close_to_exact_gaussian_race() -> None:
    # Two independent normals: P(first wins) = Phi((mu1 - mu2) / sqrt(2)) = Phi(0.5 / sqrt 2) = 0.638163...
    # (scipy.stats.norm.cdf(0.5 / np.sqrt(2)) = 0.6381631950841185).
    rng = np.random.default_rng(3)
    mean = np.array([[0.5, 0.0]])

    def draw(s: int) -> np.ndarray:
        return mean[None] + rng.standard_normal((s, 1, 2))

    props = _slates.sampled(draw, np.array([[0]]), 20_000)
    assert abs(props[0, 0] - 0.6381631950841185) < 4.5 * np.sqrt(0.64 * 0.36 / 20_000)
