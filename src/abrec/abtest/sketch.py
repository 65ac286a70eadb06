"""A mergeable quantile sketch: quantile metrics that add up across shards and periods like sums do.

:class:`QuantileSketch` is a DDSketch (Masson, Rim and Lee, "DDSketch: a fast and fully-mergeable
quantile sketch with relative-error guarantees", VLDB 2019). Each value ``x != 0`` falls in the bucket
``i = ceil(log_gamma |x|)``, ``gamma = (1 + a) / (1 - a)``, of its sign; the sketch keeps only the
count of each bucket, and reads a value in bucket ``i`` as ``2 gamma**i / (gamma + 1)``, which is
within relative error ``a`` (``relative_accuracy``) of every value in the bucket. So:

- **Error.** The ``k``-th smallest value (``k`` = 0 .. n - 1) is read within ``a |x_(k)|`` of the exact
  order statistic, and :meth:`QuantileSketch.quantile` (linear interpolation between the order
  statistics ``x_(floor h)`` and ``x_(ceil h)``, ``h = p (n - 1)``, as ``numpy.quantile`` and
  :class:`~abrec.abtest.quantiles.QuantileSample`) within ``a max(|x_(floor h)|, |x_(ceil h)|)`` of the
  exact sample quantile. Values with ``|x| < 1e-300`` count as 0.
- **Merging.** Two sketches of the same accuracy merge with ``+`` by adding their bucket counts: the
  merged sketch is exactly the sketch of the pooled values, whatever the split (shards, periods, days),
  and its size is the number of distinct buckets, about ``ln(max / min) / (2 a)`` (1,000 buckets for
  values over 9 orders of magnitude at ``a = 0.01``), not the number of values.
- **Tests.** A sketch is a :class:`~abrec.abtest.quantiles.QuantileSummary`: :func:`quantile_test` takes it
  with ``method='order-statistic'`` (gbstats' standard error from the quantiles at ``p -/+ z s``, each
  read within the sketch's error). The resampling-free bootstrap needs the order statistics themselves,
  so it takes a :class:`~abrec.abtest.quantiles.QuantileSample`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .._params import Interval, StrOptions, validate_params
from ..errors import InputError
from .quantiles import _bound_probabilities, _order_statistic_se
from .stats import _as_values

__all__ = ["QuantileSketch"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_ZERO = 1e-300  # |x| below this counts as 0 (log_gamma would leave the exponent range)
_ACCURACY = {"relative_accuracy": Interval("float", 0.0, 1.0, closed="neither")}


def _buckets(x: FloatArray, log_gamma: float) -> tuple[IntArray, IntArray]:
    """The distinct bucket indices ``ceil(log_gamma |x|)`` of ``x`` and their counts."""
    if x.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    idx = np.ceil(np.log(x) / log_gamma).astype(np.int64)
    keys, counts = np.unique(idx, return_counts=True)
    return keys, counts.astype(np.int64)


def _merge(k1: IntArray, c1: IntArray, k2: IntArray, c2: IntArray) -> tuple[IntArray, IntArray]:
    keys, inverse = np.unique(np.concatenate([k1, k2]), return_inverse=True)
    counts = np.bincount(inverse, weights=np.concatenate([c1, c2]), minlength=keys.size)
    return keys, counts.astype(np.int64)


def _frozen(a: npt.ArrayLike) -> IntArray:
    out: IntArray = np.array(a, dtype=np.int64)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, slots=True, eq=False)
class QuantileSketch:
    """Bucket counts of one arm's values, for quantiles within a relative error; merges with ``+``.

    Build it with :meth:`from_values` (per shard or period) and add the sketches up.

    Attributes
    ----------
    relative_accuracy : float
        ``a`` in (0, 1): every order statistic is read within ``a |x|``.
    positive_keys, positive_counts : numpy.ndarray
        Bucket indices (ascending) of the positive values and how many values each holds.
    negative_keys, negative_counts : numpy.ndarray
        The same for the negative values (bucket of ``|x|``).
    zero_count : int
        Values with ``|x| < 1e-300``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).lognormal(0.0, 1.0, 10_000)
    >>> day1, day2 = QuantileSketch.from_values(x[:4000]), QuantileSketch.from_values(x[4000:])
    >>> both = day1 + day2
    >>> both == QuantileSketch.from_values(x), both.n
    (True, 10000)
    >>> exact = float(np.quantile(x, 0.9))
    >>> bool(abs(both.quantile(0.9) - exact) <= 0.01 * exact * 1.01), both.size < 700
    (True, True)
    """

    relative_accuracy: float = 0.01
    positive_keys: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    positive_counts: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    negative_keys: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    negative_counts: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    zero_count: int = 0

    def __post_init__(self) -> None:
        validate_params("QuantileSketch", _ACCURACY, {"relative_accuracy": self.relative_accuracy})
        for sign in ("positive", "negative"):
            keys, counts = getattr(self, f"{sign}_keys"), getattr(self, f"{sign}_counts")
            keys, counts = np.asarray(keys), np.asarray(counts)
            if keys.shape != counts.shape or keys.ndim != 1:
                raise InputError(
                    f"QuantileSketch needs one count per {sign} bucket; got {keys.shape} and {counts.shape}."
                )
            if keys.size > 1 and not (np.diff(keys) > 0).all():
                raise InputError(f"QuantileSketch's {sign} bucket keys must be strictly increasing.")
            if (counts < 1).any():
                raise InputError(f"QuantileSketch's {sign} bucket counts must be positive integers.")
            object.__setattr__(self, f"{sign}_keys", _frozen(keys))
            object.__setattr__(self, f"{sign}_counts", _frozen(counts))
        if self.zero_count < 0:
            raise InputError(f"QuantileSketch.zero_count must be >= 0; got {self.zero_count}.")
        object.__setattr__(self, "zero_count", int(self.zero_count))

    @property
    def gamma(self) -> float:
        """The buckets' growth factor ``(1 + a) / (1 - a)``."""
        return (1.0 + self.relative_accuracy) / (1.0 - self.relative_accuracy)

    @classmethod
    def from_values(cls, values: npt.ArrayLike, *, relative_accuracy: float = 0.01) -> QuantileSketch:
        """The sketch of 1-D finite ``values`` at ``relative_accuracy`` (default 1%)."""
        validate_params("QuantileSketch.from_values", _ACCURACY, {"relative_accuracy": relative_accuracy})
        x = _as_values("values", values)
        log_gamma = math.log((1.0 + relative_accuracy) / (1.0 - relative_accuracy))
        pos_k, pos_c = _buckets(x[x >= _ZERO], log_gamma)
        neg_k, neg_c = _buckets(-x[x <= -_ZERO], log_gamma)
        zeros = int(np.count_nonzero(np.abs(x) < _ZERO))
        return cls(relative_accuracy, pos_k, pos_c, neg_k, neg_c, zeros)

    @property
    def n(self) -> int:
        """The number of values sketched."""
        return int(self.positive_counts.sum() + self.negative_counts.sum()) + self.zero_count

    @property
    def size(self) -> int:
        """The number of buckets kept (what the sketch costs to store)."""
        return int(self.positive_keys.size + self.negative_keys.size) + (self.zero_count > 0)

    def _ladder(self) -> tuple[FloatArray, IntArray]:
        """Every bucket's value and the cumulative count, in ascending order of value."""
        g = self.gamma
        neg = -2.0 * g ** self.negative_keys[::-1].astype(np.float64) / (g + 1.0)
        pos = 2.0 * g ** self.positive_keys.astype(np.float64) / (g + 1.0)
        values = np.concatenate([neg, [0.0] if self.zero_count else [], pos])
        counts = np.concatenate(
            [self.negative_counts[::-1], [self.zero_count] if self.zero_count else [], self.positive_counts]
        )
        return values, np.cumsum(counts).astype(np.int64)

    def order_statistics(self, ranks: npt.ArrayLike) -> FloatArray:
        """The ``k``-th smallest values (0-based ``ranks`` in [0, n)), each within ``a |x_(k)|``."""
        k = np.asarray(ranks, dtype=np.int64)
        if self.n == 0 or (k < 0).any() or (k >= self.n).any():
            raise InputError(f"QuantileSketch.order_statistics needs ranks in [0, {self.n}); got {k.tolist()!r}.")
        values, cumulative = self._ladder()
        out: FloatArray = values[np.searchsorted(cumulative, k, side="right")]
        return out

    def quantile(self, probability: float) -> float:
        """The sample quantile at ``probability`` (linear interpolation), within the sketch's error."""
        validate_params(
            "QuantileSketch.quantile", {"probability": Interval("float", 0.0, 1.0)}, {"probability": probability}
        )
        if self.n == 0:
            return math.nan
        h = probability * (self.n - 1)
        lo = math.floor(h)
        below, above = self.order_statistics([lo, min(lo + 1, self.n - 1)])
        return float(below + (h - lo) * (above - below))

    def quantile_standard_error(self, probability: float, method: str) -> float:
        """gbstats' order-statistic standard error of :meth:`quantile` (``method='order-statistic'`` only)."""
        validate_params(
            "QuantileSketch.quantile_standard_error",
            {
                "probability": Interval("float", 0.0, 1.0, closed="neither"),
                "method": StrOptions(("order-statistic", "bootstrap")),
            },
            {"probability": probability, "method": method},
        )
        if method != "order-statistic":
            raise InputError(
                "QuantileSketch gives the 'order-statistic' standard error only: the resampling-free bootstrap "
                "needs the order statistics themselves. Use a QuantileSample for method='bootstrap'."
            )
        n = self.n
        if n < 2:
            return math.nan
        low, high = _bound_probabilities(probability, n)
        return _order_statistic_se(n, n, self.quantile(low), self.quantile(high))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantileSketch):
            return NotImplemented
        return (
            self.relative_accuracy == other.relative_accuracy
            and self.zero_count == other.zero_count
            and all(
                np.array_equal(getattr(self, f), getattr(other, f))
                for f in ("positive_keys", "positive_counts", "negative_keys", "negative_counts")
            )
        )

    __hash__ = None  # type: ignore[assignment]

    def __add__(self, other: object) -> QuantileSketch:
        if not isinstance(other, QuantileSketch):
            return NotImplemented
        if other.relative_accuracy != self.relative_accuracy:
            raise InputError(
                "QuantileSketch: cannot add sketches of different relative accuracy "
                f"({self.relative_accuracy} and {other.relative_accuracy}); build every shard's sketch with the "
                "same one."
            )
        pos = _merge(self.positive_keys, self.positive_counts, other.positive_keys, other.positive_counts)
        neg = _merge(self.negative_keys, self.negative_counts, other.negative_keys, other.negative_counts)
        return QuantileSketch(self.relative_accuracy, *pos, *neg, self.zero_count + other.zero_count)

    def __radd__(self, other: object) -> QuantileSketch:
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented
