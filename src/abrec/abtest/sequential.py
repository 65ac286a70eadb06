"""Always-valid inference: the normal-mixture sequential probability ratio test (mSPRT).

Johari, Koomen, Pekelis and Walsh (KDD 2017, "Peeking at A/B tests") mix the likelihood ratio of
the effect estimate ``d ~ N(theta, V)`` (``V = se**2``) over ``theta ~ N(0, tau2)``::

    Lambda = sqrt(V / (V + tau2)) * exp(tau2 * d**2 / (2 V (V + tau2)))

``Lambda`` is a nonnegative martingale under the null, so by Ville's inequality
``P(Lambda >= 1 / alpha at any look) <= alpha``: the p-value ``min(1, 1 / Lambda)`` and the
interval ``{theta : Lambda(theta) < 1 / alpha}`` stay valid however often one peeks. Rejecting at
the first look with ``p_value <= alpha``, or keeping the running minimum of the p-values and the
running intersection of the intervals, is safe.

The mixture variance is either given on the effect scale (``tau_squared``), or, as GrowthBook's
gbstats does, chosen from ``tuning_parameter`` ``n*`` (the total sample size at which the interval
is tightest; Waudby-Smith et al. 2023, eq. 155): ``rho**2 = (-2 ln a + ln(1 - 2 ln a)) / n*`` with
``a = alpha`` (two-sided) or ``2 alpha`` (one-sided), and ``tau2 = rho**2 * n * se**2``, ``n`` the
units in both arms. Both give the same formulas with ``k = tau2 / V``; the one-sided interval is
gbstats' (and Waudby-Smith's) one-sided boundary, and its p-value the smallest alpha at which that
boundary excludes 0 (closed form, where gbstats searches by bisection).

The **relative lift** ``mean_t / mean_c - 1`` gets the same test on its own scale, as gbstats does for
its sequential relative intervals: its delta-method estimate ``r`` and standard error ``se_r`` (see
:mod:`abrec.abtest.frequentist`) take the place of ``d`` and ``se`` with the same ``k = tau2 / V``
(``n rho**2``), so the relative interval is ``r -/+ crit * se_r`` and its p-value ``min(1, 1 / Lambda(r))``.
This is valid asymptotically (the delta method's normal approximation), which the tests check by
simulation under continuous peeking.

With ``convention="gbstats"`` the one-sided p-values are gbstats' (``SequentialOneSidedTreatment*TTest.
compute_p_value``): its bisection searches alpha in ``[1e-5, 0.4999]`` only, so the p-value is clipped to that
range (0.4999 when the evidence points the other way, where abrec says 1), 0/1 data get the variance
``p (1 - p)``, and arms gbstats refuses (a zero variance, a control mean of 0) give no result.

:func:`msprt_half_width` and :func:`msprt_p_value` take floats or numpy arrays, so simulations of many
runs and looks use exactly the formulas :func:`sequential_test` uses.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from .._params import Constraint, Interval, validate_params
from ._common import (
    Alternative,
    Num,
    Summary,
    check_alpha,
    check_alternative,
    check_convention,
    check_summaries,
)
from .frequentist import TestResult, arms_for, build_result, gbstats_refusal

__all__ = ["msprt_half_width", "msprt_p_value", "mixture_k", "sequential_test"]

_CONSTRAINTS = {
    "tuning_parameter": Interval("float", 0.0, closed="neither"),
    "tau_squared": Constraint("float", 0.0, math.inf, low_open=True, optional=True),
}
GBSTATS_P_RANGE = (1e-5, 0.4999)
"""The range gbstats' one-sided sequential p-value bisection searches (``min_alpha``, ``max_alpha``)."""


def _rho_squared(alpha: float, tuning_parameter: float, two_sided: bool) -> float:
    a = alpha if two_sided else 2.0 * alpha
    return (-2.0 * math.log(a) + math.log(-2.0 * math.log(a) + 1.0)) / tuning_parameter


def mixture_k(n: Num, alpha: float, tuning_parameter: float, alternative: str = "two-sided") -> Num:
    """``k = tau2 / V = n rho**2``: the mixture variance in units of the effect's variance, at ``n`` units in all.

    Examples
    --------
    >>> round(mixture_k(5000.0, 0.05, 5000.0), 4)  # at n = n*, k = -2 ln(alpha) + ln(1 - 2 ln(alpha))
    7.9362
    """
    return n * _rho_squared(alpha, tuning_parameter, alternative == "two-sided")


def msprt_half_width(k: Num, alpha: float, alternative: str) -> Num:
    """Half-width of the always-valid interval in standard errors (two-sided: Johari et al.; one-sided: gbstats').

    Examples
    --------
    >>> round(msprt_half_width(mixture_k(5000.0, 0.05, 5000.0), 0.05, "two-sided"), 4)  # 1.96 at a fixed horizon
    3.0352
    """
    if alternative == "two-sided":
        out = (2.0 * (k + 1.0) / k * (0.5 * np.log1p(k) - math.log(alpha))) ** 0.5
    else:
        out = (2.0 * (k + 1.0) / k * np.log1p((k + 1.0) ** 0.5 / (2.0 * alpha))) ** 0.5
    return out if isinstance(k, np.ndarray) else float(out)


