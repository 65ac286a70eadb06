"""The relative lift of a quantile metric gets its own p-value: gbstats' delta method on the two quantiles'
standard errors, checked against the formula, by A/A calibration over 4,000 runs, and in the readout."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from test_quantile_readout import make_log

from abrec.abtest import QuantileBounds, QuantileSample, holm, quantile_samples, quantile_test
from abrec.abtest.readout import analyze_log

Z99 = 2.5758293035489

CASES = [  # (control, treatment, probability, alternative): unequal sizes, one-sided, bootstrap SEs
    ("lognormal", 3000, 0.05, 4000, 0.5, "two-sided", "order-statistic"),
    ("lognormal", 500, 0.2, 200, 0.9, "greater", "order-statistic"),
    ("exponential", 2000, -0.1, 2000, 0.99, "less", "order-statistic"),
    ("exponential", 400, 0.1, 900, 0.5, "two-sided", "bootstrap"),
    ("gamma", 800, 0.0, 1200, 0.75, "two-sided", "bootstrap"),
]


def _draw(kind: str, rng: np.random.Generator, n: int, shift: float) -> np.ndarray:
    if kind == "lognormal":
        return rng.lognormal(shift, 1.0, n)
    if kind == "exponential":
        return rng.exponential(1.0 + shift, n)
    return rng.gamma(2.0, 1.0 + shift, n)


@pytest.mark.parametrize(("kind", "n_c", "shift", "n_t", "p", "alternative", "method"), CASES)
def test_relative_p_value_is_the_delta_method_z_test(
    kind: str, n_c: int, shift: float, n_t: int, p: float, alternative: str, method: str
) -> None:
    # gbstats (variance_of_ratios with covariance 0): Var(Q_t / Q_c) = se_t^2 / Q_c^2 + Q_t^2 se_c^2 / Q_c^4;
    # the p-value of lift / se on the normal distribution (scipy), one- or two-sided.
    rng = np.random.default_rng(n_c + n_t)
    c = QuantileSample.from_values(_draw(kind, rng, n_c, 0.0))
    t = QuantileSample.from_values(_draw(kind, rng, n_t, shift))
    r = quantile_test(c, t, probability=p, alternative=alternative, method=method)  # type: ignore[arg-type]
    qc, qt, se_c, se_t = r.control_quantile, r.treatment_quantile, r.control_se, r.treatment_se
    se = math.sqrt(se_t**2 / qc**2 + qt**2 * se_c**2 / qc**4)
    z = (qt / qc - 1.0) / se
    expected = {"two-sided": 2 * stats.norm.sf(abs(z)), "greater": stats.norm.sf(z), "less": stats.norm.cdf(z)}
    assert r.relative_se == pytest.approx(se, rel=1e-12)
    assert r.relative_p_value == pytest.approx(expected[alternative], rel=1e-9, abs=1e-300)
    # The interval and the p-value agree: 0 lies outside the interval exactly when p < alpha.
    assert (r.relative_p_value < 0.05) == (not r.relative_ci.low <= 0.0 <= r.relative_ci.high)


def test_precomputed_bounds_give_the_relative_p_value_too() -> None:
    c = QuantileBounds(n=5000, probability=0.5, estimate=2.0, lower=1.9, upper=2.1)
    t = QuantileBounds(n=5000, probability=0.5, estimate=2.2, lower=2.09, upper=2.31)
    r = quantile_test(c, t, probability=0.5)
    se = math.sqrt(r.treatment_se**2 / 4.0 + 2.2**2 * r.control_se**2 / 16.0)
    assert r.relative_p_value == pytest.approx(2 * stats.norm.sf(0.1 / se), rel=1e-9)


def test_no_relative_p_value_without_a_positive_control_quantile() -> None:
    rng = np.random.default_rng(0)
    c = QuantileSample.from_values(rng.normal(-1.0, 1.0, 500))
    t = QuantileSample.from_values(rng.normal(-0.8, 1.0, 500))
    r = quantile_test(c, t)
    assert math.isnan(r.relative_p_value) and math.isnan(r.relative_se) and "negative" in r.note
    assert not math.isnan(r.p_value)


@pytest.mark.parametrize("p", [0.5, 0.9])
def test_a_a_false_positive_rate_of_the_relative_p_value(p: float) -> None:
    # 4,000 A/A pairs of lognormal samples (400 units per arm): the relative p-value rejects at
    # alpha = 0.05 within the binomial 99% band. (The relative test is the absolute one rescaled only to
    # first order: a separate check.)
    rng = np.random.default_rng(40 + int(100 * p))
    sims, n, alpha = 4000, 400, 0.05
    rejected = 0
    for _ in range(sims):
        x = rng.lognormal(0.0, 1.0, (2, n))
        r = quantile_test(QuantileSample.from_values(x[0]), QuantileSample.from_values(x[1]), probability=p)
        rejected += bool(r.relative_p_value < alpha)
    assert abs(rejected / sims - alpha) < Z99 * math.sqrt(alpha * (1 - alpha) / sims)


def test_readout_of_a_quantile_metric_carries_the_relative_p_value() -> None:
    # The readout's relative p-values are quantile_test's on the units' totals; Holm-adjusted over the
    # two treatments (the readout's default correction) like the absolute ones; none for the control.
    log = make_log(seed=1)
    r = analyze_log(log, control="A", metric="p90", column="revenue")
    rows = {row.variant: row for row in r.variants}
    samples = quantile_samples(log, column="revenue")
    raw = [quantile_test(samples["A"], samples[v], probability=0.9).relative_p_value for v in ("B", "C")]
    assert [rows[v].relative_p_value for v in ("B", "C")] == raw
    assert [rows[v].relative_p_adjusted for v in ("B", "C")] == pytest.approx(holm(raw).tolist(), rel=1e-12)
    assert rows["B"].relative_p_value < 0.05 and math.isnan(rows["A"].relative_p_value)
