"""SNIPW and SNDR on weights near the ends of the float range (issue 20).

``sum(w x) / sum(w)`` does not change when every weight is scaled by the same factor. Subnormal
weights used to make ``mean(w)`` underflow to 0 while ``mean(w r)`` did not (an estimate of inf), and
huge ones made the sums overflow; the estimators now rescale the weights by a power of two first, so
the estimate and its standard error are those of the same log with moderate weights.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from abrec.ope import SNIPW, LoggedFeedback, SelfNormalizedDoublyRobust
from abrec.ope.importance import rescaled_weights

N, K = 40, 3


def _log(seed: int) -> tuple[LoggedFeedback, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    action = rng.integers(0, K, N)
    reward = rng.normal(2.0, 3.0, N)
    fb = LoggedFeedback.from_arrays(action=action, reward=reward, propensity=np.full(N, 1.0 / K), n_actions=K)
    q = rng.normal(1.0, 1.0, (N, K))
    return fb, rng.dirichlet(np.ones(K), size=N), q


def _scaled_rows(pi: np.ndarray, fb: LoggedFeedback, scale: float) -> np.ndarray:
    """The target with its probability of each logged action times ``scale`` (the rest moved to another)."""
    out = pi.copy()
    idx = np.arange(N)
    logged = out[idx, fb.action] * scale
    other = (fb.action + 1) % K
    out[idx, other] += out[idx, fb.action] - logged
    out[idx, fb.action] = logged
    return out


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("scale", [2.0**-1060, 1e-320, 2.0**-600, 2.0**-40])
def test_tiny_weights_give_the_estimate_of_the_same_weights_scaled_up(seed: int, scale: float) -> None:
    # Every logged action's target probability times `scale` (down to subnormals: the weights keep a
    # few significant bits only). The estimate is that of the log whose weights are the same floats
    # scaled back up exactly by a power of two: computed here as sum(w r) / sum(w) on those weights.
    fb, pi, q = _log(seed)
    target = _scaled_rows(pi, fb, scale)
    w = target[np.arange(N), fb.action] / fb.propensity
    assert np.all(w < 1e-11)
    w_up = np.ldexp(w, -math.frexp(w.max())[1])  # exact: largest in [0.5, 1)
    expected = float(np.sum(w_up * fb.reward) / np.sum(w_up))
    r = SNIPW(n_bootstrap=0, ess_threshold=0.0).estimate(fb, target)
    assert r.value == pytest.approx(expected, rel=1e-12)
    assert math.isfinite(r.standard_error) and r.standard_error > 0
    q_logged = q[np.arange(N), fb.action]
    dm = np.einsum("ij,ij->i", target, q) / target.sum(axis=1)
    expected_dr = float(dm.mean() + np.sum(w_up * (fb.reward - q_logged)) / np.sum(w_up))
    sndr = SelfNormalizedDoublyRobust(n_bootstrap=0, ess_threshold=0.0).estimate(fb, target, q)
    assert sndr.value == pytest.approx(expected_dr, rel=1e-12)
    assert math.isfinite(sndr.standard_error) and sndr.standard_error > 0


def test_standard_error_does_not_depend_on_the_weights_scale() -> None:
    # Same log, weights at 2^-1000 of the original (exact scaling while they stay normal): the same
    # value and SE as at scale 1, to rounding. Also the bootstrap interval stays finite.
    fb, pi, _ = _log(7)
    small = _scaled_rows(pi, fb, 2.0**-1000)
    base = _scaled_rows(pi, fb, 1.0)
    a = SNIPW(n_bootstrap=0, ess_threshold=0.0).estimate(fb, base)
    b = SNIPW(n_bootstrap=0, ess_threshold=0.0).estimate(fb, small)
    assert b.value == pytest.approx(a.value, rel=1e-12)
    assert b.standard_error == pytest.approx(a.standard_error, rel=1e-9)
    boot = SNIPW(n_bootstrap=200, seed=1, ess_threshold=0.0).estimate(fb, small)
    assert math.isfinite(boot.ci_low) and math.isfinite(boot.ci_high) and boot.ci_low < b.value < boot.ci_high


def test_rescaled_weights_are_exact_powers_of_two_and_leave_moderate_weights_alone() -> None:
    rng = np.random.default_rng(3)
    moderate = rng.exponential(1.0, 50) * 2.0 ** rng.integers(-500, 500, 50)
    moderate[0] = 2.0**511  # the largest still inside 2^(+-512)
    assert np.array_equal(rescaled_weights(moderate), moderate)
    for exponent in (-1070, -900, -600, 600, 900, 1020):
        w = rng.exponential(1.0, 50) * 2.0**exponent
        out = rescaled_weights(w)
        ratio = out / w
        assert np.all(ratio == ratio[0]) and math.frexp(ratio[0])[0] == 0.5  # one power of two
        assert 2.0**-513 <= out.max() < 2.0**513
    assert np.array_equal(rescaled_weights(np.zeros(4)), np.zeros(4))
    assert rescaled_weights(np.zeros(0)).shape == (0,)
