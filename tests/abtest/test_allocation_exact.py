"""Thompson allocators with ``probabilities="exact"``: the quadrature of :mod:`abrec.abtest.best` over the same
posteriors the Monte Carlo draws from (Beta, Student t). It agrees with Monte Carlo within the draws' error,
does not depend on the seed, and is faster than Monte Carlo at a useful accuracy."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from abrec.abtest import PeriodStats, ThompsonAllocator, TopTwoThompsonAllocator
from abrec.abtest.best import prob_best_gaussian, prob_best_student_t, top_two_student_t
from abrec.errors import ParameterError

DRAWS = 400_000
Z = 4.5  # standard errors: with ~40 comparisons, a false alarm has probability < 1e-4

BERNOULLI = [  # (n, sum) per variant: close arms, a clear leader, small counts, four arms
    ([500, 500], [50, 60]),
    ([200, 300, 250], [20, 45, 30]),
    ([30, 25, 40, 35], [3, 5, 2, 6]),
    ([5000, 5000, 5000], [500, 530, 515]),
]


def _names(k: int) -> tuple[str, ...]:
    return tuple(f"v{i}" for i in range(k))


def _period(n: list[int], s: list[float], sq: list[float] | None = None) -> PeriodStats:
    k = len(n)
    sums = np.asarray(s, dtype=np.float64)
    return PeriodStats(
        np.asarray([n], dtype=np.float64),
        sums[None, :],
        (sums if sq is None else np.asarray(sq, dtype=np.float64))[None, :],
        tuple(f"v{i}" for i in range(k)),
    )


def _within_mc_error(exact: np.ndarray, mc: np.ndarray, draws: int) -> bool:
    se = np.sqrt(np.maximum(exact * (1 - exact), 1e-12) / draws)
    return bool(np.all(np.abs(exact - mc) <= Z * se + 1e-9))


@pytest.mark.parametrize(("n", "s"), BERNOULLI)
@pytest.mark.parametrize("cls", [ThompsonAllocator, TopTwoThompsonAllocator])
def test_exact_bernoulli_weights_agree_with_monte_carlo(
    cls: type[ThompsonAllocator], n: list[int], s: list[float]
) -> None:
    names = tuple(f"v{i}" for i in range(len(n)))
    exact = cls(names, probabilities="exact")
    mc = cls(names, draws=DRAWS, seed=1)
    w_exact, w_mc = exact.update(_period(n, s)), mc.update(_period(n, s))
    assert _within_mc_error(exact.probability_best(), mc.probability_best(), DRAWS)
    assert _within_mc_error(w_exact, w_mc, DRAWS)
    assert w_exact.sum() == pytest.approx(1.0, abs=1e-12)


GAUSSIAN = [  # (n, sum, sum_sq): small arms (t with 2-5 df), an arm with one reward, large arms
    ([3, 4, 6], [3.0, 6.0, 6.6], [5.0, 12.0, 9.0]),
    ([12, 10], [12.0, 16.0], [30.0, 40.0]),
    ([1, 20, 20], [2.0, 22.0, 18.0], [4.0, 40.0, 30.0]),
    ([400, 380, 420], [400.0, 410.0, 430.0], [800.0, 790.0, 880.0]),
]


@pytest.mark.parametrize(("n", "s", "sq"), GAUSSIAN)
@pytest.mark.parametrize("cls", [ThompsonAllocator, TopTwoThompsonAllocator])
def test_exact_gaussian_weights_agree_with_monte_carlo(
    cls: type[ThompsonAllocator], n: list[int], s: list[float], sq: list[float]
) -> None:
    names = tuple(f"v{i}" for i in range(len(n)))
    exact = cls(names, reward="gaussian", probabilities="exact")
    mc = cls(names, reward="gaussian", draws=DRAWS, seed=2)
    w_exact, w_mc = exact.update(_period(n, s, sq)), mc.update(_period(n, s, sq))
    assert _within_mc_error(exact.probability_best(), mc.probability_best(), DRAWS)
    assert _within_mc_error(w_exact, w_mc, DRAWS)


def test_exact_weights_do_not_depend_on_the_seed_and_start_uniform() -> None:
    a = TopTwoThompsonAllocator(_names(3), reward="gaussian", probabilities="exact", seed=1)
    b = TopTwoThompsonAllocator(_names(3), reward="gaussian", probabilities="exact", seed=99)
    first = _period([1, 0, 0], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0])  # fewer than 2 rewards: all alike
    assert np.allclose(a.update(first), 1 / 3, atol=1e-12) and np.array_equal(b.update(first), a.weights)
    period = _period([10, 12, 9], [5.0, 8.0, 4.0], [4.0, 7.0, 3.0])
    assert np.array_equal(a.update(period), b.update(period))


def test_top_two_exact_leader_that_cannot_lose_gives_its_runner_up() -> None:
    # Variant 0 leads by ~100 standard errors: P(best) is 1 to the last bit for it, so its challenger is
    # the exact runner-up (variant 2, nearer than 1), not p / (1 - p_0) = 0 / 0.
    alloc = TopTwoThompsonAllocator(_names(3), beta=0.6, probabilities="exact")
    w = alloc.update(_period([10_000, 10_000, 10_000], [9000.0, 1000.0, 2000.0]))
    assert w[0] == pytest.approx(0.6, abs=1e-9) and w[2] == pytest.approx(0.4, abs=1e-6) and w[1] < 1e-6


def test_student_t_probabilities_against_closed_forms() -> None:
    # Large df is the normal case (prob_best_gaussian); two variants with df = 1 (Cauchy, location
    # difference d, scales s1, s2): the difference is Cauchy(d, s1 + s2), so P = 1/2 + atan(d / (s1 + s2)) / pi.
    m, sd = np.array([0.10, 0.12, 0.11]), np.array([0.01, 0.01, 0.02])
    assert prob_best_student_t(m, sd, 1e12) == pytest.approx(prob_best_gaussian(m, sd), abs=1e-8)
    p = prob_best_student_t([0.0, 1.0], [0.5, 1.5], [1.0, 1.0])
    assert p[1] == pytest.approx(0.5 + math.atan(1.0 / 2.0) / math.pi, abs=1e-8)
    top = top_two_student_t([0.0, 0.3, 0.1], [1.0, 1.0, 2.0], [3.0, 5.0, 2.0])
    assert top.best.sum() == pytest.approx(1.0, abs=1e-9) and top.second.sum() == pytest.approx(1.0, abs=1e-9)
    assert np.allclose(top.joint.sum(axis=1), top.best, atol=1e-9)


def test_exact_is_faster_than_monte_carlo_at_a_useful_accuracy() -> None:
    # Exact to ~1e-10; Monte Carlo with 1,000,000 draws is still ~5e-4 off. Best of three timings each.
    period = _period([2000, 2100, 1900, 2050], [200.0, 230.0, 190.0, 215.0])

    def best_time(probabilities: str, draws: int) -> float:
        times = []
        for _ in range(3):
            alloc = TopTwoThompsonAllocator(_names(4), probabilities=probabilities, draws=draws, seed=0)
            start = time.perf_counter()
            alloc.update(period)
            times.append(time.perf_counter() - start)
        return min(times)

    assert best_time("exact", 1) < best_time("monte-carlo", 1_000_000)


def test_unknown_probabilities_are_refused() -> None:
    with pytest.raises(ParameterError, match="'probabilities'"):
        ThompsonAllocator(2, probabilities="quadrature")
