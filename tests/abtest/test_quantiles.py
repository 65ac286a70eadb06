"""Quantile tests: gbstats' and Spotify's formulas, transcribed; A/A calibration and coverage by simulation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import scipy.stats

from abrec.abtest import QuantileBounds, QuantileResult, QuantileSample, quantile_test
from abrec.errors import InputError, ParameterError

Z = scipy.stats.norm.ppf(0.975)


def binomial_band(rate: float, runs: int) -> tuple[float, float]:
    """The central 99% range of a binomial proportion (``runs`` trials at ``rate``)."""
    lo, hi = scipy.stats.binom.ppf([0.005, 0.995], runs, rate)
    return lo / runs, hi / runs


def gbstats_quantile_se(y: np.ndarray, nu: float) -> float:
    """gbstats: devtools/simulation.py builds the bounds, models/statistics.py QuantileStatistic turns them into se.

    quantile_lower/upper = np.quantile(y, nu -/+ 1.96 sqrt(nu (1 - nu) / n_star)); variance_init =
    (n_star / n) (n - 1) ((upper - lower) / (2 * 1.96))**2; the test's se**2 = variance / n. Here n_star = n.
    """
    n = y.size
    s = math.sqrt(nu * (1 - nu) / n)
    lower, upper = np.quantile(y, nu - Z * s), np.quantile(y, nu + Z * s)
    variance = (n / n) * (n - 1) * ((upper - lower) / (2 * Z)) ** 2
    return math.sqrt(variance / n)


def test_matches_gbstats_quantile_statistic_on_its_own_numbers() -> None:
    # gbstats tests/bayesian/test_tests.py::TestEffectBayesianABTest: p90, n_star = n; with the improper flat prior
    # the posterior is N(diff, se**2), so b_improper_flat.ci is the Wald interval.
    c = QuantileBounds(n=11054, probability=0.9, estimate=7.157987489967789, lower=7.098780136176828,
                       upper=7.217194843758751, n_star=11054)  # fmt: skip
    t = QuantileBounds(n=10861, probability=0.9, estimate=7.694499927525767, lower=7.64180598628119,
                       upper=7.747193868770344, n_star=10861)  # fmt: skip
    r = quantile_test(c, t, probability=0.9)
    assert r.effect == pytest.approx(0.5365124375579775, rel=1e-12)  # b_improper_flat.expected
    np.testing.assert_allclose(tuple(r.ci), (0.4572559589115422, 0.6157689162044128), rtol=1e-12)
    # b_relative_flat (prior variance 1e6, so agreement to the prior's pull, ~1e-11): delta-method relative interval
    assert r.relative_effect == pytest.approx(0.07495297222736319, rel=1e-9)
    np.testing.assert_allclose(tuple(r.relative_ci), (0.06341005842481906, 0.08649588602990732), rtol=1e-9)
    # bounds computed on a coarser grid (n_star < n) are scaled by n_star / n
    coarse = QuantileBounds(n=40000, probability=0.9, estimate=7.0, lower=6.9, upper=7.1, n_star=25600)
    assert coarse.quantile_standard_error(0.9, "order-statistic") == pytest.approx(
        math.sqrt(25600 / 40000 * 39999 / 40000) * 0.2 / (2 * Z), rel=1e-12
    )


@pytest.mark.parametrize("nu", [0.5, 0.9, 0.99])
def test_sample_standard_error_is_gbstats_formula_on_raw_values(nu: float) -> None:
    rng = np.random.default_rng(1)
    y = rng.lognormal(0.0, 1.0, 3000)
    s = QuantileSample.from_values(y)
    assert s.quantile(nu) == pytest.approx(np.quantile(y, nu), rel=1e-12)  # numpy's linear interpolation
    assert s.quantile_standard_error(nu, "order-statistic") == pytest.approx(gbstats_quantile_se(y, nu), rel=1e-12)
    # without the density term (1 / f) the standard error would be sqrt(nu (1 - nu) / n): far too small here
    assert s.quantile_standard_error(nu, "order-statistic") > 2 * math.sqrt(nu * (1 - nu) / y.size)


def test_event_level_quantile_uses_gbstats_cluster_variance() -> None:
    rng = np.random.default_rng(2)
    users = 400
    events = rng.integers(1, 9, users)
    user_level = rng.lognormal(0.0, 0.6, users)  # events of one user are alike
    ids = np.repeat(np.arange(users), events)
    y = np.repeat(user_level, events) * rng.lognormal(0.0, 0.3, ids.size)
    nu = 0.9
    s = QuantileSample.from_values(y, clusters=ids)
    # gbstats QuantileClusteredStatistic: main_sum = per-user events <= quantile_hat, denominator = events per user
    q = np.quantile(y, nu)
    main = np.bincount(ids, weights=(y <= q).astype(float), minlength=users)
    den = np.bincount(ids, minlength=users).astype(float)
    k = users
    mu_s, mu_n = main.sum() / k, den.sum() / k
    sigma_2_s = (np.sum(main**2) / k - mu_s**2) * k / (k - 1)
    sigma_2_n = (np.sum(den**2) / k - mu_n**2) * k / (k - 1)
    sigma_s_n = (np.sum(main * den) / k - mu_s * mu_n) * k / (k - 1)
    v_cluster = (sigma_2_s - 2 * mu_s * sigma_s_n / mu_n + mu_s**2 * sigma_2_n / mu_n**2) / (k * mu_n**2)
    v_iid_nu = nu * (1 - nu) / y.size
    expected = gbstats_quantile_se(y, nu) * math.sqrt(v_cluster / v_iid_nu)
    assert s.quantile_standard_error(nu, "order-statistic") == pytest.approx(expected, rel=1e-10)
    assert expected > 1.3 * gbstats_quantile_se(y, nu)  # clustering matters here
    # ids of any hashable kind; merging keeps each value's unit
    named = QuantileSample.from_values(y, clusters=[f"user-{i}" for i in ids])
    assert named.quantile_standard_error(nu, "bootstrap") == pytest.approx(
        s.quantile_standard_error(nu, "bootstrap"), rel=1e-12
    )
    half = ids.size // 2
    merged = QuantileSample.from_values(y[:half], ids[:half]) + QuantileSample.from_values(y[half:], ids[half:])
    assert merged == s


@pytest.mark.parametrize("nu", [0.5, 0.9, 0.99])
def test_bootstrap_standard_error_equals_a_poisson_bootstrap(nu: float) -> None:
    """Spotify's resampling-free formula against the Poisson bootstrap it replaces (Monte Carlo, 2,000 resamples)."""
    rng = np.random.default_rng(3)
    y = np.sort(rng.lognormal(0.0, 1.0, 1000))
    resamples = 2000
    weights = rng.poisson(1.0, (resamples, y.size))
    boot = np.array([np.quantile(np.repeat(y, w), nu) for w in weights])
    se = QuantileSample(y).quantile_standard_error(nu, "bootstrap")
    # the Monte Carlo sd has relative standard error ~ 1 / sqrt(2 (B - 1)) = 1.6% (more in the tail)
    assert se == pytest.approx(boot.std(ddof=1), rel=0.06), (se, boot.std(ddof=1))