def msprt_p_value(z: Num, k: Num, alternative: str, convention: str = "abrec") -> Num:
    """Always-valid p-value of a standardised estimate ``z = estimate / se`` with mixture ``k``.

    Two-sided ``min(1, 1 / Lambda)``; one-sided the smallest alpha at which the one-sided boundary
    excludes 0 (1 when ``z`` points the other way), clipped to ``[1e-5, 0.4999]`` under 'gbstats'.

    Examples
    --------
    >>> k = mixture_k(5000.0, 0.05, 5000.0)
    >>> round(msprt_p_value(3.0352, k, "two-sided"), 4)  # z at the interval's edge: p = alpha
    0.05
    >>> msprt_p_value(np.array([-3.0, 3.0]), k, "greater", convention="gbstats").round(4).tolist()
    [0.4999, 0.028]
    """
    q = k * z**2 / (2.0 * (k + 1.0))
    if alternative == "two-sided":
        p = np.minimum(1.0, np.exp(0.5 * np.log1p(k) - q))
    else:
        supports = z > 0 if alternative == "greater" else z < 0
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = (k + 1.0) ** 0.5 / (2.0 * np.expm1(q))
        p = np.where(supports & (q > 0), np.minimum(1.0, raw), 1.0)
        if convention == "gbstats":
            p = np.clip(p, *GBSTATS_P_RANGE)
    p = np.where(np.isnan(z), np.nan, p)
    return p if isinstance(z, np.ndarray) or isinstance(k, np.ndarray) else float(p)  # type: ignore[return-value]


def sequential_test(
    control: Summary,
    treatment: Summary,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    tuning_parameter: float = 5000.0,
    tau_squared: float | None = None,
    convention: Literal["abrec", "gbstats"] = "abrec",
) -> TestResult:
    """Always-valid mSPRT of ``treatment - control`` and of the relative lift, safe to compute after every batch.

    Parameters
    ----------
    control, treatment : SampleStats, RatioStats, Moments or any object with n, mean, variance
        Each arm's summary so far; at least two units each.
    alpha : float, default 0.05
        Significance level in (0, 1); for one-sided alternatives it must be below 0.5.
    alternative : {'two-sided', 'greater', 'less'}, default 'two-sided'
    tuning_parameter : float, default 5000
        GrowthBook's ``sequential_tuning_parameter`` ``n*``: the total number of units (both arms)
        at which the interval is narrowest; set it near the planned sample size.
    tau_squared : float, optional
        The mixture variance on the effect's scale (Johari et al.'s ``tau**2``); overrides
        ``tuning_parameter`` when given.
    convention : {'abrec', 'gbstats'}, default 'abrec'
        'gbstats' reproduces gbstats' ``SequentialTwoSidedTTest`` and one-sided tests (see the module's
        docstring); Spotify's confidence and statsmodels have no mSPRT.

    Returns
    -------
    TestResult
        Method 'msprt', ``statistic`` the z score, ``df`` ``inf``, always-valid ``p_value`` and ``ci``,
        and the always-valid ``relative_ci`` and ``relative_p_value`` of the relative lift.

    Raises
    ------
    abrec.errors.ParameterError
        For a bad alpha, alternative, tuning parameter, tau_squared or convention.
    abrec.errors.InputError
        When an arm has fewer than two units.

    Examples
    --------
    >>> from abrec.abtest import SampleStats, welch_ttest
    >>> c = SampleStats(n=2500, sum=2500.0, sum_sq=5000.0)
    >>> t = SampleStats(n=2500, sum=2700.0, sum_sq=5400.0)
    >>> r = sequential_test(c, t)
    >>> round(r.p_value, 3), round(welch_ttest(c, t).p_value, 4)
    (0.085, 0.0046)
    >>> [round(x, 3) for x in r.ci]
    [-0.006, 0.166]
    >>> round(r.relative_p_value, 3), [round(x, 3) for x in r.relative_ci]
    (0.112, [-0.009, 0.169])
    """
    check_alpha("sequential_test", alpha)
    check_alternative("sequential_test", alternative)
    validate_params("sequential_test", _CONSTRAINTS, {"tuning_parameter": tuning_parameter, "tau_squared": tau_squared})
    check_convention("sequential_test", convention, ("abrec", "gbstats"))
    two_sided = alternative == "two-sided"
    if not two_sided and alpha >= 0.5:
        validate_params("sequential_test", {"alpha": Interval("float", 0.0, 0.5, closed="neither")}, {"alpha": alpha})
    check_summaries("sequential_test", control, treatment)
    c, t = arms_for(convention, control, treatment)
    refused = gbstats_refusal(c, t) if convention == "gbstats" else ""
    variance = c.variance / c.n + t.variance / t.n
    se = math.sqrt(variance)
    if tau_squared is not None:
        k = tau_squared / variance if variance > 0 else math.inf
    else:
        k = mixture_k(float(c.n + t.n), alpha, tuning_parameter, alternative)
    crit = msprt_half_width(k, alpha, alternative) if math.isfinite(k) else math.nan

    def p_of(z: float) -> float:
        return msprt_p_value(z, k, alternative, convention)

    return build_result(
        "msprt", c, t, se, math.inf, alpha, alternative, crit=crit, p_of=p_of, convention=convention, undefined=refused
    )
