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
"""

from __future__ import annotations

import math

from .._params import Constraint, Interval, validate_params
from ._common import Alternative, Summary, check_alpha, check_alternative, check_summaries
from .frequentist import TestResult, build_result

__all__ = ["sequential_test"]

_CONSTRAINTS = {
    "tuning_parameter": Interval("float", 0.0, closed="neither"),
    "tau_squared": Constraint("float", 0.0, math.inf, low_open=True, optional=True),
}


def _rho_squared(alpha: float, tuning_parameter: float, two_sided: bool) -> float:
    a = alpha if two_sided else 2.0 * alpha
    return (-2.0 * math.log(a) + math.log(-2.0 * math.log(a) + 1.0)) / tuning_parameter


def sequential_test(
    control: Summary,
    treatment: Summary,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    tuning_parameter: float = 5000.0,
    tau_squared: float | None = None,
) -> TestResult:
    """Always-valid mSPRT of ``treatment - control``, safe to compute after every batch.

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

    Returns
    -------
    TestResult
        Method 'msprt', ``statistic`` the z score, ``df`` ``inf``, always-valid ``p_value`` and ``ci``
        (the relative interval uses the same half-width in standard errors).

    Raises
    ------
    abrec.errors.ParameterError
        For a bad alpha, alternative, tuning parameter or tau_squared.
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
    """
    check_alpha("sequential_test", alpha)
    check_alternative("sequential_test", alternative)
    validate_params("sequential_test", _CONSTRAINTS, {"tuning_parameter": tuning_parameter, "tau_squared": tau_squared})
    two_sided = alternative == "two-sided"
    if not two_sided and alpha >= 0.5:
        validate_params("sequential_test", {"alpha": Interval("float", 0.0, 0.5, closed="neither")}, {"alpha": alpha})
    check_summaries("sequential_test", control, treatment)
    n = control.n + treatment.n
    variance = control.variance / control.n + treatment.variance / treatment.n
    se = math.sqrt(variance)
    if tau_squared is not None:
        k = tau_squared / variance if variance > 0 else math.inf
    else:
        k = n * _rho_squared(alpha, tuning_parameter, two_sided)
    effect = treatment.mean - control.mean
    z2 = effect**2 / variance if variance > 0 else math.nan
    log_lambda = k * z2 / (2.0 * (k + 1.0)) - 0.5 * math.log1p(k)
    if two_sided:
        crit = math.sqrt(2.0 * (k + 1.0) / k * (0.5 * math.log1p(k) - math.log(alpha)))
        p_value = min(1.0, math.exp(-log_lambda))
    else:
        crit = math.sqrt(2.0 * (k + 1.0) / k * math.log1p(math.sqrt(k + 1.0) / (2.0 * alpha)))
        supports = effect > 0 if alternative == "greater" else effect < 0
        q = k * z2 / (2.0 * (k + 1.0))
        p_value = min(1.0, math.sqrt(k + 1.0) / (2.0 * math.expm1(q))) if supports and q > 0 else 1.0
    return build_result("msprt", control, treatment, se, math.inf, alpha, alternative, crit=crit, p_value=p_value)
