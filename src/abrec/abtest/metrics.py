"""Per-unit metrics from an interaction log, summarised per variant as mergeable sufficient statistics.

A/B tests randomise units (users, sessions), so units, not rows, are the independent observations:
each unit's rows are first collapsed to one value (or one numerator/denominator pair), then summed
per variant.

========== ===================================== ==============================================
metric     per-unit value                        statistics
========== ===================================== ==============================================
proportion 1 if any row's ``column`` > 0, else 0 :class:`SampleStats` (e.g. "clicked at least once")
mean       sum of ``column`` over the unit's rows :class:`SampleStats` (e.g. clicks per user)
ratio      (sum of ``column``, number of rows)    :class:`RatioStats` (e.g. CTR = clicks / impressions)
========== ===================================== ==============================================

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
from .stats import RatioStats, SampleStats

__all__ = ["DEFAULT_METRICS", "Metric", "aggregate_units"]

METRICS = ("mean", "proportion", "ratio")
_METRIC = {"metric": StrOptions(METRICS)}
_LABEL = {"mean": "per unit (mean)", "proportion": "units with any (proportion)", "ratio": "per row (ratio)"}
_METRIC_KIND = {"kind": StrOptions(METRICS)}


@dataclass(frozen=True)
class Metric:
    """One metric of a readout: the value computed per unit from one reward column of the log.

    Parameters
    ----------
    name : str
        What people call it, e.g. ``"conversion"``.
    kind : {'mean', 'proportion', 'ratio'}
        Per unit: total ``column`` (``mean``), whether any row's ``column`` is positive
        (``proportion``), or (total ``column``, rows) for a ratio of totals (``ratio``).
    column : str, default 'reward'
        The reward column (``reward`` or an extra reward column of the log).

    Examples
    --------
    >>> Metric("conversion", "proportion", "purchase").label
    'purchase units with any (proportion)'
    >>> Metric("ctr", "share")
    Traceback (most recent call last):
    ...
    abrec.errors.ParameterError: The 'kind' parameter of Metric must be a str among {'mean', 'proportion', \
'ratio'}. Got 'share' instead.
    """

    name: str
    kind: Literal["mean", "proportion", "ratio"]
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
        For an unknown metric.
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
    validate_params("aggregate_units", _METRIC, {"metric": metric})
    frame = log.frame if isinstance(log, InteractionLog) else log
    missing = [c for c in ("unit", "variant", column) if c not in frame.columns]
    if missing:
        raise InputError(f"aggregate_units needs the columns {missing}; the log has {list(frame.columns)}.")
    if experiment is not None:
        frame = frame[frame["experiment"] == experiment] if "experiment" in frame.columns else frame.iloc[:0]
    if len(frame) == 0:
        raise InputError("aggregate_units found no rows (check the experiment name).")
    values = np.asarray(frame[column], dtype=np.float64)
    if not np.isfinite(values).all():
        raise InputError(f"aggregate_units needs a finite {column!r} column; drop or impute NaN first.")
    rows = pd.DataFrame({"unit": frame["unit"].to_numpy(), "variant": frame["variant"].to_numpy(), "y": values})
    variants_per_unit = rows.groupby("unit", sort=False)["variant"].nunique()
    leaked = variants_per_unit[variants_per_unit > 1]
    if len(leaked) > 0:
        raise InputError(
            f"{len(leaked)} unit(s) appear in more than one variant (e.g. {list(leaked.index[:3])}); "
            "units must stay in one variant. Fix the assignment or drop those units."
        )
    per_unit = rows.groupby(["variant", "unit"], sort=True)["y"].agg(["sum", "size", "max"])
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
