"""Quantile tests: edges that mutation testing (``make mutate``) found untested.

References are independent of abrec: ``numpy.quantile`` (linear interpolation) for the sample
quantiles and the order-statistic bounds, gbstats' formulas written out below (the order-statistic
standard error, the clustered design effect, ``variance_of_ratios``), the exact law of the
resampling-free Poisson bootstrap quantile summed over every rank with ``scipy.stats.binom`` (no
window), Python's stable ``sorted`` for the order of tied values, and scipy's normal distribution.
Each test names the mutants it kills (mutmut's names without the ``abrec.abtest.quantiles.`` prefix).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from abrec.abtest import QuantileBounds, QuantileSample, quantile_test
from abrec.abtest.quantiles import min_units
from abrec.errors import InputError, ParameterError

Z = float(stats.norm.ppf(0.975))  # gbstats' multiplier of the bound probabilities


def _bound_quantiles(values: np.ndarray, p: float) -> tuple[float, float]:
    """gbstats: the quantiles at p -/+ z sqrt(p (1 - p) / n), probabilities clipped to [1e-8, 1 - 1e-8]."""
    n = values.size
    s = math.sqrt(p * (1 - p) / n)
    lo, hi = max(p - Z * s, 1e-8), min(p + Z * s, 1 - 1e-8)
    return float(np.quantile(values, lo)), float(np.quantile(values, hi))


def _order_statistic_se(values: np.ndarray, p: float) -> float:
    n = values.size
    low, high = _bound_quantiles(values, p)
    return math.sqrt((n - 1) / n) * (high - low) / (2 * Z)


def _bootstrap_se(values: np.ndarray, p: float) -> float:
    """SD of the Poisson-bootstrap quantile: P(Q* <= x_(j)) = P(Binomial(n, j / n) >= p n), all ranks j."""
    x = np.sort(values)
    n = x.size
    need = math.ceil(Fraction(str(p)) * n)  # exact p n, no floating-point excess
    j = np.arange(1, n + 1)
    cdf = stats.binom.sf(need - 1, n, j / n)
    pmf = np.diff(cdf, prepend=0.0)
    mean = float(pmf @ x)
    return math.sqrt(float(pmf @ (x - mean) ** 2))


# ------------------------------------------------------------------------------------------ min_units


@pytest.mark.parametrize("p", [0.01, 0.05, 0.1, 0.25, 0.4, 0.5, 0.6, 0.9, 0.99])
def test_min_units_matches_the_gbstats_rule_below_and_above_the_median(p: float) -> None:
    # Kills x_min_units__mutmut_14, 15, 16 ((1 - p) / p, the term that binds for p < 0.5).
    assert min_units(p) == math.floor(Z**2 * max(p / (1 - p), (1 - p) / p)) + 1


# ----------------------------------------------------------------- QuantileSample.quantile / _interpolate


@pytest.mark.parametrize("n", [1, 2, 3, 5, 10])
@pytest.mark.parametrize("p", [0.01, 0.3, 0.5, 0.9, 0.99])
def test_quantile_of_small_samples_is_numpys(n: int, p: float) -> None:
    # Kills xǁQuantileSampleǁquantile__mutmut_13 (n == 1 -> NaN), x__interpolate__mutmut_14 (index past the
    # end for n = 1) and x__interpolate__mutmut_15 (upper neighbour one rank too low near the maximum).
    values = np.random.default_rng(n).normal(size=n) * 10.0
    assert QuantileSample.from_values(values).quantile(p) == pytest.approx(float(np.quantile(values, p)), rel=1e-12)


# ------------------------------------------------------------------------- order-statistic standard error


def test_order_statistic_se_clips_the_upper_bound_probability() -> None:
    # n = 10 at p99: p + z s > 1, so the upper bound sits at probability 1 - 1e-8, just below the maximum;
    # the maximum is far out so that the clip shows. Kills x__bound_probabilities__mutmut_19, 20.
    values = np.r_[np.arange(9.0), 1e12]
    got = QuantileSample.from_values(values).quantile_standard_error(0.99, "order-statistic")
    assert got == pytest.approx(_order_statistic_se(values, 0.99), rel=1e-12)


@pytest.mark.parametrize("method", ["order-statistic", "bootstrap"])
def test_standard_error_of_two_values_is_defined(method: str) -> None:
    # Kills xǁQuantileSampleǁquantile_standard_error__mutmut_15, 16 (n = 2 -> NaN).
    values = np.array([1.0, 4.0])
    ref = _order_statistic_se(values, 0.5) if method == "order-statistic" else _bootstrap_se(values, 0.5)
    got = QuantileSample.from_values(values).quantile_standard_error(0.5, method)
    assert got == pytest.approx(ref, rel=1e-9)
    assert ref > 0


# ------------------------------------------------------------------------------------ bootstrap law


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7, 10, 40, 101, 2000])
@pytest.mark.parametrize("p", [0.01, 0.1, 0.5, 0.9, 0.99])
def test_bootstrap_se_is_the_exact_poisson_bootstrap_law(n: int, p: float) -> None:
    # Every rank summed with scipy's binomial, against the code's window of ranks. Kills
    # x__bootstrap_se__mutmut_3 (window 20 ranks narrower: empty for n = 4), 21 (rank 1 left out),
    # 25 (rank n left out), 36 (p n integer: one more needed), 38, 46, 47 (binomial offsets),
    # 54 (the last rank's mass moved one rank down), 66 (values shifted by one rank).
    # rel=1e-10: the code's window (9 binomial SDs + 45 ranks) leaves out less than 1e-18 of the law's mass;
    # with 10 ranks instead of 45 it left out about exp(-(p n + width)) when p n is small, which moved the SE
    # by up to 3e-8 relative here (p = 0.01, n = 40 and 101), so this test fails on that narrower window.
    values = np.random.default_rng(1000 + n).lognormal(0.0, 1.0, n)
    got = QuantileSample.from_values(values).quantile_standard_error(p, "bootstrap")
    assert got == pytest.approx(_bootstrap_se(values, p), rel=1e-10)


# --------------------------------------------------------------------------------- clustered design effect


def _clustered_se(values: np.ndarray, units: np.ndarray, p: float) -> float:
    """gbstats' QuantileClusteredStatistic: the order-statistic SE times sqrt(delta-method var / (p(1-p)/n))."""
    n = values.size
    q = float(np.quantile(values, p))
    ids = sorted(set(units.tolist()))
    s = np.array([np.sum((units == u) & (values <= q)) for u in ids], dtype=float)
    m = np.array([np.sum(units == u) for u in ids], dtype=float)
    k = len(ids)
    mu_s, mu_m = s.mean(), m.mean()
    var_s, var_m = s.var(ddof=1), m.var(ddof=1)
    cov = float(np.sum((s - mu_s) * (m - mu_m)) / (k - 1))
    v = (var_s - 2 * mu_s * cov / mu_m + mu_s**2 * var_m / mu_m**2) / (k * mu_m**2)
    return _order_statistic_se(values, p) * math.sqrt(v / (p * (1 - p) / n))


