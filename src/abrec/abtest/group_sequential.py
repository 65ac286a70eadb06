"""Group-sequential tests: Lan-DeMets alpha spending over a few planned looks.

A group-sequential design looks at the data ``K`` times, at information fractions
``0 < t_1 < ... < t_K <= 1`` (the share of the final sample, or of the final information
``1 / se**2``), and stops at the first look whose z statistic crosses that look's boundary. Lan and
DeMets (Biometrika 1983) choose the boundaries from a *spending function* ``a(t)``, the type I error
spent by information ``t``: the boundary ``c_k`` makes the probability of crossing first at look ``k``
under the null equal to the increment ``a(t_k) - a(t_{k-1})``, so the chance of ever crossing is
``a(t_K)`` (``alpha`` when the last look is at ``t = 1``), however the looks are spaced.

Spending functions (one-sided level ``a``; the names of R's rpact, gsDesign and ldbounds):

- ``"obrien-fleming"`` (rpact ``asOF``, gsDesign ``sfLDOF``): ``2 - 2 Phi(z_{1 - a/2} / sqrt(t))``;
  nearly nothing early, close to the fixed-horizon boundary at the end.
- ``"pocock"`` (``asP``, ``sfLDPocock``): ``a log(1 + (e - 1) t)``; nearly constant boundaries.
- ``"power"`` (Kim-DeMets ``asKD``, ``sfPower``): ``a t**rho``; Spotify's confidence uses ``rho = 2``.

Two-sided designs are symmetric and spend ``alpha / 2`` on each side, each side through the one-sided
function at level ``alpha / 2`` (gsDesign's ``test.type = 2``, ldbounds' ``sides = 2``): the
continuation region is ``|Z_k| < c_k``.

The boundaries come from the joint normal law of the z statistics: ``Z_k sqrt(t_k)`` is a Brownian
motion at times ``t_k`` (independent increments), so the density of ``Z_k`` on the continuation
region is carried from look to look by recursive numerical integration (Armitage, McPherson and Rowe,
JRSS A 1969; Jennison and Turnbull 2000, ch. 19), here with Simpson's rule on a grid fine against the
spread of each increment; each boundary is the root of its crossing probability (accurate to about
1e-8 in z).

:func:`group_sequential_test` reads each look's cumulative arm statistics (any ``n`` / ``mean`` /
``variance`` record: :class:`~abrec.abtest.stats.SampleStats`, ``RatioStats``, ``Moments``), so shards
and days merge with ``+`` before a look, and returns, as Spotify's confidence does, the look's z
statistic, its nominal (fixed-horizon) p-value and the *nominal alpha* it must fall below, and the
repeated confidence interval ``effect -/+ c_k se`` (Jennison and Turnbull, ch. 9), which covers the
effect at every look together with probability ``1 - alpha``.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from .._interval import ConfidenceInterval
from .._params import Interval, StrOptions, validate_params
from ..errors import InputError, ParameterError
from ._common import Alternative, Summary, check_alpha, check_alternative, check_summaries, tail_p_value
from .frequentist import build_result

__all__ = [
    "GroupSequentialBoundaries",
    "GroupSequentialResult",
    "alpha_spending",
    "group_sequential_boundaries",
    "group_sequential_test",
]

Spending = Literal["obrien-fleming", "pocock", "power"]

SPENDING_FUNCTIONS: tuple[str, ...] = ("obrien-fleming", "pocock", "power")

_CONSTRAINTS = {
    "spending": StrOptions(SPENDING_FUNCTIONS),
    "rho": Interval("float", 0.0, closed="neither"),
}

_Z_RANGE = 10.0  # the grid stops here: P(|Z| > 10) = 1.5e-23
_MAX_STEP = 0.02  # Simpson step in z (error ~1e-10 on these smooth integrands)
_MAX_POINTS = 20_001
_CHUNK = 4_000_000  # elements per block of the density update


def alpha_spending(
    information_fractions: npt.ArrayLike,
    *,
    alpha: float = 0.05,
    spending: Spending = "obrien-fleming",
    rho: float = 2.0,
) -> npt.NDArray[np.float64]:
    """The cumulative type I error ``a(t)`` a spending function allows by each information fraction.

    Parameters
    ----------
    information_fractions : array-like of float in [0, 1]
    alpha : float, default 0.05
        The level the function spends in all (``a(1) = alpha``); one side's level.
    spending : {'obrien-fleming', 'pocock', 'power'}, default 'obrien-fleming'
        Lan-DeMets O'Brien-Fleming-type ``2 - 2 Phi(z_{1-alpha/2} / sqrt(t))``, Pocock-type
        ``alpha log(1 + (e - 1) t)``, or Kim-DeMets power ``alpha t**rho``.
    rho : float, default 2.0
        The power family's exponent (unused by the others).

    Returns
    -------
    numpy.ndarray
        ``a(t)`` for each fraction.

    Examples
    --------
    >>> [round(float(a), 6) for a in alpha_spending([0.5, 1.0], alpha=0.025)]
    [0.001525, 0.025]
    >>> [round(float(a), 4) for a in alpha_spending([0.5, 1.0], alpha=0.025, spending="pocock")]
    [0.0155, 0.025]
    """
    check_alpha("alpha_spending", alpha)
    validate_params("alpha_spending", _CONSTRAINTS, {"spending": spending, "rho": rho})
    t = np.asarray(information_fractions, dtype=np.float64)
    if not (np.isfinite(t).all() and (t >= 0).all() and (t <= 1).all()):
        raise InputError(f"alpha_spending needs information fractions in [0, 1]. Got {t.tolist()!r} instead.")
    return _spend(t, alpha, spending, rho)


def _spend(t: npt.NDArray[np.float64], alpha: float, spending: str, rho: float) -> npt.NDArray[np.float64]:
    if spending == "obrien-fleming":
        with np.errstate(divide="ignore"):
            return np.where(t > 0, 2.0 * special.ndtr(-special.ndtri(1.0 - alpha / 2.0) / np.sqrt(t)), 0.0)
    if spending == "pocock":
        return alpha * np.log1p((math.e - 1.0) * t)
    return alpha * t**rho


@dataclass(frozen=True, slots=True)
class GroupSequentialBoundaries:
    """The z boundaries of a group-sequential design at its looks.

    Attributes
    ----------
    information_fractions : tuple of float
        The looks' fractions ``t_k`` of the final information.
    z : tuple of float
        The boundaries ``c_k``: reject at look ``k`` when ``Z_k >= c_k`` ('greater'), ``Z_k <= -c_k``
        ('less') or ``|Z_k| >= c_k`` ('two-sided'); ``inf`` where the look spends nothing.
    nominal_alpha : tuple of float
        Each boundary as a fixed-horizon significance level (Spotify's ``adjusted_alpha``):
        ``1 - Phi(c_k)``, doubled for two-sided designs.
    cumulative_alpha : tuple of float
        The type I error spent by each look, ``a(t_k)`` (both sides together for two-sided designs).
    alpha : float
        The design's level (reached when the last look is at ``t = 1``).
    alternative : str
    spending : str
    rho : float
        The power family's exponent (unused by the others).
    """

    information_fractions: tuple[float, ...]
    z: tuple[float, ...]
    nominal_alpha: tuple[float, ...]
    cumulative_alpha: tuple[float, ...]
    alpha: float
    alternative: str
    spending: str
    rho: float

    def rejects(self, look: int, statistic: float) -> bool:
        """Whether the z ``statistic`` at ``look`` (1-based) crosses that look's boundary."""
        c = self.z[look - 1]
        if self.alternative == "greater":
            return statistic >= c
        if self.alternative == "less":
            return statistic <= -c
        return abs(statistic) >= c


def _check_fractions(owner: str, information_fractions: Sequence[float] | npt.ArrayLike) -> tuple[float, ...]:
    t = np.asarray(information_fractions, dtype=np.float64)
    if t.ndim != 1 or t.size == 0:
        raise ParameterError(
            f"The 'information_fractions' parameter of {owner} must be a non-empty 1-D sequence of floats. "
            f"Got {information_fractions!r} instead."
        )
    if not (np.isfinite(t).all() and (t > 0).all() and (t <= 1).all() and (np.diff(t) > 0).all()):
        raise ParameterError(
            f"The 'information_fractions' parameter of {owner} must be strictly increasing floats in (0, 1]. "
            f"Got {t.tolist()!r} instead."
        )
    return tuple(float(x) for x in t)


def group_sequential_boundaries(
    information_fractions: Sequence[float] | npt.ArrayLike,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    spending: Spending = "obrien-fleming",
    rho: float = 2.0,
) -> GroupSequentialBoundaries:
    """Lan-DeMets boundaries for looks at the given information fractions.

    Parameters
    ----------
    information_fractions : sequence of float
        Strictly increasing, in (0, 1]; the last is 1 for a design that spends all of ``alpha``.
    alpha : float, default 0.05
        The overall type I error (two-sided designs spend ``alpha / 2`` per side).
    alternative : {'two-sided', 'greater', 'less'}, default 'two-sided'
    spending : {'obrien-fleming', 'pocock', 'power'}, default 'obrien-fleming'
        See :func:`alpha_spending`.
    rho : float, default 2.0
        The power family's exponent (Spotify's confidence uses 2).

    Returns
    -------
    GroupSequentialBoundaries

    Raises
    ------
    abrec.errors.ParameterError
        For bad fractions, alpha, alternative, spending or rho.

    Examples
    --------
    >>> b = group_sequential_boundaries([0.2, 0.4, 0.6, 0.8, 1.0])
    >>> [round(c, 3) for c in b.z]
    [4.877, 3.357, 2.68, 2.29, 2.031]
    >>> [round(c, 3) for c in group_sequential_boundaries([0.5, 1.0], spending="pocock").z]
    [2.157, 2.201]
    """
    owner = "group_sequential_boundaries"
    t = _check_fractions(owner, information_fractions)
    check_alpha(owner, alpha)
    check_alternative(owner, alternative)
    validate_params(owner, _CONSTRAINTS, {"spending": spending, "rho": rho})
    return _boundaries(t, float(alpha), alternative, spending, float(rho))


@functools.lru_cache(maxsize=256)
def _boundaries(
    t: tuple[float, ...], alpha: float, alternative: str, spending: str, rho: float
) -> GroupSequentialBoundaries:
    two_sided = alternative == "two-sided"
    side_alpha = alpha / 2.0 if two_sided else alpha
    cumulative = _spend(np.asarray(t), side_alpha, spending, rho)
    increments = np.diff(cumulative, prepend=0.0)
    z = _solve(np.asarray(t), np.maximum(increments, 0.0), two_sided)
    sides = 2.0 if two_sided else 1.0
    nominal = tuple(float(sides * special.ndtr(-c)) for c in z)
    return GroupSequentialBoundaries(
        information_fractions=t,
        z=tuple(z),
        nominal_alpha=nominal,
        cumulative_alpha=tuple(float(sides * a) for a in cumulative),
        alpha=alpha,
        alternative=alternative,
        spending=spending,
        rho=rho,
    )


def _simpson_weights(m: int, h: float) -> npt.NDArray[np.float64]:
    w = np.full(m, 2.0)
    w[1::2] = 4.0
    w[0] = w[-1] = 1.0
    return w * h / 3.0


def _grid(low: float, high: float, spread: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """An odd number of points from ``low`` to ``high``, spaced at most ``spread / 8`` and ``_MAX_STEP``."""
    step = min(_MAX_STEP, spread / 8.0)
    m = min(_MAX_POINTS, 2 * math.ceil((high - low) / (2.0 * step)) + 1)
    x = np.linspace(low, high, m)
    return x, _simpson_weights(m, (high - low) / (m - 1))


def _solve(t: npt.NDArray[np.float64], increments: npt.NDArray[np.float64], two_sided: bool) -> list[float]:
    """Boundaries whose first-crossing probabilities (one side) under the null equal ``increments``.

    ``f`` is the sub-density of ``Z_k`` on its continuation region at the grid ``x``, ``w`` the grid's
    Simpson weights; crossing and carrying forward are sums of ``f * w`` against the increment's normal law.
    """
    bounds: list[float] = []
    x = w = f = np.empty(0)
    for k, d in enumerate(increments):
        if k == 0:
            c = float(-special.ndtri(d)) if d > 0 else math.inf
        elif d <= 0:
            c = math.inf
        else:
            c = _boundary(x, f * w, float(t[k - 1]), float(t[k]), float(d), 0.0 if two_sided else -_Z_RANGE)
        bounds.append(c)
        if k + 1 == len(increments):
            break
        # carry the density of Z_k on the continuation region to the grid of look k + 1
        top = min(c, _Z_RANGE)
        bottom = -top if two_sided else -_Z_RANGE
        if top - bottom < 1e-9:  # nothing continues (alpha near 1): every later look rejects
            bounds.extend([c] * (len(increments) - k - 1))
            break
        spread = math.sqrt((t[k + 1] - t[k]) / t[k])  # the width in z of the next increment's kernel
        new_x, new_w = _grid(bottom, top, spread)
        if k == 0:
            new_f = np.exp(-0.5 * new_x**2) / math.sqrt(2.0 * math.pi)
        else:
            new_f = _carry(x, f * w, new_x, t[k - 1], t[k])
        x, w, f = new_x, new_w, new_f
    return bounds


def _boundary(
    x: npt.NDArray[np.float64], mass: npt.NDArray[np.float64], t0: float, t1: float, d: float, low: float
) -> float:
    """The ``c`` with ``P(Z_1 >= c, Z_0 continues) = d``; ``mass`` is ``Z_0``'s weighted sub-density."""
    s0, s1, si = math.sqrt(t0), math.sqrt(t1), math.sqrt(t1 - t0)
    target = math.log(d)

    def gap(c: float) -> float:
        p = float(mass @ special.ndtr((x * s0 - c * s1) / si))
        return (math.log(p) if p > 0 else -1e300) - target

    if gap(low) <= 0:  # spends all the continuation mass left: stop whatever the statistic
        return low
    return float(optimize.brentq(gap, low, 40.0, xtol=1e-12, rtol=1e-12))


def _carry(
    x: npt.NDArray[np.float64], mass: npt.NDArray[np.float64], new_x: npt.NDArray[np.float64], t0: float, t1: float
) -> npt.NDArray[np.float64]:
    """Density of ``Z_1`` at ``new_x`` from the weighted sub-density ``mass`` of ``Z_0`` at ``x`` (times t0 < t1)."""
    s0, s1, si = math.sqrt(t0), math.sqrt(t1), math.sqrt(t1 - t0)
    out = np.empty(new_x.size)
    rows = max(1, _CHUNK // max(1, x.size))
    for start in range(0, new_x.size, rows):
        u = (new_x[start : start + rows, None] * s1 - x[None, :] * s0) / si
        out[start : start + rows] = (np.exp(-0.5 * u * u) @ mass) * (s1 / (si * math.sqrt(2.0 * math.pi)))
    return out


@dataclass(frozen=True, slots=True)
class GroupSequentialResult:
    """The outcome of a group-sequential test at its latest look (effects are ``treatment - control``).

    Attributes
    ----------
    method : str
        'group-sequential'.
    look : int
        The latest look (1-based).
    information_fraction : float
        Its fraction of the final information.
    effect, standard_error : float
        The absolute effect ``mean_t - mean_c`` at the latest look and its standard error.
    statistic : float
        The z statistic ``effect / standard_error``.
    boundary : float
        The look's z boundary ``c_k``.
    p_value : float
        The nominal (fixed-horizon) p-value of the look's z statistic.
    nominal_alpha : float
        The level the nominal p-value must reach at this look (Spotify's ``adjusted_alpha``).
    ci : ConfidenceInterval
        The repeated confidence interval ``effect -/+ c_k se`` (one-sided for one-sided designs): the
        intervals of all looks cover the effect together with probability ``1 - alpha``.
    relative_effect : float
        ``mean_t / mean_c - 1``, or NaN (see ``note``).
    relative_ci : ConfidenceInterval
        The delta-method relative interval with the same half-width in standard errors.
    statistics : tuple of float
        The z statistic of every look so far.
    rejected_at : int or None
        The first look whose statistic crossed its boundary; the design stops there.
    boundaries : GroupSequentialBoundaries
        The design's boundaries at the looks' information fractions.
    alpha : float
    alternative : str
    control_mean, treatment_mean : float
        The arms' means at the latest look.
    note : str
        Empty, or why a value is NaN.
    """

    method: str
    look: int
    information_fraction: float
    effect: float
    standard_error: float
    statistic: float
    boundary: float
    p_value: float
    nominal_alpha: float
    ci: ConfidenceInterval
    relative_effect: float
    relative_ci: ConfidenceInterval
    statistics: tuple[float, ...]
    rejected_at: int | None
    boundaries: GroupSequentialBoundaries
    alpha: float
    alternative: str
    control_mean: float
    treatment_mean: float
    note: str = ""

    @property
    def significant(self) -> bool:
        """Whether some look so far crossed its boundary (the design rejects the null and stops there)."""
        return self.rejected_at is not None

    def confidence_interval(self, *, relative: bool = False) -> ConfidenceInterval:
        """The latest look's repeated interval of the absolute effect, or of the relative one."""
        return self.relative_ci if relative else self.ci


def group_sequential_test(
    looks: Sequence[tuple[Summary, Summary]],
    *,
    planned_units: int | None = None,
    information_fractions: Sequence[float] | None = None,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    spending: Spending = "obrien-fleming",
    rho: float = 2.0,
) -> GroupSequentialResult:
    """The group-sequential z test of ``treatment - control`` at each look so far.

    Parameters
    ----------
    looks : sequence of (control, treatment)
        Each look's *cumulative* arm statistics (``SampleStats``, ``RatioStats``, ``Moments`` or any
        object with n, mean, variance), in order; at least two units per arm.
    planned_units : int, optional
        The planned total units (both arms) at the final look: look ``k`` is at fraction
        ``n_k / max(planned_units, n_last)`` (Spotify's confidence), so an overrun ends the design.
    information_fractions : sequence of float, optional
        The looks' fractions given directly (e.g. the planned ones); exactly one of the two is needed.
    alpha : float, default 0.05
    alternative : {'two-sided', 'greater', 'less'}, default 'two-sided'
    spending : {'obrien-fleming', 'pocock', 'power'}, default 'obrien-fleming'
    rho : float, default 2.0
        The power family's exponent.

    Returns
    -------
    GroupSequentialResult

    Raises
    ------
    abrec.errors.ParameterError
        For bad alpha, alternative, spending, rho or fractions, or not exactly one of
        ``planned_units`` and ``information_fractions``.
    abrec.errors.InputError
        For no looks, more looks than fractions, looks that add no units, or arms under two units.

    Examples
    --------
    >>> from abrec.abtest import SampleStats
    >>> day = SampleStats(n=1000, sum=1000.0, sum_sq=2000.0)
    >>> better = SampleStats(n=1000, sum=1080.0, sum_sq=2176.0)
    >>> looks = [(day, better), (day + day, better + better)]  # cumulative statistics after days 1 and 2
    >>> r = group_sequential_test(looks, planned_units=8000)
    >>> r.look, r.information_fraction, round(r.statistic, 2), round(r.boundary, 2), r.significant
    (2, 0.5, 2.52, 2.96, False)
    >>> round(r.p_value, 4), round(r.nominal_alpha, 4)  # a fixed-horizon test would have rejected
    (0.0116, 0.003)
    """
    owner = "group_sequential_test"
    check_alpha(owner, alpha)
    check_alternative(owner, alternative)
    validate_params(owner, _CONSTRAINTS, {"spending": spending, "rho": rho})
    if (planned_units is None) == (information_fractions is None):
        raise ParameterError(
            f"{owner} needs exactly one of 'planned_units' (the total units at the final look) and "
            "'information_fractions' (each look's share of the final information)."
        )
    looks = list(looks)
    if not looks:
        raise InputError(f"{owner} needs at least one look: a (control, treatment) pair of cumulative statistics.")
    for control, treatment in looks:
        check_summaries(owner, control, treatment)
    units = [control.n + treatment.n for control, treatment in looks]
    if any(b <= a for a, b in itertools.pairwise(units)):
        raise InputError(
            f"{owner} needs each look's cumulative statistics, with more units than the look before; "
            f"got units per look {units}."
        )
    if planned_units is not None:
        validate_params(owner, {"planned_units": Interval("int", 1)}, {"planned_units": planned_units})
        fractions = _check_fractions(owner, [u / max(planned_units, units[-1]) for u in units])
    else:
        assert information_fractions is not None
        fractions = _check_fractions(owner, information_fractions)
        if len(fractions) < len(looks):
            raise InputError(f"{owner} got {len(looks)} looks but only {len(fractions)} information fractions.")
        fractions = fractions[: len(looks)]
    bounds = _boundaries(fractions, float(alpha), alternative, spending, float(rho))
    statistics: list[float] = []
    rejected_at: int | None = None
    for k, (control, treatment) in enumerate(looks, start=1):
        se = math.sqrt(control.variance / control.n + treatment.variance / treatment.n)
        z = (treatment.mean - control.mean) / se if se > 0 else math.nan
        statistics.append(z)
        if rejected_at is None and not math.isnan(z) and bounds.rejects(k, z):
            rejected_at = k
    control, treatment = looks[-1]
    se = math.sqrt(control.variance / control.n + treatment.variance / treatment.n)
    c = bounds.z[-1]
    last = build_result("group-sequential", control, treatment, se, math.inf, alpha, alternative, crit=c)
    return GroupSequentialResult(
        method="group-sequential",
        look=len(looks),
        information_fraction=fractions[-1],
        effect=last.effect,
        standard_error=se,
        statistic=last.statistic,
        boundary=c,
        p_value=tail_p_value(last.statistic, alternative, math.inf),
        nominal_alpha=bounds.nominal_alpha[-1],
        ci=last.ci,
        relative_effect=last.relative_effect,
        relative_ci=last.relative_ci,
        statistics=tuple(statistics),
        rejected_at=rejected_at,
        boundaries=bounds,
        alpha=float(alpha),
        alternative=alternative,
        control_mean=control.mean,
        treatment_mean=treatment.mean,
        note=last.note,
    )
