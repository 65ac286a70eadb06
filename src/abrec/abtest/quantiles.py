"""Quantile metrics: p50/p90/p99 per variant and the Wald test of their difference.

The sample quantile ``Q(p)`` (linear interpolation between order statistics, numpy's default and SQL's
``PERCENTILE_CONT``) is asymptotically normal with variance ``p (1 - p) / (n f(Q)**2)``; the density
``f`` at the quantile is what makes it hard. Two engines estimate the standard error without a kernel
density and without resampling, and :func:`quantile_test` offers both:

- ``method="order-statistic"`` (GrowthBook's gbstats, ``QuantileStatistic``): the quantiles at the
  probabilities ``p -/+ z sqrt(p (1 - p) / n)`` (``z = 1.96``, the binomial order-statistic interval of
  Price and Bonett) are ``2 z`` standard errors apart, a difference-quotient estimate of ``1 / f``::

      se**2 = (n - 1) / n * ((Q(p + z s) - Q(p - z s)) / (2 z))**2,   s = sqrt(p (1 - p) / n)

  (gbstats computes the two bounds at ``n* <= n`` and multiplies by ``n* / n``; :class:`QuantileBounds`
  takes such precomputed bounds.) For event-level quantiles with events clustered in units
  (gbstats' ``QuantileClusteredStatistic``), the binomial variance ``p (1 - p) / n`` of the share of
  events at or below the quantile is replaced by its delta-method variance over units, a design
  effect that multiplies ``se**2``.
- ``method="bootstrap"`` (Spotify, Schultzberg and Ankargren 2022, "Resampling-free bootstrap inference
  for quantiles"): under the Poisson bootstrap the number of resampled values at or below the ``j``-th
  order statistic ``x_(j)`` is Poisson(``j``), so the bootstrap quantile is an order statistic whose
  law is known: ``P(Q* <= x_(j)) = P(Binomial(n, j / n) >= p n)``. The bootstrap variance of the
  quantile is summed over that law, exactly, with no resampling.

The interval of ``Q_t - Q_c`` is the Wald interval with ``se**2 = se_t**2 + se_c**2`` (normal critical
values), and the relative difference ``Q_t / Q_c - 1`` gets the delta-method standard error, interval
and p-value (``H0: Q_t / Q_c = 1``, from ``relative / relative_se`` on the normal distribution), as gbstats
does for its quantile metrics (``variance_of_ratios`` on the two quantiles' standard errors); they are
NaN with a note when the control quantile is not clearly positive.

Quantiles are not sums, so no fixed-size record merges them exactly. :class:`QuantileSample` keeps the
values (sorted, with optional unit ids for event-level metrics) and merges with ``+`` by
concatenation: exact, but its size grows with the data. :class:`QuantileBounds` is the three numbers
a warehouse query returns (gbstats' interface); it does not merge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt
from scipy import special

from .._interval import ConfidenceInterval
from .._params import Interval, StrOptions, validate_params
from ..errors import InputError
from ._common import Alternative, check_alpha, check_alternative, critical_value, interval, tail_p_value
from .stats import _as_values

__all__ = ["QuantileBounds", "QuantileResult", "QuantileSample", "min_units", "quantile_test"]

QuantileMethod = Literal["order-statistic", "bootstrap"]

QUANTILE_METHODS: tuple[str, ...] = ("order-statistic", "bootstrap")

_Z = float(special.ndtri(0.975))  # gbstats' fixed multiplier of the bound probabilities
_P_CLIP = 1e-8  # gbstats clips the bound probabilities to [1e-8, 1 - 1e-8]
_PROBABILITY = {"probability": Interval("float", 0.0, 1.0, closed="neither")}
_CONSTRAINTS = {**_PROBABILITY, "method": StrOptions(QUANTILE_METHODS)}


def min_units(probability: float) -> int:
    """The fewest values for which the order-statistic bounds at ``probability`` stay inside (0, 1).

    gbstats' rule: ``n > z**2 * max(p / (1 - p), (1 - p) / p)`` with ``z = 1.96``; e.g. 4 for p50, 35 for
    p90, 381 for p99.
    """
    p = probability
    return math.floor(_Z**2 * max(p / (1.0 - p), (1.0 - p) / p)) + 1


def _bound_probabilities(p: float, n_star: float) -> tuple[float, float]:
    s = math.sqrt(p * (1.0 - p) / n_star)
    return max(p - _Z * s, _P_CLIP), min(p + _Z * s, 1.0 - _P_CLIP)


def _order_statistic_se(n: int, n_star: float, lower: float, upper: float) -> float:
    """gbstats' ``QuantileStatistic``: ``sqrt((n* / n) (n - 1) / n) (upper - lower) / (2 z)``."""
    return math.sqrt(n_star / n * (n - 1) / n) * (upper - lower) / (2.0 * _Z)


