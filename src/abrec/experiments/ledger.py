"""The launch ledger: each launch's off-policy prediction next to its online A/B result, and their calibration.

Before a challenger goes online, :meth:`Ledger.predict` records what off-policy evaluation said of it on the
production policy's logs (:class:`Prediction`: the estimate and its interval, the estimator, the production
policy's own value on that log, the log it came from, and the conditions: log size, the weights'
effective sample size, ...). After its A/B test, :meth:`Ledger.observe` records what the readout found
(:class:`Observation`: the challenger's online value with its interval and its relative lift over the
control). :meth:`Ledger.calibration` says how well the offline predictions have held up over all launches
(:class:`Calibration`):

- ``coverage``: the share of launches whose offline interval holds the online value. The online value is
  itself an estimate, so even perfectly calibrated offline intervals cover it less often than their level;
- ``agreement``: the share whose difference ``offline - online`` lies within ``z * sqrt(se_off^2 + se_on^2)``:
  near the level when both intervals are calibrated and the prediction is unbiased;
- ``bias`` (mean ``offline - online``), ``mean_relative_error`` (mean ``|offline - online| / |online|``);
- ``sign_agreement``: the share whose predicted lift over production has the sign of the observed lift;
- ``rank_correlation``: Spearman's correlation of predicted and observed values (and of the lifts).

The ledger is a JSON-lines file (one event per line, appended: a prediction, then its observation),
readable and writable without a database; :meth:`Ledger.to_frame` puts the launches side by side.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..errors import DataError, InputError, UnknownNameError

if TYPE_CHECKING:
    from ..abtest.readout import Readout
    from ..ope.evaluation import Evaluation

__all__ = ["Calibration", "Ledger", "LedgerEntry", "Observation", "Prediction"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


@dataclass(frozen=True)
class Prediction:
    """The off-policy prediction of one launch, recorded before it goes online.

    Attributes
    ----------
    launch : str
        The launch's id (unique in the ledger).
    policy : str
        The challenger.
    estimate, ci_low, ci_high : float
        Its off-policy value (e.g. clicks per shown item) and ``1 - alpha`` interval.
    estimator : str
        The estimator that gave them (e.g. the one chosen by :func:`~abrec.ope.select_estimator`).
    baseline : float
        The production (logging) policy's own value on the same log: the predicted lift is ``estimate - baseline``.
    data : str
        The log the prediction came from.
    n_rows : int
    alpha : float
    seed : int or None
        The seed of the evaluation (and, for a simulated launch, of the whole launch).
    conditions : mapping
        What the prediction rested on, for :meth:`Ledger.calibration` ``by=``: e.g. ``log_rows``,
        ``ess_share`` (the weights' effective sample size over the rows), ``distance``.
    recorded_at : str
    """

    launch: str
    policy: str
    estimate: float
    ci_low: float
    ci_high: float
    estimator: str
    baseline: float
    data: str
    n_rows: int
    alpha: float = 0.05
    seed: int | None = None
    conditions: Mapping[str, Any] = field(default_factory=dict)
    recorded_at: str = field(default_factory=_now)

    @property
    def lift(self) -> float:
        """Predicted relative lift over production: ``estimate / baseline - 1``."""
        return self.estimate / self.baseline - 1.0 if self.baseline else math.nan

    @property
    def standard_error(self) -> float:
        """The interval's half-width over ``z``: the standard error of a normal interval."""
        return (self.ci_high - self.ci_low) / (2.0 * NormalDist().inv_cdf(1.0 - self.alpha / 2.0))

    @classmethod
    def from_evaluation(
        cls,
        launch: str,
        evaluation: Evaluation,
        policy: str,
        *,
        data: str,
        estimator: str | None = None,
        conditions: Mapping[str, Any] | None = None,
    ) -> Prediction:
        """The prediction of ``policy`` in an :func:`~abrec.ope.evaluate_policies` result.

        ``estimator`` defaults to the one the selection chose. ``conditions`` gains ``log_rows`` and ``ess_share``.
        """
        found = evaluation[policy]
        name = estimator or (found.selection.chosen if found.selection is not None else "")
        if not name:
            raise InputError(f"No estimator was chosen for {policy!r}; name one (estimator=...).")
        result = found.estimate(name)
        ess = result.effective_sample_size
        extra = {"log_rows": evaluation.n_rows, "ess_share": ess / evaluation.n_rows if math.isfinite(ess) else None}
        return cls(
            launch=launch,
            policy=policy,
            estimate=result.value,
            ci_low=result.ci_low,
            ci_high=result.ci_high,
            estimator=result.estimator,
            baseline=evaluation.logging_value,
            data=data,
            n_rows=evaluation.n_rows,
            alpha=evaluation.alpha,
            seed=evaluation.seed,
            conditions={**extra, **dict(conditions or {})},
        )


@dataclass(frozen=True)
class Observation:
    """The online A/B result of one launch.

    ``value, ci_low, ci_high``: the challenger's online value and interval (the same unit as the prediction);
    ``control_value``: the production policy's online value; ``lift, lift_low, lift_high``: the relative lift
    over control and its interval; ``metric``; ``source``: the experiment it came from.
    """

    launch: str
    value: float
    ci_low: float
    ci_high: float
    control_value: float
    lift: float
    lift_low: float
    lift_high: float
    metric: str
    source: str
    alpha: float = 0.05
    recorded_at: str = field(default_factory=_now)

    @property
    def standard_error(self) -> float:
        return (self.ci_high - self.ci_low) / (2.0 * NormalDist().inv_cdf(1.0 - self.alpha / 2.0))

    @classmethod
    def from_readout(cls, launch: str, readout: Readout, variant: str, *, source: str) -> Observation:
        """The observation of ``variant`` in a :class:`~abrec.abtest.readout.Readout` (its metric's unit)."""
        by_name = {v.variant: v for v in readout.variants}
        if variant not in by_name:
            raise UnknownNameError("variant", variant, by_name)
        v, c = by_name[variant], by_name[readout.control]
        return cls(
            launch=launch,
            value=v.mean,
            ci_low=v.ci[0],
            ci_high=v.ci[1],
            control_value=c.mean,
            lift=v.relative,
            lift_low=v.relative_ci[0],
            lift_high=v.relative_ci[1],
            metric=readout.metric,
            source=source,
            alpha=readout.alpha,
        )


@dataclass(frozen=True)
class LedgerEntry:
    """One launch: its prediction and, once its A/B test has been read, its observation."""

    prediction: Prediction
    observation: Observation | None

    def row(self) -> dict[str, Any]:
        """The launch as one flat dict (the prediction's fields, then ``online_...`` fields)."""
        p, o = self.prediction, self.observation
        out: dict[str, Any] = {
            "launch": p.launch,
            "policy": p.policy,
            "estimator": p.estimator,
            "predicted": p.estimate,
            "predicted_low": p.ci_low,
            "predicted_high": p.ci_high,
            "baseline": p.baseline,
            "predicted_lift": p.lift,
            "data": p.data,
            "n_rows": p.n_rows,
            "seed": p.seed,
            **{f"condition_{k}": v for k, v in p.conditions.items()},
        }
        keys = ("value", "ci_low", "ci_high", "control_value", "lift", "lift_low", "lift_high", "metric", "source")
        names = (
            "online",
            "online_low",
            "online_high",
            "online_control",
            "online_lift",
            "online_lift_low",
            "online_lift_high",
            "metric",
            "source",
        )
        for key, name in zip(keys, names, strict=True):
            out[name] = getattr(o, key) if o is not None else (math.nan if key not in ("metric", "source") else "")
        if o is not None:
            out["covered"] = p.ci_low <= o.value <= p.ci_high
        return out


@dataclass(frozen=True)
class Calibration:
    """How well the offline predictions held up online, over ``n`` launches (see the module docstring).

    ``coverage_ci`` is the Wilson interval of ``coverage`` (the launches are the binomial trials).
    """

    n: int
    level: float
    coverage: float
    coverage_ci: tuple[float, float]
    agreement: float
    bias: float
    mean_relative_error: float
    sign_agreement: float
    rank_correlation: float
    lift_rank_correlation: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _wilson(k: int, n: int, level: float) -> tuple[float, float]:
    if n == 0:
        return (math.nan, math.nan)
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (centre - half, centre + half)


def _spearman(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> float:
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.ptp(a[keep]) == 0 or np.ptp(b[keep]) == 0:
        return math.nan
    from scipy import stats

    return float(stats.spearmanr(a[keep], b[keep]).statistic)


def calibrate(entries: Sequence[LedgerEntry]) -> Calibration:
    """The :class:`Calibration` of the entries that have an observation."""
    done = [e for e in entries if e.observation is not None]
    if not done:
        raise InputError("No launch in the ledger has an online result yet; record one with Ledger.observe.")
    pred = np.array([e.prediction.estimate for e in done])
    low = np.array([e.prediction.ci_low for e in done])
    high = np.array([e.prediction.ci_high for e in done])
    obs = np.array([e.observation.value for e in done if e.observation is not None])
    se = np.array(
        [math.hypot(e.prediction.standard_error, e.observation.standard_error) for e in done if e.observation]
    )
    p_lift = np.array([e.prediction.lift for e in done])
    o_lift = np.array([e.observation.lift for e in done if e.observation is not None])
    level = 1.0 - done[0].prediction.alpha
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    covered = int(((low <= obs) & (obs <= high)).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(pred - obs) / np.abs(obs)
    signs = np.isfinite(p_lift) & np.isfinite(o_lift)
    return Calibration(
        n=len(done),
        level=level,
        coverage=covered / len(done),
        coverage_ci=_wilson(covered, len(done), 0.95),
        agreement=float(np.mean(np.abs(pred - obs) <= z * se)),
        bias=float(np.mean(pred - obs)),
        mean_relative_error=float(np.mean(rel[np.isfinite(rel)])) if np.isfinite(rel).any() else math.nan,
        sign_agreement=float(np.mean(np.sign(p_lift[signs]) == np.sign(o_lift[signs]))) if signs.any() else math.nan,
        rank_correlation=_spearman(pred, obs),
        lift_rank_correlation=_spearman(p_lift, o_lift),
    )


class Ledger:
    """A ledger of launches, kept in a JSON-lines file (or in memory when ``path`` is None).

    Examples
    --------
    >>> ledger = Ledger()
    >>> ledger.predict(Prediction("L1", "ts", 0.052, 0.048, 0.056, "dr", baseline=0.050, data="logs/may",
    ...                           n_rows=10_000))
    >>> ledger.observe(Observation("L1", 0.051, 0.049, 0.053, control_value=0.050, lift=0.02, lift_low=-0.02,
    ...                            lift_high=0.06, metric="ctr", source="exp-42"))
    >>> [(e.prediction.launch, e.observation.value) for e in ledger.entries()]
    [('L1', 0.051)]
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else Path(path)
        self._predictions: dict[str, Prediction] = {}
        self._observations: dict[str, Observation] = {}
        if self.path is not None and self.path.exists():
            self._load(self.path)

    def _load(self, path: Path) -> None:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                kind = event.pop("kind")
                if kind == "prediction":
                    event["conditions"] = dict(event.get("conditions") or {})
                    for key in ("estimate", "ci_low", "ci_high", "baseline"):
                        event[key] = _float(event[key])
                    self._add_prediction(Prediction(**event))
                elif kind == "observation":
                    for key in ("value", "ci_low", "ci_high", "control_value", "lift", "lift_low", "lift_high"):
                        event[key] = _float(event[key])
                    self._add_observation(Observation(**event))
                else:
                    raise ValueError(f"unknown kind {kind!r}")
            except (ValueError, KeyError, TypeError) as exc:
                raise DataError(
                    f"{path}, line {number}: not a ledger event ({exc}); a ledger holds one JSON prediction or "
                    "observation per line."
                ) from exc

    def _add_prediction(self, prediction: Prediction) -> None:
        if prediction.launch in self._predictions:
            raise InputError(f"The launch {prediction.launch!r} already has a prediction; give each launch its own id.")
        self._predictions[prediction.launch] = prediction

    def _add_observation(self, observation: Observation) -> None:
        if observation.launch not in self._predictions:
            raise UnknownNameError("launch (record its prediction first)", observation.launch, self._predictions)
        if observation.launch in self._observations:
            raise InputError(f"The launch {observation.launch!r} already has an online result.")
        self._observations[observation.launch] = observation

    def _append(self, kind: str, record: Prediction | Observation) -> None:
        if self.path is None:
            return
        event = {"kind": kind, **asdict(record)}
        event = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in event.items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(event, default=_plain) + "\n")

    def predict(self, prediction: Prediction) -> None:
        """Record a launch's off-policy prediction (before it goes online)."""
        self._add_prediction(prediction)
        self._append("prediction", prediction)

    def observe(self, observation: Observation) -> None:
        """Record a launch's online result (its prediction must be there)."""
        self._add_observation(observation)
        self._append("observation", observation)

    def extend(self, pairs: Iterable[tuple[Prediction, Observation | None]]) -> None:
        """Record several launches (each prediction, then its observation when there is one)."""
        for prediction, observation in pairs:
            self.predict(prediction)
            if observation is not None:
                self.observe(observation)

    def __len__(self) -> int:
        return len(self._predictions)

    def entries(self) -> list[LedgerEntry]:
        """Every launch in the order its prediction was recorded."""
        return [LedgerEntry(p, self._observations.get(k)) for k, p in self._predictions.items()]

    def to_frame(self) -> pd.DataFrame:
        """Every launch side by side, one row each (:meth:`LedgerEntry.row`)."""
        return pd.DataFrame([e.row() for e in self.entries()])

    def calibration(self, by: str | Callable[[LedgerEntry], Any] | None = None) -> Calibration | dict[Any, Calibration]:
        """The calibration over every observed launch; with ``by``, per group.

        ``by`` is ``"estimator"``, ``"policy"``, a condition's name (e.g. ``"log_rows"``), or a function of an entry.
        """
        entries = [e for e in self.entries() if e.observation is not None]
        if by is None:
            return calibrate(entries)
        key = by if callable(by) else _grouping(by)
        groups: dict[Any, list[LedgerEntry]] = {}
        for e in entries:
            groups.setdefault(key(e), []).append(e)
        return {g: calibrate(members) for g, members in sorted(groups.items(), key=lambda kv: str(kv[0]))}


def _grouping(name: str) -> Callable[[LedgerEntry], Any]:
    if name in ("estimator", "policy", "data"):
        return lambda e: getattr(e.prediction, name)
    return lambda e: e.prediction.conditions.get(name)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
