"""Adaptive allocation between variants (Thompson, top-two Thompson) and a readout that stays valid under it.

An adaptive experiment runs in *periods*: during a period the allocation weights are fixed; at its end the
allocator sees the period's sufficient statistics (:class:`PeriodStats`) and computes the next weights.
:class:`ThompsonAllocator` sets each variant's weight to its posterior probability of being best
(Thompson 1933), which concentrates traffic on the winner; :class:`TopTwoThompsonAllocator` (Russo 2016)
keeps a share ``beta`` on the leader and gives the rest to its challengers, the better design when the goal
is to *identify* the best variant. Both compute the probabilities over the posteriors (Beta for Bernoulli
rewards, Student t for Gaussian ones) by Monte Carlo (``probabilities="monte-carlo"``, the default: ``draws``
draws, error ``sqrt(p (1 - p) / draws)``) or by quadrature (``probabilities="exact"``:
:func:`~abrec.abtest.best.prob_best_beta` and :func:`~abrec.abtest.best.prob_best_student_t`, accurate to
about 1e-10, the same for every seed, and faster than the draws at any useful accuracy), and floor every
weight at ``min_share``.

Why the readout is period-weighted. When weights change over time and the baseline drifts (weekday
effects, novelty, seasonality), pooling each variant's rewards over the whole experiment compares variants
on different mixes of periods: a variant that got more traffic late, when every variant did better, looks
better even if nothing differs (Simpson's paradox; Kohavi, Tang and Xu 2020, ch. 3). Under Thompson
sampling it is worse than a bias of one sign: the variant that leads early by chance gets the late,
high-rate traffic, so an A/A test read out with pooled means rejects almost always.
:func:`period_weighted_means` instead averages each variant's *per-period* means with common period weights
(by default each period's share of all traffic), so every variant is measured on the same mix of periods.

How it stays valid. The allocation is fixed within a period and chosen from earlier periods only, so given
the past each per-period mean is unbiased and, with enough units, normal; the period-weighted difference is
a sum of such martingale differences, asymptotically normal with the plug-in variance
``sum_t w_t**2 (s_ta**2 / n_ta + s_tb**2 / n_tb)``. This is the batched-bandit argument of Zhang, Janson and
Murphy (2020), who show that per-batch estimators stay asymptotically normal under adaptive allocation
when the allocation probabilities are clipped away from 0 (they then combine standardised per-batch
statistics, "BOLS"). ``min_share > 0`` is that clipping: every variant keeps a positive sample in every
period, so each per-period mean exists and its variance stays bounded. With small cells (tens of units,
rare events) use ``difference(..., pooled=True)`` for p-values. The tests check the A/A false-positive rate
and the interval coverage by simulation under drift with the allocators driving the allocation.

References
----------
Thompson (1933), Biometrika 25, 285-294. Russo (2016), "Simple Bayesian algorithms for best arm
identification", COLT (Operations Research 68(6), 2020). Zhang, Janson and Murphy (2020), "Inference for
batched bandits", NeurIPS. Kohavi, Tang and Xu (2020), *Trustworthy Online Controlled Experiments*, CUP.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from scipy import special

from .._interval import ConfidenceInterval
from .._params import Constraint, Interval, StrOptions, validate_params
from .._random import Seed, as_generator
from ..errors import InputError, ParameterError, UnknownNameError
from .best import BETA_FLOOR, TopTwoProbabilities, prob_best_beta, prob_best_student_t, top_two_beta, top_two_student_t

__all__ = [
    "PeriodStats",
    "PeriodWeightedDifference",
    "PeriodWeightedMeans",
    "ThompsonAllocator",
    "TopTwoThompsonAllocator",
    "floor_weights",
    "period_weighted_means",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _names(variants: Sequence[str] | int) -> tuple[str, ...]:
    if isinstance(variants, bool):
        raise ParameterError(f"The 'variants' parameter must be a positive int or a list of names. Got {variants}.")
    if isinstance(variants, int):
        if variants < 1:
            raise ParameterError(f"The 'variants' parameter must be a positive int or a list of names. Got {variants}.")
        return tuple(str(i) for i in range(variants))
    names = tuple(str(v) for v in variants)
    if not names or len(set(names)) != len(names):
        raise ParameterError(f"The 'variants' parameter must list distinct names. Got {list(names)!r} instead.")
    return names


def _matrix(name: str, value: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or not np.isfinite(arr).all():
        raise InputError(f"{name} must be a finite (periods, variants) array. Got shape {arr.shape}.")
    return arr


@dataclass(frozen=True, slots=True)
class PeriodStats:
    """Sufficient statistics of rewards per period and variant: counts, sums and sums of squares.

    All three arrays have shape ``(n_periods, n_variants)``. Statistics of one set of periods gathered on
    several shards merge with ``+``; :meth:`concat` appends later periods.

    Examples
    --------
    >>> s = PeriodStats.from_observations(periods=[0, 0, 1, 1], variants=[0, 1, 0, 1], rewards=[1, 0, 1, 1],
    ...                                   n_variants=2)
    >>> s.n.tolist(), s.sum.tolist()
    ([[1.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]])
    """

    n: FloatArray
    sum: FloatArray
    sum_sq: FloatArray
    variants: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in ("n", "sum", "sum_sq"):
            object.__setattr__(self, name, _matrix(name, getattr(self, name)))
        if not (self.n.shape == self.sum.shape == self.sum_sq.shape):
            raise InputError(
                f"n, sum and sum_sq must have one shape. Got {self.n.shape}, {self.sum.shape}, {self.sum_sq.shape}."
            )
        if self.n.shape[1] != len(self.variants):
            raise InputError(f"The statistics have {self.n.shape[1]} variants but {len(self.variants)} names.")
        if (self.n < 0).any() or (self.sum_sq < 0).any():
            raise InputError("n and sum_sq must be non-negative.")

    @classmethod
    def from_counts(
        cls,
        n: npt.ArrayLike,
        sum: npt.ArrayLike,
        sum_sq: npt.ArrayLike | None = None,
        *,
        variants: Sequence[str] | None = None,
    ) -> PeriodStats:
        """Statistics from arrays; ``sum_sq`` defaults to ``sum`` (0/1 rewards, where ``x**2 == x``)."""
        s = _matrix("sum", sum)
        names = _names(s.shape[1] if variants is None else variants)
        return cls(_matrix("n", n), s, s if sum_sq is None else _matrix("sum_sq", sum_sq), names)

    @classmethod
    def from_observations(
        cls,
        periods: npt.ArrayLike,
        variants: npt.ArrayLike,
        rewards: npt.ArrayLike,
        *,
        n_variants: int | None = None,
        n_periods: int | None = None,
        names: Sequence[str] | None = None,
    ) -> PeriodStats:
        """Statistics of one reward per unit, with its period index and variant index."""
        t = np.asarray(periods, dtype=np.int64).ravel()
        v = np.asarray(variants, dtype=np.int64).ravel()
        r = np.asarray(rewards, dtype=np.float64).ravel()
        if not (t.shape == v.shape == r.shape) or not np.isfinite(r).all():
            raise InputError("periods, variants and rewards must be 1-d arrays of one length, rewards finite.")
        k = len(names) if names is not None else (n_variants if n_variants is not None else int(v.max(initial=-1)) + 1)
        T = n_periods if n_periods is not None else int(t.max(initial=-1)) + 1
        if t.size and (t.min() < 0 or t.max() >= T or v.min() < 0 or v.max() >= k):
            raise InputError(f"period indices must lie in [0, {T}) and variant indices in [0, {k}).")
        cell = t * k + v

        def total(weights: FloatArray | None) -> FloatArray:
            return np.bincount(cell, weights=weights, minlength=T * k).astype(np.float64).reshape(T, k)

        return cls(total(None), total(r), total(r * r), _names(k if names is None else names))

    @property
    def n_periods(self) -> int:
        """Number of periods."""
        return int(self.n.shape[0])

    def __add__(self, other: PeriodStats) -> PeriodStats:
        if not isinstance(other, PeriodStats):
            return NotImplemented
        if other.variants != self.variants or other.n.shape != self.n.shape:
            raise InputError("Only statistics of the same periods and variants add up; use concat for later periods.")
        return PeriodStats(self.n + other.n, self.sum + other.sum, self.sum_sq + other.sum_sq, self.variants)

    def concat(self, other: PeriodStats) -> PeriodStats:
        """These periods followed by ``other``'s."""
        if other.variants != self.variants:
            raise InputError(f"Variants differ: {self.variants!r} and {other.variants!r}.")
        return PeriodStats(
            np.vstack([self.n, other.n]),
            np.vstack([self.sum, other.sum]),
            np.vstack([self.sum_sq, other.sum_sq]),
            self.variants,
        )

    def pooled_means(self) -> FloatArray:
        """Each variant's mean over all its units (biased under drift when the allocation changes)."""
        n = self.n.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out: FloatArray = np.where(n > 0, self.sum.sum(axis=0) / np.where(n > 0, n, 1.0), np.nan)
        return out

    def period_weighted(self, period_weights: npt.ArrayLike | None = None) -> PeriodWeightedMeans:
        """:func:`period_weighted_means` of these statistics."""
        return period_weighted_means(
            self.n, self.sum, self.sum_sq, period_weights=period_weights, variants=self.variants
        )