class QuantileSummary(Protocol):
    """What :func:`quantile_test` asks of an arm: its size, a quantile and the quantile's standard error."""

    @property
    def n(self) -> int: ...

    def quantile(self, probability: float) -> float: ...

    def quantile_standard_error(self, probability: float, method: str) -> float: ...


@dataclass(frozen=True, slots=True, eq=False)
class QuantileSample:
    """The values of one arm, sorted, for exact quantiles; optionally the unit (cluster) of each value.

    Use one value per unit for unit-level quantiles (e.g. each user's median latency), or one value
    per event with ``clusters`` the unit ids for event-level quantiles (e.g. every page load's latency,
    randomised by user): the standard error then accounts for events of one unit being alike.
    Two samples of disjoint data merge with ``+`` (values are concatenated; a unit may appear in both).

    Attributes
    ----------
    values : numpy.ndarray
        The values, sorted ascending (read-only).
    clusters : numpy.ndarray or None
        The unit id of each value, in the order of ``values`` (read-only), or None.

    Examples
    --------
    >>> a = QuantileSample.from_values([3.0, 1.0, 2.0])
    >>> b = QuantileSample.from_values([5.0, 4.0])
    >>> (a + b).n, (a + b).quantile(0.5), (a + b).quantile(0.9)
    (5, 3.0, 4.6)
    >>> events = QuantileSample.from_values([0.2, 0.9, 0.4, 0.3], clusters=["u1", "u1", "u2", "u3"])
    >>> events.quantile(0.5), events.clusters.tolist()
    (0.35, ['u1', 'u3', 'u2', 'u1'])
    """

    values: npt.NDArray[np.float64]
    clusters: npt.NDArray[Any] | None = None

    def __post_init__(self) -> None:
        values = _as_values("QuantileSample.values", self.values)
        if values.size > 1 and (np.diff(values) < 0).any():
            raise InputError("QuantileSample.values must be sorted; build the sample with QuantileSample.from_values.")
        values = values.copy()
        values.flags.writeable = False
        object.__setattr__(self, "values", values)
        if self.clusters is not None:
            clusters = np.array(self.clusters)
            if clusters.shape != values.shape:
                raise InputError(
                    f"QuantileSample.clusters must hold one unit id per value; got {clusters.size} ids "
                    f"for {values.size} values."
                )
            clusters.flags.writeable = False
            object.__setattr__(self, "clusters", clusters)

    @classmethod
    def from_values(cls, values: npt.ArrayLike, clusters: npt.ArrayLike | None = None) -> QuantileSample:
        """The sample of 1-D finite ``values``, with the unit id of each value in ``clusters`` (optional)."""
        x = _as_values("values", values)
        if clusters is None:
            return cls(np.sort(x))
        order = np.argsort(x, kind="stable")
        ids = np.asarray(clusters)
        if ids.shape != x.shape:
            raise InputError(f"values and clusters must have one length; got {x.size} and {ids.size}.")
        return cls(x[order], ids[order])

    @property
    def n(self) -> int:
        """The number of values."""
        return int(self.values.size)

    def quantile(self, probability: float) -> float:
        """The sample quantile (linear interpolation, ``numpy.quantile``'s default)."""
        validate_params("QuantileSample.quantile", _PROBABILITY, {"probability": probability})
        if self.n == 0:
            return math.nan
        return _interpolate(self.values, probability)

    def quantile_standard_error(self, probability: float, method: str) -> float:
        """The standard error of :meth:`quantile` by ``method`` ('order-statistic' or 'bootstrap')."""
        validate_params(
            "QuantileSample.quantile_standard_error", _CONSTRAINTS, {"probability": probability, "method": method}
        )
        n, p = self.n, probability
        if n < 2:
            return math.nan
        if method == "order-statistic":
            low, high = _bound_probabilities(p, n)
            se = _order_statistic_se(n, n, _interpolate(self.values, low), _interpolate(self.values, high))
        else:
            se = _bootstrap_se(self.values, p)
        return se * math.sqrt(self._design_effect(p))

    def _design_effect(self, p: float) -> float:
        """Delta-method variance over units of the share of events at or below the quantile, over p (1 - p) / n.

        gbstats' ``QuantileClusteredStatistic``: per unit, ``s`` events at or below the quantile out of
        ``m`` events; the variance of ``sum(s) / sum(m)`` over ``K`` units (unbiased moments).
        """
        if self.clusters is None:
            return 1.0
        below = int(np.searchsorted(self.values, _interpolate(self.values, p), side="right"))
        _, unit = np.unique(self.clusters, return_inverse=True)
        k = int(unit.max()) + 1
        if k < 2:
            return math.nan
        m = np.bincount(unit, minlength=k).astype(np.float64)
        s = np.bincount(unit[:below], minlength=k).astype(np.float64)
        mu_s, mu_m = s.mean(), m.mean()
        var_s, var_m = s.var(ddof=1), m.var(ddof=1)
        cov = float(np.cov(s, m, ddof=1)[0, 1])
        v_cluster = (var_s - 2.0 * mu_s * cov / mu_m + mu_s**2 * var_m / mu_m**2) / (k * mu_m**2)
        return float(v_cluster / (p * (1.0 - p) / self.n))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantileSample):
            return NotImplemented
        same_ids = (self.clusters is None and other.clusters is None) or (
            self.clusters is not None and other.clusters is not None and np.array_equal(self.clusters, other.clusters)
        )
        return bool(np.array_equal(self.values, other.values)) and same_ids

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other: object) -> QuantileSample:
        if not isinstance(other, QuantileSample):
            return NotImplemented
        if (self.clusters is None) != (other.clusters is None):
            raise InputError("QuantileSample: cannot add a sample with unit ids to one without; give both or neither.")
        values = np.concatenate([self.values, other.values])
        order = np.argsort(values, kind="stable")
        if self.clusters is None or other.clusters is None:
            return QuantileSample(values[order])
        return QuantileSample(values[order], np.concatenate([self.clusters, other.clusters])[order])

    def __radd__(self, other: object) -> QuantileSample:
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented


