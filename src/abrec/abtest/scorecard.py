"""An experiment read out on every metric it is judged by: a primary metric and secondary (guardrail) metrics.

:func:`analyze_metrics` reads one log on several :class:`~abrec.abtest.metrics.Metric` s at once (clicks per
user, CTR, conversion, revenue per user by default) with :func:`~abrec.abtest.readout.analyze_log`'s
machinery, and states the multiple-testing correction across metrics and treatments.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._params import StrOptions, validate_params
from ..data.interactions import InteractionLog
from ..errors import InputError, UnknownNameError
from .metrics import DEFAULT_METRICS, Metric
from .readout import CORRECTIONS, Readout, _adjust, _check, analyze_log

__all__ = ["MetricsReadout", "analyze_metrics"]

FloatArray = npt.NDArray[np.float64]


_FAMILY = {
    "bonferroni": "Bonferroni",
    "sidak": "Sidak",
    "holm": "Holm",
    "holm-sidak": "Holm-Sidak",
    "bh": "Benjamini-Hochberg",
    "by": "Benjamini-Yekutieli",
    "none": "no correction",
}
_FWER = "the family-wise error rate"
_FDR = "the false discovery rate"
_CONTROLS = {
    "bonferroni": _FWER,
    "sidak": _FWER,
    "holm": _FWER,
    "holm-sidak": _FWER,
    "bh": _FDR,
    "by": _FDR,
    "none": "only each test's own error",
}


@dataclass(frozen=True)
class MetricsReadout:
    """An experiment read out on several metrics at once: one primary metric, the others secondary.

    Attributes
    ----------
    metrics : tuple of Metric
        The metrics read out, primary first.
    readouts : tuple of Readout
        One per metric, in the same order; each secondary's ``p_adjusted`` and ``significant`` come from
        the correction across all secondary (metric, treatment) pairs.
    correction : str
        The multiple-testing correction, stated in words (also in every output).
    skipped : tuple of (str, str)
        Metrics that were not read out, and why (e.g. the log has no ``purchase`` column).
    """

    metrics: tuple[Metric, ...]
    readouts: tuple[Readout, ...]
    correction: str
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def primary(self) -> Readout:
        """The primary metric's readout (the one decisions are made on)."""
        return self.readouts[0]

    @property
    def secondary(self) -> tuple[Readout, ...]:
        """The secondary and guardrail metrics' readouts."""
        return self.readouts[1:]

    @property
    def control(self) -> str:
        return self.primary.control

    @property
    def alpha(self) -> float:
        return self.primary.alpha

    def __getitem__(self, name: str) -> Readout:
        """The readout of the metric called ``name``."""
        for metric, readout in zip(self.metrics, self.readouts, strict=True):
            if metric.name == name:
                return readout
        raise UnknownNameError("metric", name, [m.name for m in self.metrics])

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per (metric, variant), primary first: ``metric``, ``role``, then :meth:`Readout.rows`."""
        out: list[dict[str, Any]] = []
        for i, (metric, readout) in enumerate(zip(self.metrics, self.readouts, strict=True)):
            role = "primary" if i == 0 else "secondary"
            out.extend({"metric": metric.name, "role": role, **row} for row in readout.rows())
        return out

    def to_frame(self) -> pd.DataFrame:
        """The rows as a DataFrame."""
        return pd.DataFrame(self.rows())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: every metric's method and rows (non-finite numbers as None) and the correction."""
        metrics = []
        for i, (metric, readout) in enumerate(zip(self.metrics, self.readouts, strict=True)):
            metrics.append(
                {
                    "name": metric.name,
                    "role": "primary" if i == 0 else "secondary",
                    "kind": metric.kind,
                    "column": metric.column,
                    "measure": readout.metric,
                    "method": readout.method,
                    "correction": readout.correction,
                    "rows": [{k: _json(v) for k, v in row.items()} for row in readout.rows()],
                }
            )
        srm = self.primary.srm
        return {
            "control": self.control,
            "alpha": self.alpha,
            "correction": self.correction,
            "metrics": metrics,
            "skipped": dict(self.skipped),
            "srm_p_value": _json(srm.p_value),
        }