def test_merging_samples_is_exact() -> None:
    rng = np.random.default_rng(4)
    parts = [rng.exponential(1.0, n) for n in (10, 200, 37)]
    whole = QuantileSample.from_values(np.concatenate(parts))
    merged = sum(QuantileSample.from_values(p) for p in parts)
    assert merged == whole and merged.n == 247
    for p in (0.5, 0.9, 0.99):
        assert merged.quantile(p) == whole.quantile(p)
    assert not whole.values.flags.writeable
    with pytest.raises(InputError, match="sorted"):
        QuantileSample(np.array([2.0, 1.0]))
    with pytest.raises(InputError, match="unit ids"):
        whole + QuantileSample.from_values([1.0], clusters=["u"])
    with pytest.raises(InputError, match="finite"):
        QuantileSample.from_values([1.0, math.nan])


RUNS, N, ALPHA = 4000, 2000, 0.05


@pytest.fixture(scope="module")
def arms() -> tuple[np.ndarray, np.ndarray]:
    """4,000 A/A runs: sorted lognormal(0, 1) values of both arms, 2,000 each (drawn and sorted at once)."""
    x = np.sort(np.random.default_rng(5).lognormal(0.0, 1.0, (RUNS, 2, N)), axis=-1)
    return x[:, 0], x[:, 1]


def _tests(control: np.ndarray, treatment: np.ndarray, **kwargs: Any) -> list[QuantileResult]:
    """quantile_test on each run's sorted arms."""
    pairs = zip(control, treatment, strict=True)
    return [quantile_test(QuantileSample(a), QuantileSample(b), **kwargs) for a, b in pairs]


def test_aa_false_positive_rate_and_coverage_at_alpha(arms: tuple[np.ndarray, np.ndarray]) -> None:
    """4,000 A/A runs of lognormal values, n = 2,000 per arm; and coverage of a known difference (treatment x 1.1)."""
    control, treatment = arms
    runs, alpha = RUNS, ALPHA
    lo, hi = binomial_band(alpha, runs)
    lines = []
    for method, nu in (("order-statistic", 0.5), ("order-statistic", 0.9), ("bootstrap", 0.9)):
        fpr = np.mean([r.p_value < alpha for r in _tests(control, treatment, probability=nu, method=method)])
        truth = 0.1 * math.exp(scipy.stats.norm.ppf(nu))  # lognormal(0, 1) quantile times 1.1, minus itself
        shifted = _tests(control, 1.1 * treatment, probability=nu, method=method)
        miss = np.mean([not r.ci.contains(truth) for r in shifted])
        lines.append(f"{method} p{round(100 * nu)}: A/A {fpr:.4f}, non-coverage {miss:.4f}")
        assert lo <= fpr <= hi, lines[-1]
        assert lo <= miss <= hi, lines[-1]
    print(f"quantile tests, {runs} runs, band [{lo:.4f}, {hi:.4f}]: " + "; ".join(lines))


