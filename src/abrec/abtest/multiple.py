"""Multiple-testing corrections across variants x metrics: adjusted p-values and adjusted intervals.

Six methods, all on p-values of any shape treated as one family (or one family per slice along ``axis``);
reject where ``adjusted <= alpha``. Adjusted p-values equal statsmodels' ``multipletests(p, method=...)``
with the method in brackets:

============== ======= ======================================= ==========================================
method         error   procedure (statsmodels)                 intervals from ``adjusted_intervals``
============== ======= ======================================= ==========================================
'bonferroni'   FWER    single step, ``m p`` ('bonferroni')     simultaneous, level ``1 - alpha / m``
'sidak'        FWER    single step, ``1 - (1-p)^m`` ('sidak')  simultaneous, level ``(1 - alpha)^(1/m)``
'holm'         FWER    step-down Bonferroni ('holm')           as 'bonferroni' (see below)
'holm-sidak'   FWER    step-down Sidak ('holm-sidak')          as 'sidak' (see below)
'bh'           FDR     Benjamini-Hochberg step-up ('fdr_bh')   FCR-adjusted, ``1 - R alpha / m``
'by'           FDR     Benjamini-Yekutieli ('fdr_by')          FCR-adjusted, ``1 - R alpha / (m H_m)``
============== ======= ======================================= ==========================================

``m`` is the family's size, ``R`` the number of hypotheses the method rejects at ``alpha`` and
``H_m = 1 + 1/2 + ... + 1/m``. Sidak's and Holm-Sidak's FWER guarantee needs independent (or positively
orthant dependent) tests, BH's FDR independent or positively dependent ones; Bonferroni, Holm and BY
hold under any dependence.

Intervals (``convention="abrec"``, the default):

- Single-step methods have simultaneous intervals: all ``m`` cover their true effects together with
  probability at least ``1 - alpha``, and an interval excludes 0 exactly when its adjusted p-value is
  below ``alpha`` (for normal-theory p-values).
- Step-down methods (Holm, Holm-Sidak) have no informative compatible intervals: Strassburger & Bretz
  (2008, Statistics in Medicine 27:4914) show that intervals compatible with Holm must collapse to the
  null boundary (``[0, inf)``) for every rejected hypothesis unless all are rejected. abrec reports
  the single-step (Bonferroni, resp. Sidak) interval for every hypothesis, rejected or not: valid
  simultaneous coverage and an informative width, at the price that a hypothesis Holm rejects at a
  later step may keep 0 in its interval.
- BH and BY intervals are the false coverage-statement rate (FCR) adjusted intervals of Benjamini &
  Yekutieli (2005, JASA 100:71): marginal intervals at level ``1 - R q / m`` with ``q = alpha`` (BH,
  independent estimates) or ``alpha / H_m`` (BY, any dependence); the expected share of non-covering
  intervals among the selected is at most ``alpha``. The same level is given to the hypotheses not
  selected, and when none is selected (``R = 0``) the level is that of ``R = 1``.

``convention="gbstats"`` reproduces GrowthBook's adjusted intervals (``getAdjustedCI`` in
packages/shared/src/experiments/experiments.ts; gbstats' Python computes none): the standard error is
backed out of the adjusted p-value, ``|estimate| / z(1 - p_adj / 2)``, the interval is
``estimate -/+ z(1 - alpha / 2)`` times it when that is wider on both sides than the unadjusted interval
(else the unadjusted one), and ``(-inf, inf)`` when ``p_adj > 0.999999``. It excludes 0 exactly when
``p_adj < alpha`` but has no coverage guarantee.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from .._interval import ConfidenceInterval
from .._params import Interval, StrOptions, validate_params
from ..errors import InputError

__all__ = ["CORRECTION_METHODS", "AdjustedIntervals", "adjust", "adjusted_intervals", "benjamini_hochberg", "holm"]

CORRECTION_METHODS: tuple[str, ...] = ("bonferroni", "sidak", "holm", "holm-sidak", "bh", "by")
"""The names ``adjust`` and ``adjusted_intervals`` take."""

_METHOD = StrOptions(CORRECTION_METHODS)
_ALPHA = Interval("float", 0.0, 1.0, closed="neither")
_CONVENTION = StrOptions(("abrec", "gbstats"))


def _p_values(owner: str, p_values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        raise InputError(f"{owner} needs at least one p-value.")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise InputError(
            f"{owner} needs p-values in [0, 1]; drop the NaN ones (tests that could not run) before adjusting."
        )
    return p


def _harmonic(m: int) -> float:
    """``H_m = sum_{i=1}^m 1 / i``: Benjamini-Yekutieli's factor for arbitrary dependence."""
    return float(np.sum(1.0 / np.arange(1, m + 1)))