def _json(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


def _names(metrics: Sequence[Metric]) -> str:
    names = [m.name for m in metrics]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _statement(
    metrics: Sequence[Metric], n_treatments: int, alpha: float, correction: str, secondary_correction: str
) -> str:
    treatments = "the one treatment" if n_treatments == 1 else f"the {n_treatments} treatments"
    how = f"{_FAMILY[correction]}-adjusted" if correction != "none" else "not adjusted"
    text = (
        f"Multiple testing: {metrics[0].name} (primary) {how} across {treatments}, controlling "
        f"{_CONTROLS[correction]} at {alpha:g}"
    )
    if len(metrics) > 1:
        pairs = (len(metrics) - 1) * n_treatments
        how = f"{_FAMILY[secondary_correction]}-adjusted together" if secondary_correction != "none" else "not adjusted"
        text += (
            f"; {_names(metrics[1:])} (secondary) {how} across their {pairs} (metric, treatment) pairs, "
            f"controlling {_CONTROLS[secondary_correction]} at {alpha:g}"
        )
    return text + "."


def analyze_metrics(
    log: InteractionLog | pd.DataFrame,
    *,
    control: str | None = None,
    metrics: Sequence[Metric] | None = None,
    primary: Metric | None = None,
    alpha: float = 0.05,
    experiment: str | None = None,
    weights: Mapping[str, float] | Sequence[float] | None = None,
    correction: str = "holm",
    secondary_correction: str = "bh",
    tuning_parameter: float | None = None,
) -> MetricsReadout:
    """Readout of a logged experiment on a primary metric and secondary / guardrail metrics together.

    Every metric is read out by :func:`analyze_log` (one value per unit; period-weighted with a z test
    when the log records ``assignment_p`` and ``period``, the ratio metric then by a period-weighted
    delta method; Welch t otherwise; a quantile metric by the quantile test, its units pooled across
    periods), so the primary's numbers are exactly :func:`analyze_log`'s.

    Multiple testing is corrected in two families. The **primary** metric is the one the decision rests
    on: its p-values are adjusted across the treatments (``correction``, default Holm), which keeps the
    family-wise error of the decision at ``alpha`` whatever the number of secondary metrics, and keeps the
    primary's numbers those of the one-metric readout. The **secondary** metrics (and guardrails) inform
    and raise alarms rather than decide: their p-values are adjusted together across every (secondary
    metric, treatment) pair (``secondary_correction``, default Benjamini-Hochberg), which bounds the
    expected share of false alarms among the flagged secondaries at ``alpha`` while keeping the power to
    see a harm that Holm over all pairs would give away as metrics are added. BH is valid for
    independent or positively dependent tests (Benjamini & Yekutieli 2001), the usual case for click,
    purchase and revenue metrics of the same units. The chosen correction is stated in
    :attr:`MetricsReadout.correction` and in every output.

    Parameters
    ----------
    log : InteractionLog or DataFrame
        With ``unit``, ``variant`` and every metric's column.
    control : str, optional
        The control variant (required when the log records assignment probabilities).
    metrics : sequence of Metric, optional
        Primary first. Default :data:`~abrec.abtest.metrics.DEFAULT_METRICS` (clicks per user, CTR,
        conversion, revenue per user), where a secondary whose column the log lacks is skipped and
        listed in ``skipped``; given explicitly, every column must be there. Quantile metrics (kinds
        ``p50``, ``p90``, ``p99``, e.g. ``Metric.of("p90", "revenue")``) are not among the defaults: pass
        them here or as ``primary``.
    primary : Metric, optional
        The primary metric, put first (replacing a metric of ``metrics`` that computes the same, e.g.
        ``Metric.of("proportion", "purchase")`` makes conversion primary); default the first of ``metrics``.
    alpha, experiment, weights, tuning_parameter
        As in :func:`analyze_log`.
    correction : {"holm", "bh", "none"}, default "holm"
        Across the treatments, on the primary metric.
    secondary_correction : {"holm", "bh", "none"}, default "bh"
        Across all (secondary metric, treatment) pairs.

    Returns
    -------
    MetricsReadout

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> n = 4000
    >>> variant = np.where(rng.random(n) < 0.5, "A", "B")
    >>> click = (rng.random(n) < np.where(variant == "B", 0.12, 0.10)).astype(float)
    >>> log = InteractionLog.from_arrays(unit=[f"u{i}" for i in range(n)], item=0, timestamp=0, reward=click,
    ...                                  variant=variant, extra_rewards={"purchase": click * (rng.random(n) < 0.3)})
    >>> r = analyze_metrics(log, control="A")
    >>> [m.name for m in r.metrics], [name for name, _ in r.skipped]
    (['clicks per user', 'CTR', 'conversion'], ['revenue per user'])
    >>> r.primary.variants[1].p_value == analyze_log(log, control="A").variants[1].p_value
    True
    >>> print(r.correction)  # doctest: +NORMALIZE_WHITESPACE
    Multiple testing: clicks per user (primary) Holm-adjusted across the one treatment, controlling the
    family-wise error rate at 0.05; CTR and conversion (secondary) Benjamini-Hochberg-adjusted together
    across their 2 (metric, treatment) pairs, controlling the false discovery rate at 0.05.
    """
    _check(alpha, correction)
    validate_params(
        "analyze_metrics",
        {"secondary_correction": StrOptions(CORRECTIONS)},
        {"secondary_correction": secondary_correction},
    )
    if isinstance(log, pd.DataFrame):
        log = InteractionLog(log)
    given = metrics is not None
    wanted = list(DEFAULT_METRICS if metrics is None else metrics)
    if primary is not None:
        same = (primary.kind, primary.column)
        wanted = [primary, *(m for m in wanted if (m.kind, m.column) != same and m.name != primary.name)]
    if not wanted:
        raise InputError("analyze_metrics needs at least one metric.")
    names = [m.name for m in wanted]
    if len(set(names)) != len(names):
        raise InputError(f"Metric names must be unique; got {names}.")
    columns = set(log.frame.columns)
    chosen, skipped = [wanted[0]], []
    for m in wanted[1:]:
        if m.column in columns:
            chosen.append(m)
        elif given:
            raise InputError(
                f"The log has no column {m.column!r} for the metric {m.name!r}; its columns are {sorted(columns)}."
            )
        else:
            skipped.append((m.name, f"the log has no {m.column!r} column"))
    readouts = []
    for i, m in enumerate(chosen):
        r = analyze_log(
            log,
            control=control,
            metric=m.kind,
            column=m.column,
            alpha=alpha,
            experiment=experiment,
            weights=weights,
            correction=correction if i == 0 else "none",
            tuning_parameter=tuning_parameter,
        )
        readouts.append(replace(r, metric=m.name))  # what it computes: the Metric's label
    n_treatments = len(readouts[0].variants) - 1
    secondary = _adjust_together(readouts[1:], secondary_correction, alpha)
    statement = _statement(chosen, n_treatments, alpha, correction, secondary_correction)
    return MetricsReadout(tuple(chosen), (readouts[0], *secondary), statement, tuple(skipped))


def _adjust_together(readouts: Sequence[Readout], correction: str, alpha: float) -> list[Readout]:
    """The readouts with their treatments' p-values (absolute and relative lifts alike) adjusted as one family."""
    treated = [v for r in readouts for v in r.variants if v.variant != r.control]
    p = np.array([v.p_value for v in treated], dtype=np.float64)
    adjusted = iter(_adjust(p, correction).tolist())
    relative = iter(_adjust(np.array([v.relative_p_value for v in treated], dtype=np.float64), correction).tolist())
    out = []
    for r in readouts:
        rows = []
        for v in r.variants:
            if v.variant == r.control:
                rows.append(v)
                continue
            q = next(adjusted)
            rows.append(replace(v, p_adjusted=q, significant=bool(q < alpha), relative_p_adjusted=next(relative)))
        out.append(replace(r, correction=correction, variants=tuple(rows)))
    return out
