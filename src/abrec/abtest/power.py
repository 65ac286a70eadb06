"""Power, sample size and minimum detectable effect of two-sample tests on means and proportions.

Sample sizes are per variant: ``n_control`` units in control and ``ratio * n_control`` in
treatment (statsmodels' ``nobs1`` and ``ratio``). For means, ``effect`` is the absolute difference
``mean_t - mean_c`` and ``sd`` the per-unit standard deviation (assumed equal in both arms): the
z test uses the normal distribution; the t test the noncentral t with ``n_c + n_t - 2`` degrees of
freedom (statsmodels' ``NormalIndPower`` and ``TTestIndPower``). For proportions the test is the
pooled two-proportion z test, with the pooled variance under the null and the unpooled one under
the alternative (statsmodels' ``power_proportions_2indep``). Two-sided power counts both tails.
Sample sizes are rounded up; minimum detectable effects are magnitudes (a decrease for 'less').
"""

from __future__ import annotations

import math
from collections.abc import Callable

from scipy import optimize, special

from .._params import Interval, StrOptions, validate_params
from ..errors import InputError
from ._common import Alternative, check_alpha, check_alternative, critical_value

__all__ = [
    "mde_means",
    "mde_proportions",
    "power_means",
    "power_proportions",
    "sample_size_means",
    "sample_size_proportions",
]

_POSITIVE = Interval("float", 0.0, closed="neither")
_PROBABILITY = Interval("float", 0.0, 1.0, closed="neither")
_TEST = StrOptions(("t", "z"), optional=True)
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
    p_control: float, p_treatment: float, n_control: float, ratio: float, alpha: float, alternative: str
) -> float:
    n_treatment = ratio * n_control
    diff = p_treatment - p_control
    pooled = (p_control * n_control + p_treatment * n_treatment) / (n_control + n_treatment)
    sd0 = math.sqrt(pooled * (1 - pooled) * (1 / n_control + 1 / n_treatment))
    sd1 = math.sqrt(p_control * (1 - p_control) / n_control + p_treatment * (1 - p_treatment) / n_treatment)
    crit = critical_value(alpha, alternative, math.inf)

    def upper(d: float) -> float:
        return float(special.ndtr((d - crit * sd0) / sd1))

    if alternative == "greater":
        return upper(diff)
    if alternative == "less":
        return upper(-diff)
    return min(1.0, upper(diff) + upper(-diff))


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
) -> float:
    """Power of the pooled two-proportion z test to detect ``p_treatment`` against ``p_control``.

    Parameters
    ----------
    p_control, p_treatment : float
        True conversion rates, in (0, 1).
    n_control : float
        Units in control (> 0); treatment has ``ratio * n_control``.
    ratio, alpha, alternative
        As in :func:`power_means`.

    Examples
    --------
    >>> round(power_proportions(0.10, 0.12, 3841), 3)
    0.8
    """
    _check_common("power_proportions", alpha, alternative, ratio)
    _check_props("power_proportions", p_control=p_control, p_treatment=p_treatment)
    validate_params("power_proportions", {"n_control": _POSITIVE}, {"n_control": n_control})
    return _power_props(p_control, p_treatment, n_control, ratio, alpha, alternative)


def sample_size_proportions(
    p_control: float,
    p_treatment: float,
    *,
    power: float = 0.8,
    ratio: float = 1.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
) -> int:
    """Units in control (rounded up) for the two-proportion z test to reach ``power``.

    Parameters as in :func:`power_proportions`; ``power`` in (0, 1).

    Examples
    --------
    >>> sample_size_proportions(0.10, 0.12)
    3841
    """
    _check_common("sample_size_proportions", alpha, alternative, ratio)
    _check_props("sample_size_proportions", p_control=p_control, p_treatment=p_treatment, power=power)
    _check_sign("sample_size_proportions", p_treatment - p_control, alternative)
    return _solve_n(
        lambda n: _power_props(p_control, p_treatment, n, ratio, alpha, alternative),
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
) -> float:
    """Minimum detectable change of a conversion rate (a magnitude: an increase, or a decrease for 'less').

    Parameters as in :func:`power_proportions`.

    Raises
    ------
    abrec.errors.InputError
        When no change within (0, 1) reaches the power.

    Examples
    --------
    >>> round(mde_proportions(0.10, 3841), 4)
    0.02
    """
    _check_common("mde_proportions", alpha, alternative, ratio)
    _check_props("mde_proportions", p_control=p_control, power=power)
    validate_params("mde_proportions", {"n_control": _POSITIVE}, {"n_control": n_control})
    sign = -1.0 if alternative == "less" else 1.0
    room = p_control if alternative == "less" else 1.0 - p_control
    hi = room * (1 - 1e-12)

    def gap(d: float) -> float:
        return _power_props(p_control, p_control + sign * d, n_control, ratio, alpha, alternative) - power

    if gap(hi) < 0:
        raise InputError(
            f"mde_proportions: no change of p_control={p_control} within (0, 1) reaches power {power} "
            f"with n_control={n_control}; add units."
        )
    return float(optimize.brentq(gap, 1e-15, hi, xtol=1e-14, rtol=1e-12))