def _adjust_sorted(p: npt.NDArray[np.float64], method: str) -> npt.NDArray[np.float64]:
    """Adjusted p-values of rows ``p`` (shape ``(families, m)``) sorted ascending along the last axis."""
    m = p.shape[-1]
    with np.errstate(divide="ignore"):  # log1p(-1) = -inf, and expm1(-inf) = -1 gives 1 as it should
        log_q = np.log1p(-p)
    if method == "bonferroni":
        out = np.minimum(m * p, 1.0)
    elif method == "sidak":
        out = -np.expm1(m * log_q)
    elif method == "holm":
        out = np.maximum.accumulate(np.minimum((m - np.arange(m)) * p, 1.0), axis=-1)
    elif method == "holm-sidak":
        out = np.maximum.accumulate(-np.expm1((m - np.arange(m)) * log_q), axis=-1)
    else:  # step-up BH, and BY with the harmonic factor
        factor = m / np.arange(1, m + 1)
        if method == "by":
            factor = factor * _harmonic(m)
        out = np.minimum.accumulate(np.minimum(factor * p, 1.0)[:, ::-1], axis=-1)[:, ::-1]
    return np.asarray(out, dtype=np.float64)


def _rows(owner: str, x: npt.NDArray[np.float64], axis: int | None) -> npt.NDArray[np.float64]:
    """``x`` as ``(families, m)``: one row for ``axis=None``, else one row per 1-D slice along ``axis``."""
    if axis is None:
        return x.reshape(1, -1)
    if isinstance(axis, bool) or not isinstance(axis, int | np.integer) or not -x.ndim <= axis < x.ndim:
        raise InputError(f"{owner} needs axis None or an int in [{-x.ndim}, {x.ndim}). Got {axis!r} instead.")
    return np.moveaxis(x, axis, -1).reshape(-1, x.shape[axis])


def _unrows(rows: npt.NDArray[Any], shape: tuple[int, ...], axis: int | None) -> npt.NDArray[Any]:
    """The inverse of :func:`_rows` for an array of the given ``shape``."""
    if axis is None:
        return rows.reshape(shape)
    moved = np.moveaxis(np.empty(shape, dtype=np.int8), axis, -1).shape
    return np.moveaxis(rows.reshape(moved), -1, axis)


def _adjust_rows(rows: npt.NDArray[np.float64], method: str) -> npt.NDArray[np.float64]:
    """Adjusted p-values of each row of ``rows`` (one family per row)."""
    order = np.argsort(rows, axis=-1, kind="stable")
    adjusted = np.empty_like(rows)
    np.put_along_axis(adjusted, order, _adjust_sorted(np.take_along_axis(rows, order, axis=-1), method), axis=-1)
    return adjusted


def _adjust(owner: str, p_values: npt.ArrayLike, method: str, axis: int | None) -> npt.NDArray[np.float64]:
    p = _p_values(owner, p_values)
    return _unrows(_adjust_rows(_rows(owner, p, axis), method), p.shape, axis)


