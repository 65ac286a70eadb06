"""Sufficient statistics of one arm that merge with ``+`` across shards, days or partitions.

Each record holds sums only, so the statistics of two disjoint sets of units add up to the
statistics of their union (``a + b``; ``sum([...])`` works too). Derived values (mean, unbiased
variance, the delta-method variance of a ratio, the covariance with a pre-period covariate) are
properties. Every record satisfies the ``n`` / ``mean`` / ``variance`` protocol the tests read:
``variance / n`` is the squared standard error of ``mean``.

- :class:`SampleStats` ``(n, sum, sum_sq)``: means and proportions (one value per unit).
- :class:`RatioStats` ``(n, sum_x, sum_y, sum_xx, sum_yy, sum_xy)``: a ratio metric
  ``sum_y / sum_x`` (e.g. clicks ``y`` per impression ``x``) randomised by unit, with the numerator
  and denominator summed per unit; its variance comes from the delta method.
- :class:`CupedStats` ``(n, sum, sum_sq, sum_pre, sum_pre_sq, sum_cross)``: a metric and its
  pre-period covariate, for CUPED (:mod:`abrec.abtest.cuped`); six optional higher cross-moments
  give Lin's regression estimator its heteroskedasticity-robust standard error.
- :class:`Moments` ``(n, mean, variance)``: a derived summary (e.g. CUPED-adjusted); not mergeable.

The sums are raw (not centred), as in GrowthBook's gbstats; for metrics whose mean is huge compared
with their spread, centre the values (subtract a constant) before summing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InputError

__all__ = ["CupedStats", "Moments", "RatioStats", "SampleStats"]

_RTOL = 1e-9


def _as_values(name: str, values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise InputError(f"{name} must be a 1-D array of per-unit values; got shape {x.shape}.")
    if not np.isfinite(x).all():
        raise InputError(f"{name} must be finite; drop or impute NaN and infinite values first.")
    return x


def _check_count(owner: str, n: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise InputError(f"{owner}.n must be an int >= 0 (the number of units). Got {n!r} instead.")


def _check_finite(owner: str, **sums: float) -> None:
    for name, value in sums.items():
        if not math.isfinite(value):
            raise InputError(f"{owner}.{name} must be finite. Got {value!r} instead.")


def _check_square(owner: str, name: str, n: int, total: float, total_sq: float) -> None:
    """``total_sq`` must be >= 0 and, by Cauchy-Schwarz, ``total**2 <= n * total_sq``."""
    if total_sq < 0 or total**2 > n * total_sq * (1 + _RTOL) + 1e-12:
        raise InputError(
            f"{owner}: the sums are inconsistent ({name} is too small for n={n} and the sum); "
            "build the statistics with from_values or add records, never mix sums of different units."
        )


def _covariance(n: int, sum_a: float, sum_b: float, sum_ab: float) -> float:
    """Unbiased sample covariance from raw sums (NaN for fewer than two units)."""
    if n < 2:
        return math.nan
    return (sum_ab - sum_a * sum_b / n) / (n - 1)


@dataclass(frozen=True, slots=True)
class Moments:
    """A derived summary of one arm: unit count, mean and per-unit variance.

    Use it for adjusted statistics (e.g. CUPED) that are no longer plain sums; it is not mergeable.

    Examples
    --------
    >>> m = Moments(n=100, mean=0.5, variance=0.25)
    >>> m.standard_error
    0.05
    """

    n: int
    mean: float
    variance: float

    def __post_init__(self) -> None:
        _check_count("Moments", self.n)
        _check_finite("Moments", mean=self.mean, variance=self.variance)
        if self.variance < 0:
            raise InputError(f"Moments.variance must be >= 0. Got {self.variance!r} instead.")

    @property
    def standard_error(self) -> float:
        """``sqrt(variance / n)``: the standard error of the mean."""
        return math.sqrt(self.variance / self.n) if self.n > 0 else math.nan


@dataclass(frozen=True, slots=True)
class SampleStats:
    """Count, sum and sum of squares of one value per unit (a mean, or a proportion of 0/1 values).

    Attributes
    ----------
    n : int
        Number of units.
    sum : float
        Sum of the values.
    sum_sq : float
        Sum of the squared values.

    Examples
    --------
    >>> a = SampleStats.from_values([1.0, 2.0, 3.0])
    >>> b = SampleStats.from_values([4.0, 5.0])
    >>> whole = a + b
    >>> whole == SampleStats.from_values([1.0, 2.0, 3.0, 4.0, 5.0]), whole.mean, whole.variance
    (True, 3.0, 2.5)
    """

    n: int
    sum: float
    sum_sq: float

    def __post_init__(self) -> None:
        _check_count("SampleStats", self.n)
        _check_finite("SampleStats", sum=self.sum, sum_sq=self.sum_sq)
        _check_square("SampleStats", "sum_sq", self.n, self.sum, self.sum_sq)

    @classmethod
    def from_values(cls, values: npt.ArrayLike) -> SampleStats:
        """The statistics of a 1-D array of per-unit values (finite)."""
        x = _as_values("values", values)
        return cls(int(x.size), float(x.sum()), float(np.dot(x, x)))

    @property
    def mean(self) -> float:
        """The sample mean (NaN when empty)."""
        return self.sum / self.n if self.n > 0 else math.nan

    @property
    def variance(self) -> float:
        """The unbiased sample variance (``ddof=1``; NaN for fewer than two units)."""
        return max(_covariance(self.n, self.sum, self.sum, self.sum_sq), 0.0)

    @property
    def standard_error(self) -> float:
        """``sqrt(variance / n)``: the standard error of the mean."""
        return math.sqrt(self.variance / self.n) if self.n > 0 else math.nan

    def __add__(self, other: object) -> SampleStats:
        if not isinstance(other, SampleStats):
            return NotImplemented
        return SampleStats(self.n + other.n, self.sum + other.sum, self.sum_sq + other.sum_sq)

    def __radd__(self, other: object) -> SampleStats:
        if isinstance(other, int) and other == 0:  # lets builtin sum() start from 0
            return self
        return NotImplemented


@dataclass(frozen=True, slots=True)
class RatioStats:
    """Per-unit sums of a ratio metric's denominator ``x`` and numerator ``y`` (e.g. impressions and clicks).

    The metric is ``sum_y / sum_x`` (``mean_y / mean_x``); randomisation is by unit, so units, not
    rows, are the independent observations. ``variance`` is the delta-method variance per unit,
    ``(var_y - 2 r cov_xy + r**2 var_x) / mean_x**2`` with ``r`` the ratio, so ``variance / n`` is the
    squared standard error of the ratio (Deng et al., 2018, "Applying the delta method in metric
    analytics").

    Attributes
    ----------
    n : int
        Number of units.
    sum_x, sum_y : float
        Sums over units of the per-unit denominator and numerator.
    sum_xx, sum_yy, sum_xy : float
        Sums over units of ``x**2``, ``y**2`` and ``x * y``.

    Examples
    --------
    >>> clicks, impressions = [1, 0, 3, 1], [2, 1, 4, 3]
    >>> r = RatioStats.from_values(numerator=clicks, denominator=impressions)
    >>> r.mean, round(r.variance, 4)
    (0.5, 0.08)
    >>> r == RatioStats.from_values([1, 0], [2, 1]) + RatioStats.from_values([3, 1], [4, 3])
    True
    """

    n: int
    sum_x: float
    sum_y: float
    sum_xx: float
    sum_yy: float
    sum_xy: float

    def __post_init__(self) -> None:
        _check_count("RatioStats", self.n)
        _check_finite(
            "RatioStats", sum_x=self.sum_x, sum_y=self.sum_y, sum_xx=self.sum_xx, sum_yy=self.sum_yy, sum_xy=self.sum_xy
        )
        _check_square("RatioStats", "sum_xx", self.n, self.sum_x, self.sum_xx)
        _check_square("RatioStats", "sum_yy", self.n, self.sum_y, self.sum_yy)

    @classmethod
    def from_values(cls, numerator: npt.ArrayLike, denominator: npt.ArrayLike) -> RatioStats:
        """The statistics of per-unit numerators ``y`` and denominators ``x`` (1-D, equal length, finite)."""
        y = _as_values("numerator", numerator)
        x = _as_values("denominator", denominator)
        if x.shape != y.shape:
            raise InputError(f"numerator and denominator must have one length; got {y.size} and {x.size}.")
        return cls(int(x.size), float(x.sum()), float(y.sum()), float(x @ x), float(y @ y), float(x @ y))

    @property
    def numerator(self) -> SampleStats:
        """The numerator's statistics ``(n, sum_y, sum_yy)``."""
        return SampleStats(self.n, self.sum_y, self.sum_yy)

    @property
    def denominator(self) -> SampleStats:
        """The denominator's statistics ``(n, sum_x, sum_xx)``."""
        return SampleStats(self.n, self.sum_x, self.sum_xx)

    @property
    def mean(self) -> float:
        """The ratio ``sum_y / sum_x`` (NaN when ``sum_x`` is 0)."""
        return self.sum_y / self.sum_x if self.sum_x != 0 else math.nan

    @property
    def variance(self) -> float:
        """Delta-method variance per unit of the ratio (NaN for fewer than two units or ``sum_x == 0``)."""
        if self.n < 2 or self.sum_x == 0:
            return math.nan
        r = self.mean
        mean_x = self.sum_x / self.n
        var_x = _covariance(self.n, self.sum_x, self.sum_x, self.sum_xx)
        var_y = _covariance(self.n, self.sum_y, self.sum_y, self.sum_yy)
        cov = _covariance(self.n, self.sum_x, self.sum_y, self.sum_xy)
        return max((var_y - 2 * r * cov + r * r * var_x) / mean_x**2, 0.0)

    @property
    def standard_error(self) -> float:
        """``sqrt(variance / n)``: the delta-method standard error of the ratio."""
        return math.sqrt(self.variance / self.n) if self.n > 0 else math.nan

    def __add__(self, other: object) -> RatioStats:
        if not isinstance(other, RatioStats):
            return NotImplemented
        return RatioStats(
            self.n + other.n,
            self.sum_x + other.sum_x,
            self.sum_y + other.sum_y,
            self.sum_xx + other.sum_xx,
            self.sum_yy + other.sum_yy,
            self.sum_xy + other.sum_xy,
        )

    def __radd__(self, other: object) -> RatioStats:
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented


@dataclass(frozen=True, slots=True)
class CupedStats:
    """Per-unit sums of a metric ``y`` and its pre-experiment covariate ``x`` (usually ``y`` before the start).

    The first six sums serve the pooled and GrowthBook CUPED estimators. The six optional
    higher cross-moments (all or none) let :func:`~abrec.abtest.cuped.cuped_test` compute the
    HC0/HC1 heteroskedasticity-robust standard error of Lin's (2013) regression estimator, whose
    residual moments ``sum(u**p * e**2)`` (``p`` = 0, 1, 2) expand into sums of ``x**i * y**j``
    with ``j <= 2`` and ``i + j <= 4``. :meth:`from_values` fills them; statistics that lack them
    (e.g. built from a warehouse's six sums) merge into statistics that lack them.

    Attributes
    ----------
    n : int
        Number of units.
    sum, sum_sq : float
        Sum and sum of squares of the metric.
    sum_pre, sum_pre_sq : float
        Sum and sum of squares of the pre-period covariate.
    sum_cross : float
        Sum of ``metric * covariate``.
    sum_pre_cube, sum_pre_fourth : float or None
        Sums of ``x**3`` and ``x**4``.
    sum_pre_sq_cross, sum_pre_cross_sq : float or None
        Sums of ``x**2 * y`` and ``x * y**2``.
    sum_pre_cube_cross, sum_pre_sq_cross_sq : float or None
        Sums of ``x**3 * y`` and ``x**2 * y**2``.

    Examples
    --------
    >>> s = CupedStats.from_values([2.0, 3.0, 5.0], pre=[1.0, 2.0, 3.0])
    >>> s.post.mean, s.pre.mean, s.covariance
    (3.3333333333333335, 2.0, 1.5)
    >>> s == CupedStats.from_values([2.0], [1.0]) + CupedStats.from_values([3.0, 5.0], [2.0, 3.0])
    True
    >>> s.has_higher_moments, CupedStats(3, 10.0, 38.0, 6.0, 14.0, 23.0).has_higher_moments
    (True, False)
    """

    n: int
    sum: float
    sum_sq: float
    sum_pre: float
    sum_pre_sq: float
    sum_cross: float
    sum_pre_cube: float | None = None
    sum_pre_fourth: float | None = None
    sum_pre_sq_cross: float | None = None
    sum_pre_cross_sq: float | None = None
    sum_pre_cube_cross: float | None = None
    sum_pre_sq_cross_sq: float | None = None

    def __post_init__(self) -> None:
        _check_count("CupedStats", self.n)
        _check_finite(
            "CupedStats",
            sum=self.sum,
            sum_sq=self.sum_sq,
            sum_pre=self.sum_pre,
            sum_pre_sq=self.sum_pre_sq,
            sum_cross=self.sum_cross,
        )
        _check_square("CupedStats", "sum_sq", self.n, self.sum, self.sum_sq)
        _check_square("CupedStats", "sum_pre_sq", self.n, self.sum_pre, self.sum_pre_sq)
        higher = dict(zip(_HIGHER, self._higher(), strict=True))
        given = [name for name, value in higher.items() if value is not None]
        if given and len(given) != len(_HIGHER):
            missing = ", ".join(name for name in _HIGHER if name not in given)
            raise InputError(
                f"CupedStats: the higher cross-moments come all together or not at all; {missing} missing. "
                "Build the statistics with from_values, or pass none of them."
            )
        if given:
            _check_finite("CupedStats", **{name: float(value) for name, value in higher.items() if value is not None})
            if self.sum_pre_fourth is not None and self.sum_pre_fourth < 0:
                raise InputError(f"CupedStats.sum_pre_fourth must be >= 0. Got {self.sum_pre_fourth!r} instead.")

    def _higher(self) -> tuple[float | None, ...]:
        return tuple(getattr(self, name) for name in _HIGHER)

    @classmethod
    def from_values(cls, values: npt.ArrayLike, pre: npt.ArrayLike) -> CupedStats:
        """The statistics of per-unit metric values and their pre-period covariate (1-D, equal length, finite)."""
        y = _as_values("values", values)
        x = _as_values("pre", pre)
        if x.shape != y.shape:
            raise InputError(f"values and pre must have one length; got {y.size} and {x.size}.")
        x2, y2 = x * x, y * y
        return cls(
            int(y.size),
            float(y.sum()),
            float(y @ y),
            float(x.sum()),
            float(x @ x),
            float(x @ y),
            sum_pre_cube=float(x2 @ x),
            sum_pre_fourth=float(x2 @ x2),
            sum_pre_sq_cross=float(x2 @ y),
            sum_pre_cross_sq=float(x @ y2),
            sum_pre_cube_cross=float((x2 * x) @ y),
            sum_pre_sq_cross_sq=float(x2 @ y2),
        )

    @property
    def has_higher_moments(self) -> bool:
        """Whether the six higher cross-moments (for HC standard errors of Lin's estimator) are present."""
        return self.sum_pre_cube is not None

    def raw_moments(self) -> dict[tuple[int, int], float]:
        """``{(i, j): sum(x**i * y**j)}`` for ``j <= 2`` and ``i + j <= 4`` (``(0, 0)`` is ``n``).

        Raises
        ------
        abrec.errors.InputError
            When these statistics lack the higher cross-moments.
        """
        if not self.has_higher_moments:
            raise InputError(
                "CupedStats lacks the higher cross-moments (sum_pre_cube ... sum_pre_sq_cross_sq) that this "
                "computation needs; build the statistics with CupedStats.from_values or collect those sums."
            )
        higher = [float(v) for v in self._higher() if v is not None]
        return {
            (0, 0): float(self.n),
            (1, 0): self.sum_pre,
            (0, 1): self.sum,
            (2, 0): self.sum_pre_sq,
            (1, 1): self.sum_cross,
            (0, 2): self.sum_sq,
            (3, 0): higher[0],
            (4, 0): higher[1],
            (2, 1): higher[2],
            (1, 2): higher[3],
            (3, 1): higher[4],
            (2, 2): higher[5],
        }

    @property
    def post(self) -> SampleStats:
        """The metric's statistics, ignoring the covariate."""
        return SampleStats(self.n, self.sum, self.sum_sq)

    @property
    def pre(self) -> SampleStats:
        """The covariate's statistics."""
        return SampleStats(self.n, self.sum_pre, self.sum_pre_sq)

    @property
    def mean(self) -> float:
        """The metric's mean (unadjusted)."""
        return self.sum / self.n if self.n > 0 else math.nan

    @property
    def variance(self) -> float:
        """The metric's unbiased variance (unadjusted)."""
        return max(_covariance(self.n, self.sum, self.sum, self.sum_sq), 0.0)

    @property
    def pre_mean(self) -> float:
        """The covariate's mean (``pre.mean`` without building the record)."""
        return self.sum_pre / self.n if self.n > 0 else math.nan

    @property
    def pre_variance(self) -> float:
        """The covariate's unbiased variance (``pre.variance``)."""
        return max(_covariance(self.n, self.sum_pre, self.sum_pre, self.sum_pre_sq), 0.0)

    @property
    def covariance(self) -> float:
        """Unbiased sample covariance of the metric and the covariate (NaN for fewer than two units)."""
        return _covariance(self.n, self.sum, self.sum_pre, self.sum_cross)

    def __add__(self, other: object) -> CupedStats:
        if not isinstance(other, CupedStats):
            return NotImplemented
        mine, theirs = self._higher(), other._higher()
        higher: dict[str, float | None] = {
            name: (a + b if a is not None and b is not None else None)
            for name, a, b in zip(_HIGHER, mine, theirs, strict=True)
        }
        return CupedStats(
            self.n + other.n,
            self.sum + other.sum,
            self.sum_sq + other.sum_sq,
            self.sum_pre + other.sum_pre,
            self.sum_pre_sq + other.sum_pre_sq,
            self.sum_cross + other.sum_cross,
            **higher,
        )

    def __radd__(self, other: object) -> CupedStats:
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented


_HIGHER = (
    "sum_pre_cube",
    "sum_pre_fourth",
    "sum_pre_sq_cross",
    "sum_pre_cross_sq",
    "sum_pre_cube_cross",
    "sum_pre_sq_cross_sq",
)
