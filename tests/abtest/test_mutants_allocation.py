"""Adaptive allocation: edges that mutation testing (``make mutate``) found untested.

The posterior draws written out by hand (a recording generator replaces the allocator's: each
Gaussian variant's t location, scale and degrees of freedom, the pooled normal of a variant with
fewer than 2 rewards, the Beta parameters), ``observe``'s running sums, ``from_observations``'
shapes and checks, pooled means of empty or single-unit variants, the intervals' levels, and the
parameters ``TopTwoThompsonAllocator`` passes on.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from abrec.abtest.allocation import (
    PeriodStats,
    ThompsonAllocator,
    TopTwoThompsonAllocator,
    floor_weights,
    period_weighted_means,
)
from abrec.errors import InputError, ParameterError


class _Recorder:
    """Stands in for the allocator's Generator: records the arguments, returns fixed draws."""

    def __init__(self, draws: np.ndarray) -> None:
        self.draws = draws
        self.calls: list[tuple[str, object, object]] = []

    def standard_t(self, df: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        self.calls.append(("t", np.array(df, dtype=float), size))
        return self.draws

    def standard_normal(self, size: tuple[int, int]) -> np.ndarray:
        self.calls.append(("normal", None, size))
        return self.draws

    def beta(self, a: np.ndarray, b: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        self.calls.append(("beta", (np.array(a, dtype=float), np.array(b, dtype=float)), size))
        return self.draws


T_DRAWS = np.array([[1.5, -0.5, 2.0, 0.25], [-1.0, 0.75, -2.0, 3.0]])


def _gaussian(n: list[float], s: list[float], sq: list[float]) -> tuple[ThompsonAllocator, _Recorder]:
    alloc = ThompsonAllocator(len(n), reward="gaussian", draws=2, seed=0)
    alloc.stats = PeriodStats.from_counts([n], [s], [sq])
    rec = _Recorder(T_DRAWS[:, : len(n)])
    alloc._rng = rec  # type: ignore[assignment]
    return alloc, rec


def test_gaussian_posterior_draws_by_hand() -> None:
    # Variants with 5, 2, 1 and 0 rewards (one of them constant): mean + scale t with t ~ Student(n - 1) and
    # scale sqrt(s2 / n) where n >= 2; the pooled normal N(grand, pooled variance) otherwise; a constant
    # variant's variance floored at 1e-12 x pooled. Mutants: every operator and constant of `_samples`'
    # Gaussian branch.
    n = [5.0, 2.0, 1.0, 0.0]
    s = [6.0, 3.0, 1.5, 0.0]
    sq = [9.0, 4.5, 2.25, 0.0]  # variant 1: two rewards of 1.5 (variance 0)
    alloc, rec = _gaussian(n, s, sq)
    out = alloc._samples()
    total, grand = 8.0, 10.5 / 8.0
    pooled = (15.75 - total * grand**2) / (total - 1.0)
    assert 0 < pooled < 1  # so that a floor of 1 (not 1e-12) would show
    mean = np.array([6.0 / 5.0, 1.5, grand, grand])
    var0 = (9.0 - 5.0 * 1.2**2) / 4.0
    scale = np.array([math.sqrt(var0 / 5.0), math.sqrt(1e-12 * pooled / 2.0), math.sqrt(pooled), math.sqrt(pooled)])
    np.testing.assert_allclose(out, mean + scale * T_DRAWS, rtol=1e-12)
    ((kind, df, size),) = rec.calls
    assert kind == "t" and size == (2, 4)
    assert df.tolist() == [4.0, 1.0, 1e6, 1e6]


def test_gaussian_with_fewer_than_two_rewards_in_all_draws_normals() -> None:
    # Two rewards in all: the t branch (with the pooled variance); one: standard normals of the right shape.
    # Mutants: `total < 2` -> `<= 2`, `< 3`; `standard_normal(None)`.
    alloc, rec = _gaussian([1.0, 1.0], [0.0, 2.0], [0.0, 4.0])
    out = alloc._samples()
    assert rec.calls[0][0] == "t" and rec.calls[0][1].tolist() == [1e6, 1e6]
    np.testing.assert_allclose(out, 1.0 + math.sqrt(2.0) * T_DRAWS[:, :2], rtol=1e-12)
    alloc, rec = _gaussian([1.0, 0.0], [0.5, 0.0], [0.25, 0.0])
    alloc._samples()
    assert rec.calls == [("normal", None, (2, 2))]


def test_bernoulli_posterior_parameters() -> None:
    # Beta(a + s, b + max(n - s, 0)). Mutants: `n + s`, a floor of 1 instead of 0; 'bernoulli' misspelt.
    alloc = ThompsonAllocator(3, draws=2, prior=(2.0, 3.0), seed=0)
    alloc.stats = PeriodStats.from_counts([[10.0, 4.0, 0.0]], [[3.0, 4.0, 0.0]])
    rec = _Recorder(np.zeros((2, 3)))
    alloc._rng = rec  # type: ignore[assignment]
    alloc._samples()
    ((kind, (a, b), size),) = rec.calls
    assert kind == "beta" and size == (2, 3)
    assert a.tolist() == [5.0, 6.0, 2.0] and b.tolist() == [10.0, 3.0, 3.0]


# ---------------------------------------------------------------------------- observe
def test_observe_accumulates_every_sum() -> None:
    # Two calls, the last variant never observed, names and indices, rewards from an object array (as pandas
    # gives): the closed period's statistics are those of all the units. Mutants: `+=` -> `=`, the sums of
    # rewards and squares swapped or unweighted, `minlength` dropped, the names not mapped, the dtype of
    # rewards dropped.
    alloc = ThompsonAllocator(["a", "b", "c"], reward="gaussian", seed=0)
    alloc.observe(["a", "b", "a"], np.array([1.0, 2.0, 3.0], dtype=object))
    alloc.observe([0, 0], [0.5, -1.0])
    alloc.close_period()
    expected = PeriodStats.from_observations(
        [0] * 5, [0, 1, 0, 0, 0], [1.0, 2.0, 3.0, 0.5, -1.0], names=["a", "b", "c"]
    )
    for name in ("n", "sum", "sum_sq"):
        np.testing.assert_array_equal(getattr(alloc.stats, name), getattr(expected, name))
    assert alloc.stats.n.tolist() == [[4.0, 1.0, 0.0]] and alloc.stats.sum_sq.tolist() == [[11.25, 4.0, 0.0]]


@pytest.mark.parametrize(
    ("variants", "rewards"),
    [([0, 1], [1.0, math.nan]), ([0, 1], [1.0]), ([2], [1.0]), ([3], [1.0]), ([-1], [1.0])],
)
def test_observe_rejects_bad_input(variants: list[int], rewards: list[float]) -> None:
    # Mutants: each `or` of the check made an `and`, `idx.max() >= k` -> `> k`.
    with pytest.raises(InputError, match="variants and rewards must be 1-d"):
        ThompsonAllocator(2, seed=0).observe(variants, rewards)


def test_readout_passes_period_weights_on() -> None:
    # Mutant: `readout` dropped its period_weights.
    alloc = ThompsonAllocator(2, seed=0)
    alloc.update(PeriodStats.from_counts([[10.0, 10.0]], [[2.0, 5.0]]))
    alloc.update(PeriodStats.from_counts([[10.0, 10.0]], [[8.0, 1.0]]))
    first = alloc.readout([1.0, 0.0])
    np.testing.assert_allclose(first.means, [0.2, 0.5])
    np.testing.assert_allclose(alloc.readout().means, [0.5, 0.3])


# ---------------------------------------------------------------------------- PeriodStats
def test_from_observations_shapes() -> None:
    # k and T: from names, n_variants / n_periods, or the largest index + 1 (0 when empty); the last cells may
    # be empty. Variant indices as floats and rewards as objects are read as int64 and float64.
    # Mutants: each branch of the k and T expressions, `initial` of max, `minlength` dropped, the dtypes.
    s = PeriodStats.from_observations(
        np.array([0, 0]), np.array([0.0, 1.0]), np.array([1, 2], dtype=object), names=["a", "b", "c"], n_periods=3
    )
    assert s.n.shape == (3, 3) and s.variants == ("a", "b", "c") and s.sum.tolist()[0] == [1.0, 2.0, 0.0]
    assert PeriodStats.from_observations([1], [1], [1.0], n_variants=4).n.shape == (2, 4)
    assert PeriodStats.from_observations([0, 2], [0, 0], [1.0, 1.0]).n.shape == (3, 1)
    assert PeriodStats.from_observations([0], [2], [1.0]).variants == ("0", "1", "2")
    assert PeriodStats.from_observations([], [], [], names=["a", "b"]).n.shape == (0, 2)
    with pytest.raises(ParameterError):  # no variant at all
        PeriodStats.from_observations([], [], [])


@pytest.mark.parametrize(
    ("periods", "variants", "rewards"),
    [
        ([0], [0], [math.inf]),
        ([0, 1], [0, 1], [1.0]),
        ([2], [0], [1.0]),
        ([0], [2], [1.0]),
        ([-1], [0], [1.0]),
        ([0], [-1], [1.0]),
    ],
)
def test_from_observations_rejects_bad_input(periods: list[int], variants: list[int], rewards: list[float]) -> None:
    # With n_periods=2 and n_variants=2: indices 2 are out of range, as are negative ones; rewards must be finite
    # and as many as the units. Each is caught by its own check (an infinite reward would otherwise only be
    # caught later, as an infinite sum). Mutants: each `or` of the checks made an `and`, `>=` -> `>`.
    with pytest.raises(InputError, match=r"^(periods, variants and rewards must be 1-d|period indices must lie)"):
        PeriodStats.from_observations(periods, variants, rewards, n_variants=2, n_periods=2)


def test_from_counts_names_the_bad_array() -> None:
    # Mutant: the name given to `_matrix` for sum.
    with pytest.raises(InputError, match=r"^sum must be a finite"):
        PeriodStats.from_counts([1.0, 2.0], [1.0, math.nan])


def test_pooled_means_of_empty_and_single_unit_variants() -> None:
    # Mutants: `n > 0` -> `n >= 0` (an empty variant's mean 0 instead of NaN), `n > 1` (one unit: NaN).
    s = PeriodStats.from_counts([[1.0, 0.0, 4.0]], [[0.5, 0.0, 2.0]])
    means = s.pooled_means()
    assert means[0] == 0.5 and math.isnan(means[1]) and means[2] == 0.5


# ---------------------------------------------------------------------------- intervals
def test_interval_levels() -> None:
    # Mutants: PeriodWeightedDifference's interval ignoring `level`; every part of
    # PeriodWeightedMeans.confidence_interval (untested before).
    est = period_weighted_means([[10, 20], [30, 40]], [[3, 8], [9, 20]], variants=["A", "B"])
    for level in (0.95, 0.8):
        z = float(special.ndtri(0.5 + level / 2.0))
        ci = est.confidence_interval("B", level)
        assert (ci.low, ci.high, ci.level) == pytest.approx(
            (est.means[1] - z * est.standard_errors[1], est.means[1] + z * est.standard_errors[1], level)
        )
        d = est.difference("B", "A")
        dci = d.confidence_interval(level)
        assert (dci.low, dci.high, dci.level) == pytest.approx(
            (d.estimate - z * d.standard_error, d.estimate + z * d.standard_error, level)
        )
    assert est.confidence_interval("A").level == 0.95
    assert est.confidence_interval("A") == est.confidence_interval("A", 0.95)


# ---------------------------------------------------------------------------- top-two
def test_top_two_passes_its_parameters_on() -> None:
    # Mutants: `period`, `draws`, `prior` not passed to ThompsonAllocator, the default draws 10_000 -> 10001.
    assert TopTwoThompsonAllocator(2).draws == 10_000
    alloc = TopTwoThompsonAllocator(2, period=3, draws=50, prior=(2.0, 5.0), seed=0)
    assert (alloc.period, alloc.draws, alloc.prior) == (3, 50, (2.0, 5.0))
    assert alloc.probability_best().sum() == pytest.approx(1.0)
    alloc.observe([0, 1], [1.0, 0.0])
    assert alloc.history.shape == (1, 2)
    alloc.observe([0], [1.0])  # the third unit closes the period
    assert alloc.history.shape == (2, 2)


def test_top_two_weights_when_a_variant_never_wins() -> None:
    # Variant 2 is hopeless: it wins no draw, and its weight is 0 (p has all k entries).
    # Mutant: `np.bincount(winner)` without minlength.
    alloc = TopTwoThompsonAllocator(3, seed=0)
    w = alloc.update(PeriodStats.from_counts([[1000.0, 1000.0, 1000.0]], [[500.0, 510.0, 0.0]]))
    assert w.shape == (3,) and w[2] == 0.0 and w.sum() == pytest.approx(1.0)


# ---------------------------------------------------------------------------- checks and messages
def test_one_variant_is_allowed() -> None:
    # Mutants: `variants < 1` -> `<= 1`, `< 2`.
    alloc = ThompsonAllocator(1, seed=0)
    assert alloc.variants == ("0",) and alloc.weights.tolist() == [1.0]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: PeriodStats.from_counts([[1.0, math.nan]], [[0.0, 0.0]]), r"^n must be a finite"),
        (lambda: PeriodStats.from_counts([[1.0, 1.0]], [[0.0, 0.0]], [[0.0, math.inf]]), r"^sum_sq must be a finite"),
        (lambda: PeriodStats([[1.0]], [[math.nan]], [[1.0]], ("a",)), r"^sum must be a finite"),
        (
            lambda: PeriodStats.from_counts(np.ones((1, 1, 2)), np.ones((1, 1, 2))),
            r"must be a finite \(periods, variants\)",
        ),
        (lambda: PeriodStats([[-1.0]], [[0.0]], [[0.0]], ("a",)), "non-negative"),
        (lambda: period_weighted_means([[1.0, math.nan]], [[0.0, 0.0]]), r"^n must be a finite"),
        (lambda: period_weighted_means([[2.0, 2.0]], [[0.0, math.nan]]), r"^sums must be a finite"),
        (lambda: period_weighted_means([[2.0, 2.0]], [[0.0, 0.0]], [[0.0, math.nan]]), r"^sum_sq must be a finite"),
        (lambda: period_weighted_means([[2.0], [2.0]], [[1.0], [1.0]], period_weights=[1.0, -0.5]), "non-negative"),
        (lambda: period_weighted_means([[2.0], [2.0]], [[1.0], [1.0]], period_weights=[1.0, 0.5, 0.5]), "non-negative"),
        (lambda: period_weighted_means([[2.0], [2.0]], [[1.0], [1.0]], period_weights=[0.0, 0.0]), "positive sum"),
    ],
)
def test_bad_statistics_are_named(build, message: str) -> None:  # type: ignore[no-untyped-def]
    # Mutants: the array names given to `_matrix` (None, misspelt), `or` -> `and` in the shape/finite,
    # non-negativity and period-weight checks, `w.sum() <= 0` -> `< 0`.
    with pytest.raises(InputError, match=message):
        build()


