"""Power, sample size and minimum detectable effect of two-sample tests; allocation across many arms.

Sample sizes are per variant: ``n_control`` units in control and ``ratio * n_control`` in
treatment (statsmodels' ``nobs1`` and ``ratio``). For means, ``effect`` is the absolute difference
``mean_t - mean_c`` and ``sd`` the per-unit standard deviation (assumed equal in both arms): the
z test uses the normal distribution; the t test the noncentral t with ``n_c + n_t - 2`` degrees of
freedom (statsmodels' ``NormalIndPower`` and ``TTestIndPower``). For proportions the test is the
pooled two-proportion z test, with the pooled variance under the null and the unpooled one under
the alternative (statsmodels' ``power_proportions_2indep``). Two-sided power counts both tails.
Sample sizes are rounded up; minimum detectable effects are magnitudes (a decrease for 'less').

Beside these:

- **Relative lifts** (``power_relative``, ``sample_size_relative``, ``mde_relative``): GrowthBook's
  formula (growthbook ``packages/shared/src/power/power.ts``: ``frequentistVariance``,
  ``powerFrequentist``, ``findMdeFrequentist``; the same power as gbstats
  ``power/midexperimentpower.py`` ``MidExperimentPower.power`` given the lift's standard error): the
  z test of the lift ``mean_t / mean_c - 1`` with its delta-method variance at the alternative,
  ``sd_t**2 / (n_t mean_c**2) + sd**2 mean_t**2 / (n_c mean_c**4)``, ``mean_t = mean_c (1 + lift)``
  (GrowthBook takes one variance for both arms: ``sd_treatment = sd``; for a conversion rate ``p``
  it passes ``sd = sqrt(p (1 - p))``). The variance grows with the lift, so the MDE solves
  ``lift / se(lift) = ...`` (GrowthBook's quadratic for two-sided tests ignores the far tail; here the
  power equation is solved exactly, which differs by less than 1e-5 in lift at 80% power).
- **The always-valid mSPRT** (``power_sequential``, ``sample_size_sequential``): the probability of
  crossing the boundary of :func:`~abrec.abtest.sequential.sequential_test`,
  ``|z| >= sqrt(2 (k + 1) / k (ln(1 + k) / 2 - ln alpha))`` (one-sided:
  ``sqrt(2 (k + 1) / k ln(1 + sqrt(k + 1) / (2 alpha)))``), ``k = tau2 / se**2``. With ``looks=1``
  the data are read once, at the end (gbstats' ``MidExperimentPower.power`` with sequential testing);
  with ``looks=L`` the test is read after each of ``L`` equal batches and may stop at any of them,
  which raises the power; the crossing probability of the score process ``S_j ~ N(effect I_j, I_j)``
  (``I = 1 / se**2``, independent increments) comes from the recursive numerical integration of
  Armitage, McPherson and Rowe (1969), as for group-sequential designs.
- **Cohen's h** (``cohens_h``; ``method='cohens-h'`` in the proportion functions): the arcsine
  difference ``2 asin(sqrt(p_t)) - 2 asin(sqrt(p_c))`` with the z test's power at unit variance,
  statsmodels' ``proportion_effectsize`` with ``NormalIndPower``.
- **Engine conventions** (``convention=``, as in the tests themselves): the proportion functions use
  the pooled null variance under 'abrec' and 'statsmodels' (``power_proportions_2indep``) and the
  unpooled one under 'gbstats' and 'spotify' (:data:`~abrec.abtest._common.POOLED_NULL`;
  statsmodels' ``normal_power_het`` with ``std_null = std_alternative``); the relative-lift
  functions use GrowthBook's delta-method variance under 'abrec' and 'gbstats', and under
  'spotify' the absolute test's variance divided by ``mean_c**2`` (the control mean taken as known,
  as Spotify's confidence turns a relative MDE into an absolute one).
- **More than two arms** (``optimal_allocation``): the traffic shares that minimise the sum of the
  variances of the ``k - 1`` treatment-versus-control differences for a fixed total (A-optimality
  for the many-to-one contrasts): ``n_c : n_i = sd_c sqrt(k - 1) : sd_i``, Dunnett's
  ``sqrt(k - 1)`` rule when the standard deviations are equal (then it also minimises each
  contrast's variance, so it maximises the power of every comparison with control).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from .._params import Constraint, Interval, StrOptions, validate_params
from ..errors import InputError
from ._common import (
    POOLED_NULL,
    Alternative,
    Convention,
    check_alpha,
    check_alternative,
    check_convention,
    critical_value,
)
from .sequential import mixture_k, msprt_half_width

__all__ = [
    "cohens_h",
    "mde_means",
    "mde_proportions",
    "mde_relative",
    "optimal_allocation",
    "power_means",
    "power_proportions",
    "power_relative",
    "power_sequential",
    "sample_size_means",
    "sample_size_proportions",
    "sample_size_relative",
    "sample_size_sequential",
]

_POSITIVE = Interval("float", 0.0, closed="neither")
_PROBABILITY = Interval("float", 0.0, 1.0, closed="neither")
_TEST = StrOptions(("t", "z"), optional=True)
_PROPORTION_METHOD = {"method": StrOptions(("pooled-z", "cohens-h"))}
_MAX_N = 1e12


def _check_common(owner: str, alpha: float, alternative: str, ratio: float, test: str | None = None) -> None:
    check_alpha(owner, alpha)
    check_alternative(owner, alternative)
    validate_params(owner, {"ratio": _POSITIVE}, {"ratio": ratio})
    validate_params(owner, {"test": _TEST}, {"test": test})


def _power_means(
    effect: float, sd: float, n_control: float, ratio: float, alpha: float, alternative: str, test: str
) -> float:
    n_treatment = ratio * n_control
    ncp = effect / sd * math.sqrt(n_control * n_treatment / (n_control + n_treatment))
    df = math.inf if test == "z" else n_control + n_treatment - 2.0
    crit = critical_value(alpha, alternative, df)

    def upper(nc: float) -> float:  # P(T > crit) under noncentrality nc
        if math.isinf(df):
            return float(special.ndtr(nc - crit))
        return float(1.0 - special.nctdtr(df, nc, crit))

    if alternative == "greater":
        return upper(ncp)
    if alternative == "less":
        return upper(-ncp)
    return min(1.0, upper(ncp) + upper(-ncp))


def power_means(
    effect: float,
    sd: float,
    n_control: float,
    *,
    ratio: float = 1.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    test: str = "t",
) -> float:
    """Power of the two-sample t (or z) test to detect an absolute difference of means.

    Parameters
    ----------
    effect : float
        True ``mean_t - mean_c``.
    sd : float
        Per-unit standard deviation (> 0).
    n_control : float
        Units in control (> 1); treatment has ``ratio * n_control``.
    ratio : float, default 1
        ``n_treatment / n_control``.
    alpha : float, default 0.05
    alternative : {'two-sided', 'greater', 'less'}, default 'two-sided'
    test : {'t', 'z'}, default 't'

    Returns
    -------
    float
        The probability of rejecting the null.

    Examples
    --------
    >>> round(power_means(0.1, 1.0, 1571, test="z"), 3)
    0.8
    >>> round(power_means(0.1, 1.0, 1000, ratio=2.0, alternative="greater"), 3)
    0.826
    """
    _check_common("power_means", alpha, alternative, ratio, test)
    validate_params(
        "power_means",
        {
            "effect": Interval("float", -math.inf),
            "sd": _POSITIVE,
            "n_control": Interval("float", 1.0, closed="neither"),
        },
        {"effect": effect, "sd": sd, "n_control": n_control},
    )
    return _power_means(effect, sd, n_control, ratio, alpha, alternative, test)


def _solve_n(power_at: Callable[[float], float], target: float, owner: str) -> int:
    """The smallest integer ``n_control >= 2`` whose power reaches ``target``."""

    def gap(n: float) -> float:
        return power_at(n) - target

    lo = 2.0
    if gap(lo) >= 0:
        return 2
    if gap(_MAX_N) < 0:
        raise InputError(f"{owner}: the target power is out of reach below {_MAX_N:.0e} units per variant.")
    return math.ceil(float(optimize.brentq(gap, lo, _MAX_N, xtol=1e-9, rtol=1e-12)))


def _check_sign(owner: str, effect: float, alternative: str) -> None:
    if effect == 0 or (alternative == "greater" and effect < 0) or (alternative == "less" and effect > 0):
        raise InputError(
            f"{owner} needs an effect the alternative can detect: nonzero, > 0 for 'greater', < 0 for 'less'. "
            f"Got effect={effect!r} with alternative={alternative!r}."
        )


def sample_size_means(
    effect: float,
    sd: float,
    *,
    power: float = 0.8,
    ratio: float = 1.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    test: str = "t",
) -> int:
    """Units in control (rounded up) for the t (or z) test to reach ``power`` at an absolute effect.

    Parameters as in :func:`power_means`; ``power`` in (0, 1). Treatment needs
    ``ceil(ratio * n_control)`` units.

    Raises
    ------
    abrec.errors.InputError
        When ``effect`` is 0 or has the wrong sign for a one-sided alternative.

    Examples
    --------
    >>> sample_size_means(0.1, 1.0, test="z"), sample_size_means(0.1, 1.0)
    (1570, 1571)
    """
    _check_common("sample_size_means", alpha, alternative, ratio, test)
    validate_params(
        "sample_size_means",
        {"effect": Interval("float", -math.inf), "sd": _POSITIVE, "power": _PROBABILITY},
        {"effect": effect, "sd": sd, "power": power},
    )
    _check_sign("sample_size_means", effect, alternative)
    return _solve_n(lambda n: _power_means(effect, sd, n, ratio, alpha, alternative, test), power, "sample_size_means")


def mde_means(
    sd: float,
    n_control: float,
    *,
    power: float = 0.8,
    ratio: float = 1.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    test: str = "t",
) -> float:
    """Minimum detectable absolute difference of means (a magnitude) at ``power`` with ``n_control`` units.

    Parameters as in :func:`power_means`.

    Examples
    --------
    >>> round(mde_means(1.0, 1571, test="z"), 4)
    0.1
    """
    _check_common("mde_means", alpha, alternative, ratio, test)
    validate_params(
        "mde_means",
        {"sd": _POSITIVE, "n_control": Interval("float", 1.0, closed="neither"), "power": _PROBABILITY},
        {"sd": sd, "n_control": n_control, "power": power},
    )
    sign = -1.0 if alternative == "less" else 1.0

    def gap(d: float) -> float:
        return _power_means(sign * d, sd, n_control, ratio, alpha, alternative, test) - power

    hi = sd
    while gap(hi) < 0:
        hi *= 2.0
    return float(optimize.brentq(gap, 0.0, hi, xtol=1e-12 * sd, rtol=1e-12))


def _power_props(
    p_control: float,
    p_treatment: float,
    n_control: float,
    ratio: float,
    alpha: float,
    alternative: str,
    pooled_null: bool = True,
) -> float:
    n_treatment = ratio * n_control
    diff = p_treatment - p_control
    sd1 = math.sqrt(p_control * (1 - p_control) / n_control + p_treatment * (1 - p_treatment) / n_treatment)
    if pooled_null:
        pooled = (p_control * n_control + p_treatment * n_treatment) / (n_control + n_treatment)
        sd0 = math.sqrt(pooled * (1 - pooled) * (1 / n_control + 1 / n_treatment))
    else:
        sd0 = sd1
    crit = critical_value(alpha, alternative, math.inf)

    def upper(d: float) -> float:
        return float(special.ndtr((d - crit * sd0) / sd1))

    if alternative == "greater":
        return upper(diff)
    if alternative == "less":
        return upper(-diff)
    return min(1.0, upper(diff) + upper(-diff))


def cohens_h(p_control: float, p_treatment: float) -> float:
    """Cohen's h, ``2 asin(sqrt(p_treatment)) - 2 asin(sqrt(p_control))``: a difference of proportions in sd units.

    Equals statsmodels' ``proportion_effectsize(p_treatment, p_control)``. The arcsine transform
    makes the variance of a proportion ``1 / n`` whatever ``p``, so the z test's power at unit
    variance applies (``power_proportions(..., method='cohens-h')``).

    Examples
    --------
    >>> round(cohens_h(0.10, 0.12), 4), round(cohens_h(0.5, 0.5), 4)
    (0.064, 0.0)
    """
    _check_props("cohens_h", p_control=p_control, p_treatment=p_treatment)
    return 2.0 * math.asin(math.sqrt(p_treatment)) - 2.0 * math.asin(math.sqrt(p_control))


def _power_props_any(
    method: str,
    p_control: float,
    p_treatment: float,
    n_control: float,
    ratio: float,
    alpha: float,
    alternative: str,
    convention: str = "abrec",
) -> float:
    if method == "cohens-h":
        h = 2.0 * math.asin(math.sqrt(p_treatment)) - 2.0 * math.asin(math.sqrt(p_control))
        return _power_means(h, 1.0, n_control, ratio, alpha, alternative, "z")
    return _power_props(p_control, p_treatment, n_control, ratio, alpha, alternative, POOLED_NULL[convention])


def _check_props(owner: str, **values: float) -> None:
    validate_params(owner, {k: _PROBABILITY for k in values}, values)


def power_proportions(
    p_control: float,
    p_treatment: float,
    n_control: float,
    *,
    ratio: float = 1.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    method: Literal["pooled-z", "cohens-h"] = "pooled-z",
    convention: Convention = "abrec",
) -> float:
    """Power of the two-proportion z test to detect ``p_treatment`` against ``p_control``.

    Parameters
    ----------
    p_control, p_treatment : float
        True conversion rates, in (0, 1).
    n_control : float
        Units in control (> 0); treatment has ``ratio * n_control``.
    ratio, alpha, alternative
        As in :func:`power_means`.
    method : {'pooled-z', 'cohens-h'}, default 'pooled-z'
        The pooled z test (statsmodels' ``power_proportions_2indep``), or the z test of Cohen's h
        (statsmodels' ``NormalIndPower`` at ``proportion_effectsize``).
    convention : {'abrec', 'gbstats', 'spotify', 'statsmodels'}, default 'abrec'
        The variance under the null of 'pooled-z': pooled ('abrec', 'statsmodels') or unpooled
        ('gbstats', 'spotify'), as each engine's test uses it.

    Examples
    --------
    >>> round(power_proportions(0.10, 0.12, 3841), 3), round(power_proportions(0.10, 0.12, 3841, method="cohens-h"), 3)
    (0.8, 0.801)
    >>> round(power_proportions(0.10, 0.12, 3841, convention="gbstats"), 4)
    0.8003
    """
    _check_common("power_proportions", alpha, alternative, ratio)
    check_convention("power_proportions", convention)
    _check_props("power_proportions", p_control=p_control, p_treatment=p_treatment)
    validate_params(
        "power_proportions", {"n_control": _POSITIVE, **_PROPORTION_METHOD}, {"n_control": n_control, "method": method}
    )
    return _power_props_any(method, p_control, p_treatment, n_control, ratio, alpha, alternative, convention)


def sample_size_proportions(
    p_control: float,
    p_treatment: float,
    *,
    power: float = 0.8,
    ratio: float = 1.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    method: Literal["pooled-z", "cohens-h"] = "pooled-z",
    convention: Convention = "abrec",
) -> int:
    """Units in control (rounded up) for the two-proportion z test to reach ``power``.

    Parameters as in :func:`power_proportions`; ``power`` in (0, 1).

    Examples
    --------
    >>> sample_size_proportions(0.10, 0.12), sample_size_proportions(0.10, 0.12, method="cohens-h")
    (3841, 3835)
    >>> sample_size_proportions(0.10, 0.12, convention="spotify")
    3839
    """
    _check_common("sample_size_proportions", alpha, alternative, ratio)
    check_convention("sample_size_proportions", convention)
    _check_props("sample_size_proportions", p_control=p_control, p_treatment=p_treatment, power=power)
    validate_params("sample_size_proportions", _PROPORTION_METHOD, {"method": method})
    _check_sign("sample_size_proportions", p_treatment - p_control, alternative)
    return _solve_n(
        lambda n: _power_props_any(method, p_control, p_treatment, n, ratio, alpha, alternative, convention),
        power,
        "sample_size_proportions",
    )


def mde_proportions(
    p_control: float,
    n_control: float,
    *,
    power: float = 0.8,
    ratio: float = 1.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    method: Literal["pooled-z", "cohens-h"] = "pooled-z",
    convention: Convention = "abrec",
) -> float:
    """Minimum detectable change of a conversion rate (a magnitude: an increase, or a decrease for 'less').

    Parameters as in :func:`power_proportions`.

    Raises
    ------
    abrec.errors.InputError
        When no change within (0, 1) reaches the power.

    Examples
    --------
    >>> round(mde_proportions(0.10, 3841), 4), round(mde_proportions(0.10, 3841, method="cohens-h"), 4)
    (0.02, 0.02)
    """
    _check_common("mde_proportions", alpha, alternative, ratio)
    check_convention("mde_proportions", convention)
    _check_props("mde_proportions", p_control=p_control, power=power)
    validate_params(
        "mde_proportions", {"n_control": _POSITIVE, **_PROPORTION_METHOD}, {"n_control": n_control, "method": method}
    )
    sign = -1.0 if alternative == "less" else 1.0
    room = p_control if alternative == "less" else 1.0 - p_control
    hi = room * (1 - 1e-12)

    def gap(d: float) -> float:
        p_t = p_control + sign * d
        return _power_props_any(method, p_control, p_t, n_control, ratio, alpha, alternative, convention) - power

    if gap(hi) < 0:
        raise InputError(
            f"mde_proportions: no change of p_control={p_control} within (0, 1) reaches power {power} "
            f"with n_control={n_control}; add units."
        )
    return float(optimize.brentq(gap, 1e-15, hi, xtol=1e-14, rtol=1e-12))


# --- relative lifts (GrowthBook) -------------------------------------------------------------------


def _power_normal(d: float, crit: float, alternative: str) -> float:
    """``P(reject)`` of a test that rejects when ``|Z| >= crit`` (or one side), ``Z ~ N(d, 1)``."""
    if alternative == "greater":
        return float(special.ndtr(d - crit))
    if alternative == "less":
        return float(special.ndtr(-d - crit))
    return min(1.0, float(special.ndtr(d - crit) + special.ndtr(-d - crit)))


_RELATIVE_CONVENTIONS = ("abrec", "gbstats", "spotify")


def _relative_se(
    lift: float, mean: float, sd: float, sd_t: float, n_control: float, ratio: float, convention: str = "abrec"
) -> float:
    """growthbook ``frequentistVariance(relative=true)`` at ``mean_t = mean (1 + lift)``, square-rooted.

    Under 'spotify' the control mean is taken as known: the absolute variance over ``mean**2``.
    """
    if convention == "spotify":
        return math.sqrt(sd_t**2 / (ratio * n_control) + sd**2 / n_control) / mean
    mean_t = mean * (1.0 + lift)
    return math.sqrt(sd_t**2 / (mean**2 * ratio * n_control) + sd**2 * mean_t**2 / (mean**4 * n_control))


def _power_relative(
    lift: float,
    mean: float,
    sd: float,
    sd_t: float,
    n_control: float,
    ratio: float,
    alpha: float,
    alternative: str,
    convention: str = "abrec",
) -> float:
    se = _relative_se(lift, mean, sd, sd_t, n_control, ratio, convention)
    return _power_normal(lift / se, critical_value(alpha, alternative, math.inf), alternative)


def _check_relative(owner: str, mean: float, sd: float, sd_treatment: float | None) -> float:
    validate_params(
        owner,
        {
            "mean": _POSITIVE,
            "sd": _POSITIVE,
            "sd_treatment": Constraint("float", 0.0, math.inf, low_open=True, optional=True),
        },
        {"mean": mean, "sd": sd, "sd_treatment": sd_treatment},
    )
    return sd if sd_treatment is None else sd_treatment


def power_relative(
    lift: float,
    mean: float,
    sd: float,
    n_control: float,
    *,
    ratio: float = 1.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    sd_treatment: float | None = None,
    convention: Literal["abrec", "gbstats", "spotify"] = "abrec",
) -> float:
    """Power of the z test on the relative lift ``mean_t / mean_c - 1`` (GrowthBook's formula).

    Parameters
    ----------
    lift : float
        True relative lift (0.05 is +5%), > -1.
    mean : float
        Control mean (> 0).
    sd : float
        Per-unit standard deviation of the control (> 0); for a conversion rate ``p``, ``sqrt(p (1 - p))``.
    n_control : float
        Units in control (> 0); treatment has ``ratio * n_control``.
    ratio, alpha, alternative
        As in :func:`power_means`.
    sd_treatment : float, optional
        The treatment's per-unit standard deviation; GrowthBook (default) takes ``sd``.
    convention : {'abrec', 'gbstats', 'spotify'}, default 'abrec'
        'abrec' and 'gbstats': GrowthBook's delta-method variance (the control mean uncertain);
        'spotify': the absolute test's variance over ``mean**2`` (the control mean known).

    Examples
    --------
    >>> round(power_relative(0.05, 10.0, 5.0, 1651), 3)
    0.8
    >>> round(power_relative(0.05, 10.0, 5.0, 1651, alternative="greater"), 3)
    0.876
    """
    _check_common("power_relative", alpha, alternative, ratio)
    check_convention("power_relative", convention, _RELATIVE_CONVENTIONS)
    sd_t = _check_relative("power_relative", mean, sd, sd_treatment)
    validate_params(
        "power_relative",
        {"lift": Interval("float", -1.0, closed="neither"), "n_control": _POSITIVE},
        {"lift": lift, "n_control": n_control},
    )
    return _power_relative(lift, mean, sd, sd_t, n_control, ratio, alpha, alternative, convention)


def sample_size_relative(
    lift: float,
    mean: float,
    sd: float,
    *,
    power: float = 0.8,
    ratio: float = 1.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    sd_treatment: float | None = None,
    convention: Literal["abrec", "gbstats", "spotify"] = "abrec",
) -> int:
    """Units in control (rounded up) for the relative-lift z test to reach ``power``.

    Parameters as in :func:`power_relative`; ``power`` in (0, 1).

    Examples
    --------
    >>> sample_size_relative(0.05, 10.0, 5.0)
    1651
    """
    _check_common("sample_size_relative", alpha, alternative, ratio)
    check_convention("sample_size_relative", convention, _RELATIVE_CONVENTIONS)
    sd_t = _check_relative("sample_size_relative", mean, sd, sd_treatment)
    validate_params(
        "sample_size_relative",
        {"lift": Interval("float", -1.0, closed="neither"), "power": _PROBABILITY},
        {"lift": lift, "power": power},
    )
    _check_sign("sample_size_relative", lift, alternative)
    return _solve_n(
        lambda n: _power_relative(lift, mean, sd, sd_t, n, ratio, alpha, alternative, convention),
        power,
        "sample_size_relative",
    )


def mde_relative(
    mean: float,
    sd: float,
    n_control: float,
    *,
    power: float = 0.8,
    ratio: float = 1.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    sd_treatment: float | None = None,
    convention: Literal["abrec", "gbstats", "spotify"] = "abrec",
) -> float:
    """Minimum detectable relative lift (a magnitude; a decrease for 'less') at ``power`` with ``n_control`` units.

    Parameters as in :func:`power_relative`.

    Raises
    ------
    abrec.errors.InputError
        When no lift reaches the power (GrowthBook: "need to increase number of users"): the
        lift's standard error grows with the lift, so the power of an increase is bounded by
        ``Phi(mean sqrt(n_c) / sd - crit)``; for a decrease, no drop below -100% exists.

    Examples
    --------
    >>> round(mde_relative(10.0, 5.0, 1651), 4)
    0.05
    """
    _check_common("mde_relative", alpha, alternative, ratio)
    check_convention("mde_relative", convention, _RELATIVE_CONVENTIONS)
    sd_t = _check_relative("mde_relative", mean, sd, sd_treatment)
    validate_params(
        "mde_relative", {"n_control": _POSITIVE, "power": _PROBABILITY}, {"n_control": n_control, "power": power}
    )
    sign = -1.0 if alternative == "less" else 1.0

    def gap(lift: float) -> float:
        return _power_relative(sign * lift, mean, sd, sd_t, n_control, ratio, alpha, alternative, convention) - power

    if gap(0.0) >= 0:
        raise InputError(f"mde_relative needs power above the test's size; got power={power} with alpha={alpha}.")
    hi = 1.0 - 1e-12 if alternative == "less" else 0.01
    while gap(hi) < 0:
        if alternative == "less" or hi > 1e6:
            raise InputError(
                f"mde_relative: no lift reaches power {power} with n_control={n_control} (mean={mean}, sd={sd}); "
                "add units or reduce the number of variants."
            )
        hi *= 2.0
    return float(optimize.brentq(gap, 0.0, hi, xtol=1e-14, rtol=1e-12))


# --- the always-valid mSPRT -------------------------------------------------------------------------


def _simpson(lo: float, hi: float, points: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """An odd grid on ``[lo, hi]`` and its Simpson weights."""
    x = np.linspace(lo, hi, points)
    w = np.full(points, 2.0)
    w[1::2] = 4.0
    w[0] = w[-1] = 1.0
    return x, w * (x[1] - x[0]) / 3.0


def _power_msprt(
    effect: float,
    sd: float,
    n_control: float,
    ratio: float,
    alpha: float,
    alternative: str,
    tuning_parameter: float,
    tau_squared: float | None,
    looks: int,
) -> float:
    two_sided = alternative == "two-sided"
    drift = -effect if alternative == "less" else effect  # mirror 'less' so that rejection is S >= bound
    n_c = n_control * np.arange(1, looks + 1) / looks
    info = 1.0 / (sd**2 * (1.0 / n_c + 1.0 / (ratio * n_c)))
    k = (
        tau_squared * info
        if tau_squared is not None
        else mixture_k(n_c * (1.0 + ratio), alpha, tuning_parameter, alternative)
    )
    bound = msprt_half_width(k, alpha, alternative) * np.sqrt(info)  # on the score S = z sqrt(I)

    def crossed(mean: npt.NDArray[np.float64], sd_: float, j: int) -> npt.NDArray[np.float64]:
        out: npt.NDArray[np.float64] = special.ndtr((mean - bound[j]) / sd_)
        if two_sided:
            out = out + special.ndtr((-bound[j] - mean) / sd_)
        return out

    sd1 = math.sqrt(info[0])
    total = float(crossed(np.array([drift * info[0]]), sd1, 0)[0])
    if looks == 1:
        return min(1.0, total)
    x = w = density = np.zeros(0)
    for j in range(looks):
        lo = -bound[j] if two_sided else min(drift * info[j], bound[j]) - 12.0 * math.sqrt(info[j])
        if j == 0:
            x, w = _simpson(lo, bound[0], 401)
            density = np.exp(-0.5 * ((x - drift * info[0]) / sd1) ** 2) / (sd1 * math.sqrt(2 * math.pi))
            continue
        step = info[j] - info[j - 1]
        sd_step = math.sqrt(step)
        mass = w * density
        total += float(mass @ crossed(x + drift * step, sd_step, j))
        points = int(min(max(8.0 * (bound[j] - lo) / sd_step, 201), 6001)) // 2 * 2 + 1
        y, w_new = _simpson(lo, bound[j], points)
        kernel = np.exp(-0.5 * ((y[None, :] - x[:, None] - drift * step) / sd_step) ** 2)
        density = (mass @ kernel) / (sd_step * math.sqrt(2 * math.pi))
        x, w = y, w_new
    return min(1.0, total)


def _check_sequential(
    owner: str,
    sd: float,
    tuning_parameter: float,
    tau_squared: float | None,
    looks: int,
    alpha: float,
    alternative: str,
) -> None:
    validate_params(
        owner,
        {
            "sd": _POSITIVE,
            "tuning_parameter": _POSITIVE,
            "tau_squared": Constraint("float", 0.0, math.inf, low_open=True, optional=True),
            "looks": Interval("int", 1, 10_000),
        },
        {"sd": sd, "tuning_parameter": tuning_parameter, "tau_squared": tau_squared, "looks": looks},
    )
    if alternative != "two-sided":
        validate_params(owner, {"alpha": Interval("float", 0.0, 0.5, closed="neither")}, {"alpha": alpha})


def power_sequential(
    effect: float,
    sd: float,
    n_control: float,
    *,
    ratio: float = 1.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    tuning_parameter: float = 5000.0,
    tau_squared: float | None = None,
    looks: int = 1,
) -> float:
    """Power of the always-valid mSPRT (:func:`~abrec.abtest.sequential.sequential_test`) at an absolute effect.

    Parameters
    ----------
    effect : float
        True ``mean_t - mean_c`` (for a relative lift, ``lift * mean_c``).
    sd : float
        Per-unit standard deviation (> 0), both arms.
    n_control : float
        Units in control at the last look (> 1); treatment has ``ratio * n_control``.
    ratio, alpha, alternative
        As in :func:`power_means` (one-sided: ``alpha < 0.5``).
    tuning_parameter, tau_squared
        The mixture, exactly as passed to ``sequential_test``.
    looks : int, default 1
        The test is read after each of ``looks`` equal batches and stops at the first rejection;
        1 reads it once, at the end (a lower bound for any monitoring schedule).

    Examples
    --------
    >>> round(power_sequential(0.1, 1.0, 1571, tuning_parameter=3142), 3)  # 80% for the fixed z test
    0.408
    >>> round(power_sequential(0.1, 1.0, 1571, tuning_parameter=3142, looks=20), 3)  # read after each of 20 batches
    0.493
    """
    _check_common("power_sequential", alpha, alternative, ratio)
    _check_sequential("power_sequential", sd, tuning_parameter, tau_squared, looks, alpha, alternative)
    validate_params(
        "power_sequential",
        {"effect": Interval("float", -math.inf), "n_control": Interval("float", 1.0, closed="neither")},
        {"effect": effect, "n_control": n_control},
    )
    return _power_msprt(effect, sd, n_control, ratio, alpha, alternative, tuning_parameter, tau_squared, looks)


def sample_size_sequential(
    effect: float,
    sd: float,
    *,
    power: float = 0.8,
    ratio: float = 1.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    tuning_parameter: float = 5000.0,
    tau_squared: float | None = None,
    looks: int = 1,
) -> int:
    """Units in control at the last look (rounded up) for the mSPRT to reach ``power``.

    Parameters as in :func:`power_sequential`; ``power`` in (0, 1).

    Examples
    --------
    >>> sample_size_sequential(0.1, 1.0, tuning_parameter=3142), sample_size_means(0.1, 1.0, test="z")
    (3044, 1570)
    """
    _check_common("sample_size_sequential", alpha, alternative, ratio)
    _check_sequential("sample_size_sequential", sd, tuning_parameter, tau_squared, looks, alpha, alternative)
    validate_params(
        "sample_size_sequential",
        {"effect": Interval("float", -math.inf), "power": _PROBABILITY},
        {"effect": effect, "power": power},
    )
    _check_sign("sample_size_sequential", effect, alternative)
    return _solve_n(
        lambda n: _power_msprt(effect, sd, n, ratio, alpha, alternative, tuning_parameter, tau_squared, looks),
        power,
        "sample_size_sequential",
    )


# --- many arms --------------------------------------------------------------------------------------


def optimal_allocation(n_arms: int, *, sd: npt.ArrayLike | None = None) -> npt.NDArray[np.float64]:
    """Traffic shares (control first) that minimise the summed variance of the treatment-vs-control differences.

    For ``k = n_arms`` arms and a fixed total ``N``, minimising
    ``sum_i (sd_c**2 / n_c + sd_i**2 / n_i)`` gives ``n_c`` proportional to ``sd_c sqrt(k - 1)`` and
    ``n_i`` to ``sd_i`` (Lagrange). With equal standard deviations this is Dunnett's rule
    ``n_c / n_i = sqrt(k - 1)``, which also minimises every single contrast's variance: each
    comparison with control then has the most power that any allocation of ``N`` gives it.
    Use the shares with :func:`power_means` (``n_control = share[0] * N``,
    ``ratio = share[i] / share[0]``) and a multiplicity-corrected ``alpha`` (e.g. ``alpha / (k - 1)``).

    Parameters
    ----------
    n_arms : int
        Number of arms including control (>= 2).
    sd : array_like of length n_arms, optional
        Per-unit standard deviations, control first; equal when omitted.

    Returns
    -------
    numpy.ndarray
        Shares summing to 1, control first.

    Examples
    --------
    >>> optimal_allocation(2).tolist(), optimal_allocation(5).round(3).tolist()
    ([0.5, 0.5], [0.333, 0.167, 0.167, 0.167, 0.167])
    >>> optimal_allocation(3, sd=[1.0, 1.0, 2.0]).round(3).tolist()
    [0.32, 0.227, 0.453]
    """
    validate_params("optimal_allocation", {"n_arms": Interval("int", 2, closed="left")}, {"n_arms": n_arms})
    sds = np.ones(n_arms) if sd is None else np.asarray(sd, dtype=np.float64)
    if sds.shape != (n_arms,) or not (np.isfinite(sds).all() and (sds > 0).all()):
        raise InputError(
            f"optimal_allocation needs sd as {n_arms} positive finite standard deviations (control first); "
            f"got {np.asarray(sd).tolist()!r}."
        )
    raw = sds.copy()
    raw[0] *= math.sqrt(n_arms - 1)
    out: npt.NDArray[np.float64] = raw / raw.sum()
    return out