@dataclass(frozen=True, slots=True)
class PeriodWeightedDifference:
    """A z test of ``treatment - control`` on the period-weighted means.

    Attributes
    ----------
    estimate, standard_error, statistic, p_value : float
        The difference, its standard error, the z statistic and its two-sided p-value.
    alpha : float
        The level of :meth:`confidence_interval` and :attr:`significant`.
    """

    treatment: str
    control: str
    estimate: float
    standard_error: float
    statistic: float
    p_value: float
    alpha: float = 0.05

    @property
    def significant(self) -> bool:
        """Whether the two-sided test rejects ``treatment == control`` at level ``alpha``."""
        return self.p_value < self.alpha

    def confidence_interval(self, level: float | None = None) -> ConfidenceInterval:
        """The two-sided normal interval at ``level`` (default ``1 - alpha``)."""
        lvl = 1.0 - self.alpha if level is None else level
        z = float(special.ndtri(0.5 + lvl / 2.0))
        return ConfidenceInterval(self.estimate - z * self.standard_error, self.estimate + z * self.standard_error, lvl)


@dataclass(frozen=True, slots=True)
class PeriodWeightedMeans:
    """Each variant's period-weighted mean ``sum_t w_t * mean_tv`` and its standard error.

    Attributes
    ----------
    variants : tuple of str
    means, standard_errors : (k,) float arrays
    period_weights : (T,) float array summing to 1, common to all variants
    counts, cell_means, cell_variances : (T, k) float arrays
        Units, mean and sample variance (ddof 1) of every period and variant (0 in periods of weight 0).
    """

    variants: tuple[str, ...]
    means: FloatArray
    standard_errors: FloatArray
    period_weights: FloatArray
    counts: FloatArray
    cell_means: FloatArray
    cell_variances: FloatArray

    def _index(self, name: str) -> int:
        if name not in self.variants:
            raise UnknownNameError("variant", name, self.variants)
        return self.variants.index(name)

    def confidence_interval(self, variant: str, level: float = 0.95) -> ConfidenceInterval:
        """The two-sided normal interval of one variant's period-weighted mean."""
        i = self._index(variant)
        z = float(special.ndtri(0.5 + level / 2.0))
        mean, se = float(self.means[i]), float(self.standard_errors[i])
        return ConfidenceInterval(mean - z * se, mean + z * se, level)

    def difference(
        self, treatment: str, control: str, *, alpha: float = 0.05, pooled: bool = False
    ) -> PeriodWeightedDifference:
        """A z test of ``treatment - control`` on the period-weighted means.

        The variance is ``sum_t w_t**2 (s_ta**2 / n_ta + s_tb**2 / n_tb)``. With ``pooled=True`` each
        period's two samples share one variance, that of their union (the null hypothesis: both variants
        alike in every period), as in the pooled two-proportion z test: its p-values stay calibrated with
        small per-period samples (tens of units, rare events), where the unpooled variance, noisy and
        correlated with the means, rejects a little too often. Use the default for confidence intervals.
        """
        validate_params(
            "PeriodWeightedMeans.difference", {"alpha": Interval("float", 0, 1, closed="neither")}, {"alpha": alpha}
        )
        a, b = self._index(treatment), self._index(control)
        w2 = self.period_weights**2
        est = float(self.means[a] - self.means[b])
        n_a, n_b = np.maximum(self.counts[:, a], 2.0), np.maximum(self.counts[:, b], 2.0)
        v_a, v_b = self.cell_variances[:, a], self.cell_variances[:, b]
        if pooled:
            gap = self.cell_means[:, a] - self.cell_means[:, b]
            union = ((n_a - 1) * v_a + (n_b - 1) * v_b + n_a * n_b / (n_a + n_b) * gap**2) / (n_a + n_b - 1)
            var = union * (1.0 / n_a + 1.0 / n_b)
        else:
            var = v_a / n_a + v_b / n_b
        se = math.sqrt(float((w2 * var).sum()))
        z = est / se if se > 0 else (0.0 if est == 0 else math.copysign(math.inf, est))
        p = float(2.0 * special.ndtr(-abs(z)))
        return PeriodWeightedDifference(treatment, control, est, se, z, p, alpha)