def test_object_arrays_are_read_as_floats() -> None:
    # What pandas hands over for mixed columns. Mutants: the float64 dtype dropped from `_matrix` and from
    # the period weights (isfinite fails on objects).
    n = np.array([[10, 20], [30, 40]], dtype=object)
    sums = np.array([[3, 8], [9, 20]], dtype=object)
    est = period_weighted_means(n, sums, period_weights=np.array([1, 3], dtype=object))
    ref = period_weighted_means([[10.0, 20.0], [30.0, 40.0]], [[3.0, 8.0], [9.0, 20.0]], period_weights=[0.25, 0.75])
    np.testing.assert_array_equal(est.means, ref.means)
    assert PeriodStats.from_counts(n, sums).n.dtype == np.float64


def test_periods_of_two_units_and_of_weight_zero() -> None:
    # Two units per cell are enough (`cnt < 2` -> `<= 2`, `< 3`); a period of weight 0 reports 0 units,
    # mean and variance (mutants: the 0.0 fallbacks -> 1.0 or None) and does not move the estimates.
    est = period_weighted_means([[2.0, 2.0], [1.0, 0.0]], [[1.0, 2.0], [1.0, 0.0]], period_weights=[1.0, 0.0])
    assert est.counts.tolist() == [[2.0, 2.0], [0.0, 0.0]]
    assert est.cell_means.tolist() == [[0.5, 1.0], [0.0, 0.0]]
    assert est.cell_variances.tolist() == [[0.5, 0.0], [0.0, 0.0]]
    np.testing.assert_allclose(est.standard_errors, [0.5, 0.0])


