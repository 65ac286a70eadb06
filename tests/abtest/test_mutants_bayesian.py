"""Bayesian tests: edges that mutation testing (``make mutate``) found untested.

The relative scale's delta-method variance, the expected loss at a posterior sd of exactly 1, the
Beta posteriors' variances, the accuracy of the quadrature where the answer is tiny, the result's
labels, and the checks on priors and arms (with the arm and the function named in the errors).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from abrec.abtest import GaussianPrior, Moments, SampleStats, beta_binomial_test, gaussian_test
from abrec.errors import InputError, ParameterError


# ---------------------------------------------------------------------------- gaussian_test
def test_relative_scale_variance_is_the_delta_method() -> None:
    # Var(mt / mc - 1) ~ var_t / mc^2 + var_c mt^2 / mc^4, with var_x = variance / n. Control and treatment
    # means 2 and 3, arms of different variance and size. Mutants: every operator and power of that formula,
    # and the positive-mean check `mc <= 0` -> `mc <= 1` (a control mean of 0.5 is fine).
    c, t = Moments(400, 2.0, 1.5), Moments(900, 3.0, 4.0)
    var_c, var_t = 1.5 / 400, 4.0 / 900
    r = gaussian_test(c, t, difference="relative")
    assert r.effect_mean == pytest.approx(0.5, rel=1e-12)
    assert r.effect_sd == pytest.approx(math.sqrt(var_t / 4.0 + var_c * 9.0 / 16.0), rel=1e-12)
    small = gaussian_test(Moments(400, 0.5, 1.5), t, difference="relative")
    assert small.effect_mean == pytest.approx(5.0, rel=1e-12)
    assert small.effect_sd == pytest.approx(math.sqrt(var_t / 0.25 + var_c * 9.0 / 0.0625), rel=1e-12)


def test_expected_losses_at_a_posterior_sd_of_one() -> None:
    # var_c + var_t = 1 exactly: sd 1. E[max(X, 0)] = m Phi(m) + phi(m) for X ~ N(m, 1).
    c, t = Moments(2, 0.0, 1.0), Moments(2, 0.3, 1.0)
    r = gaussian_test(c, t)
    assert r.effect_sd == 1.0 and r.effect_mean == pytest.approx(0.3, rel=1e-12)
    m = r.effect_mean
    assert r.expected_loss_control == pytest.approx(m * special.ndtr(m) + math.exp(-m * m / 2) / math.sqrt(2 * math.pi))
    assert r.expected_loss_treatment == pytest.approx(
        -m * special.ndtr(-m) + math.exp(-m * m / 2) / math.sqrt(2 * math.pi)
    )


def test_constant_arms_are_rejected_and_labels() -> None:
    # Mutants: `not variance > 0` -> `not variance >= 0` (then a ZeroDivisionError), the model label,
    # the function's name in the arm checks.
    with pytest.raises(InputError, match="positive standard error"):
        gaussian_test(Moments(10, 1.0, 0.0), Moments(10, 2.0, 0.0))
    with pytest.raises(InputError, match=r"^gaussian_test "):
        gaussian_test(Moments(10, 1.0, 1.0), Moments(1, 2.0, 0.0))
    r = gaussian_test(Moments(10, 1.0, 1.0), Moments(10, 2.0, 1.0))
    assert (r.model, r.difference) == ("gaussian", "absolute")


@pytest.mark.parametrize("prior", [(math.inf, 1.0), (0.0, math.inf), (-math.inf, 1.0)])
def test_prior_must_be_finite(prior: tuple[float, float]) -> None:
    # An infinite mean passes the interval check (-inf, inf]; the finiteness check rejects it.
    # Mutant: `not isfinite(mean) or not isfinite(variance)` -> `and`.
    with pytest.raises(ParameterError):
        GaussianPrior(*prior)


def test_prior_variance_with_an_infinite_precision_is_rejected() -> None:
    # Below 1 / max_float (~5.6e-309) the precision 1 / variance overflows: it used to pass the checks
    # and end in a ZeroDivisionError inside gaussian_test (sd = sqrt(1 / inf) = 0). Now a ParameterError
    # at construction, saying what is wrong; the smallest variance with a finite precision is accepted.
    for variance in (1e-310, 5e-324, 5.5e-309):
        with pytest.raises(ParameterError, match="reciprocal"):
            GaussianPrior(0.0, variance)
    smallest = 1.0 / float(np.finfo(np.float64).max)  # rounds down: 1 / smallest is inf
    with pytest.raises(ParameterError, match="reciprocal"):
        GaussianPrior(0.0, smallest)
    above = math.nextafter(smallest, 1.0)
    assert math.isfinite(1.0 / GaussianPrior(0.0, above).variance)
    with pytest.raises(ParameterError, match="reciprocal"):
        GaussianPrior(0.0, np.float64(1e-310))  # a numpy scalar overflows the same way, quietly
    assert math.isfinite(1.0 / GaussianPrior(0.0, 5.6e-309).variance)


@pytest.mark.parametrize("v0", [1e-8, 1e-3, 0.02, 0.09, 1.0, 3.0, 1e6])
@pytest.mark.parametrize("m0", [-0.2, 0.0, 0.35])
def test_posterior_is_the_conjugate_normal_update(v0: float, m0: float) -> None:
    # Normal prior N(m0, v0), likelihood N(d, v): posterior variance 1 / (1/v0 + 1/v) and mean
    # (m0/v0 + d/v) / (1/v0 + 1/v) (gbstats' EffectBayesianABTest), for priors tighter and looser
    # than the data (both branches of `_posterior`). Mutants: each operator of the update, the branch test.
    c, t = Moments(500, 1.0, 0.8), Moments(700, 1.06, 0.9)
    d, v = 0.06, 0.8 / 500 + 0.9 / 700
    r = gaussian_test(c, t, prior=GaussianPrior(m0, v0))
    post_var = 1.0 / (1.0 / v0 + 1.0 / v)
    assert r.effect_sd == pytest.approx(math.sqrt(post_var), rel=1e-12)
    assert r.effect_mean == pytest.approx(post_var * (m0 / v0 + d / v), rel=1e-10, abs=1e-15)
    assert r.chance_to_win == pytest.approx(special.ndtr(r.effect_mean / r.effect_sd), rel=1e-12, abs=1e-300)


def test_prior_and_data_variances_whose_precisions_overflow_together() -> None:
    # 1/v0 and 1/v are both finite (~1e308) but their sum overflows: the old 1 / (1/v0 + 1/v) gave a
    # posterior sd of 0 and a ZeroDivisionError. The posterior is v0 v / (v0 + v) > 0, its mean the
    # precision-weighted average; the losses are E[max(+-X, 0)] of a point mass.
    v0 = 1e-308
    c, t = Moments(2, 1.0, 1e-308), Moments(2, 1.5, 1e-308)  # v = var_c / 2 + var_t / 2 = 1e-308
    r = gaussian_test(c, t, prior=GaussianPrior(0.1, v0))
    assert r.effect_sd == pytest.approx(math.sqrt(0.5e-308), rel=1e-12)
    assert r.effect_mean == pytest.approx(0.3, rel=1e-12)  # (0.1 + 0.5) / 2
    assert r.chance_to_win == 1.0
    assert r.expected_loss_control == pytest.approx(0.3, rel=1e-12) and r.expected_loss_treatment == 0.0
    # The smallest allowed prior variance pins the effect at the prior mean.
    tight = gaussian_test(Moments(100, 0.0, 1.0), Moments(100, 1.0, 1.0), prior=GaussianPrior(-0.2, 6e-309))
    assert tight.effect_mean == pytest.approx(-0.2, rel=1e-12)
    assert tight.expected_loss_treatment == pytest.approx(0.2, rel=1e-12) and tight.chance_to_win == 0.0


# ---------------------------------------------------------------------------- beta_binomial_test
def test_beta_binomial_labels_and_effect_sd() -> None:
    # effect_sd = sqrt(Var p_t + Var p_c) of the Beta(1 + k, 1 + n - k) posteriors. Mutants: each part of
    # `_Beta.var` (a b / ((a + b)^2 (a + b + 1))), the sum in effect_sd, the labels.
    c, t = SampleStats(40, 8.0, 8.0), SampleStats(25, 15.0, 15.0)
    r = beta_binomial_test(c, t, prior_alpha=0.5, prior_beta=2.0)
    var = stats.beta(0.5 + 15, 2.0 + 10).var() + stats.beta(0.5 + 8, 2.0 + 32).var()
    assert r.effect_sd == pytest.approx(math.sqrt(var), rel=1e-12)
    assert (r.model, r.difference) == ("beta-binomial", "absolute")


def _chance_closed_form(a_c: int, b_c: int, a_t: int, b_t: int) -> float:
    """P(p_t > p_c) for integer Beta parameters (Evan Miller's sum over a_t terms)."""
    i = np.arange(a_t)
    logs = special.betaln(a_c + i, b_c + b_t) - np.log(b_t + i) - special.betaln(1 + i, b_t) - special.betaln(a_c, b_c)
    return float(np.exp(logs).sum())


def test_quadrature_is_accurate_where_the_answers_are_tiny() -> None:
    # A wide control (3 of 10) against a treatment pinned at 1% (10^5 of 10^7): P(win) ~ 3e-6, and the
    # expected loss of keeping the control ~ 6e-9 (loss_t + mean, a difference of two numbers ~ 0.32).
    # Both need the quadrature's absolute and relative tolerances (1e-12, 1e-10): with scipy's default
    # of either (1.5e-8) the loss comes out 7.6e-10. The reference loss is Simpson's rule on 2e6 points of
    # pdf_c(x) (mean_t P(Beta(a_t + 1, b_t) > x) - x P(Beta(a_t, b_t) > x)) over [0, 0.0115].
    # Mutants: `epsabs=1e-12` or `epsrel=1e-10` dropped from `_over_control`.
    r = beta_binomial_test(SampleStats(10, 3.0, 3.0), SampleStats(10**7, 1e5, 1e5))
    assert r.chance_to_win == pytest.approx(_chance_closed_form(4, 8, 1 + 10**5, 1 + 10**7 - 10**5), abs=1e-11)
    assert r.expected_loss_control == pytest.approx(6.29943e-9, abs=1e-11)


def test_prior_beta_must_be_positive() -> None:
    # Mutants: `closed="neither"` of prior_beta's interval dropped or misspelt (0 accepted).
    s = SampleStats(10, 3.0, 3.0)
    with pytest.raises(
        ParameterError, match=r"'prior_beta' parameter of beta_binomial_test must be a float in \(0, inf\)"
    ):
        beta_binomial_test(s, s, prior_beta=0.0)


def test_zero_one_check_names_the_arm_and_allows_rounding() -> None:
    # sum_sq may differ from sum by 1e-9 x max(1, sum) (rounding), the bound itself included.
    # Mutants: the arm names in the message; `>` -> `>=`; `1e-9 * max(1, sum)` -> `1e-9 / max(...)`,
    # `max(2.0, sum)`.
    good = SampleStats(10, 3.0, 3.0)
    with pytest.raises(InputError, match="the control arm"):
        beta_binomial_test(SampleStats.from_values([0.0, 2.0]), good)
    with pytest.raises(InputError, match="the treatment arm"):
        beta_binomial_test(good, SampleStats.from_values([0.0, 2.0]))
    for arm in (SampleStats(10, 0.0, 1e-9), SampleStats(10_000, 1000.0, 1000.0 + 1e-7)):
        assert beta_binomial_test(arm, good).model == "beta-binomial"
    with pytest.raises(InputError, match="0/1 values"):
        beta_binomial_test(SampleStats(10, 1.0, 1.0 + 1.5e-9), good)


def test_chance_to_win_is_a_probability() -> None:
    # No conversion in 10^4 against 10^4 of 10^4: the quadrature gives 1 + 1.5e-12; the result is clipped to 1.
    # Mutants: the clip's upper bound dropped or raised to 2.
    r = beta_binomial_test(SampleStats(10_000, 0.0, 0.0), SampleStats(10_000, 10_000.0, 10_000.0))
    assert r.chance_to_win == 1.0