def _interpolate(values: npt.NDArray[np.float64], p: float) -> float:
    """Quantile of sorted ``values`` by linear interpolation at position ``p (n - 1)``."""
    h = p * (values.size - 1)
    lo = math.floor(h)
    hi = min(lo + 1, values.size - 1)
    return float(values[lo] + (h - lo) * (values[hi] - values[lo]))


def _bootstrap_se(values: npt.NDArray[np.float64], p: float) -> float:
    """Standard deviation of the Poisson-bootstrap quantile, from its law over the order statistics.

    ``P(Q* <= x_(j)) = P(Binomial(n, j / n) >= p n)`` (``j = 1..n``); only the ranks where the law has
    mass are summed: 9 binomial standard deviations around ``p n``, plus 45 ranks. The 45 matter when ``p n``
    is small: the mass above rank ``j`` then falls only like ``exp(-j)`` (``P(Binomial(n, j / n) = 0)``),
    so it is below 1e-18 from ``j`` = 42 on.
    """
    n = values.size
    width = 9.0 * math.sqrt(n * p * (1.0 - p)) + 45.0
    j = np.arange(max(1, math.floor(p * n - width)), min(n, math.ceil(p * n + width)) + 1)
    need = math.ceil(p * n - 1e-9)
    cdf = special.bdtrc(need - 1, n, j / n)  # P(Binomial(n, j / n) > need - 1)
    if j[-1] == n:
        cdf[-1] = 1.0
    pmf = np.diff(cdf, prepend=0.0)
    pmf /= pmf.sum()
    x = values[j - 1]
    mean = float(pmf @ x)
    return math.sqrt(max(float(pmf @ (x - mean) ** 2), 0.0))