# ---------------------------------------------------------------------------- difference
def test_difference_by_hand_with_two_unit_cells() -> None:
    # Cells of 2 units: the variance uses n = 2 (mutants: the floor max(count, 2) -> 3 on either arm); the
    # result carries the names and alpha given (mutants: None, the default alpha).
    est = period_weighted_means([[2.0, 2.0]], [[1.0, 2.0]], [[1.0, 2.5]], variants=["A", "B"])
    d = est.difference("B", "A", alpha=0.1)
    var_b, var_a = (2.5 - 2.0) / 1.0, (1.0 - 0.5) / 1.0
    assert d.standard_error == pytest.approx(math.sqrt(var_b / 2 + var_a / 2), rel=1e-12)
    assert (d.treatment, d.control, d.alpha, d.estimate) == ("B", "A", 0.1, 0.5)


@pytest.mark.parametrize(
    ("sums", "z", "p"), [([[2.0, 4.0]], math.inf, 0.0), ([[4.0, 2.0]], -math.inf, 0.0), ([[2.0, 2.0]], 0.0, 1.0)]
)
def test_difference_without_variance(sums: list[list[float]], z: float, p: float) -> None:
    # Constant cells: se = 0; z is +-inf for a non-zero difference and 0 for none. Mutants: every part of
    # that expression, and `se > 0` -> `se >= 0` or always (a ZeroDivisionError).
    sq = [[s * s / 2.0 for s in sums[0]]]  # two units of value s / 2 each: no variance
    d = period_weighted_means([[2.0, 2.0]], sums, sq, variants=["A", "B"]).difference("B", "A")
    assert d.standard_error == 0.0 and d.statistic == z and d.p_value == p


