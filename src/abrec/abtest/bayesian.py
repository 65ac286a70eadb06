"""Bayesian comparison: chance to beat control, expected loss, and a credible interval for the lift.

- :func:`gaussian_test`: the effect estimate ``d`` (absolute, or relative by the delta method) is
  taken as ``N(effect, se**2)``; with a normal prior ``N(m0, v0)`` on the effect (or a flat one) the
  posterior is normal, as in GrowthBook's gbstats ``EffectBayesianABTest``.
- :func:`beta_binomial_test`: conversion rates with ``Beta(a, b)`` priors and binomial data; the
  posterior probabilities and losses are integrals over the two Beta posteriors, computed by
  adaptive quadrature (no Monte Carlo noise).

``chance_to_win`` is ``P(effect > 0)``; ``expected_loss_treatment`` is ``E[max(-effect, 0)]`` (what
shipping the treatment costs if it is worse) and ``expected_loss_control`` is ``E[max(effect, 0)]``.
For metrics where lower is better, swap the arms. Under a flat prior the Gaussian model's chance to
win equals ``1 - p`` of the one-sided z test (``alternative='greater'``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import integrate, optimize, special

from .._interval import ConfidenceInterval
from .._params import Interval, StrOptions, validate_params
from ..errors import InputError, ParameterError
from ._common import Summary, check_summaries
from .stats import SampleStats

__all__ = ["BayesianResult", "GaussianPrior", "beta_binomial_test", "gaussian_test"]


@dataclass(frozen=True, slots=True)
class GaussianPrior:
    """A proper normal prior ``N(mean, variance)`` on the effect (on the scale of ``difference``).

    Examples
    --------
    >>> GaussianPrior(mean=0.0, variance=0.09)
    GaussianPrior(mean=0.0, variance=0.09)
    """

    mean: float = 0.0
    variance: float = 1.0

    def __post_init__(self) -> None:
        validate_params(
            "GaussianPrior",
            {"mean": Interval("float", -math.inf), "variance": Interval("float", 0.0, closed="neither")},
            {"mean": self.mean, "variance": self.variance},
        )
        if not math.isfinite(self.mean) or not math.isfinite(self.variance):
            raise ParameterError(f"GaussianPrior needs a finite mean and variance. Got {self!r} instead.")
        if not math.isfinite(1.0 / float(self.variance)):
            raise ParameterError(
                "GaussianPrior needs a variance whose reciprocal (the prior's precision) is a finite float, "
                f"above about 5.6e-309; got {self.variance!r}. For a prior that pins the effect, use a small "
                "normal variance such as 1e-12."
            )


@dataclass(frozen=True, slots=True)
class BayesianResult:
    """The posterior of the effect ``treatment - control`` (or ``treatment / control - 1``).

    Attributes
    ----------
    model : str
        'gaussian' or 'beta-binomial'.
    difference : str
        'absolute' or 'relative'.
    effect_mean, effect_sd : float
        Posterior mean and standard deviation of the effect.
    chance_to_win : float
        ``P(effect > 0)``.
    expected_loss_treatment : float
        ``E[max(-effect, 0)]``: the expected loss of shipping the treatment.
    expected_loss_control : float
        ``E[max(effect, 0)]``: the expected loss of keeping the control.
    ci : ConfidenceInterval
        Equal-tailed credible interval of the effect.
    ci_level : float
        The credible interval's level (``ci.level``).
    """

    model: str
    difference: str
    effect_mean: float
    effect_sd: float
    chance_to_win: float
    expected_loss_treatment: float
    expected_loss_control: float
    ci: ConfidenceInterval

    @property
    def ci_level(self) -> float:
        """The credible interval's level."""
        return self.ci.level

    def credible_interval(self) -> ConfidenceInterval:
        """The equal-tailed credible interval of the effect at ``ci_level``."""
        return self.ci

    def confidence_interval(self) -> ConfidenceInterval:
        """Same as :meth:`credible_interval` (the name every abrec result shares)."""
        return self.ci


_LEVEL = {"ci_level": Interval("float", 0.0, 1.0, closed="neither")}
_GAUSSIAN = {"difference": StrOptions(("absolute", "relative")), **_LEVEL}