@dataclass(frozen=True, slots=True)
class QuantileBounds:
    """One arm's quantile and its order-statistic bounds, as a warehouse query returns them (gbstats' interface).

    ``lower`` and ``upper`` are the sample quantiles at the probabilities ``p -/+ 1.96 sqrt(p (1 - p) / n_star)``
    (clipped to [1e-8, 1 - 1e-8]), e.g. from ``PERCENTILE_CONT`` or ``APPROX_QUANTILES`` in SQL; ``n_star``
    (at most ``n``; None means ``n``) lets a query compute them on a coarse grid of sample sizes, as
    gbstats does. Only the order-statistic method applies, at this record's ``probability``; the record
    does not merge.

    Attributes
    ----------
    n : int
        Number of values.
    probability : float
        The quantile's probability ``p`` in (0, 1).
    estimate : float
        The sample quantile.
    lower, upper : float
        The sample quantiles at the two bound probabilities.
    n_star : int or None
        The sample size the bound probabilities were computed with (None: ``n``).

    Examples
    --------
    >>> b = QuantileBounds(n=10_000, probability=0.9, estimate=7.16, lower=7.10, upper=7.22)
    >>> b.quantile(0.9), round(b.quantile_standard_error(0.9, "order-statistic"), 5)
    (7.16, 0.03061)
    """

    n: int
    probability: float
    estimate: float
    lower: float
    upper: float
    n_star: int | None = None

    def __post_init__(self) -> None:
        validate_params("QuantileBounds", _PROBABILITY, {"probability": self.probability})
        if isinstance(self.n, bool) or not isinstance(self.n, int | np.integer) or self.n < 0:
            raise InputError(f"QuantileBounds.n must be an int >= 0 (the number of values). Got {self.n!r} instead.")
        n_star = self.n if self.n_star is None else self.n_star
        if isinstance(n_star, bool) or not isinstance(n_star, int | np.integer) or not 0 < n_star <= max(self.n, 1):
            raise InputError(f"QuantileBounds.n_star must be an int in [1, n={self.n}]. Got {self.n_star!r} instead.")
        for name in ("estimate", "lower", "upper"):
            if not math.isfinite(getattr(self, name)):
                raise InputError(f"QuantileBounds.{name} must be finite. Got {getattr(self, name)!r} instead.")
        if not self.lower <= self.estimate <= self.upper:
            raise InputError(
                "QuantileBounds needs lower <= estimate <= upper. "
                f"Got {self.lower!r}, {self.estimate!r}, {self.upper!r} instead."
            )

    def quantile(self, probability: float) -> float:
        """The stored estimate (``probability`` must be this record's)."""
        self._check(probability)
        return float(self.estimate)

    def quantile_standard_error(self, probability: float, method: str) -> float:
        """gbstats' order-statistic standard error; ``method`` must be 'order-statistic'."""
        self._check(probability)
        if method != "order-statistic":
            raise InputError(
                f"QuantileBounds supports only method='order-statistic' (got {method!r}): the bootstrap needs the "
                "values; use a QuantileSample."
            )
        if self.n < 2:
            return math.nan
        n_star = self.n if self.n_star is None else int(self.n_star)
        return _order_statistic_se(int(self.n), n_star, self.lower, self.upper)

    def _check(self, probability: float) -> None:
        if probability != self.probability:
            raise InputError(
                f"These QuantileBounds hold the quantile at probability {self.probability!r}; "
                f"got a request for {probability!r}."
            )