def adjust(p_values: npt.ArrayLike, method: str, *, axis: int | None = None) -> npt.NDArray[np.float64]:
    """Adjusted p-values of one family (or of one family per slice along ``axis``).

    Parameters
    ----------
    p_values : array_like of float in [0, 1], any shape
        The raw p-values.
    method : {'bonferroni', 'sidak', 'holm', 'holm-sidak', 'bh', 'by'}
        The correction (see the module docstring); equal to statsmodels' ``multipletests`` with
        'bonferroni', 'sidak', 'holm', 'holm-sidak', 'fdr_bh', 'fdr_by'.
    axis : int or None, default None
        None: all p-values are one family. An int: each 1-D slice along ``axis`` is its own family
        (e.g. ``axis=-1`` on ``(n_simulations, m)`` adjusts every row separately).

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same shape; reject where ``adjusted <= alpha``.

    Raises
    ------
    abrec.errors.ParameterError
        For an unknown method.
    abrec.errors.InputError
        For no p-values, a NaN or a value outside [0, 1].

    Examples
    --------
    >>> p = [0.01, 0.04, 0.03, 0.5]
    >>> adjust(p, "bonferroni").tolist(), adjust(p, "holm").tolist()
    ([0.04, 0.16, 0.12, 1.0], [0.04, 0.09, 0.09, 0.5])
    >>> adjust(p, "sidak").round(4).tolist(), adjust(p, "by").round(4).tolist()
    ([0.0394, 0.1507, 0.1147, 0.9375], [0.0833, 0.1111, 0.1111, 1.0])
    >>> adjust([[0.01, 0.02], [0.5, 0.04]], "holm", axis=1).tolist()  # one family per row
    [[0.02, 0.02], [0.5, 0.08]]
    """
    validate_params("adjust", {"method": _METHOD}, {"method": method})
    return _adjust("adjust", p_values, method, axis)


def holm(p_values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Holm's step-down adjusted p-values (controls the family-wise error rate): ``adjust(p, "holm")``.

    Parameters
    ----------
    p_values : array_like of float in [0, 1], any shape
        One family of p-values.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same shape.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03, 0.5]).tolist()
    [0.04, 0.09, 0.09, 0.5]
    """
    return _adjust("holm", p_values, "holm", None)


def benjamini_hochberg(p_values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Benjamini-Hochberg step-up adjusted p-values (FDR, independent tests): ``adjust(p, "bh")``.

    Parameters
    ----------
    p_values : array_like of float in [0, 1], any shape
        One family of p-values.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values (q-values), same shape.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.5]).tolist()
    [0.04, 0.05333333333333333, 0.05333333333333333, 0.5]
    """
    return _adjust("benjamini_hochberg", p_values, "bh", None)