def _posterior(prior: GaussianPrior, estimate: float, variance: float) -> tuple[float, float]:
    """Posterior mean and variance of ``N(prior.mean, prior.variance)`` updated by ``N(estimate, variance)``.

    ``1 / (1/v0 + 1/v)`` written as ``small / (1 + small / large)``, and the mean as a weighted average:
    the ratio of the two variances is at most 1, so nothing overflows, and the posterior variance is at
    least half the smaller one (> 0) even where ``1/v0 + 1/v`` would overflow.
    """
    v0 = prior.variance
    if v0 <= variance:
        ratio = v0 / variance
        post_var, w_prior = v0 / (1.0 + ratio), 1.0 / (1.0 + ratio)
    else:
        ratio = variance / v0
        post_var, w_prior = variance / (1.0 + ratio), ratio / (1.0 + ratio)
    return w_prior * prior.mean + (1.0 - w_prior) * estimate, post_var


def _normal_positive_part(mean: float, sd: float) -> float:
    """``E[max(X, 0)]`` for ``X ~ N(mean, sd**2)``, ``sd > 0`` (:func:`gaussian_test` makes sure of it)."""
    z = mean / sd
    return float(mean * special.ndtr(z) + sd * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi))


def gaussian_test(
    control: Summary,
    treatment: Summary,
    *,
    prior: GaussianPrior | None = None,
    difference: Literal["absolute", "relative"] = "absolute",
    ci_level: float = 0.95,
) -> BayesianResult:
    """Posterior of the effect under a normal likelihood and a normal (or flat) prior.

    Parameters
    ----------
    control, treatment : SampleStats, RatioStats, Moments or any object with n, mean, variance
        Each arm's summary; at least two units each.
    prior : GaussianPrior, optional
        A proper prior on the effect; None (default) is the flat prior.
    difference : {'absolute', 'relative'}, default 'absolute'
        The effect's scale: ``mean_t - mean_c``, or ``mean_t / mean_c - 1`` with a delta-method
        standard error (needs a positive control mean).
    ci_level : float, default 0.95
        Level of the credible interval, in (0, 1).

    Returns
    -------
    BayesianResult

    Raises
    ------
    abrec.errors.ParameterError
        For a bad ``difference`` or ``ci_level``.
    abrec.errors.InputError
        When an arm has fewer than two units, the standard error is 0, or (relative) the control
        mean is not positive.

    Examples
    --------
    >>> from abrec.abtest import SampleStats
    >>> c = SampleStats(n=1000, sum=1000.0, sum_sq=2000.0)
    >>> t = SampleStats(n=1000, sum=1080.0, sum_sq=2166.0)
    >>> r = gaussian_test(c, t)
    >>> round(r.chance_to_win, 3), round(r.expected_loss_treatment, 4), [round(x, 3) for x in r.ci]
    (0.963, 0.0007, [-0.008, 0.168])
    >>> round(gaussian_test(c, t, prior=GaussianPrior(0.0, 0.001)).effect_mean, 3)
    0.027
    """
    validate_params("gaussian_test", _GAUSSIAN, {"difference": difference, "ci_level": ci_level})
    check_summaries("gaussian_test", control, treatment)
    mc, mt = control.mean, treatment.mean
    var_c, var_t = control.variance / control.n, treatment.variance / treatment.n
    if difference == "absolute":
        estimate, variance = mt - mc, var_c + var_t
    else:
        if mc <= 0:
            raise InputError(
                f"gaussian_test(difference='relative') needs a positive control mean; got {mc!r}. "
                "Use difference='absolute'."
            )
        estimate, variance = mt / mc - 1.0, var_t / mc**2 + var_c * mt**2 / mc**4
    if not variance > 0:
        raise InputError("gaussian_test needs a positive standard error; both arms are constant.")
    if prior is None:
        post_var, post_mean = variance, estimate
    else:
        post_mean, post_var = _posterior(prior, estimate, variance)
    sd = math.sqrt(post_var)
    half = float(special.ndtri(0.5 + ci_level / 2.0)) * sd
    return BayesianResult(
        model="gaussian",
        difference=difference,
        effect_mean=post_mean,
        effect_sd=sd,
        chance_to_win=float(special.ndtr(post_mean / sd)),
        expected_loss_treatment=_normal_positive_part(-post_mean, sd),
        expected_loss_control=_normal_positive_part(post_mean, sd),
        ci=ConfidenceInterval(post_mean - half, post_mean + half, ci_level),
    )