def period_weighted_means(
    n: npt.ArrayLike,
    sums: npt.ArrayLike,
    sum_sq: npt.ArrayLike | None = None,
    *,
    period_weights: npt.ArrayLike | None = None,
    variants: Sequence[str] | None = None,
) -> PeriodWeightedMeans:
    """Each variant's average of its per-period means, with weights common to all variants.

    Parameters
    ----------
    n, sums : (T, k) array-like
        Units and reward sums per period and variant.
    sum_sq : (T, k) array-like, optional
        Sums of squared rewards; defaults to ``sums`` (0/1 rewards).
    period_weights : (T,) array-like, optional
        Non-negative period weights (normalised to sum to 1); default each period's share of all units.
    variants : sequence of str, optional
        Variant names (default "0", "1", ...).

    Returns
    -------
    PeriodWeightedMeans
        ``means[v] = sum_t w_t * sums[t, v] / n[t, v]`` and standard errors
        ``sqrt(sum_t w_t**2 * s2[t, v] / n[t, v])`` with ``s2`` the per-cell sample variance (ddof 1).
        Every period of positive weight needs at least 2 units in every variant (``min_share > 0``
        ensures it).

    Examples
    --------
    >>> est = period_weighted_means(n=[[100, 900], [900, 100]], sums=[[10, 90], [270, 30]], variants=["A", "B"])
    >>> est.means.round(3).tolist()  # the pooled means would be 0.28 and 0.12; both rates are 0.1 then 0.3
    [0.2, 0.2]
    """
    cnt = _matrix("n", n)
    s = _matrix("sums", sums)
    sq = s if sum_sq is None else _matrix("sum_sq", sum_sq)
    if not (cnt.shape == s.shape == sq.shape):
        raise InputError(f"n, sums and sum_sq must have one shape. Got {cnt.shape}, {s.shape}, {sq.shape}.")
    T, k = cnt.shape
    names = _names(k if variants is None else variants)
    if len(names) != k:
        raise InputError(f"The statistics have {k} variants but {len(names)} names.")
    if period_weights is None:
        w = cnt.sum(axis=1)
    else:
        w = np.asarray(period_weights, dtype=np.float64).ravel()
        if w.shape != (T,) or not np.isfinite(w).all() or (w < 0).any():
            raise InputError(f"period_weights must be {T} non-negative finite numbers. Got {w!r}.")
    if w.sum() <= 0:
        raise InputError("period_weights (or the period totals) must have a positive sum.")
    w = w / w.sum()
    used = w > 0
    small = used[:, None] & (cnt < 2)
    if small.any():
        t, v = np.argwhere(small)[0]
        raise InputError(
            f"Period {t} has {cnt[t, v]:g} unit(s) in variant {names[v]!r}; a period-weighted mean needs at least 2 "
            "in every variant of every period with positive weight. Give that period weight 0, or keep a "
            "min_share so that every variant is sampled in every period."
        )
    safe = np.where(used[:, None], cnt, 2.0)
    mean = np.where(used[:, None], s / safe, 0.0)
    var = np.maximum(np.where(used[:, None], (sq - safe * mean**2) / (safe - 1.0), 0.0), 0.0)
    means = (w[:, None] * mean).sum(axis=0)
    ses = np.sqrt((w[:, None] ** 2 * var / safe).sum(axis=0))
    return PeriodWeightedMeans(names, means, ses, w, np.where(used[:, None], cnt, 0.0), mean, var)


