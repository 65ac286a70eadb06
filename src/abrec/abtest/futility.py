"""Futility boundaries for group-sequential designs: beta spending, binding or non-binding.

A one-sided group-sequential design with futility stops at look ``k`` for efficacy when ``Z_k >= c_k``
and for futility when ``Z_k <= b_k``. The efficacy boundaries spend ``alpha`` under the null as in
:func:`~abrec.abtest.group_sequential.group_sequential_boundaries`; the futility boundaries spend
``beta`` under the design alternative (Pampallona, Tsiatis and Kim 2001; Jennison and Turnbull 2000,
ch. 7): ``b_k`` makes the probability, under the alternative, of continuing to look ``k`` and then
falling below ``b_k`` equal the increment ``b(t_k) - b(t_{k-1})`` of a *beta-spending function*
(the same families as alpha spending, at level ``beta``). The alternative is a drift ``theta``: ``Z_k``
has mean ``theta sqrt(t_k)``, ``theta`` the expected z statistic at full information. ``theta`` is
solved for so that the last boundaries meet, ``b_K = c_K``: the design then has power ``1 - beta``
exactly, and ``(theta / (z_{1-alpha} + z_{1-beta}))**2`` is the *inflation factor*, the maximum
information relative to the fixed-horizon test with the same error rates.

- **Non-binding** (default; rpact ``bindingFutility = FALSE``, gsDesign ``test.type = 4``): the
  efficacy boundaries ignore the futility ones, so the type I error stays at most ``alpha`` whether
  or not the experiment stops when it crosses ``b_k`` (the futility boundaries are advice). The
  false-positive rate is below ``alpha`` when they are obeyed.
- **Binding** (``bindingFutility = TRUE``, ``test.type = 3``): the efficacy boundaries count on
  stopping at ``b_k``, so they are lower (more power for the same information) and the type I error
  is exactly ``alpha`` only if every futility stop is obeyed.

Boundaries and crossing probabilities come from the same recursive numerical integration as the
alpha-spending boundaries (Armitage, McPherson and Rowe 1969), on densities carried with the drift.
Checked against rpact's ``getDesignGroupSequential(typeOfDesign = "asOF", typeBetaSpending = "bsKD")``
and by simulation of the operating characteristics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import optimize, special

from .._params import Interval, StrOptions, validate_params
from ..errors import InputError, ParameterError
from ._common import check_alpha
from .group_sequential import SPENDING_FUNCTIONS, Spending, _check_fractions, _grid, _spend

__all__ = ["FutilityDesign", "futility_design"]

FloatArray = npt.NDArray[np.float64]

_WIDTH = 10.0  # each density's grid spans its mean +- this (P(|N(0, 1)| > 10) = 1.5e-23)
_CHUNK = 4_000_000


@dataclass(frozen=True, slots=True)
class FutilityDesign:
    """A one-sided group-sequential design with efficacy and futility boundaries.

    Attributes
    ----------
    information_fractions : tuple of float
        The looks' fractions ``t_k`` of the maximum information (the last is 1).
    efficacy_z : tuple of float
        ``c_k``: stop for efficacy when the z statistic (oriented so that the alternative is positive:
        ``-Z`` for ``alternative='less'``) is at or above it; ``inf`` where a look spends no alpha.
    futility_z : tuple of float
        ``b_k``: stop for futility when the oriented statistic is at or below it (``-inf`` where a look
        spends no beta); ``b_K = c_K``.
    drift : float
        ``theta``, the expected oriented z statistic at full information under the design alternative.
    inflation_factor : float
        ``(theta / (z_{1-alpha} + z_{1-beta}))**2``: the maximum information over the fixed-horizon test's.
    alpha, beta : float
    binding : bool
    alternative : str
        'greater' or 'less'.
    spending, beta_spending : str
    rho, beta_rho : float
        The power families' exponents.
    """

    information_fractions: tuple[float, ...]
    efficacy_z: tuple[float, ...]
    futility_z: tuple[float, ...]
    drift: float
    inflation_factor: float
    alpha: float
    beta: float
    binding: bool
    alternative: str
    spending: str
    beta_spending: str
    rho: float
    beta_rho: float

    def decision(self, look: int, statistic: float) -> Literal["efficacy", "futility", "continue"]:
        """What the design says at ``look`` (1-based) for the z ``statistic`` of treatment - control."""
        if not 1 <= look <= len(self.information_fractions):
            raise InputError(
                f"FutilityDesign.decision: look must be in 1..{len(self.information_fractions)}; got {look}."
            )
        z = -statistic if self.alternative == "less" else statistic
        if z >= self.efficacy_z[look - 1]:
            return "efficacy"
        if z <= self.futility_z[look - 1]:
            return "futility"
        return "continue"

    def information(self, effect: float) -> float:
        """The maximum information ``1 / se**2`` at which the design has power ``1 - beta`` at ``effect``.

        ``(drift / effect)**2``; e.g. two arms of ``n`` units and per-unit sd ``s`` have information
        ``n / (2 s**2)`` for the difference of means.
        """
        if not (math.isfinite(effect) and effect != 0):
            raise InputError(f"FutilityDesign.information needs a finite, non-zero effect; got {effect!r}.")
        return (self.drift / effect) ** 2


def _kernel_carry(x: FloatArray, mass: FloatArray, new_x: FloatArray, t0: float, t1: float, theta: float) -> FloatArray:
    """Sub-density of ``Z_1`` at ``new_x`` from the weighted sub-density ``mass`` of ``Z_0`` at ``x``, drift theta."""
    s0, s1, si = math.sqrt(t0), math.sqrt(t1), math.sqrt(t1 - t0)
    shift = theta * (t1 - t0)
    out = np.empty(new_x.size)
    rows = max(1, _CHUNK // max(1, x.size))
    for start in range(0, new_x.size, rows):
        u = (new_x[start : start + rows, None] * s1 - x[None, :] * s0 - shift) / si
        out[start : start + rows] = (np.exp(-0.5 * u * u) @ mass) * (s1 / (si * math.sqrt(2.0 * math.pi)))
    return out


class _Path:
    """The sub-density of ``Z_k`` on the continuation region so far, under drift ``theta``, on a Simpson grid."""

    def __init__(self, theta: float, t1: float) -> None:
        self.theta, self.t = theta, t1
        self.x = self.mass = np.empty(0)
        self.first = True

    def below(self, b: float, t1: float) -> float:
        """``P(continue to t1, Z(t1) <= b)``."""
        if self.first:
            return float(special.ndtr(b - self.theta * math.sqrt(t1)))
        s0, s1, si = math.sqrt(self.t), math.sqrt(t1), math.sqrt(t1 - self.t)
        return float(self.mass @ special.ndtr((b * s1 - self.x * s0 - self.theta * (t1 - self.t)) / si))

    def above(self, c: float, t1: float) -> float:
        """``P(continue to t1, Z(t1) >= c)``."""
        if self.first:
            return float(special.ndtr(self.theta * math.sqrt(t1) - c))
        s0, s1, si = math.sqrt(self.t), math.sqrt(t1), math.sqrt(t1 - self.t)
        return float(self.mass @ special.ndtr((self.x * s0 + self.theta * (t1 - self.t) - c * s1) / si))

    def advance(self, t1: float, low: float, high: float, t_next: float) -> None:
        """Restrict to ``low < Z(t1) < high`` and move to ``t1`` (nothing continues when the region is empty)."""
        centre = self.theta * math.sqrt(t1)
        low, high = max(low, centre - _WIDTH), min(high, centre + _WIDTH)
        if high - low < 1e-9:
            self.x = self.mass = np.zeros(0)
            self.t, self.first = t1, False
            return
        x, w = _grid(low, high, math.sqrt((t_next - t1) / t1))
        if self.first:
            f = np.exp(-0.5 * (x - centre) ** 2) / math.sqrt(2.0 * math.pi)
        else:
            f = _kernel_carry(self.x, self.mass, x, self.t, t1, self.theta)
        self.x, self.mass, self.t, self.first = x, f * w, t1, False


def _root(func: Callable[[float], float], low: float, high: float) -> float:
    return float(optimize.brentq(func, low, high, xtol=1e-12, rtol=1e-12))


def _spent_above(path: _Path, t1: float, target: float) -> Callable[[float], float]:
    """``c -> log P(continue, Z(t1) >= c) - log target`` (decreasing in ``c``)."""
    log_target = math.log(target)

    def gap(c: float) -> float:
        return math.log(max(path.above(c, t1), 1e-300)) - log_target

    return gap


def _spent_below(path: _Path, t1: float, target: float) -> Callable[[float], float]:
    """``b -> P(continue, Z(t1) <= b) - target`` (increasing in ``b``)."""

    def gap(b: float) -> float:
        return path.below(b, t1) - target

    return gap


def _bounds(
    t: tuple[float, ...], alpha_inc: FloatArray, beta_inc: FloatArray, theta: float, binding: bool
) -> tuple[list[float], list[float], float]:
    """Efficacy and futility boundaries at drift ``theta``; the last futility boundary is set to ``c_K``.

    Returns ``(c, b, gap)`` with ``gap = P_theta(continue to t_K, Z_K < c_K) - beta_inc[K]``: zero at the
    design's drift (decreasing in ``theta``).
    """
    null, alt = _Path(0.0, t[0]), _Path(theta, t[0])
    c_all: list[float] = []
    b_all: list[float] = []
    for k, tk in enumerate(t):
        a_k, beta_k = float(alpha_inc[k]), float(beta_inc[k])
        if a_k <= 0:
            c = math.inf
        elif null.above(-40.0, tk) <= a_k:  # (binding) less null mass continues than this look spends
            c = -40.0
        else:
            c = _root(_spent_above(null, tk, a_k), -40.0, 40.0)
        if k == len(t) - 1:
            c_all.append(c)
            b_all.append(c)
            return c_all, b_all, alt.below(c, tk) - beta_k
        if beta_k <= 0:
            b = -math.inf
        elif alt.below(min(c, 40.0), tk) <= beta_k:
            # The bounds meet before the last look: theta is too large for this beta (all of it is
            # spent early), so the gap is negative; the later looks repeat this one's boundaries.
            c_all.extend([c] * (len(t) - k))
            b_all.extend([c] * (len(t) - k))
            return c_all, b_all, -1.0
        else:
            b = _root(_spent_below(alt, tk, beta_k), -40.0, min(c, 40.0))
        c_all.append(c)
        b_all.append(b)
        t_next = t[k + 1]
        alt.advance(tk, b, c, t_next)
        null.advance(tk, b if binding else -math.inf, c, t_next)
    raise AssertionError("unreachable")  # pragma: no cover


_CONSTRAINTS = {
    "beta": Interval("float", 0.0, 0.5, closed="neither"),
    "alternative": StrOptions(("greater", "less")),
    "spending": StrOptions(SPENDING_FUNCTIONS),
    "beta_spending": StrOptions(SPENDING_FUNCTIONS),
    "rho": Interval("float", 0.0, closed="neither"),
    "beta_rho": Interval("float", 0.0, closed="neither"),
}


def futility_design(
    information_fractions: Sequence[float] | npt.ArrayLike,
    *,
    alpha: float = 0.025,
    beta: float = 0.2,
    alternative: Literal["greater", "less"] = "greater",
    spending: Spending = "obrien-fleming",
    beta_spending: Spending | None = None,
    rho: float = 2.0,
    beta_rho: float | None = None,
    binding: bool = False,
) -> FutilityDesign:
    """A one-sided group-sequential design with alpha-spending efficacy and beta-spending futility boundaries.

    Parameters
    ----------
    information_fractions : sequence of float
        Strictly increasing in (0, 1], the last 1 (the design's maximum information).
    alpha : float, default 0.025
        One-sided type I error.
    beta : float, default 0.2
        Type II error at the design alternative (power ``1 - beta``), in (0, 0.5).
    alternative : {'greater', 'less'}, default 'greater'
    spending, beta_spending : {'obrien-fleming', 'pocock', 'power'}
        The alpha- and beta-spending functions (:func:`~abrec.abtest.group_sequential.alpha_spending`);
        ``beta_spending`` defaults to ``spending``.
    rho, beta_rho : float
        The power families' exponents (``beta_rho`` defaults to ``rho``).
    binding : bool, default False
        Whether the efficacy boundaries count on every futility stop being obeyed (see the module docstring).

    Returns
    -------
    FutilityDesign

    Raises
    ------
    abrec.errors.ParameterError
        For bad fractions (or a last fraction below 1), alpha, beta, alternative, spending or exponents.

    Examples
    --------
    >>> d = futility_design([0.4, 0.75, 1.0], alpha=0.13, beta=0.41, spending="obrien-fleming",
    ...                     beta_spending="power", beta_rho=2.5)
    >>> [round(c, 4) for c in d.efficacy_z], [round(b, 4) for b in d.futility_z[:-1]]
    ([2.1281, 1.4369, 1.2469], [-0.8373, 0.3599])
    >>> d.decision(1, 2.5), d.decision(2, 0.1), d.decision(2, 1.0)
    ('efficacy', 'futility', 'continue')
    """
    owner = "futility_design"
    t = _check_fractions(owner, information_fractions)
    if t[-1] != 1.0:
        raise ParameterError(
            f"The 'information_fractions' parameter of {owner} must end at 1 (the maximum information). "
            f"Got {list(t)!r} instead."
        )
    check_alpha(owner, alpha)
    b_spending = spending if beta_spending is None else beta_spending
    b_rho = rho if beta_rho is None else beta_rho
    validate_params(
        owner,
        _CONSTRAINTS,
        {
            "beta": beta,
            "alternative": alternative,
            "spending": spending,
            "beta_spending": b_spending,
            "rho": rho,
            "beta_rho": b_rho,
        },
    )
    times = np.asarray(t)
    alpha_inc = np.maximum(np.diff(_spend(times, float(alpha), spending, float(rho)), prepend=0.0), 0.0)
    beta_inc = np.maximum(np.diff(_spend(times, float(beta), b_spending, float(b_rho)), prepend=0.0), 0.0)
    fixed = float(special.ndtri(1.0 - alpha) + special.ndtri(1.0 - beta))

    def gap(theta: float) -> float:
        return _bounds(t, alpha_inc, beta_inc, theta, binding)[2]

    low, high = 0.5 * fixed, 1.5 * fixed
    while gap(high) > 0:
        high *= 1.5
    while gap(low) < 0:
        low *= 0.5
    theta = _root(gap, low, high)
    c, b, _ = _bounds(t, alpha_inc, beta_inc, theta, binding)
    return FutilityDesign(
        information_fractions=t,
        efficacy_z=tuple(c),
        futility_z=tuple(b),
        drift=theta,
        inflation_factor=(theta / fixed) ** 2,
        alpha=float(alpha),
        beta=float(beta),
        binding=bool(binding),
        alternative=alternative,
        spending=spending,
        beta_spending=b_spending,
        rho=float(rho),
        beta_rho=float(b_rho),
    )
