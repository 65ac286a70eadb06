"""Bayesian tests: flat prior equals the one-sided z test, conjugate updates, calibration, Beta-binomial checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from abrec.abtest import GaussianPrior, Moments, SampleStats, beta_binomial_test, gaussian_test, ztest
from abrec.errors import InputError, ParameterError


def test_flat_prior_chance_to_win_is_one_minus_one_sided_p() -> None:
    rng = np.random.default_rng(12)
    for _ in range(50):
        c = Moments(int(rng.integers(20, 500)), rng.normal(1, 0.1), rng.uniform(0.5, 2))
        t = Moments(int(rng.integers(20, 500)), rng.normal(1, 0.1), rng.uniform(0.5, 2))
        r = gaussian_test(c, t, ci_level=0.9)
        z = ztest(c, t, alternative="greater", alpha=0.1)
        assert r.chance_to_win == pytest.approx(1 - z.p_value, abs=1e-12)
        assert r.ci == pytest.approx(ztest(c, t, alpha=0.1).ci, rel=1e-12)
        assert r.expected_loss_control - r.expected_loss_treatment == pytest.approx(r.effect_mean, abs=1e-12)
        assert r.credible_interval() == r.confidence_interval() == r.ci


def test_conjugate_update_and_relative_scale() -> None:
    c, t = Moments(1000, 2.0, 1.0), Moments(1000, 2.1, 1.0)
    v = 2.0 / 1000
    r = gaussian_test(c, t, prior=GaussianPrior(0.05, 0.001))
    post_var = 1 / (1 / 0.001 + 1 / v)
    assert r.effect_sd == pytest.approx(math.sqrt(post_var))
    assert r.effect_mean == pytest.approx(post_var * (0.05 / 0.001 + 0.1 / v))
    draws = np.random.default_rng(0).normal(r.effect_mean, r.effect_sd, 400_000)  # Monte Carlo check of the loss
    assert r.expected_loss_treatment == pytest.approx(np.maximum(-draws, 0).mean(), rel=0.05)
    rel = gaussian_test(c, t, difference="relative")
    assert rel.effect_mean == pytest.approx(0.05) and rel.difference == "relative"
    with pytest.raises(InputError, match="positive control mean"):
        gaussian_test(Moments(10, 0.0, 1.0), t, difference="relative")
    with pytest.raises(ParameterError, match="'variance' parameter of GaussianPrior"):
        GaussianPrior(0.0, 0.0)
    with pytest.raises(ParameterError, match="'difference' parameter of gaussian_test"):
        gaussian_test(c, t, difference="ratio")  # type: ignore[arg-type]


def test_calibrated_when_effects_come_from_the_prior() -> None:
    rng = np.random.default_rng(13)
    sims, n, prior = 4000, 100, GaussianPrior(0.0, 0.04)
    effect = rng.normal(prior.mean, math.sqrt(prior.variance), sims)
    mean_c = rng.normal(1.0, math.sqrt(1.0 / n), sims)
    mean_t = rng.normal(1.0 + effect, math.sqrt(1.0 / n))
    results = [
        gaussian_test(Moments(n, a, 1.0), Moments(n, b, 1.0), prior=prior, ci_level=0.9)
        for a, b in zip(mean_c, mean_t, strict=True)
    ]
    covered = np.mean([r.ci[0] <= e <= r.ci[1] for r, e in zip(results, effect, strict=True)])
    assert abs(covered - 0.9) <= 4.5 * math.sqrt(0.09 / sims), covered
    win = np.array([r.chance_to_win for r in results])
    confident = win > 0.8  # among confident calls, the share that truly win matches the stated chance
    truth = (effect > 0)[confident]
    assert abs(truth.mean() - win[confident].mean()) <= 4.5 * math.sqrt(0.1 / confident.sum())


def evan_miller(a_c: int, b_c: int, a_t: int, b_t: int) -> float:
    """P(p_t > p_c) for Beta posteriors with integer parameters, Evan Miller's closed form."""
    i = np.arange(a_t)
    terms = special.betaln(a_c + i, b_c + b_t) - np.log(b_t + i) - special.betaln(1 + i, b_t) - special.betaln(a_c, b_c)
    return float(np.exp(terms).sum())


@pytest.mark.parametrize(
    ("n_c", "k_c", "n_t", "k_t"), [(1000, 100, 1000, 125), (40, 3, 55, 9), (5000, 2500, 4000, 1950)]
)
def test_beta_binomial_against_closed_form_and_monte_carlo(n_c: int, k_c: int, n_t: int, k_t: int) -> None:
    r = beta_binomial_test(SampleStats(n_c, k_c, k_c), SampleStats(n_t, k_t, k_t), ci_level=0.9)
    assert r.chance_to_win == pytest.approx(evan_miller(1 + k_c, 1 + n_c - k_c, 1 + k_t, 1 + n_t - k_t), abs=1e-8)
    rng = np.random.default_rng(14)
    pc = rng.beta(1 + k_c, 1 + n_c - k_c, 1_000_000)
    pt = rng.beta(1 + k_t, 1 + n_t - k_t, 1_000_000)
    d = pt - pc
    loss_t = np.maximum(-d, 0)
    assert r.expected_loss_treatment == pytest.approx(loss_t.mean(), abs=4.5 * loss_t.std() / 1000)
    assert r.expected_loss_control == pytest.approx(np.maximum(d, 0).mean(), abs=4.5 * d.std() / 1000)
    np.testing.assert_allclose(r.ci, np.quantile(d, [0.05, 0.95]), atol=0.01 * d.std())
    assert r.effect_mean == pytest.approx(d.mean(), abs=4.5 * d.std() / 1000)


def test_beta_binomial_errors() -> None:
    s = SampleStats(10, 3.0, 3.0)
    with pytest.raises(InputError, match="0/1 values"):
        beta_binomial_test(SampleStats.from_values([0.0, 2.0]), s)
    with pytest.raises(ParameterError, match="'prior_alpha' parameter of beta_binomial_test"):
        beta_binomial_test(s, s, prior_alpha=0)
