"""Slate helpers: exact checks that mutation testing (``make mutate``) found missing.

The Monte Carlo propensities are checked exactly, on deterministic "draws" (sample ``i`` is a fixed
function of ``i``, so the chunking cannot change them), against a plain transcription of their
definition; greedy top-1 ranking is checked for its choice and its tie-breaking; slates for their
shapes and dtypes.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from abrec.policies import _slates

FloatArray = npt.NDArray[np.float64]


class Draws:
    """``draw(s)``: the next ``s`` of a fixed sequence of score samples, shape (s, n, m)."""

    def __init__(self, n: int, m: int) -> None:
        self.n, self.m, self.used, self.largest = n, m, 0, 0

    def sample(self, index: npt.NDArray[np.int64]) -> FloatArray:
        rows = np.arange(self.n)[None, :, None]
        cols = np.arange(self.m)[None, None, :]
        x = np.sin(index[:, None, None] * 12.9898 + rows * 78.233 + cols * 37.719) * 43758.5453
        out: FloatArray = x - np.floor(x)
        return out

    def __call__(self, s: int) -> FloatArray:
        assert type(s) is int and s > 0, s  # a Generator's draws take an int size
        out = self.sample(np.arange(self.used, self.used + s))
        self.used += s
        self.largest = max(self.largest, s)
        return out


def _top(samples: FloatArray, k: int) -> npt.NDArray[np.int64]:
    return np.argsort(-samples, axis=-1, kind="stable")[..., :k]


@pytest.mark.parametrize(("n", "m", "k", "n_draws"), [(3, 5, 2, 40), (4, 3, 1, 1), (2, 6, 3, 7), (2, 4, 2, 0)])
def test_sampled_is_its_definition(n: int, m: int, k: int, n_draws: int) -> None:
    # (1 + #draws that put slots[i, j] at position j) / (1 + n_draws), from exactly n_draws draws.
    slots = _top(Draws(n, m).sample(np.array([10_000]))[0], k)
    draws = Draws(n, m)
    props = _slates.sampled(draws, slots, n_draws)
    top = _top(Draws(n, m).sample(np.arange(n_draws)), k)
    expected = ((top == slots[None]).sum(axis=0) + 1.0) / (n_draws + 1.0)
    np.testing.assert_allclose(props, expected, rtol=0, atol=1e-15)
    assert draws.used == n_draws and props.dtype == np.float64 and props.shape == (n, k)


def test_sampled_chunks_draw_whole_numbers_of_samples() -> None:
    # n * m = 5,000 scores per draw: chunks of at most 400 draws keep memory near 16 MB.
    n, m, k, n_draws = 2500, 2, 1, 1700
    slots = np.zeros((n, k), dtype=np.int64)
    draws = Draws(n, m)
    props = _slates.sampled(draws, slots, n_draws)
    assert draws.used == n_draws and draws.largest * n * m <= _slates._CHUNK_FLOATS
    wins = np.zeros(n)
    for start in range(0, n_draws, 500):
        wins += (Draws(n, m).sample(np.arange(start, min(start + 500, n_draws))).argmax(axis=-1) == 0).sum(axis=0)
    np.testing.assert_allclose(props[:, 0], (wins + 1.0) / (n_draws + 1.0), rtol=0, atol=1e-15)


@pytest.mark.parametrize(("m", "k", "n_draws"), [(5, 2, 40), (3, 1, 1), (6, 3, 7), (1000, 2, 2500)])
def test_sampled_shared_is_its_definition(m: int, k: int, n_draws: int) -> None:
    # One table counts[item, position] from n_draws draws of (1, m) scores, shared by every request.
    slots = np.array([_top(Draws(1, m).sample(np.array([i]))[0, 0], k) for i in (10_000, 10_001, 10_002)])
    draws = Draws(1, m)
    props = _slates.sampled_shared(draws, slots, n_draws, m)
    top = _top(Draws(1, m).sample(np.arange(n_draws))[:, 0, :], k)
    counts = np.array([[(top[:, j] == item).sum() for j in range(k)] for item in range(m)], dtype=float)
    expected = (counts[slots, np.arange(k)[None, :]] + 1.0) / (n_draws + 1.0)
    np.testing.assert_allclose(props, expected, rtol=0, atol=1e-15)
    assert draws.used == n_draws and props.shape == (3, k)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_topk_of_orders_the_k_largest(k: int) -> None:
    samples = Draws(3, 7).sample(np.arange(4))  # (4, 3, 7): the last axis is the candidates'
    top = _slates.topk_of(samples, k)
    assert top.shape == (4, 3, k)
    np.testing.assert_array_equal(top, _top(samples, k))


def test_ranked_top1_takes_each_rows_best() -> None:
    scores = np.array([[0.0, 1.0, 2.0], [5.0, 1.0, 0.0], [0.3, 0.9, 0.1]])
    rng = np.random.default_rng(0)
    slots = _slates.ranked(scores, 1, rng)
    assert slots.dtype == np.int64 and slots.tolist() == [[2], [0], [1]]
    for rows, best in (([1], [[0]]), ([0, 1], [[2], [0]])):  # one request, and two
        slots = _slates.ranked(scores[rows], 1, rng)
        assert slots.dtype == np.int64 and slots.tolist() == best


def _assert_uniform_over(picks: npt.NDArray[np.int64], tied: list[int]) -> None:
    assert set(np.unique(picks).tolist()) == set(tied)
    p = 1.0 / len(tied)
    for col in tied:
        assert abs((picks == col).mean() - p) <= 4.5 * math.sqrt(p * (1 - p) / picks.size), col


@pytest.mark.parametrize("tied", [[1, 3], [0, 2, 3]])
def test_ranked_top1_breaks_ties_uniformly(tied: list[int]) -> None:
    row = np.full(4, 0.2)
    row[tied] = 0.9
    rng = np.random.default_rng(1)
    # many rows at once (vectorised path) and one row at a time (the single-request path)
    _assert_uniform_over(_slates.ranked(np.tile(row, (3000, 1)), 1, rng)[:, 0], tied)
    _assert_uniform_over(np.array([_slates.ranked(row[None], 1, rng)[0, 0] for _ in range(3000)]), tied)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_uniform_slates_have_k_int_slots(k: int) -> None:
    rng = np.random.default_rng(2)
    mask = rng.random((50, 6)) < 0.7
    mask[:, :3] = True
    slots, props = _slates.uniform(mask.sum(axis=1), mask, 50, 6, k, rng)
    assert slots.shape == (50, k) and slots.dtype == np.int64 and props.shape == (50, k)
    assert np.take_along_axis(mask, slots, axis=1).all()


@pytest.mark.parametrize("dtype", [np.int64, np.float64])
def test_greedy_distribution_reads_a_0_1_mask_as_booleans(dtype: type) -> None:
    scores = np.array([[0.1, 0.5, 0.5, 0.2, 0.9], [0.3, 0.3, 0.3, 0.0, 0.1]])
    mask = np.array([[1, 1, 1, 1, 0], [0, 1, 1, 1, 1]])
    np.testing.assert_array_equal(
        _slates.greedy_distribution(scores, 3, mask.astype(dtype)),
        _slates.greedy_distribution(scores, 3, mask.astype(bool)),
    )