def test_p99_at_n_2000_is_conservative_and_one_sided_holds_alpha(arms: tuple[np.ndarray, np.ndarray]) -> None:
    """p99 from 2,000 values leans on ~20 tail values: the Wald test is conservative there, never liberal."""
    control, treatment = arms
    alpha = ALPHA
    lo, hi = binomial_band(alpha, RUNS)
    fpr99 = np.mean([r.p_value < alpha for r in _tests(control, treatment, probability=0.99)])
    greater = _tests(control, treatment, probability=0.9, alternative="greater")
    fpr_one = np.mean([r.p_value < alpha for r in greater])
    print(f"p99 A/A at n=2000: {fpr99:.4f}; one-sided p90 A/A: {fpr_one:.4f}")
    assert fpr99 <= hi, fpr99
    assert lo <= fpr_one <= hi, fpr_one
    assert all(r.ci.high == math.inf for r in greater)


def test_one_sided_and_two_sided_agree() -> None:
    rng = np.random.default_rng(7)
    c = QuantileSample.from_values(rng.lognormal(0.0, 1.0, 3000))
    t = QuantileSample.from_values(rng.lognormal(0.15, 1.0, 3000))
    two = quantile_test(c, t, probability=0.5)
    greater = quantile_test(c, t, probability=0.5, alternative="greater")
    less = quantile_test(c, t, probability=0.5, alternative="less")
    assert two.effect > 0 and greater.p_value == pytest.approx(two.p_value / 2, rel=1e-12)
    assert less.p_value == pytest.approx(1 - two.p_value / 2, rel=1e-12)
    assert greater.ci.low > two.ci.low and less.ci.low == -math.inf
    assert two.standard_error == pytest.approx(math.hypot(two.control_se, two.treatment_se), rel=1e-12)
    assert two.significant == (two.p_value < 0.05) and two.confidence_interval() == two.ci
    assert two.confidence_interval(relative=True) == two.relative_ci
    rel_se = math.sqrt(two.treatment_se**2 / two.control_quantile**2
                       + two.treatment_quantile**2 * two.control_se**2 / two.control_quantile**4)  # fmt: skip
    assert two.relative_ci.high - two.relative_effect == pytest.approx(Z * rel_se, rel=1e-9)


def test_undefined_values_come_with_a_note() -> None:
    small = QuantileSample.from_values(np.arange(100.0))
    r = quantile_test(small, small, probability=0.99)
    assert math.isnan(r.p_value) and math.isnan(r.ci.low) and "at least 381 values" in r.note
    tied = QuantileSample.from_values([1.0] * 50 + [2.0] * 50)
    r = quantile_test(tied, tied, probability=0.25)
    assert r.standard_error == 0 and math.isnan(r.p_value) and "tied" in r.note
    rng = np.random.default_rng(8)
    negative = QuantileSample.from_values(rng.normal(-1.0, 1.0, 500))
    r = quantile_test(negative, negative, probability=0.5)
    assert math.isnan(r.relative_effect) and "negative" in r.note and r.p_value == pytest.approx(1.0)
    near_zero = QuantileSample.from_values(np.linspace(-1.0, 1.1, 501))  # median 0.05, standard error ~0.05
    assert "reaches 0" in quantile_test(near_zero, near_zero).note


def test_parameters_and_inputs_are_checked() -> None:
    s = QuantileSample.from_values(np.arange(50.0))
    with pytest.raises(ParameterError, match=r"'probability' parameter of quantile_test must be a float in \(0, 1\)"):
        quantile_test(s, s, probability=1.0)
    with pytest.raises(ParameterError, match="Did you mean 'bootstrap'"):
        quantile_test(s, s, method="bootstrp")  # type: ignore[arg-type]
    b = QuantileBounds(n=100, probability=0.5, estimate=1.0, lower=0.9, upper=1.1)
    with pytest.raises(InputError, match="only method='order-statistic'"):
        quantile_test(b, b, method="bootstrap")
    with pytest.raises(InputError, match=r"probability 0\.5"):
        quantile_test(b, b, probability=0.9)
    with pytest.raises(InputError, match="lower <= estimate <= upper"):
        QuantileBounds(n=100, probability=0.5, estimate=1.2, lower=0.9, upper=1.1)
    with pytest.raises(InputError, match="n_star"):
        QuantileBounds(n=100, probability=0.5, estimate=1.0, lower=0.9, upper=1.1, n_star=200)
