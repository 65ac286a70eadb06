"""CUPED: equals the ANCOVA (statsmodels OLS) estimate, keeps alpha, and reduces variance by about corr**2."""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm

from abrec.abtest import CupedStats, cuped_test
from abrec.errors import ParameterError


def _arms(rng: np.random.Generator, sims: int, n: int, rho: float, effect: float) -> tuple[np.ndarray, np.ndarray]:
    pre = rng.normal(0.0, 1.0, (sims, 2, n))
    post = rho * pre + math.sqrt(1 - rho**2) * rng.normal(0.0, 1.0, (sims, 2, n)) + 5.0
    post[:, 1] += effect
    return pre, post


def test_matches_ancova_ols() -> None:
    rng = np.random.default_rng(7)
    pre, post = _arms(rng, 1, 300, 0.7, 0.2)
    c, t = CupedStats.from_values(post[0, 0], pre[0, 0]), CupedStats.from_values(post[0, 1], pre[0, 1])
    r = cuped_test(c, t, method="z")
    arm = np.r_[np.zeros(300), np.ones(300)]
    design = sm.add_constant(np.column_stack([arm, np.r_[pre[0, 0], pre[0, 1]]]))
    fit = sm.OLS(np.r_[post[0, 0], post[0, 1]], design).fit()  # statsmodels OLS: y ~ 1 + arm + pre
    assert r.theta == pytest.approx(fit.params[2], rel=1e-10)
    assert r.test.effect == pytest.approx(fit.params[1], rel=1e-10)
    assert r.test.standard_error == pytest.approx(fit.bse[1], rel=0.01)  # same model, up to df
    assert r.raw.effect == pytest.approx(post[0, 1].mean() - post[0, 0].mean())
    assert r.test.method == "cuped-z" and r.confidence_interval() == r.test.ci


def test_keeps_alpha_and_reduces_variance() -> None:
    rng = np.random.default_rng(8)
    sims, n, rho, alpha = 3000, 200, 0.8, 0.05
    pre, post = _arms(rng, sims, n, rho, 0.0)
    results = [
        cuped_test(CupedStats.from_values(post[s, 0], pre[s, 0]), CupedStats.from_values(post[s, 1], pre[s, 1]))
        for s in range(sims)
    ]
    rate = float(np.mean([r.test.p_value < alpha for r in results]))
    assert abs(rate - alpha) <= 4.5 * math.sqrt(alpha * (1 - alpha) / sims), rate
    reduction = np.array([r.variance_reduction for r in results])
    print(f"CUPED, rho {rho}: variance reduction {reduction.mean():.3f}, A/A false-positive rate {rate:.3f}")
    assert reduction.mean() == pytest.approx(rho**2, abs=0.02)
    # the adjusted estimate really is less variable across simulations, by the reported factor
    spread = np.var([r.test.effect for r in results]) / np.var([r.raw.effect for r in results])
    assert spread == pytest.approx(1 - rho**2, rel=0.1)


def test_more_power_under_an_effect() -> None:
    rng = np.random.default_rng(9)
    pre, post = _arms(rng, 400, 200, 0.8, 0.2)
    results = [
        cuped_test(CupedStats.from_values(post[s, 0], pre[s, 0]), CupedStats.from_values(post[s, 1], pre[s, 1]))
        for s in range(400)
    ]
    raw = np.mean([r.raw.p_value < 0.05 for r in results])
    adjusted = np.mean([r.test.p_value < 0.05 for r in results])
    assert adjusted > raw + 0.3, (raw, adjusted)  # about 0.51 -> 0.92 in theory


def test_errors() -> None:
    s = CupedStats.from_values([1.0, 2.0, 4.0], [0.0, 1.0, 1.0])
    with pytest.raises(ParameterError, match="'method' parameter of cuped_test"):
        cuped_test(s, s, method="ols")  # type: ignore[arg-type]
