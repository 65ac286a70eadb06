"""Exact propensities of the agents' exploration: Boltzmann slates against brute-force enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from abrec.agents import _exploration as ex
from abrec.errors import InputError


def _brute_force(q: np.ndarray, k: int, temperature: float, mask: np.ndarray) -> np.ndarray:
    """P(j at p) of Plackett-Luce slates by summing every ordered slate's probability."""
    n, m = q.shape
    out = np.zeros((n, m, k))
    for i in range(n):
        w = np.where(mask[i], np.exp(q[i] / temperature), 0.0)
        for slate in itertools.permutations(np.flatnonzero(mask[i]), k):
            prob, left = 1.0, w.sum()
            for item in slate:
                prob *= w[item] / left
                left -= w[item]
            for p, item in enumerate(slate):
                out[i, item, p] += prob
    return out


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_boltzmann_law_equals_the_sum_over_every_slate(k: int) -> None:
    rng = np.random.default_rng(k)
    q = rng.normal(size=(3, 6))
    mask = np.ones((3, 6), dtype=bool)
    mask[1, [0, 4]] = False
    law = ex.boltzmann_distribution(q, k, 0.7, mask)
    np.testing.assert_allclose(law, _brute_force(q, k, 0.7, mask), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(law.sum(axis=1), 1.0, rtol=1e-12)
    assert (law[1, [0, 4]] == 0).all()


def test_boltzmann_draws_follow_their_law_and_report_it() -> None:
    rng = np.random.default_rng(0)
    q = rng.normal(size=(1, 5))
    n = 40_000
    slots, props = ex.boltzmann(np.repeat(q, n, axis=0), 2, 0.5, None, rng)
    law = ex.boltzmann_distribution(q, 2, 0.5, None)[0]
    freq = np.stack([np.bincount(slots[:, p], minlength=5) / n for p in range(2)], axis=1)
    se = np.sqrt(law * (1 - law) / n)
    assert (np.abs(freq - law) <= 5 * se + 1e-12).all()
    np.testing.assert_allclose(props, law[slots, np.arange(2)[None, :]], rtol=1e-12)


def test_epsilon_greedy_law_mixes_greedy_and_uniform() -> None:
    q = np.array([[0.1, 0.9, 0.5]])
    law = ex.epsilon_greedy_distribution(q, 2, 0.3, None, np.array([3]))
    np.testing.assert_allclose(law[0, :, 0], [0.1, 0.7 + 0.1, 0.1])
    np.testing.assert_allclose(law[0, :, 1], [0.1, 0.1, 0.8])


def test_boltzmann_refuses_slates_whose_exact_law_is_too_costly() -> None:
    with pytest.raises(InputError, match="exploration='epsilon'"):
        ex.boltzmann_distribution(np.zeros((1, 200)), 4, 1.0, None)