def _two_sided_tails(method: str, alpha: float, adjusted: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Per family (row of ``adjusted``), the two-sided tail ``1 - level`` of its intervals (abrec's convention)."""
    m = adjusted.shape[-1]
    if method in ("bonferroni", "holm"):
        return np.full(adjusted.shape[0], alpha / m)
    if method in ("sidak", "holm-sidak"):
        return np.full(adjusted.shape[0], -np.expm1(np.log1p(-alpha) / m))
    selected = np.maximum(np.count_nonzero(adjusted <= alpha, axis=-1), 1)
    q = alpha if method == "bh" else alpha / _harmonic(m)
    return np.asarray(selected * q / m, dtype=np.float64)


def _quantile(upper_tail: npt.NDArray[np.float64], df: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``z`` (``df = inf``) or ``t_df`` quantile with ``upper_tail`` probability above it."""
    normal = special.ndtri(1.0 - upper_tail)
    t = special.stdtrit(np.minimum(df, 1e300), 1.0 - upper_tail)
    return np.asarray(np.where(np.isinf(df), normal, t), dtype=np.float64)


def _readonly(x: npt.NDArray[Any]) -> npt.NDArray[Any]:
    x.setflags(write=False)
    return x


@dataclass(frozen=True, eq=False)
class AdjustedIntervals:
    """A family of effects' intervals and p-values after a multiple-testing correction.

    Arrays have the shape of the estimates given to :func:`adjusted_intervals` (read-only).

    Attributes
    ----------
    method : str
        The correction (one of :data:`CORRECTION_METHODS`).
    alpha : float
        The family's error rate (FWER, FDR or FCR).
    convention : str
        'abrec' or 'gbstats' (how the intervals were built, see :mod:`abrec.abtest.multiple`).
    low, high : numpy.ndarray
        The adjusted intervals' bounds (``-inf``/``inf`` where 'gbstats' makes them unbounded).
    level : numpy.ndarray
        Each interval's nominal level (e.g. ``1 - alpha / m`` for Bonferroni; ``1 - alpha`` under 'gbstats').
    p_adjusted : numpy.ndarray
        The adjusted p-values (``adjust(p_values, method, axis=axis)``).
    rejected : numpy.ndarray of bool
        ``p_adjusted <= alpha``.

    Iterating gives one :class:`ConfidenceInterval` per effect in flattened (C) order, so
    ``list(result)`` is the list of intervals.
    """

    method: str
    alpha: float
    convention: str
    low: npt.NDArray[np.float64]
    high: npt.NDArray[np.float64]
    level: npt.NDArray[np.float64]
    p_adjusted: npt.NDArray[np.float64]
    rejected: npt.NDArray[np.bool_]

    def confidence_interval(self, index: int | tuple[int, ...]) -> ConfidenceInterval:
        """The adjusted interval of the effect at ``index`` (an int, or a tuple for several dimensions)."""
        return ConfidenceInterval(float(self.low[index]), float(self.high[index]), float(self.level[index]))

    def __len__(self) -> int:
        return int(self.low.size)

    def __iter__(self) -> Iterator[ConfidenceInterval]:
        for low, high, level in zip(self.low.flat, self.high.flat, self.level.flat, strict=True):
            yield ConfidenceInterval(float(low), float(high), float(level))


def adjusted_intervals(
    estimates: npt.ArrayLike,
    standard_errors: npt.ArrayLike,
    p_values: npt.ArrayLike | None = None,
    *,
    method: str,
    alpha: float = 0.05,
    df: npt.ArrayLike = math.inf,
    axis: int | None = None,
    convention: str = "abrec",
) -> AdjustedIntervals:
    """Two-sided intervals of a family of effects, adjusted for multiple testing like their p-values.

    Parameters
    ----------
    estimates, standard_errors : array_like of float, any shape (the same)
        Each effect and its standard error (finite, ``>= 0``), e.g. ``TestResult.effect`` and
        ``TestResult.standard_error`` of every (variant, metric) pair.
    p_values : array_like of float in [0, 1], same shape, optional
        The raw two-sided p-values; they choose the hypotheses each method rejects (``R`` for BH and
        BY) and feed the gbstats convention. Default: from ``estimates / standard_errors`` (normal, or
        t with ``df``).
    method : {'bonferroni', 'sidak', 'holm', 'holm-sidak', 'bh', 'by'}
        The correction (see the module docstring for each interval's construction).
    alpha : float, default 0.05
        The family's error rate in (0, 1) (FWER, FDR, or FCR for the intervals of BH and BY).
    df : float or array_like, default inf
        Degrees of freedom of each effect's t distribution (``inf``: normal); broadcast to the shape.
    axis : int or None, default None
        None: all effects are one family; an int: each 1-D slice along ``axis`` is its own family.
    convention : {'abrec', 'gbstats'}, default 'abrec'
        'gbstats' backs the interval out of the adjusted p-value as GrowthBook does.

    Returns
    -------
    AdjustedIntervals
        ``low``, ``high``, ``level``, ``p_adjusted``, ``rejected`` of the estimates' shape;
        ``confidence_interval(i)`` or ``list(result)`` for :class:`ConfidenceInterval` records.

    Raises
    ------
    abrec.errors.ParameterError
        For an unknown method or convention or an alpha outside (0, 1).
    abrec.errors.InputError
        For arrays of different shapes, non-finite estimates, negative or non-finite standard errors,
        degrees of freedom that are not > 0, p-values outside [0, 1], or a bad axis.

    Examples
    --------
    >>> effects, ses = [0.30, 0.05, -0.02], [0.10, 0.10, 0.10]
    >>> r = adjusted_intervals(effects, ses, method="bonferroni")
    >>> r.level.tolist(), r.rejected.tolist()
    ([0.9833333333333333, 0.9833333333333333, 0.9833333333333333], [True, False, False])
    >>> low, high = r.confidence_interval(0)
    >>> round(low, 4), round(high, 4), len(list(r))
    (0.0606, 0.5394, 3)
    >>> bh = adjusted_intervals(effects, ses, method="bh")
    >>> round(bh.confidence_interval(0).level, 4)  # 1 of 3 selected: 1 - 0.05 / 3
    0.9833
    """
    owner = "adjusted_intervals"
    validate_params(
        owner,
        {"method": _METHOD, "alpha": _ALPHA, "convention": _CONVENTION},
        {"method": method, "alpha": alpha, "convention": convention},
    )
    est = np.asarray(estimates, dtype=np.float64)
    se = np.asarray(standard_errors, dtype=np.float64)
    if est.size == 0 or se.shape != est.shape:
        raise InputError(
            f"{owner} needs estimates and standard_errors of one non-empty shape; "
            f"got shapes {est.shape} and {se.shape}."
        )
    if not np.isfinite(est).all() or not np.isfinite(se).all() or (se < 0).any():
        raise InputError(
            f"{owner} needs finite estimates and finite standard errors >= 0; drop the effects whose test "
            "could not run before adjusting."
        )
    try:
        dof = np.broadcast_to(np.asarray(df, dtype=np.float64), est.shape)
    except ValueError:
        raise InputError(f"{owner} needs df broadcastable to the estimates' shape {est.shape}.") from None
    if np.isnan(dof).any() or (dof <= 0).any():
        raise InputError(f"{owner} needs degrees of freedom > 0 (inf for normal). Got {df!r} instead.")
    if p_values is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(se > 0, np.abs(est) / se, np.where(est == 0, 0.0, np.inf))
        tail = np.where(np.isinf(dof), special.ndtr(-z), special.stdtr(np.minimum(dof, 1e300), -z))
        p = np.minimum(2.0 * tail, 1.0)
    else:
        p = _p_values(owner, p_values)
        if p.shape != est.shape:
            raise InputError(f"{owner} needs one p-value per estimate; got shapes {p.shape} and {est.shape}.")
    rows = {name: _rows(owner, x, axis) for name, x in (("est", est), ("se", se), ("df", dof), ("p", p))}
    adjusted = _adjust_rows(rows["p"], method)
    if convention == "gbstats":
        low, high, level = _gbstats_bounds(rows["est"], rows["se"], rows["df"], adjusted, alpha)
    else:
        tail = np.broadcast_to(_two_sided_tails(method, alpha, adjusted)[:, None], adjusted.shape)
        half = _quantile(tail / 2.0, rows["df"]) * rows["se"]
        low, high, level = rows["est"] - half, rows["est"] + half, 1.0 - tail

    def out(x: npt.NDArray[Any]) -> npt.NDArray[Any]:
        return _readonly(np.array(_unrows(x, est.shape, axis)))

    return AdjustedIntervals(
        method, alpha, convention, out(low), out(high), out(level), out(adjusted), out(adjusted <= alpha)
    )


def _gbstats_bounds(
    est: npt.NDArray[np.float64],
    se: npt.NDArray[np.float64],
    df: npt.NDArray[np.float64],
    adjusted: npt.NDArray[np.float64],
    alpha: float,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """GrowthBook's ``getAdjustedCI``: the interval of the standard error backed out of the adjusted p-value."""
    z = float(special.ndtri(1.0 - alpha / 2.0))
    raw_half = _quantile(np.full(est.shape, alpha / 2.0), df) * se
    with np.errstate(divide="ignore", invalid="ignore"):
        adjusted_half = z * np.abs(est) / special.ndtri(1.0 - adjusted / 2.0)
    wider = (est != 0) & (adjusted_half > raw_half)  # GrowthBook only ever widens the raw interval
    half = np.where(wider, adjusted_half, raw_half)
    unbounded = adjusted > 0.999999
    low = np.where(unbounded, -np.inf, est - half)
    high = np.where(unbounded, np.inf, est + half)
    return low, high, np.full(est.shape, 1.0 - alpha)