@pytest.mark.parametrize("alpha", [0.0, 1.0, 1.5, 2.0])
def test_difference_alpha_is_checked(alpha: float) -> None:
    # Mutants: the owner's name in the message, the interval's bounds (high 1 -> 2 or inf) and openness.
    est = period_weighted_means([[2.0, 2.0]], [[1.0, 2.0]], variants=["A", "B"])
    with pytest.raises(ParameterError, match=r"'alpha' parameter of PeriodWeightedMeans\.difference must be"):
        est.difference("B", "A", alpha=alpha)


# ---------------------------------------------------------------------------- floor_weights
def test_floor_weights_normalises_and_cascades() -> None:
    # Unnormalised input (mutant: `/ sum` -> `* sum`); a second round of water filling once the first
    # rescaling pushes another weight under the floor (mutant: `fixed |= low` -> `fixed = low`); a floor
    # above 1/k leaves every weight fixed, equal (mutants: the `total > 0` branch forced, the final
    # `/ w.sum()` -> `* w.sum()`); an object array gives floats (mutant: the dtype dropped).
    np.testing.assert_allclose(floor_weights([0.1, 1.9], 0.1), [0.1, 0.9])
    np.testing.assert_allclose(floor_weights([0.0, 0.105, 0.895], 0.1), [0.1, 0.1, 0.8])
    np.testing.assert_allclose(floor_weights([0.2, 0.8], 0.6), [0.5, 0.5])
    assert floor_weights(np.array([1, 3], dtype=object), 0.0).dtype == np.float64


