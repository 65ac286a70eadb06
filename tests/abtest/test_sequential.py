"""mSPRT: GrowthBook's formulas, duality of p-value and interval, and validity under peeking after every batch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from abrec.abtest import Moments, SampleStats, sequential_test, welch_ttest
from abrec.errors import ParameterError


def gbstats_halfwidth(s2: float, n: float, n_star: float, alpha: float) -> float:
    """gbstats.frequentist.tests.sequential_interval_halfwidth, transcribed (two-sided)."""
    rho = math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / n_star)
    return math.sqrt(s2) * math.sqrt(
        2 * (n * rho**2 + 1) * math.log(math.sqrt(n * rho**2 + 1) / alpha) / (n * rho) ** 2
    )


def test_matches_gbstats_and_tau_squared_form() -> None:
    c, t = Moments(3000, 1.0, 2.0), Moments(2000, 1.1, 3.0)
    r = sequential_test(c, t, alpha=0.05, tuning_parameter=5000)
    se2 = 2.0 / 3000 + 3.0 / 2000
    half = gbstats_halfwidth(se2 * 5000, 5000, 5000, 0.05)
    np.testing.assert_allclose(r.ci, (0.1 - half, 0.1 + half), rtol=1e-10)
    rho2 = (-2 * math.log(0.05) + math.log(-2 * math.log(0.05) + 1)) / 5000
    tr2p1 = 5000 * rho2 + 1  # gbstats SequentialTwoSidedTTest.p_value (Waudby-Smith eq. 155)
    evalue = math.exp(rho2 * 0.1**2 * 5000 / se2 / (2 * tr2p1)) / math.sqrt(tr2p1)
    assert r.p_value == pytest.approx(min(1.0, 1 / evalue), rel=1e-10)
    same = sequential_test(c, t, tau_squared=rho2 * 5000 * se2)  # Johari's tau^2 on the effect scale
    assert same.p_value == pytest.approx(r.p_value, rel=1e-12) and same.ci == pytest.approx(r.ci, rel=1e-12)
    assert r.method == "msprt" and r.df == math.inf
    assert r.ci[1] - r.ci[0] > welch_ttest(c, t).ci[1] - welch_ttest(c, t).ci[0]  # the price of peeking


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("effect", [-0.2, 0.05, 0.12, 0.3])
def test_p_value_below_alpha_iff_interval_excludes_zero(alternative: str, effect: float) -> None:
    c, t = Moments(2000, 1.0, 1.0), Moments(2000, 1.0 + effect, 1.0)
    r = sequential_test(c, t, alternative=alternative)  # type: ignore[arg-type]
    assert (r.p_value <= r.alpha) == (not r.ci[0] <= 0 <= r.ci[1])
    assert (r.relative_p_value <= r.alpha) == (not r.relative_ci.contains(0.0))  # the relative lift's test too
    # with a fixed mixture, the interval at alpha = p-value has 0 on its boundary
    fixed = sequential_test(c, t, alternative=alternative, tau_squared=1e-3)  # type: ignore[arg-type]
    if 1e-12 < fixed.p_value < (1.0 if alternative == "two-sided" else 0.5):
        at_p = sequential_test(c, t, alternative=alternative, tau_squared=1e-3, alpha=fixed.p_value)  # type: ignore[arg-type]
        assert min(abs(at_p.ci[0]), abs(at_p.ci[1])) < 1e-9
    if alternative != "two-sided" and (effect > 0) == (alternative == "less"):  # evidence for the other side
        assert fixed.p_value == 1.0


def _peeks(
    rng: np.random.Generator, sims: int, peeks: int, batch: int, effect: float
) -> tuple[list[list[SampleStats]], list[list[SampleStats]]]:
    """Cumulative normal-data statistics of both arms after each batch."""
    arms = []
    for shift in (0.0, effect):
        x = rng.normal(shift, 1.0, (sims, peeks, batch))
        n = batch * np.arange(1, peeks + 1)
        sums, sqs = x.sum(2).cumsum(1), (x * x).sum(2).cumsum(1)
        arms.append([[SampleStats(int(n[k]), sums[s, k], sqs[s, k]) for k in range(peeks)] for s in range(sims)])
    return arms[0], arms[1]


def test_peeking_after_every_batch() -> None:
    rng = np.random.default_rng(10)
    sims, peeks, batch, alpha = 1000, 20, 50, 0.05
    control, treatment = _peeks(rng, sims, peeks, batch, 0.0)
    seq = fixed = 0
    for c_runs, t_runs in zip(control, treatment, strict=True):
        seq += any(
            sequential_test(c, t, tuning_parameter=2 * peeks * batch).p_value < alpha
            for c, t in zip(c_runs, t_runs, strict=True)
        )
        fixed += any(welch_ttest(c, t).p_value < alpha for c, t in zip(c_runs, t_runs, strict=True))
    seq_rate, fixed_rate = seq / sims, fixed / sims
    print(f"A/A, a peek after each of {peeks} batches: sequential {seq_rate:.3f}, fixed-horizon {fixed_rate:.3f}")
    se = math.sqrt(alpha * (1 - alpha) / sims)
    assert seq_rate <= alpha + 4.5 * se, seq_rate  # measured 0.008 (the README's figure)
    assert fixed_rate >= alpha + 15 * se, fixed_rate  # measured 0.24


def test_interval_covers_a_true_effect_at_every_look() -> None:
    rng = np.random.default_rng(11)
    sims, peeks, batch, alpha, effect = 600, 20, 50, 0.1, 0.2
    control, treatment = _peeks(rng, sims, peeks, batch, effect)
    misses = sum(
        any(
            not (r.ci[0] <= effect <= r.ci[1])
            for r in (sequential_test(c, t, alpha=alpha, tuning_parameter=1000) for c, t in zip(cr, tr, strict=True))
        )
        for cr, tr in zip(control, treatment, strict=True)
    )
    assert misses / sims <= alpha + 4.5 * math.sqrt(alpha * (1 - alpha) / sims), misses / sims
    # and it finds the effect in the end (power at the last look)
    found = np.mean(
        [
            sequential_test(cr[-1], tr[-1], tuning_parameter=1000).p_value < 0.05
            for cr, tr in zip(control, treatment, strict=True)
        ]
    )
    assert found > 0.6, found


def test_errors() -> None:
    m = Moments(10, 1.0, 1.0)
    with pytest.raises(ParameterError, match="'tuning_parameter' parameter of sequential_test"):
        sequential_test(m, m, tuning_parameter=0)
    with pytest.raises(ParameterError, match="'tau_squared'"):
        sequential_test(m, m, tau_squared=-1.0)
    with pytest.raises(ParameterError, match=r"'alpha' parameter of sequential_test must be a float in \(0, 0.5\)"):
        sequential_test(m, m, alpha=0.6, alternative="greater")