class _Beta:
    """A Beta(a, b) distribution from scipy.special (fast scalar calls inside quadrature)."""

    def __init__(self, a: float, b: float) -> None:
        self.a, self.b = a, b
        self.log_norm = float(special.betaln(a, b))
        self.mean = a / (a + b)
        self.var = a * b / ((a + b) ** 2 * (a + b + 1))

    def pdf(self, x: float) -> float:
        return math.exp((self.a - 1) * math.log(x) + (self.b - 1) * math.log1p(-x) - self.log_norm)

    def cdf(self, x: float) -> float:
        return float(special.betainc(self.a, self.b, min(max(x, 0.0), 1.0)))

    def support(self, eps: float = 1e-12) -> tuple[float, float]:
        return float(special.betaincinv(self.a, self.b, eps)), float(special.betaincinv(self.a, self.b, 1 - eps))


def _over_control(control: _Beta, func: Callable[[float], float]) -> float:
    """``E[func(p_c)]`` over the control's Beta posterior, by adaptive quadrature on its support."""
    lo, hi = control.support()

    def integrand(x: float) -> float:
        return control.pdf(x) * func(x)

    value, _ = integrate.quad(integrand, lo, hi, limit=200, epsabs=1e-12, epsrel=1e-10)
    return float(value)


def beta_binomial_test(
    control: SampleStats,
    treatment: SampleStats,
    *,
    prior_alpha: float = 1.0,
    prior_beta: float = 1.0,
    ci_level: float = 0.95,
) -> BayesianResult:
    """Posterior of ``p_t - p_c`` for conversion rates with ``Beta(prior_alpha, prior_beta)`` priors.

    Parameters
    ----------
    control, treatment : SampleStats
        Statistics of 0/1 values (``sum`` conversions out of ``n`` units).
    prior_alpha, prior_beta : float, default 1 (uniform)
        The Beta prior of each arm's rate, both > 0.
    ci_level : float, default 0.95
        Level of the equal-tailed credible interval of ``p_t - p_c``, in (0, 1).

    Returns
    -------
    BayesianResult
        With ``model='beta-binomial'`` and ``difference='absolute'``.

    Examples
    --------
    >>> from abrec.abtest import SampleStats
    >>> r = beta_binomial_test(SampleStats(1000, 100, 100), SampleStats(1000, 125, 125))
    >>> round(r.chance_to_win, 3), round(r.expected_loss_treatment, 5), [round(x, 3) for x in r.ci]
    (0.961, 0.00022, [-0.003, 0.053])
    """
    validate_params(
        "beta_binomial_test",
        {
            "prior_alpha": Interval("float", 0.0, closed="neither"),
            "prior_beta": Interval("float", 0.0, closed="neither"),
            **_LEVEL,
        },
        {"prior_alpha": prior_alpha, "prior_beta": prior_beta, "ci_level": ci_level},
    )
    arms = []
    for name, arm in (("control", control), ("treatment", treatment)):
        if not isinstance(arm, SampleStats) or abs(arm.sum - arm.sum_sq) > 1e-9 * max(1.0, arm.sum):
            raise InputError(
                f"beta_binomial_test needs SampleStats of 0/1 values (sum == sum_sq); the {name} arm is {arm!r}."
            )
        arms.append(_Beta(prior_alpha + arm.sum, prior_beta + arm.n - arm.sum))
    c, t = arms
    t_plus = _Beta(t.a + 1, t.b)  # x * pdf_t(x) = mean_t * pdf_{t+}(x)
    win = _over_control(c, lambda x: 1.0 - t.cdf(x))
    loss_t = max(_over_control(c, lambda x: x * t.cdf(x) - t.mean * t_plus.cdf(x)), 0.0)
    mean = t.mean - c.mean

    def cdf(d: float) -> float:
        return _over_control(c, lambda x: t.cdf(x + d))

    tails = (0.5 - ci_level / 2.0, 0.5 + ci_level / 2.0)
    ci = tuple(float(optimize.brentq(lambda d, q=q: cdf(d) - q, -1.0, 1.0, xtol=1e-10)) for q in tails)
    return BayesianResult(
        model="beta-binomial",
        difference="absolute",
        effect_mean=mean,
        effect_sd=math.sqrt(t.var + c.var),
        chance_to_win=float(np.clip(win, 0.0, 1.0)),
        expected_loss_treatment=loss_t,
        expected_loss_control=max(loss_t + mean, 0.0),
        ci=ConfidenceInterval(ci[0], ci[1], ci_level),
    )