# ---------------------------------------------------------------------------- ThompsonAllocator parameters
def test_allocator_defaults_and_boundaries() -> None:
    # Mutants: the default draws 10_000 -> 10001; min_share = 1/k rejected (`1 + 1e-12` -> `1 - 1e-12`), the
    # rounding slack's bound itself rejected (`>` -> `>=`); Bernoulli sums at the rounding slack rejected
    # (`<` -> `<=`, `>` -> `>=`) and a clearly negative sum accepted (-1e-9 -> -1.000000001).
    assert ThompsonAllocator(2).draws == 10_000
    assert ThompsonAllocator(4, min_share=0.25).min_share == 0.25
    ThompsonAllocator(2, min_share=(1.0 + 1e-12) / 2)
    alloc = ThompsonAllocator(2, seed=0, draws=10)
    alloc.update(PeriodStats.from_counts([[5.0, 0.0]], [[-1e-9, 1e-9]], [[0.0, 0.0]]))
    with pytest.raises(InputError, match="Bernoulli rewards"):
        alloc.update(PeriodStats.from_counts([[5.0, 5.0]], [[-0.5, 1.0]], [[0.5, 1.0]]))


@pytest.mark.parametrize("prior", [(0.0, 1.0), (1.0, 0.0), (-1.0, 1.0), (1.0, -1.0), (math.inf, 1.0), (1.0, math.inf)])
def test_prior_must_be_positive_and_finite(prior: tuple[float, float]) -> None:
    # Mutants: each `and` of the prior check made an `or`, `> 0` -> `>= 0`.
    with pytest.raises(ParameterError, match="'prior' parameter of ThompsonAllocator"):
        ThompsonAllocator(2, prior=prior)