@dataclass(frozen=True, slots=True)
class QuantileResult:
    """The test of a quantile of treatment against control (effects are ``treatment - control``).

    Attributes
    ----------
    method : str
        'order-statistic' (gbstats) or 'bootstrap' (Spotify's resampling-free Poisson bootstrap).
    probability : float
        The quantile's probability, e.g. 0.9 for p90.
    effect : float
        ``Q_t - Q_c``.
    standard_error : float
        ``sqrt(se_t**2 + se_c**2)``.
    ci : ConfidenceInterval
        The Wald interval of ``effect`` at level ``1 - alpha`` (one-sided for one-sided tests).
    p_value : float
        The z test's p-value (NaN when the standard error is 0 or undefined).
    statistic : float
        ``effect / standard_error``.
    alpha : float
    alternative : str
    relative_effect : float
        ``Q_t / Q_c - 1``, or NaN (see ``note``).
    relative_ci : ConfidenceInterval
        Delta-method interval of the relative effect (NaN bounds when undefined).
    control_quantile, treatment_quantile : float
        The arms' sample quantiles.
    control_se, treatment_se : float
        Their standard errors.
    note : str
        Empty, or why a value is NaN.
    relative_se : float
        The delta-method standard error of ``relative_effect``:
        ``sqrt(se_t**2 / Q_c**2 + Q_t**2 se_c**2 / Q_c**4)``.
    relative_p_value : float
        The p-value of ``H0: relative effect = 0`` from ``relative_effect / relative_se`` (z test, the
        result's alternative); NaN with the relative effect.
    """

    method: str
    probability: float
    effect: float
    standard_error: float
    ci: ConfidenceInterval
    p_value: float
    statistic: float
    alpha: float
    alternative: str
    relative_effect: float
    relative_ci: ConfidenceInterval
    control_quantile: float
    treatment_quantile: float
    control_se: float
    treatment_se: float
    note: str = ""
    relative_se: float = math.nan
    relative_p_value: float = math.nan

    @property
    def significant(self) -> bool:
        """Whether ``p_value < alpha`` (False when the p-value is NaN)."""
        return self.p_value < self.alpha

    def confidence_interval(self, *, relative: bool = False) -> ConfidenceInterval:
        """The interval of the absolute difference, or of the relative one with ``relative=True``."""
        return self.relative_ci if relative else self.ci