def test_design_effect_counts_events_tied_at_the_quantile() -> None:
    # 21 ties at the median, continuous values around it (so the bounds differ and the SE is not 0):
    # "at or below" must count all the ties. Kills xǁQuantileSampleǁ_design_effect__mutmut_10
    # (searchsorted side="left").
    rng = np.random.default_rng(3)
    values = np.r_[rng.normal(-3.0, 1.0, 200), np.zeros(21), rng.normal(3.0, 1.0, 200)]
    units = rng.integers(0, 40, values.size)
    got = QuantileSample.from_values(values, clusters=units).quantile_standard_error(0.5, "order-statistic")
    assert got == pytest.approx(_clustered_se(values, units, 0.5), rel=1e-9)


def test_design_effect_with_two_units_is_defined() -> None:
    # Kills xǁQuantileSampleǁ_design_effect__mutmut_27, 28 (k = 2 -> NaN).
    rng = np.random.default_rng(4)
    values = rng.normal(size=60)
    units = np.r_[np.zeros(25, dtype=int), np.ones(35, dtype=int)]
    got = QuantileSample.from_values(values, clusters=units).quantile_standard_error(0.5, "order-statistic")
    assert math.isfinite(got)
    assert got == pytest.approx(_clustered_se(values, units, 0.5), rel=1e-9)


# ------------------------------------------------------------------------ sorting, equality, merging


def _stable_ids(values: np.ndarray, ids: np.ndarray) -> list[int]:
    return [int(ids[i]) for i in sorted(range(values.size), key=lambda i: values[i])]


def test_from_values_keeps_unit_ids_of_tied_values_in_input_order() -> None:
    # 1,500 values with 5 distinct ones: numpy's default quicksort reorders ties. Kills
    # xǁQuantileSampleǁfrom_values__mutmut_13, 15.
    rng = np.random.default_rng(5)
    values = rng.integers(0, 5, 1500).astype(float)
    ids = np.arange(1500)
    sample = QuantileSample.from_values(values, clusters=ids)
    assert sample.clusters is not None
    assert sample.clusters.tolist() == _stable_ids(values, ids)


