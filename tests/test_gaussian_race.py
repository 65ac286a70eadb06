"""Linear Thompson sampling's k = 1 propensities: Rao-Blackwellised Monte Carlo of a Gaussian race."""

from __future__ import annotations

import math

import numpy as np
import pytest

from abrec.policies import _gaussian_race, _kernels

MEAN = np.array([[0.5, 0.0, 0.2, -1.0]])
SCALE = np.array([[0.3, 0.5, 0.01, 1.0]])


def _exact_win_probabilities() -> np.ndarray:
    """P(candidate j has the highest score), by numerical integration of f_j(s) prod_{i != j} F_i(s)."""
    grid = np.linspace(-8.0, 5.0, 400_001)
    z = (grid[None, :] - MEAN[0][:, None]) / SCALE[0][:, None]
    pdf = np.exp(-0.5 * z**2) / (SCALE[0][:, None] * math.sqrt(2 * math.pi))
    cdf_full = 0.5 * np.vectorize(math.erfc)(-z / math.sqrt(2))
    out = []
    for j in range(4):
        others = np.prod(np.delete(cdf_full, j, axis=0), axis=0)
        out.append(np.trapezoid(pdf[j] * others, grid))
    return np.array(out)


@pytest.mark.parametrize("use_numba", [True, False])
def test_propensities_match_exact_win_probabilities(use_numba: bool) -> None:
    if use_numba and not _kernels.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    exact = _exact_win_probabilities()
    assert abs(exact.sum() - 1.0) < 1e-6
    n = 4000
    slots, props = _gaussian_race.race(
        np.random.default_rng(1), np.repeat(MEAN, n, 0), np.repeat(SCALE, n, 0), None, 200, use_numba
    )
    for j in range(4):
        chosen = slots[:, 0] == j
        # Choice frequencies follow the exact probabilities (binomial error) ...
        assert abs(chosen.mean() - exact[j]) < 4.5 * math.sqrt(exact[j] * (1 - exact[j]) / n)
        # ... and each estimate is unbiased: the mean over requests sits at the exact value, within
        # 4.5 standard errors of that mean (the estimates' own spread over requests).
        est = props[chosen, 0]
        assert abs(est.mean() - exact[j]) < 4.5 * est.std() / math.sqrt(est.size) + 1e-9


def test_rao_blackwell_beats_counting() -> None:
    # Counting hits with 200 draws has sd sqrt(p (1 - p) / 200); the Rao-Blackwellised estimate is far tighter.
    n = 3000
    slots, props = _gaussian_race.race(
        np.random.default_rng(2), np.repeat(MEAN, n, 0), np.repeat(SCALE, n, 0), None, 200, False
    )
    est = props[slots[:, 0] == 3, 0]
    p = 0.0637
    assert est.std() < 0.5 * math.sqrt(p * (1 - p) / 200)


def test_backends_agree_with_masks_and_degenerate_scales() -> None:
    if not _kernels.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    gen = np.random.default_rng(9)
    mean, scale = gen.standard_normal((60, 7)), np.abs(gen.standard_normal((60, 7)))
    scale[:, 0] = 0.0  # a candidate with no uncertainty
    valid = gen.random((60, 7)) < 0.7
    valid[:, 1] = True
    a = _gaussian_race.race(np.random.default_rng(3), mean, scale, valid, 50, True)
    b = _gaussian_race.race(np.random.default_rng(3), mean, scale, valid, 50, False)
    assert np.array_equal(a[0], b[0])
    np.testing.assert_allclose(a[1], b[1], rtol=1e-12)
    assert np.take_along_axis(valid, a[0], axis=1).all()
    assert ((a[1] > 0) & (a[1] <= 1)).all()