def quantile_test(
    control: QuantileSummary,
    treatment: QuantileSummary,
    *,
    probability: float = 0.5,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    method: QuantileMethod = "order-statistic",
) -> QuantileResult:
    """Wald test of the difference between treatment's and control's ``probability`` quantiles.

    Parameters
    ----------
    control, treatment : QuantileSample or QuantileBounds
        Each arm's values (or precomputed bounds at ``probability``); at least
        ``z**2 max(p / (1 - p), (1 - p) / p)`` values each (4 for p50, 35 for p90, 381 for p99), or
        the result is NaN with a note.
    probability : float, default 0.5
        The quantile, in (0, 1): 0.5 for the median, 0.9 for p90, 0.99 for p99.
    alpha : float, default 0.05
    alternative : {'two-sided', 'greater', 'less'}, default 'two-sided'
    method : {'order-statistic', 'bootstrap'}, default 'order-statistic'
        gbstats' order-statistic standard error or Spotify's resampling-free Poisson bootstrap.

    Returns
    -------
    QuantileResult

    Raises
    ------
    abrec.errors.ParameterError
        For a bad probability, alpha, alternative or method.
    abrec.errors.InputError
        When an arm cannot give the standard error by ``method`` (QuantileBounds and 'bootstrap').

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> control = QuantileSample.from_values(rng.lognormal(0.0, 1.0, 5000))
    >>> treatment = QuantileSample.from_values(rng.lognormal(0.1, 1.0, 5000))
    >>> r = quantile_test(control, treatment, probability=0.9)
    >>> round(r.control_quantile, 2), round(r.treatment_quantile, 2), round(r.p_value, 3)
    (3.65, 3.91, 0.02)
    >>> [round(x, 2) for x in r.confidence_interval()], [round(x, 3) for x in r.confidence_interval(relative=True)]
    ([0.04, 0.48], [0.009, 0.135])
    >>> round(r.relative_effect, 4), round(r.relative_p_value, 3)
    (0.0719, 0.026)
    """
    owner = "quantile_test"
    check_alpha(owner, alpha)
    check_alternative(owner, alternative)
    validate_params(owner, _CONSTRAINTS, {"probability": probability, "method": method})
    p = float(probability)
    qc, qt = control.quantile(p), treatment.quantile(p)
    level = 1.0 - alpha
    notes: list[str] = []
    needed = min_units(p)
    small = [name for name, arm in (("control", control), ("treatment", treatment)) if arm.n < needed]
    if small:
        se_c = se_t = math.nan
        notes.append(
            f"standard error undefined: the p{_percent(p)} test needs at least {needed} values per arm "
            f"({' and '.join(small)} {'has' if len(small) == 1 else 'have'} fewer)"
        )
    else:
        se_c = control.quantile_standard_error(p, method)
        se_t = treatment.quantile_standard_error(p, method)
    se = math.sqrt(se_c**2 + se_t**2)
    effect = qt - qc
    if se > 0:
        statistic = effect / se
    else:
        statistic = math.nan
        if not notes:
            notes.append(
                "p-value undefined: the standard error is 0 (values are tied around the quantile; the Wald test "
                "needs a continuous metric)"
            )
    crit = critical_value(alpha, alternative, math.inf)
    ci = interval(effect, se, crit, alternative, level) if math.isfinite(se) else ConfidenceInterval.undefined(level)
    rel, rel_se, rel_note = _relative(qc, qt, se_c, se_t, alpha)
    if rel_note:
        notes.append(rel_note)
    valid = math.isfinite(rel) and math.isfinite(rel_se)
    rel_ci = interval(rel, rel_se, crit, alternative, level) if valid else ConfidenceInterval.undefined(level)
    rel_p = tail_p_value(rel / rel_se, alternative, math.inf) if valid and rel_se > 0 else math.nan
    return QuantileResult(
        method=method,
        probability=p,
        effect=effect,
        standard_error=se,
        ci=ci,
        p_value=tail_p_value(statistic, alternative, math.inf),
        statistic=statistic,
        alpha=float(alpha),
        alternative=alternative,
        relative_effect=rel,
        relative_ci=rel_ci,
        control_quantile=qc,
        treatment_quantile=qt,
        control_se=se_c,
        treatment_se=se_t,
        note="; ".join(notes),
        relative_se=rel_se,
        relative_p_value=rel_p,
    )


def _percent(p: float) -> str:
    return f"{100 * p:g}"


def _relative(qc: float, qt: float, se_c: float, se_t: float, alpha: float) -> tuple[float, float, str]:
    """``Q_t / Q_c - 1`` and its delta-method standard error (gbstats' ``variance_of_ratios``), or NaN and why."""
    if qc == 0:
        return math.nan, math.nan, "relative effect undefined: the control quantile is 0"
    if qc < 0:
        return math.nan, math.nan, "relative effect undefined: the control quantile is negative"
    if math.isfinite(se_c) and qc - critical_value(alpha, "two-sided", math.inf) * se_c <= 0:
        return math.nan, math.nan, "relative effect undefined: the control quantile's confidence interval reaches 0"
    var = se_t**2 / qc**2 + qt**2 * se_c**2 / qc**4
    return qt / qc - 1.0, math.sqrt(var), ""