def test_add_keeps_unit_ids_of_tied_values_in_order() -> None:
    # Kills xǁQuantileSampleǁ__add____mutmut_9, 11.
    rng = np.random.default_rng(6)
    a_values, b_values = rng.integers(0, 5, 800).astype(float), rng.integers(0, 5, 700).astype(float)
    a_ids, b_ids = np.arange(800), np.arange(800, 1500)
    merged = QuantileSample.from_values(a_values, clusters=a_ids) + QuantileSample.from_values(b_values, b_ids)
    # the stable sort of the concatenation of the two (each already stably sorted) samples
    a_sorted = _stable_ids(a_values, a_ids)
    b_sorted = _stable_ids(b_values, b_ids)
    cat_values = np.r_[np.sort(a_values), np.sort(b_values)]
    expected = _stable_ids(cat_values, np.array(a_sorted + b_sorted))
    assert merged.clusters is not None
    assert merged.clusters.tolist() == expected


def test_clusters_are_read_only() -> None:
    # Kills xǁQuantileSampleǁ__post_init____mutmut_31.
    sample = QuantileSample.from_values([2.0, 1.0], clusters=[7, 8])
    assert sample.clusters is not None
    with pytest.raises(ValueError, match="read-only"):
        sample.clusters[0] = 9


def test_equality_needs_equal_values_and_equal_unit_ids() -> None:
    # Kills xǁQuantileSampleǁ__eq____mutmut_4, 7, 8, 15.
    plain = QuantileSample.from_values([1.0, 2.0])
    ids = QuantileSample.from_values([1.0, 2.0], clusters=[1, 2])
    assert plain == QuantileSample.from_values([2.0, 1.0])
    assert ids == QuantileSample.from_values([1.0, 2.0], clusters=[1, 2])
    assert plain != ids
    assert ids != plain
    assert ids != QuantileSample.from_values([1.0, 2.0], clusters=[1, 3])
    assert plain != QuantileSample.from_values([1.0, 3.0])


def test_radd_accepts_only_the_integer_zero_of_sum() -> None:
    # Kills xǁQuantileSampleǁ__radd____mutmut_1.
    sample = QuantileSample.from_values([1.0])
    assert sum([sample]) == sample
    with pytest.raises(TypeError):
        _ = 5 + sample  # type: ignore[operator]


# ------------------------------------------------------------------------------------- error messages


def test_error_messages_name_the_argument() -> None:
    # Kills xǁQuantileSampleǁ__post_init____mutmut_2, 6, 7, 8; xǁQuantileSampleǁfrom_values__mutmut_2, 6, 7;
    # xǁQuantileSampleǁquantile__mutmut_1, 7, 8, 9; xǁQuantileSampleǁquantile_standard_error__mutmut_1, 7, 8, 9;
    # xǁQuantileBoundsǁ__post_init____mutmut_1, 7, 8, 9; x_quantile_test__mutmut_10, 14.
    with pytest.raises(InputError, match=r"^QuantileSample\.values must be a 1-D"):
        QuantileSample(np.ones((2, 2)))
    with pytest.raises(InputError, match=r"^values must be finite"):
        QuantileSample.from_values([1.0, math.nan])
    sample = QuantileSample.from_values([1.0, 2.0, 3.0])
    with pytest.raises(ParameterError, match=r"parameter of QuantileSample\.quantile must"):
        sample.quantile(1.5)
    with pytest.raises(ParameterError, match=r"parameter of QuantileSample\.quantile_standard_error must"):
        sample.quantile_standard_error(0.5, "kernel")
    with pytest.raises(ParameterError, match=r"parameter of QuantileBounds must"):
        QuantileBounds(n=10, probability=1.5, estimate=1.0, lower=0.0, upper=2.0)
    with pytest.raises(ParameterError, match=r"parameter of quantile_test must"):
        quantile_test(sample, sample, alpha=2.0)
    with pytest.raises(ParameterError, match=r"parameter of quantile_test must"):
        quantile_test(sample, sample, alternative="both")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------- QuantileBounds