def floor_weights(weights: FloatArray, min_share: float) -> FloatArray:
    """Raise weights below ``min_share`` to it and rescale the others to keep the sum 1 (water filling)."""
    w = np.asarray(weights, dtype=np.float64) / float(np.sum(weights))
    fixed = np.zeros(w.shape, dtype=bool)
    while True:
        low = (w < min_share - 1e-15) & ~fixed
        if not low.any():
            break
        fixed |= low
        free = ~fixed
        rest = 1.0 - min_share * fixed.sum()
        total = w[free].sum()
        w = np.where(fixed, min_share, w / total * rest if total > 0 else rest / max(free.sum(), 1))
    out: FloatArray = w / w.sum()
    return out


_REWARDS = ("bernoulli", "gaussian")
_PROBABILITIES = ("monte-carlo", "exact")


class ThompsonAllocator:
    """Allocation weights equal to each variant's posterior probability of being best, floored at ``min_share``.

    The weights change only at period boundaries: call :meth:`update` with a period's statistics, or let
    :meth:`observe` close a period every ``period`` units. ``history`` holds the weights in force in every
    period. Read the result out with :meth:`readout` (period-weighted, see the module docstring), not with
    pooled means.

    Parameters
    ----------
    variants : int or sequence of str
        The number of variants or their names.
    reward : {"bernoulli", "gaussian"}
        Bernoulli rewards in [0, 1] get Beta(``prior``) posteriors; Gaussian rewards get Student-t
        posteriors of the mean (flat prior; a variant with fewer than 2 rewards gets the normal
        distribution of one pooled reward, so it keeps being explored).
    min_share : float in [0, 1 / k]
        Every variant's weight is at least this (0.05 is a reasonable choice; 0 gives plain Thompson).
    period : int, optional
        Units per period when :meth:`observe` drives the cadence.
    draws : int
        Monte Carlo draws from the posteriors per update.
    prior : (float, float)
        Beta prior ``(a, b)`` for Bernoulli rewards.
    seed : int, Generator or None
    probabilities : {"monte-carlo", "exact"}
        How the probabilities of being best are computed: from ``draws`` posterior draws (default), or
        by quadrature over the same posteriors (:mod:`abrec.abtest.best`; ``draws`` and ``seed`` unused).

    Examples
    --------
    >>> alloc = ThompsonAllocator(["A", "B"], min_share=0.1, seed=0)
    >>> alloc.weights.tolist()
    [0.5, 0.5]
    >>> w = alloc.update(PeriodStats.from_counts(n=[500, 500], sum=[50, 80], variants=["A", "B"]))
    >>> bool(w[1] > 0.85 and abs(w.sum() - 1) < 1e-12 and w.min() >= 0.1)
    True
    """

    name: ClassVar[str] = "thompson"
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "min_share": Interval("float", 0.0, 1.0),
        "period": Constraint("int", 1.0, optional=True),
        "draws": Interval("int", 1),
        "reward": StrOptions(_REWARDS),
        "probabilities": StrOptions(_PROBABILITIES),
    }

    def __init__(
        self,
        variants: Sequence[str] | int,
        *,
        reward: str = "bernoulli",
        min_share: float = 0.0,
        period: int | None = None,
        draws: int = 10_000,
        prior: tuple[float, float] = (1.0, 1.0),
        seed: Seed = None,
        probabilities: str = "monte-carlo",
    ) -> None:
        self.variants = _names(variants)
        self.reward = reward
        self.min_share = min_share
        self.period = period
        self.draws = draws
        self.prior = prior
        self.probabilities = probabilities
        self._validate()
        self._rng = as_generator(seed)
        k = len(self.variants)
        self.stats = PeriodStats(np.zeros((0, k)), np.zeros((0, k)), np.zeros((0, k)), self.variants)
        self._history: list[FloatArray] = [np.full(k, 1.0 / k)]
        self._open = np.zeros((3, k))

    def _constraints(self) -> dict[str, Constraint]:
        return self._parameter_constraints

    def _validate(self) -> None:
        owner = type(self).__name__
        validate_params(owner, self._constraints(), {key: getattr(self, key) for key in self._constraints()})
        k = len(self.variants)
        if self.min_share * k > 1.0 + 1e-12:
            raise ParameterError(
                f"The 'min_share' parameter of {owner} must be a float in [0, 1/{k}] for {k} variants. "
                f"Got {self.min_share!r} instead."
            )
        a, b = self.prior
        if not (a >= BETA_FLOOR and b >= BETA_FLOOR and math.isfinite(a) and math.isfinite(b)):
            raise ParameterError(
                f"The 'prior' parameter of {owner} must be two finite floats of at least {BETA_FLOOR} (the Beta "
                f"posteriors' probabilities of being best are exact to ~1e-8 from there). Got {self.prior!r}."
            )

    @property
    def weights(self) -> FloatArray:
        """The allocation weights in force now (a copy)."""
        return self._history[-1].copy()

    @property
    def history(self) -> FloatArray:
        """(periods + 1, k) weights: row t was in force during period t; the last row is in force now."""
        return np.vstack(self._history)

    def update(self, period: PeriodStats) -> FloatArray:
        """Close one period with its statistics and return the weights for the next one."""
        if not isinstance(period, PeriodStats) or period.n_periods != 1:
            raise InputError("update takes the PeriodStats of exactly one period.")
        if period.variants != self.variants:
            raise InputError(f"The period's variants {period.variants!r} differ from {self.variants!r}.")
        if self.reward == "bernoulli" and ((period.sum < -1e-9).any() or (period.sum > period.n + 1e-9).any()):
            raise InputError("Bernoulli rewards must lie in [0, 1]: every sum must be between 0 and n.")
        self.stats = self.stats.concat(period)
        if self.probabilities == "exact":
            weights = floor_weights(self._exact_allocation(), self.min_share)
        else:
            weights = floor_weights(self._allocation(self._samples()), self.min_share)
        self._history.append(weights)
        return weights.copy()

    def observe(self, variants: npt.ArrayLike, rewards: npt.ArrayLike) -> FloatArray:
        """Add rewards (variant indices or names) to the open period; close it once it holds ``period`` units."""
        v = np.asarray(variants).ravel()
        if v.dtype.kind in "US":
            lookup = {name: i for i, name in enumerate(self.variants)}
            for name in set(v.astype(np.str_).tolist()) - set(lookup):
                raise UnknownNameError("variant", name, self.variants)
            v = np.array([lookup[x] for x in v.astype(np.str_).tolist()], dtype=np.int64)
        idx = v.astype(np.int64)
        r = np.asarray(rewards, dtype=np.float64).ravel()
        k = len(self.variants)
        if idx.shape != r.shape or not np.isfinite(r).all() or (idx.size and (idx.min() < 0 or idx.max() >= k)):
            raise InputError(f"variants and rewards must be 1-d of one length, indices in [0, {k}), rewards finite.")
        self._open[0] += np.bincount(idx, minlength=k)
        self._open[1] += np.bincount(idx, weights=r, minlength=k)
        self._open[2] += np.bincount(idx, weights=r * r, minlength=k)
        if self.period is not None and self._open[0].sum() >= self.period:
            return self.close_period()
        return self.weights

    def close_period(self) -> FloatArray:
        """Close the open period (the units given to :meth:`observe` since the last close); the next weights."""
        o = self._open
        self._open = np.zeros_like(o)
        return self.update(PeriodStats(o[0:1], o[1:2], o[2:3], self.variants))

    def readout(self, period_weights: npt.ArrayLike | None = None) -> PeriodWeightedMeans:
        """The period-weighted means of the closed periods (see :func:`period_weighted_means`)."""
        return self.stats.period_weighted(period_weights)

    def probability_best(self) -> FloatArray:
        """Posterior probability that each variant has the highest mean reward (Monte Carlo, or exact)."""
        if self.probabilities == "exact":
            return self._exact_best()
        return _win_rates(self._samples())

    def _beta_posterior(self) -> tuple[FloatArray, FloatArray]:
        n = self.stats.n.sum(axis=0)
        s = self.stats.sum.sum(axis=0)
        a, b = self.prior
        return a + s, b + np.maximum(n - s, 0.0)

    def _t_posterior(self) -> tuple[FloatArray, FloatArray, FloatArray] | None:
        """Location, scale and degrees of freedom of each mean's Student-t posterior; None before 2 rewards."""
        n = self.stats.n.sum(axis=0)
        s = self.stats.sum.sum(axis=0)
        total = n.sum()
        if total < 2:
            return None
        sq = self.stats.sum_sq.sum(axis=0)
        grand = s.sum() / total
        pooled = max((sq.sum() - total * grand**2) / (total - 1.0), 1e-12)
        safe = np.maximum(n, 2.0)
        mean = np.where(n >= 2, s / safe, grand)
        var = np.where(n >= 2, np.maximum((sq - safe * mean**2) / (safe - 1.0), 1e-12 * pooled), pooled)
        scale = np.where(n >= 2, np.sqrt(var / safe), np.sqrt(pooled))
        return mean, scale, np.where(n >= 2, safe - 1.0, 1e6)

    def _samples(self) -> FloatArray:
        """(draws, k) draws of the variants' mean rewards from their posteriors."""
        k = len(self.variants)
        if self.reward == "bernoulli":
            a, b = self._beta_posterior()
            out: FloatArray = self._rng.beta(a, b, size=(self.draws, k))
            return out
        posterior = self._t_posterior()
        if posterior is None:
            return self._rng.standard_normal((self.draws, k))  # nothing known: every variant alike
        mean, scale, df = posterior
        t = self._rng.standard_t(df, size=(self.draws, k))
        out = mean + scale * t
        return out

    def _exact_best(self) -> FloatArray:
        """``P(best = i)`` by quadrature over the same posteriors :meth:`_samples` draws from."""
        k = len(self.variants)
        if self.reward == "bernoulli":
            return prob_best_beta(*self._beta_posterior())
        posterior = self._t_posterior()
        return np.full(k, 1.0 / k) if posterior is None else prob_best_student_t(*posterior)

    def _exact_top_two(self) -> TopTwoProbabilities:
        if self.reward == "bernoulli":
            return top_two_beta(*self._beta_posterior())
        posterior = self._t_posterior()
        if posterior is None:  # every variant alike: each pair of leader and runner-up equally likely
            k = len(self.variants)
            joint = (np.ones((k, k)) - np.eye(k)) / (k * (k - 1))
            return TopTwoProbabilities(np.full(k, 1.0 / k), np.full(k, 1.0 / k), joint)
        return top_two_student_t(*posterior)

    def _allocation(self, samples: FloatArray) -> FloatArray:
        return _win_rates(samples)

    def _exact_allocation(self) -> FloatArray:
        return self._exact_best()


