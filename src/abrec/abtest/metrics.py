"""Per-unit metrics from an interaction log, summarised per variant as mergeable sufficient statistics.

A/B tests randomise units (users, sessions), so units, not rows, are the independent observations:
each unit's rows are first collapsed to one value (or one numerator/denominator pair), then summed
per variant.

============= ===================================== ==============================================
metric        per-unit value                        statistics
============= ===================================== ==============================================
proportion    1 if any row's ``column`` > 0, else 0 :class:`SampleStats` (e.g. "clicked at least once")
mean          sum of ``column`` over the unit's rows :class:`SampleStats` (e.g. clicks per user)
ratio         (sum of ``column``, number of rows)    :class:`RatioStats` (e.g. CTR = clicks / impressions)
p50, p90, p99 sum of ``column`` over the unit's rows :class:`QuantileSample` (e.g. p90 revenue per user)
============= ===================================== ==============================================

The quantile kinds compare a quantile of the per-unit totals across variants (:func:`quantile_samples`
gives each variant's values; :func:`~abrec.abtest.quantiles.quantile_test` tests them); quantiles are
not sums, so their per-variant record keeps the values instead of three sums.

The ratio metric's variance comes from the delta method over units. Testing a ratio as if every
impression were independent (the "naive per-impression test") ignores that one user's impressions
are correlated, understates the standard error, and rejects a true null far more often than alpha.

A :class:`Metric` names one such metric (its kind and column); :data:`DEFAULT_METRICS` are the ones a
recommender's experiment is judged by, read out together by :func:`abrec.abtest.scorecard.analyze_metrics`:

================= ========== ============ =====================================================
name              kind       column       what it measures
================= ========== ============ =====================================================
clicks per user   mean       ``reward``   the primary metric: a user's total clicks
CTR               ratio      ``reward``   clicks / shown items (delta method over users)
conversion        proportion ``purchase`` share of users who buy at least once
revenue per user  mean       ``revenue``  a user's total revenue
================= ========== ============ =====================================================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from .._params import StrOptions, validate_params
from ..data.interactions import InteractionLog
from ..errors import InputError, ParameterError
from .quantiles import QuantileSample
from .stats import RatioStats, SampleStats

__all__ = ["DEFAULT_METRICS", "QUANTILES", "Metric", "aggregate_units", "quantile_samples"]

MetricKind = Literal["mean", "proportion", "ratio", "p50", "p90", "p99"]

QUANTILES: dict[str, float] = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
"""The quantile metric kinds and their probabilities: that quantile, over units, of each unit's total."""

SUMMED = ("mean", "proportion", "ratio")
METRICS = (*SUMMED, *QUANTILES)
_METRIC = {"metric": StrOptions(SUMMED)}
_LABEL = {
    "mean": "per unit (mean)",
    "proportion": "units with any (proportion)",
    "ratio": "per row (ratio)",
    **{kind: f"per unit ({kind})" for kind in QUANTILES},
}
_METRIC_KIND = {"kind": StrOptions(METRICS)}


