"""SRM: equals scipy's chi-square with fixed weights; holds alpha when weights change, where the naive test fails."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from abrec.abtest import srm_test
from abrec.errors import InputError


@pytest.mark.parametrize(
    ("counts", "weights"), [([5050, 4950], [0.5, 0.5]), ([980, 2100, 910], [1, 2, 1]), ([30, 70], [0.2, 0.8])]
)
def test_fixed_weights_equal_pearson(counts: list[int], weights: list[float]) -> None:
    w = np.asarray(weights, float) / np.sum(weights)
    ref = scipy.stats.chisquare(counts, np.sum(counts) * w)  # scipy.stats.chisquare
    r = srm_test(counts, weights)
    assert r.statistic == pytest.approx(ref.statistic, rel=1e-9) and r.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert r.df == len(counts) - 1 and r.observed == tuple(counts)
    # the same weights repeated per period give the same test
    split = np.vstack([np.floor_divide(counts, 2), np.subtract(counts, np.floor_divide(counts, 2))])
    assert srm_test(split, weights).statistic == pytest.approx(r.statistic, rel=1e-9)


def test_certain_mismatch_and_errors() -> None:
    r = srm_test([[100, 5], [100, 100]], [[1.0, 0.0], [0.5, 0.5]])
    assert r.statistic == math.inf and r.p_value == 0.0 and r.mismatch()
    assert srm_test([[100, 0], [100, 100]], [[1.0, 0.0], [0.5, 0.5]]).p_value == pytest.approx(1.0)
    with pytest.raises(InputError, match="non-negative integers"):
        srm_test([1.5, 2], [0.5, 0.5])
    with pytest.raises(InputError, match="n_variants >= 2"):
        srm_test([10], [1.0])
    with pytest.raises(InputError, match="weights must have shape"):
        srm_test([[1, 2], [3, 4]], [[0.5, 0.5]] * 3)
    with pytest.raises(InputError, match="positive somewhere"):
        srm_test([1, 2], [0.0, 0.0])


def test_holds_alpha_when_weights_change_and_naive_test_does_not() -> None:
    rng = np.random.default_rng(15)
    sims, alpha = 3000, 0.05
    weights = np.array([[0.8, 0.1, 0.1], [0.5, 0.25, 0.25], [1 / 3, 1 / 3, 1 / 3]])  # a three-step ramp
    totals = [3000, 3000, 4000]
    counts = np.stack([rng.multinomial(n, w, size=sims) for n, w in zip(totals, weights, strict=True)], axis=1)
    proper = np.mean([srm_test(c, weights).p_value < alpha for c in counts])
    naive = np.mean([srm_test(c.sum(0), weights[-1]).p_value < alpha for c in counts])  # final weights only
    print(f"SRM A/A with a weight ramp: period-aware {proper:.3f}, naive (final weights) {naive:.3f}")
    assert abs(proper - alpha) <= 4.5 * math.sqrt(alpha * (1 - alpha) / sims), proper
    assert naive > 0.99, naive


def test_power_and_alpha_under_a_sharp_ramp() -> None:
    """A 98/1/1 -> equal ramp: the covariance must be the per-period sum, not one multinomial of the pooled weights.

    With the weights of the whole experiment treated as one multinomial (``diag(e) - e e' / N``) the covariance is
    too large after a sharp ramp: that test rejects 2.2% of these A/A runs (the right one 4.5%) and finds the
    mismatch below in 29% of runs (the right one 48%, as the noncentral chi-square says: 48.0%). The power is checked
    against ``scipy.stats.ncx2`` with the drift ``delta = sum_p N_p (actual_p - w_p)`` and noncentrality
    ``delta' S^+ delta``, ``S`` the per-period covariance.
    """
    rng = np.random.default_rng(16)
    sims, alpha = 3000, 0.05
    weights = np.array([[0.98, 0.01, 0.01], [1 / 3, 1 / 3, 1 / 3]])
    totals = np.array([5000, 5000])
    # after the ramp, variant 2 loses 1.3% of its units to variant 0 (a redirect that drops some of them)
    actual = np.array([[0.98, 0.01, 0.01], [1 / 3 + 0.013, 1 / 3, 1 / 3 - 0.013]])

    def rejections(probabilities: np.ndarray) -> float:
        counts = np.stack([rng.multinomial(n, p, size=sims) for n, p in zip(totals, probabilities, strict=True)], 1)
        return float(np.mean([srm_test(c, weights).p_value < alpha for c in counts]))

    tolerance = 4.5 * math.sqrt(alpha * (1 - alpha) / sims)
    aa = rejections(weights)
    assert abs(aa - alpha) <= tolerance, aa
    delta = totals @ (actual - weights)
    cov = np.diag(totals @ weights) - np.einsum("p,pi,pj->ij", totals, weights, weights)
    power = scipy.stats.ncx2.sf(scipy.stats.chi2.isf(alpha, 2), 2, delta @ np.linalg.pinv(cov) @ delta)
    assert 0.4 < power < 0.6, power  # a mismatch the test should find about half the time
    found = rejections(actual)
    assert abs(found - power) <= 4.5 * math.sqrt(power * (1 - power) / sims), (found, power)