def _win_rates(samples: FloatArray) -> FloatArray:
    draws, k = samples.shape
    out: FloatArray = np.bincount(samples.argmax(axis=1), minlength=k) / draws
    return out


class TopTwoThompsonAllocator(ThompsonAllocator):
    """Top-two Thompson sampling (Russo 2016): the leader gets share ``beta``, its challengers the rest.

    With ``p_i`` the posterior probability that variant ``i`` is best, the allocation is
    ``psi_i = beta * p_i + (1 - beta) * p_i * sum_{j != i} p_j / (1 - p_j)``: a Thompson draw picks the
    leader ``j``; with probability ``1 - beta`` the draw is repeated until another variant ``i`` wins
    (probability ``p_i / (1 - p_j)``). When the draws never dethrone ``j``, its challenger is the
    runner-up of the draws. As evidence accumulates the best variant's weight tends to ``beta``, not 1,
    which keeps measuring its closest rivals: the design for identifying the best variant.

    Parameters
    ----------
    beta : float in (0, 1)
        The leader's share (0.5, Russo's default, is within a factor 2 of the optimal share).
    **kwargs
        As for :class:`ThompsonAllocator`.

    Examples
    --------
    >>> alloc = TopTwoThompsonAllocator(["A", "B"], seed=0)
    >>> w = alloc.update(PeriodStats.from_counts(n=[5000, 5000], sum=[500, 800], variants=["A", "B"]))
    >>> w.round(2).tolist()
    [0.5, 0.5]
    """

    name: ClassVar[str] = "top_two_thompson"
    _tt_constraints: ClassVar[dict[str, Constraint]] = {"beta": Interval("float", 0.0, 1.0, closed="neither")}

    def __init__(
        self,
        variants: Sequence[str] | int,
        *,
        beta: float = 0.5,
        reward: str = "bernoulli",
        min_share: float = 0.0,
        period: int | None = None,
        draws: int = 10_000,
        prior: tuple[float, float] = (1.0, 1.0),
        seed: Seed = None,
        probabilities: str = "monte-carlo",
    ) -> None:
        self.beta = beta
        super().__init__(
            variants,
            reward=reward,
            min_share=min_share,
            period=period,
            draws=draws,
            prior=prior,
            seed=seed,
            probabilities=probabilities,
        )

    def _constraints(self) -> dict[str, Constraint]:
        return {**self._parameter_constraints, **self._tt_constraints}

    def _allocation(self, samples: FloatArray) -> FloatArray:
        draws, k = samples.shape
        winner = samples.argmax(axis=1)
        p = np.bincount(winner, minlength=k) / draws
        psi = self.beta * p
        for j in np.flatnonzero(p):
            if p[j] < 1.0:
                challenger = p / (1.0 - p[j])
                challenger[j] = 0.0
            else:  # j won every draw: its challenger is the runner-up
                masked = samples.copy()
                masked[:, j] = -np.inf
                challenger = np.bincount(masked.argmax(axis=1), minlength=k) / draws
            psi = psi + (1.0 - self.beta) * p[j] * challenger
        out: FloatArray = psi / psi.sum()
        return out

    def _exact_allocation(self) -> FloatArray:
        """Russo's allocation from the exact ``P(best)``; the exact runner-up where no other variant can lead."""
        p = self._exact_best()
        psi = self.beta * p
        top: TopTwoProbabilities | None = None
        for j in np.flatnonzero(p):
            rest = float(p.sum() - p[j])  # 1 - p_j, without the cancellation of 1 - p_j near p_j = 1
            if rest > 0:
                challenger = p / rest
                challenger[j] = 0.0
            else:
                top = self._exact_top_two() if top is None else top
                challenger = top.runner_up(int(j))
            psi = psi + (1.0 - self.beta) * p[j] * challenger
        out: FloatArray = psi / psi.sum()
        return out