def _bounds(**kw: object) -> QuantileBounds:
    args: dict[str, object] = {"n": 100, "probability": 0.5, "estimate": 1.0, "lower": 0.5, "upper": 1.5}
    args.update(kw)
    return QuantileBounds(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("n", [2.0, -1, True, np.float64(10.0)])
def test_bounds_reject_a_count_that_is_not_a_non_negative_int(n: object) -> None:
    # Kills xǁQuantileBoundsǁ__post_init____mutmut_12, 13 (the n_star check would fire instead).
    with pytest.raises(InputError, match=r"^QuantileBounds\.n must be an int >= 0"):
        _bounds(n=n)


@pytest.mark.parametrize("n_star", [True, 5.0, 0])
def test_bounds_reject_an_n_star_that_is_not_a_positive_int(n_star: object) -> None:
    # Kills xǁQuantileBoundsǁ__post_init____mutmut_22 (True, 5.0) and 26 (0).
    with pytest.raises(InputError, match=r"^QuantileBounds\.n_star must be an int"):
        _bounds(n_star=n_star)


def test_bounds_of_one_value_accept_no_n_star_above_one() -> None:
    # Kills xǁQuantileBoundsǁ__post_init____mutmut_32.
    with pytest.raises(InputError, match=r"^QuantileBounds\.n_star must be an int"):
        _bounds(n=1, n_star=2)


def test_bounds_edges_that_are_valid() -> None:
    # n = 0 with n_star = 1 (kills mutmut_15, 16), n_star = 1 (kills 25), lower == estimate and
    # estimate == upper (kills 46, 47): all xǁQuantileBoundsǁ__post_init__.
    assert math.isnan(_bounds(n=0, n_star=1).quantile_standard_error(0.5, "order-statistic"))
    se = _bounds(n=100, n_star=1).quantile_standard_error(0.5, "order-statistic")
    assert se == pytest.approx(math.sqrt(1 / 100 * 99 / 100) * 1.0 / (2 * Z), rel=1e-12)
    assert _bounds(lower=1.0).quantile(0.5) == 1.0
    assert _bounds(upper=1.0).quantile(0.5) == 1.0


def test_bounds_of_two_values_have_a_standard_error() -> None:
    # Kills xǁQuantileBoundsǁquantile_standard_error__mutmut_5, 6 (n = 2 -> NaN).
    se = _bounds(n=2).quantile_standard_error(0.5, "order-statistic")
    assert se == pytest.approx(math.sqrt(1 / 2) * 1.0 / (2 * Z), rel=1e-12)


# ---------------------------------------------------------------------------------------- quantile_test


def test_result_fields_and_statistic() -> None:
    # Kills x_quantile_test__mutmut_155, 156, 161, 163 (method, probability, statistic, alternative).
    rng = np.random.default_rng(7)
    c, t = rng.lognormal(0.0, 1.0, 500), rng.lognormal(0.2, 1.0, 500)
    r = quantile_test(
        QuantileSample.from_values(c), QuantileSample.from_values(t), probability=0.9, alternative="greater"
    )
    se = math.hypot(_order_statistic_se(c, 0.9), _order_statistic_se(t, 0.9))
    effect = float(np.quantile(t, 0.9) - np.quantile(c, 0.9))
    assert (r.method, r.probability, r.alternative) == ("order-statistic", 0.9, "greater")
    assert r.statistic == pytest.approx(effect / se, rel=1e-9)
    assert r.p_value == pytest.approx(float(stats.norm.sf(effect / se)), rel=1e-9)


def test_relative_interval_is_one_sided_for_a_one_sided_test() -> None:
    # Kills x_quantile_test__mutmut_134 (alternative None: a two-sided relative interval).
    c = _bounds(n=1000, estimate=10.0, lower=9.5, upper=10.5)
    t = _bounds(n=1000, estimate=11.0, lower=10.5, upper=11.5)
    r = quantile_test(c, t, alternative="greater")
    se_c = se_t = math.sqrt(999 / 1000) * 1.0 / (2 * Z)
    rel_se = math.sqrt(se_t**2 / 10.0**2 + 11.0**2 * se_c**2 / 10.0**4)
    lo, hi = r.confidence_interval(relative=True)
    assert lo == pytest.approx(0.1 - float(stats.norm.ppf(0.95)) * rel_se, rel=1e-9)
    assert hi == math.inf


def test_notes_when_arms_are_too_small() -> None:
    # Kills x_quantile_test__mutmut_40-43 (arm names), 49-58 (join and verb), 199 (notes' separator),
    # x__percent__mutmut_1, 2 (p90), and 99, 125, 130 (a one-sided interval of a NaN standard error is
    # (NaN, inf); undefined is (NaN, NaN)).
    ok = QuantileSample.from_values(np.arange(1.0, 41.0))
    small = QuantileSample.from_values(np.arange(1.0, 11.0))
    negative = QuantileSample.from_values(-np.arange(1.0, 11.0))
    one = quantile_test(small, ok, probability=0.9, alternative="greater")
    assert one.note == "standard error undefined: the p90 test needs at least 35 values per arm (control has fewer)"
    assert math.isnan(one.ci.low) and math.isnan(one.ci.high)
    assert math.isnan(one.relative_ci.low) and math.isnan(one.relative_ci.high)
    assert math.isnan(one.relative_p_value)
    other = quantile_test(ok, small, probability=0.9)
    assert other.note.endswith("(treatment has fewer)")
    both = quantile_test(negative, small, probability=0.9)
    assert both.note == (
        "standard error undefined: the p90 test needs at least 35 values per arm (control and treatment have "
        "fewer); relative effect undefined: the control quantile is negative"
    )


def test_arms_of_exactly_min_units_are_tested() -> None:
    # Kills x_quantile_test__mutmut_44 (n <= needed).
    values = np.random.default_rng(8).normal(10.0, 1.0, min_units(0.9))
    arm = QuantileSample.from_values(values)
    r = quantile_test(arm, arm, probability=0.9)
    assert r.note == ""
    assert r.standard_error == pytest.approx(math.sqrt(2) * _order_statistic_se(values, 0.9), rel=1e-9)


def test_note_when_values_are_tied_around_the_quantile() -> None:
    # Kills x_quantile_test__mutmut_85, 86, 88, 89.
    arm = QuantileSample.from_values(np.ones(50))
    assert quantile_test(arm, arm).note == (
        "p-value undefined: the standard error is 0 (values are tied around the quantile; the Wald test needs a "
        "continuous metric)"
    )


def test_relative_effect_when_the_control_quantile_is_one() -> None:
    # Kills x__relative__mutmut_2 (qc == 1 taken for 0).
    c = _bounds(n=1000, estimate=1.0, lower=0.9, upper=1.1)
    t = _bounds(n=1000, estimate=1.5, lower=1.4, upper=1.6)
    r = quantile_test(c, t)
    se = math.sqrt(999 / 1000) * 0.2 / (2 * Z)
    assert r.relative_effect == pytest.approx(0.5, rel=1e-12)
    assert r.relative_se == pytest.approx(math.sqrt(se**2 + 1.5**2 * se**2), rel=1e-9)


def test_relative_notes() -> None:
    # Kills x__relative__mutmut_3, 4, 7, 23 (the notes' text).
    zero = QuantileSample.from_values(np.r_[-np.ones(20), np.zeros(21), np.ones(20)])
    negative = QuantileSample.from_values(np.linspace(-2.0, -1.0, 61))
    near_zero = QuantileSample.from_values(np.linspace(-1.0, 1.2, 61))
    assert quantile_test(zero, zero).note.endswith("relative effect undefined: the control quantile is 0")
    assert quantile_test(negative, negative).note == "relative effect undefined: the control quantile is negative"
    assert quantile_test(near_zero, near_zero).note == (
        "relative effect undefined: the control quantile's confidence interval reaches 0"
    )


def test_relative_effect_uses_the_two_sided_critical_value() -> None:
    # qc / se_c = 1.8, between z(0.95) = 1.645 and z(0.975) = 1.96: the control interval reaches 0.
    # Kills x__relative__mutmut_14, 19, 20 (a one-sided critical value).
    width = 10.0 / 1.8 * 2 * Z / math.sqrt(99_999 / 100_000)
    c = _bounds(n=100_000, estimate=10.0, lower=10.0 - width / 2, upper=10.0 + width / 2)
    t = _bounds(n=100_000, estimate=11.0, lower=10.0, upper=12.0)
    r = quantile_test(c, t)
    assert r.control_se == pytest.approx(10.0 / 1.8, rel=1e-12)
    assert math.isnan(r.relative_effect)


def test_control_interval_touching_zero_leaves_the_relative_effect_undefined() -> None:
    # qc - z se_c == 0 exactly (n = 4, n_star = 3: sqrt(3/4 * 3/4) = 0.75 is exact); the check is "<= 0".
    # Kills x__relative__mutmut_21.
    se_c = math.sqrt(3 / 4 * (4 - 1) / 4) * (8.0 - 0.0) / (2.0 * Z)
    qc = Z * se_c
    assert qc - Z * se_c == 0.0
    c = QuantileBounds(n=4, probability=0.5, estimate=qc, lower=0.0, upper=8.0, n_star=3)
    t = _bounds(n=100, estimate=5.0, lower=4.0, upper=6.0)
    r = quantile_test(c, t)
    assert r.control_se == se_c
    assert math.isnan(r.relative_effect)
    assert r.note == "relative effect undefined: the control quantile's confidence interval reaches 0"