@dataclass(frozen=True)
class Metric:
    """One metric of a readout: the value computed per unit from one reward column of the log.

    Parameters
    ----------
    name : str
        What people call it, e.g. ``"conversion"``.
    kind : {'mean', 'proportion', 'ratio', 'p50', 'p90', 'p99'}
        Per unit: total ``column`` (``mean``), whether any row's ``column`` is positive
        (``proportion``), or (total ``column``, rows) for a ratio of totals (``ratio``); ``p50``,
        ``p90`` and ``p99`` compare that quantile of the units' totals of ``column`` (not read out by
        default: pass them to :func:`~abrec.abtest.scorecard.analyze_metrics`).
    column : str, default 'reward'
        The reward column (``reward`` or an extra reward column of the log).

    Examples
    --------
    >>> Metric("conversion", "proportion", "purchase").label
    'purchase units with any (proportion)'
    >>> Metric("p90 revenue", "p90", "revenue").probability, Metric("conversion", "proportion").probability
    (0.9, None)
    >>> Metric("ctr", "share")
    Traceback (most recent call last):
    ...
    abrec.errors.ParameterError: The 'kind' parameter of Metric must be a str among {'mean', 'proportion', \
'ratio', 'p50', 'p90', 'p99'}. Got 'share' instead.
    """

    name: str
    kind: MetricKind
    column: str = "reward"

    def __post_init__(self) -> None:
        validate_params("Metric", _METRIC_KIND, {"kind": self.kind})
        for field in ("name", "column"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value:
                raise ParameterError(
                    f"The {field!r} parameter of Metric must be a non-empty str. Got {value!r} instead."
                )

    @classmethod
    def of(cls, kind: str, column: str = "reward") -> Metric:
        """The metric of ``kind`` on ``column``: the default one that computes it, else one named by its label.

        >>> Metric.of("proportion", "purchase").name, Metric.of("mean", "rating").name
        ('conversion', 'rating per unit (mean)')
        """
        for metric in DEFAULT_METRICS:
            if (metric.kind, metric.column) == (kind, column):
                return metric
        validate_params("Metric", _METRIC_KIND, {"kind": kind})
        return cls(f"{column} {_LABEL[kind]}", kind, column)  # type: ignore[arg-type]

    @property
    def label(self) -> str:
        """How the readout describes the computation, e.g. ``'reward per unit (mean)'``."""
        return f"{self.column} {_LABEL[self.kind]}"

    @property
    def probability(self) -> float | None:
        """The quantile's probability for a quantile kind (0.9 for ``p90``), else None."""
        return QUANTILES.get(self.kind)


DEFAULT_METRICS: tuple[Metric, ...] = (
    Metric("clicks per user", "mean", "reward"),
    Metric("CTR", "ratio", "reward"),
    Metric("conversion", "proportion", "purchase"),
    Metric("revenue per user", "mean", "revenue"),
)
"""The metrics an abrec experiment is read out on, primary first (see the module docstring)."""


def aggregate_units(
    log: InteractionLog | pd.DataFrame,
    metric: Literal["mean", "proportion", "ratio"] = "mean",
    *,
    column: str = "reward",
    experiment: str | None = None,
) -> dict[str, SampleStats | RatioStats]:
    """Collapse a log to one value per unit and sum those per variant.

    Parameters
    ----------
    log : InteractionLog or pandas.DataFrame
        Rows with at least ``unit``, ``variant`` and ``column``.
    metric : {'mean', 'proportion', 'ratio'}, default 'mean'
        See the module docstring.
    column : str, default 'reward'
        The reward column to aggregate (``reward`` or an extra reward column).
    experiment : str, optional
        Keep only the rows of this experiment.

    Returns
    -------
    dict of str to SampleStats or RatioStats
        One entry per variant, sorted by variant name: :class:`SampleStats` for 'mean' and
        'proportion', :class:`RatioStats` (numerator = sum of ``column``, denominator = rows) for
        'ratio'.

    Raises
    ------
    abrec.errors.ParameterError
        For an unknown metric, or a quantile one (use :func:`quantile_samples`).
    abrec.errors.InputError
        When a column is missing, no rows remain, or a unit appears in more than one variant (the
        assignment leaked; fix it or drop those units before testing).

    Examples
    --------
    >>> log = InteractionLog.from_arrays(
    ...     unit=["a", "a", "b", "c", "c", "c"], item=[1, 2, 1, 3, 1, 2], timestamp=[0, 1, 2, 3, 4, 5],
    ...     reward=[1, 0, 0, 1, 1, 0], variant=["A", "A", "A", "B", "B", "B"],
    ... )
    >>> stats = aggregate_units(log, "ratio")
    >>> stats["A"].mean, stats["B"].mean
    (0.3333333333333333, 0.6666666666666666)
    >>> aggregate_units(log, "proportion")["A"]
    SampleStats(n=2, sum=1.0, sum_sq=1.0)
    """
    if metric in QUANTILES:
        raise ParameterError(
            f"aggregate_units sums per-unit values, and the {metric!r} quantile is not a sum; use "
            f"quantile_samples(log, column={column!r}) for each variant's per-unit totals."
        )
    validate_params("aggregate_units", _METRIC, {"metric": metric})
    per_unit = _per_unit("aggregate_units", log, column, experiment)
    out: dict[str, SampleStats | RatioStats] = {}
    for variant, group in per_unit.groupby(level="variant", sort=True):
        y = group["sum"].to_numpy()
        if metric == "mean":
            out[str(variant)] = SampleStats.from_values(y)
        elif metric == "proportion":
            out[str(variant)] = SampleStats.from_values((group["max"].to_numpy() > 0).astype(np.float64))
        else:
            out[str(variant)] = RatioStats.from_values(y, group["size"].to_numpy().astype(np.float64))
    return out


def quantile_samples(
    log: InteractionLog | pd.DataFrame, *, column: str = "reward", experiment: str | None = None
) -> dict[str, QuantileSample]:
    """Each variant's :class:`QuantileSample` of per-unit totals of ``column`` (the quantile metrics' values).

    One value per unit, its total ``column`` over its rows (as for ``mean``), so a quantile such as p90
    is taken over units, never over rows. Raises as :func:`aggregate_units`.

    Examples
    --------
    >>> log = InteractionLog.from_arrays(
    ...     unit=["a", "a", "b", "c", "c", "d"], item=0, timestamp=[0, 1, 2, 3, 4, 5],
    ...     reward=[1.0, 2.0, 0.5, 4.0, 1.0, 2.0], variant=["A", "A", "A", "B", "B", "B"],
    ... )
    >>> {name: sample.values.tolist() for name, sample in quantile_samples(log).items()}
    {'A': [0.5, 3.0], 'B': [2.0, 5.0]}
    """
    per_unit = _per_unit("quantile_samples", log, column, experiment)
    return {
        str(variant): QuantileSample.from_values(group["sum"].to_numpy())
        for variant, group in per_unit.groupby(level="variant", sort=True)
    }


def _per_unit(owner: str, log: InteractionLog | pd.DataFrame, column: str, experiment: str | None) -> pd.DataFrame:
    """One row per (variant, unit), sorted: the unit's total (``sum``), rows (``size``) and largest (``max``) value."""
    frame = log.frame if isinstance(log, InteractionLog) else log
    missing = [c for c in ("unit", "variant", column) if c not in frame.columns]
    if missing:
        raise InputError(f"{owner} needs the columns {missing}; the log has {list(frame.columns)}.")
    if experiment is not None:
        frame = frame[frame["experiment"] == experiment] if "experiment" in frame.columns else frame.iloc[:0]
    if len(frame) == 0:
        raise InputError(f"{owner} found no rows (check the experiment name).")
    values = np.asarray(frame[column], dtype=np.float64)
    if not np.isfinite(values).all():
        raise InputError(f"{owner} needs a finite {column!r} column; drop or impute NaN first.")
    rows = pd.DataFrame({"unit": frame["unit"].to_numpy(), "variant": frame["variant"].to_numpy(), "y": values})
    variants_per_unit = rows.groupby("unit", sort=False)["variant"].nunique()
    leaked = variants_per_unit[variants_per_unit > 1]
    if len(leaked) > 0:
        raise InputError(
            f"{len(leaked)} unit(s) appear in more than one variant (e.g. {list(leaked.index[:3])}); "
            "units must stay in one variant. Fix the assignment or drop those units."
        )
    return rows.groupby(["variant", "unit"], sort=True)["y"].agg(["sum", "size", "max"])
