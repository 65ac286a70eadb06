"""Sufficient statistics of every experiment, kept up to date from the log so that results never scan it.

The readout of an experiment (:func:`abrec.abtest.scorecard.analyze_metrics` on the exported log) needs, per
unit, its variant, its first period, its number of shown items ``x`` and its total ``y`` of each reward
column (and whether any of its rows is positive); per (period, variant) cell it needs only the sums of those
over units: ``n``, ``sum y``, ``sum y**2``, ``sum x``, ``sum x**2``, ``sum x*y`` and the units with a positive
row. A unit's values change as its decisions and rewards arrive, so the store keeps both levels:

- ``stat_units``: one row per (experiment, unit): variant, first period, ``x``, and per reward kind ``y`` and
  the number of positive rows;
- ``stat_cells``: one row per (experiment, period, variant): the unit sums of ``x``, the counts of decisions,
  shown items, rewards, late rewards, journaled and defaulted items, and the smallest and largest logged
  ``assignment_p`` (the weights in force);
- ``stat_metrics``: one row per (experiment, period, variant, reward kind): the unit sums of ``y``, ``y**2``,
  ``x*y``, the units with a positive row, and the on-time rewards of that kind;
- ``stat_items``: per (experiment, variant, item) shown count and reward total (the dashboard's top items);
- ``stat_history``: the primary metric's unit sums per variant over time (the dashboard's chart; thinned with age);
- ``stat_cursor``: the last decision, reward and journal ``seq`` folded in.

:func:`fold` reads the rows committed after the cursor (writers are serialised and ``seq`` grows in commit
order, so nothing is skipped), moves each touched unit out of its cell, updates it, and adds it back (a unit
whose first period becomes earlier changes cell), then writes the statistics and the new cursor in the same
transaction: a crash leaves either both or neither, so the statistics stay exact across restarts. A row's
value in the primary column is what the export gives it: the value the learner journaled, else its on-time
reward of the experiment's kind, else 0; other kinds count with their on-time value. :func:`experiment_stats`
reads one experiment's cells (a few rows, however long the log) and :meth:`ExperimentStats.readout` gives
``analyze_metrics``'s readout from them with the same :mod:`abrec.abtest` functions.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa

from ..abtest.allocation import PeriodStats
from ..abtest.metrics import DEFAULT_METRICS, Metric
from ..abtest.readout import PERIOD_RATIO, _check, _period_readout, _ratio_moments, _weights_in_force, analyze_periods
from ..abtest.scorecard import MetricsReadout, _adjust_together, _statement
from ..errors import InputError
from . import _rows, schema
from ._write import insert_many, select_in, update_many
from .export import _column_name

__all__ = [
    "HISTORY_EVERY",
    "HISTORY_POINTS",
    "ExperimentStats",
    "FoldPlan",
    "apply_fold",
    "cursor_at",
    "experiment_stats",
    "fold",
    "history",
    "plan_fold",
    "top_items",
]

FloatArray = npt.NDArray[np.float64]
#: Seconds between two points of an experiment's metric history (``stat_history``) at least, and the share of
#: its age at least (1 / HISTORY_POINTS): the history of a month holds about 2,000 points per variant.
HISTORY_EVERY = 1.0
HISTORY_POINTS = 200
_COUNTS = ("decisions", "shown", "rewards", "late", "journaled", "defaulted")
_D, _R, _J = schema.decisions, schema.rewards, schema.journal
_U, _C, _M, _I, _H, _K = (
    schema.stat_units,
    schema.stat_cells,
    schema.stat_metrics,
    schema.stat_items,
    schema.stat_history,
    schema.stat_cursor,
)


# ---------------------------------------------------------------------------------------------- folding


@dataclass
class _Unit:
    variant: str
    period: int
    rows: int = 0
    leaked: bool = False
    values: dict[str, list[float]] = field(default_factory=dict)  # kind -> [total, positive rows]


@dataclass
class _Cell:
    units: float = 0.0
    rows_sum: float = 0.0
    rows_sq: float = 0.0
    leaked: float = 0.0
    p_min: float = math.nan
    p_max: float = math.nan
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTS, 0))


@dataclass
class _Metric:
    total: float = 0.0
    total_sq: float = 0.0
    positive: float = 0.0
    cross: float = 0.0
    on_time: int = 0


def _cursor(connection: sa.Connection) -> tuple[int, int, int]:
    row = connection.execute(sa.select(_K.c.decisions_seq, _K.c.rewards_seq, _K.c.journal_seq)).first()
    return (0, 0, 0) if row is None else (int(row[0]), int(row[1]), int(row[2]))


def _heads(connection: sa.Connection) -> tuple[int, int, int]:
    query = sa.select(
        sa.select(sa.func.max(_D.c.seq)).scalar_subquery(),
        sa.select(sa.func.max(_R.c.seq)).scalar_subquery(),
        sa.select(sa.func.max(_J.c.seq)).scalar_subquery(),
    )
    d, r, j = connection.execute(query).one()
    return int(d or 0), int(r or 0), int(j or 0)


def _by_events(
    connection: sa.Connection, table: sa.Table, columns: Sequence[Any], events: Iterable[str], where: Any
) -> list[sa.Row[Any]]:
    out: list[sa.Row[Any]] = []
    for chunk in _rows.chunks(sorted(set(events))):
        out.extend(connection.execute(sa.select(*columns).where(table.c.event_id.in_(chunk) & where)))
    return out


@dataclass
class FoldPlan:
    """What one fold will write, computed by reads only (:func:`plan_fold`); :func:`apply_fold` writes it."""

    start: tuple[int, int, int]
    end: tuple[int, int, int]
    rows: int
    units: dict[tuple[str, str], _Unit]
    before: dict[tuple[str, str], _Unit]
    cells: dict[tuple[str, int, str], _Cell]
    metrics: dict[tuple[str, int, str, str], _Metric]
    items: dict[tuple[str, str, str], list[float]]
    primary: dict[str, str]
    #: The rows to write, merged with the stored ones by :func:`plan_fold` (reads only), so that
    #: :func:`apply_fold` holds the write lock only for the writes: table -> (inserts, updates).
    writes: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = field(default_factory=dict)


def fold(connection: sa.Connection, *, now: float | None = None) -> int:
    """Fold every decision, reward and journal entry committed after the cursor into the statistics.

    Run inside a serialised write transaction (the migration's backfill, or :meth:`EventStore.fold_stats` when
    another fold moved the cursor since its plan), which also commits the new cursor with the statistics.
    Returns the number of rows folded (0: up to date).
    """
    plan = plan_fold(connection)
    return 0 if plan is None else apply_fold(connection, plan, now=now)


def plan_fold(connection: sa.Connection) -> FoldPlan | None:
    """Read what a fold of the rows committed after the cursor will write (None: up to date); reads only.

    Outside a write transaction the plan is valid as long as the cursor has not moved: only folds write the
    statistics, and every fold moves the cursor (the rows it reads, up to the heads, are committed and never
    change). :meth:`EventStore.fold_stats` computes it before taking the write lock, so that the lock is held
    only while the few aggregated rows are written.
    """
    d0, r0, j0 = _cursor(connection)
    d1, r1, j1 = _heads(connection)
    if (d1, r1, j1) == (d0, r0, j0):
        return None
    e = schema.experiments
    primary = {name: kind for name, kind in connection.execute(sa.select(e.c.name, e.c.reward_kind))}
    decisions = connection.execute(
        sa.select(
            _D.c.experiment,
            _D.c.unit,
            _D.c.variant,
            _D.c.period,
            _D.c.assignment_p,
            _D.c.n_shown,
            _D.c["items"].label("slate"),
        )
        .where((_D.c.seq > d0) & (_D.c.seq <= d1))
        .order_by(_D.c.seq)
    ).all()
    joined = (_D.c.experiment, _D.c.unit, _D.c.variant, _D.c.period)
    rewards = connection.execute(
        sa.select(_R.c.event_id, _R.c.item, _R.c.kind, _R.c.value, _R.c.late, *joined)
        .join(_D, _D.c.event_id == _R.c.event_id)
        .where((_R.c.seq > r0) & (_R.c.seq <= r1))
        .order_by(_R.c.seq)
    ).all()
    journal = connection.execute(
        sa.select(_J.c.event_id, _J.c.item, _J.c.value, _J.c.source, *joined)
        .join(_D, _D.c.event_id == _J.c.event_id)
        .where((_J.c.seq > j0) & (_J.c.seq <= j1))
        .order_by(_J.c.seq)
    ).all()

    # The primary value of each (event, item) touched, before and after: journaled, else on time, else 0.
    new_rewarded = {
        (r.event_id, r.item): float(r.value)
        for r in rewards
        if not r.late and r.kind == primary.get(r.experiment, "click")
    }
    new_journaled = {(j.event_id, j.item): float(j.value) for j in journal}
    old_journaled: dict[tuple[str, str], float] = {}
    ask = {key for key in new_rewarded if key not in new_journaled}
    if ask:
        for row in _by_events(
            connection, _J, (_J.c.event_id, _J.c.item, _J.c.value), (k[0] for k in ask), _J.c.seq <= j0
        ):
            if (row.event_id, row.item) in ask:
                old_journaled[(row.event_id, row.item)] = float(row.value)
    old_rewarded: dict[tuple[str, str], float] = {}
    ask = {key for key in new_journaled if key not in new_rewarded}
    if ask:
        columns = (_R.c.event_id, _R.c.item, _R.c.kind, _R.c.value, _D.c.experiment)
        query_rows: list[sa.Row[Any]] = []
        for chunk in _rows.chunks(sorted({k[0] for k in ask})):
            query = (
                sa.select(*columns)
                .join(_D, _D.c.event_id == _R.c.event_id)
                .where(_R.c.event_id.in_(chunk) & (_R.c.seq <= r0) & sa.not_(_R.c.late))
            )
            query_rows.extend(connection.execute(query))
        for row in query_rows:
            if (row.event_id, row.item) in ask and row.kind == primary.get(row.experiment, "click"):
                old_rewarded[(row.event_id, row.item)] = float(row.value)

    def value(key: tuple[str, str], *, after: bool) -> float:
        if after and key in new_journaled:
            return new_journaled[key]
        if key in old_journaled:
            return old_journaled[key]
        if after and key in new_rewarded:
            return new_rewarded[key]
        return old_rewarded.get(key, 0.0)

    # Changes per unit, per cell (counts), per item.
    touched: dict[tuple[str, str], None] = {}
    for d in decisions:
        touched[(d.experiment, d.unit)] = None
    for r in (*rewards, *journal):
        touched[(r.experiment, r.unit)] = None
    units = _load_units(connection, touched)
    before = {key: _copy(u) for key, u in units.items()}
    cells: dict[tuple[str, int, str], _Cell] = {}
    metrics: dict[tuple[str, int, str, str], _Metric] = {}
    items: dict[tuple[str, str, str], list[float]] = {}

    def cell(experiment: str, period: int, variant: str) -> _Cell:
        found = cells.get((experiment, period, variant))
        if found is None:
            found = cells[(experiment, period, variant)] = _Cell()
        return found

    def metric(experiment: str, period: int, variant: str, kind: str) -> _Metric:
        found = metrics.get((experiment, period, variant, kind))
        if found is None:
            found = metrics[(experiment, period, variant, kind)] = _Metric()
        return found

    shown_items: dict[tuple[str, str, str], int] = {}  # times shown, in the order first shown
    loads = _rows.loads
    for experiment, unit, variant, period, assignment_p, n_shown, slate in decisions:
        period, n_shown = int(period), int(n_shown)
        key = (experiment, unit)
        u = units.get(key)
        if u is None:
            u = units[key] = _Unit(variant, period)
        elif u.variant != variant:
            u.leaked = True
        u.period = min(u.period, period)
        u.rows += n_shown
        c = cell(experiment, period, variant)
        counts = c.counts
        counts["decisions"] += 1
        counts["shown"] += n_shown
        p = float(assignment_p)
        c.p_min = p if math.isnan(c.p_min) else min(c.p_min, p)
        c.p_max = p if math.isnan(c.p_max) else max(c.p_max, p)
        for item in loads(slate):
            key_item = (experiment, variant, item)
            shown_items[key_item] = shown_items.get(key_item, 0) + 1
    for key_item, times in shown_items.items():  # a count below 2**53 is exact as a float
        items[key_item] = [float(times), 0.0]
    for r in rewards:
        c = cell(r.experiment, int(r.period), r.variant)
        c.counts["rewards"] += 1
        c.counts["late"] += int(bool(r.late))
        kind = primary.get(r.experiment, "click")
        if r.late:
            continue
        metric(r.experiment, int(r.period), r.variant, r.kind).on_time += 1
        if r.kind != kind:  # another kind: its on-time value counts in its own column
            _add(units[(r.experiment, r.unit)], r.kind, 0.0, float(r.value))
    for j in journal:
        c = cell(j.experiment, int(j.period), j.variant)
        c.counts["journaled"] += 1
        c.counts["defaulted"] += int(j.source == "default")
    located = {(r.event_id, r.item): r for r in (*rewards, *journal)}
    for key in {**new_rewarded, **new_journaled}:
        old, new = value(key, after=False), value(key, after=True)
        if old == new:
            continue
        r = located[key]
        kind = primary.get(r.experiment, "click")
        _add(units[(r.experiment, r.unit)], kind, old, new)
        items.setdefault((r.experiment, r.variant, r.item), [0.0, 0.0])[1] += new - old

    # Each touched unit leaves its old cell and joins its new one.
    for key, u in units.items():
        experiment = key[0]
        for sign, state in ((-1.0, before.get(key)), (1.0, u)):
            if state is None:
                continue
            c = cell(experiment, state.period, state.variant)
            x = float(state.rows)
            c.units += sign
            c.rows_sum += sign * x
            c.rows_sq += sign * x * x
            c.leaked += sign * float(state.leaked)
            for kind, (y, positive) in state.values.items():
                m = metric(experiment, state.period, state.variant, kind)
                m.total += sign * y
                m.total_sq += sign * y * y
                m.cross += sign * x * y
                m.positive += sign * float(positive > 0)
    return FoldPlan(
        (d0, r0, j0),
        (d1, r1, j1),
        len(decisions) + len(rewards) + len(journal),
        units,
        before,
        cells,
        metrics,
        items,
        primary,
        {
            "units": _unit_rows(units, before),
            "cells": _merged(connection, _C, _CELL_KEYS, cells, _merge_cell),  # type: ignore[arg-type]
            "metrics": _merged(connection, _M, _METRIC_KEYS, metrics, _merge_metric),  # type: ignore[arg-type]
            "items": _merged(connection, _I, _ITEM_KEYS, items, _merge_item),  # type: ignore[arg-type]
        },
    )


def apply_fold(connection: sa.Connection, plan: FoldPlan, *, now: float | None = None) -> int:
    """Write ``plan`` and move the cursor to its end, in the caller's write transaction; the rows folded.

    The caller makes sure the cursor is still at ``plan.start`` (:func:`cursor_at`)."""
    for table, keys, name in (
        (_U, _UNIT_KEYS, "units"),
        (_C, _CELL_KEYS, "cells"),
        (_M, _METRIC_KEYS, "metrics"),
        (_I, _ITEM_KEYS, "items"),
    ):
        inserts, updates = plan.writes[name]
        _write(connection, table, keys, inserts, updates)
    experiments = {key[0] for key in plan.units} | {k[0] for k in plan.cells}
    _save_history(connection, experiments, plan.primary, now)
    d1, r1, j1 = plan.end
    values = {"decisions_seq": d1, "rewards_seq": r1, "journal_seq": j1, "updated_at": now or time.time()}
    if connection.execute(sa.update(_K).where(_K.c.id == 1).values(**values)).rowcount == 0:
        connection.execute(sa.insert(_K).values(id=1, **values))
    return plan.rows


def cursor_at(connection: sa.Connection, position: tuple[int, int, int]) -> bool:
    """Whether the statistics' cursor is at ``position`` (a plan made there is still valid)."""
    return _cursor(connection) == position


def _copy(u: _Unit) -> _Unit:
    return _Unit(u.variant, u.period, u.rows, u.leaked, {k: list(v) for k, v in u.values.items()})


def _add(u: _Unit, kind: str, old: float, new: float) -> None:
    """A row of ``u`` changes its ``kind`` value from ``old`` to ``new``."""
    entry = u.values.setdefault(kind, [0.0, 0.0])
    entry[0] += new - old
    entry[1] += float(new > 0) - float(old > 0)


#: The stored rows of some units of an experiment (plain SQL for :func:`~._write.select_in`, per dialect).
_UNITS_OF = {
    dialect: 'SELECT "unit", "variant", "period", "shown", "leaked", "kinds" FROM "stat_units" WHERE "experiment" = '
    + ("?" if dialect == "sqlite" else "%s")
    + " AND"
    for dialect in ("sqlite", "postgresql")
}


def _load_units(connection: sa.Connection, keys: Mapping[tuple[str, str], None]) -> dict[tuple[str, str], _Unit]:
    by_experiment: dict[str, list[str]] = {}
    for experiment, unit in keys:
        by_experiment.setdefault(experiment, []).append(unit)
    out: dict[tuple[str, str], _Unit] = {}
    for experiment, names in by_experiment.items():
        head = _UNITS_OF[connection.dialect.name]
        for chunk in _rows.chunks(names):
            for found in select_in(connection, head, "unit", chunk, experiment):
                unit, variant, period, shown, leaked, kinds = tuple(found)
                values = {} if kinds == "{}" else {k: [float(v[0]), float(v[1])] for k, v in _rows.loads(kinds).items()}
                out[(experiment, unit)] = _Unit(variant, int(period), int(shown), bool(leaked), values)
    return out


_UNIT_KEYS = ("experiment", "unit")
_CELL_KEYS = ("experiment", "period", "variant")
_METRIC_KEYS = ("experiment", "period", "variant", "kind")
_ITEM_KEYS = ("experiment", "variant", "item")
_Rows = tuple[list[dict[str, Any]], list[dict[str, Any]]]


#: A unit's values per kind as stored (``json.dumps(values, sort_keys=True)``'s text, one encoder for all).
_unit_kinds = json.JSONEncoder(sort_keys=True).encode


def _unit_rows(units: Mapping[tuple[str, str], _Unit], before: Mapping[tuple[str, str], _Unit]) -> _Rows:
    """The units' rows to insert (new units) and to update (known ones, keyed ``k_experiment``, ``k_unit``)."""
    inserts, updates = [], []
    for (experiment, unit), u in units.items():
        row = {
            "variant": u.variant,
            "period": u.period,
            "shown": u.rows,
            "leaked": u.leaked,
            "kinds": _unit_kinds(u.values) if u.values else "{}",
        }
        if (experiment, unit) in before:
            updates.append({"k_experiment": experiment, "k_unit": unit, **row})
        else:
            inserts.append({"experiment": experiment, "unit": unit, **row})
    return inserts, updates


def _merged(
    connection: sa.Connection,
    table: sa.Table,
    keys: Sequence[str],
    changes: Mapping[tuple[Any, ...], Any],
    merge: Any,
) -> _Rows:
    """``changes`` (key -> deltas) added to ``table``'s stored rows: the rows to insert and to update (reads only)."""
    if not changes:
        return [], []
    experiments = sorted({k[0] for k in changes})
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    for experiment in experiments:
        query = sa.select(*table.c).where(table.c.experiment == experiment)
        wanted = {k for k in changes if k[0] == experiment}
        if len(wanted) < 64 and len(keys) > 1:  # a few cells: ask for them, not the whole experiment
            second = keys[1]
            query = query.where(table.c[second].in_(sorted({k[1] for k in wanted})))
        for row in connection.execute(query).mappings():
            key = tuple(row[k] for k in keys)
            if key in wanted:
                found[key] = dict(row)
    inserts, updates = [], []
    for key, delta in changes.items():
        old = found.get(key)
        row = merge(old, delta)
        if old is None:
            inserts.append({**dict(zip(keys, key, strict=True)), **row})
        else:
            updates.append({**{f"k_{k}": v for k, v in zip(keys, key, strict=True)}, **row})
    return inserts, updates


def _write(
    connection: sa.Connection,
    table: sa.Table,
    keys: Sequence[str],
    inserts: list[dict[str, Any]],
    updates: list[dict[str, Any]],
) -> None:
    # Plain SQL for the DBAPI's executemany: the rows are plain str / int / float / bool / None already, so
    # SQLAlchemy's per-row parameter processing (most of the time the write lock was held) is skipped.
    insert_many(connection, table, inserts)
    update_many(connection, table, keys, updates)


def _merge_cell(old: Mapping[str, Any] | None, c: _Cell) -> dict[str, Any]:
    old = old or {}
    out: dict[str, Any] = {k: int(old.get(k) or 0) + c.counts[k] for k in _COUNTS}
    for name in ("units", "rows_sum", "rows_sq", "leaked"):
        out[name] = float(old.get(name) or 0.0) + getattr(c, name)
    lo, hi = old.get("p_min"), old.get("p_max")
    out["p_min"] = c.p_min if lo is None else (lo if math.isnan(c.p_min) else min(lo, c.p_min))
    out["p_max"] = c.p_max if hi is None else (hi if math.isnan(c.p_max) else max(hi, c.p_max))
    for name in ("p_min", "p_max"):
        if out[name] is not None and math.isnan(out[name]):
            out[name] = None
    return out


def _merge_metric(old: Mapping[str, Any] | None, m: _Metric) -> dict[str, Any]:
    old = old or {}
    out: dict[str, Any] = {
        k: float(old.get(k) or 0.0) + getattr(m, k) for k in ("total", "total_sq", "positive", "cross")
    }
    out["on_time"] = int(old.get("on_time") or 0) + m.on_time
    return out


def _merge_item(old: Mapping[str, Any] | None, delta: list[float]) -> dict[str, Any]:
    old = old or {}
    return {
        "shown": int(old.get("shown") or 0) + int(delta[0]),
        "reward_sum": float(old.get("reward_sum") or 0.0) + delta[1],
    }


def _save_history(
    connection: sa.Connection, experiments: Iterable[str], primary: Mapping[str, str], now: float | None
) -> None:
    """Append a point of the primary metric per variant for experiments whose last point is HISTORY_EVERY old."""
    at = time.time() if now is None else now
    for experiment in sorted(set(experiments)):
        first, last = connection.execute(
            sa.select(sa.func.min(_H.c.at), sa.func.max(_H.c.at)).where(_H.c.experiment == experiment)
        ).one()
        if last is not None and at - float(last) < max(HISTORY_EVERY, (at - float(first)) / HISTORY_POINTS):
            continue
        kind = primary.get(experiment, "click")
        units = dict(
            connection.execute(
                sa.select(_C.c.variant, sa.func.sum(_C.c.units))
                .where(_C.c.experiment == experiment)
                .group_by(_C.c.variant)
            ).all()
        )
        sums = {
            v: (t, q)
            for v, t, q in connection.execute(
                sa.select(_M.c.variant, sa.func.sum(_M.c.total), sa.func.sum(_M.c.total_sq))
                .where((_M.c.experiment == experiment) & (_M.c.kind == kind))
                .group_by(_M.c.variant)
            )
        }
        rows = [
            {
                "experiment": experiment,
                "variant": v,
                "at": at,
                "units": float(n or 0.0),
                "total": float(sums.get(v, (0.0, 0.0))[0] or 0.0),
                "total_sq": float(sums.get(v, (0.0, 0.0))[1] or 0.0),
            }
            for v, n in sorted(units.items())
        ]
        if rows:
            connection.execute(sa.insert(_H), rows)


# ---------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ExperimentStats:
    """One experiment's stored sufficient statistics (see the module docstring).

    Attributes
    ----------
    experiment, reward_kind : str
    variants : tuple of str
        The variants with decisions, sorted (as the readout of the exported log names them).
    units, rows_sum, rows_sq, p_min, p_max : ndarray, shape (n_periods, n_variants)
        Units by first period, the sums of their shown items and of its square, and the logged
        ``assignment_p`` range of the cell's decisions (NaN: none).
    decided : ndarray, shape (n_periods, n_variants)
        The decisions of each period and variant.
    metrics : mapping of reward kind to a mapping of ``total``, ``total_sq``, ``positive``, ``cross``,
        ``on_time`` arrays of that shape.
    counts : mapping of variant to its counts (``decisions``, ``shown``, ``rewards``, ``late``, ``journaled``,
        ``defaulted``, ``waiting``).
    leaked : int
        Units logged in more than one variant.
    """

    experiment: str
    reward_kind: str
    variants: tuple[str, ...]
    units: FloatArray
    rows_sum: FloatArray
    rows_sq: FloatArray
    p_min: FloatArray
    p_max: FloatArray
    decided: FloatArray
    metrics: Mapping[str, Mapping[str, FloatArray]]
    counts: Mapping[str, Mapping[str, int]]
    leaked: int = 0

    def reward_sum(self, variant: str) -> float:
        """The total of the primary column over ``variant``'s rows (what the export's ``reward`` sums to)."""
        if variant not in self.variants or self.reward_kind not in self.metrics:
            return 0.0
        return float(self.metrics[self.reward_kind]["total"][:, self.variants.index(variant)].sum())

    def primary_sums(self, variant: str) -> tuple[float, float, float]:
        """``variant``'s units and the sum and sum of squares of their primary totals, all periods together."""
        if variant not in self.variants:
            return 0.0, 0.0, 0.0
        i = self.variants.index(variant)
        m = self.metrics.get(self.reward_kind)
        if m is None:
            return float(self.units[:, i].sum()), 0.0, 0.0
        return float(self.units[:, i].sum()), float(m["total"][:, i].sum()), float(m["total_sq"][:, i].sum())

    def period_stats(self, names: Sequence[str]) -> PeriodStats:
        """Each period's statistics of the units' primary totals, variants in ``names``' order (zeros for one
        without decisions): what :func:`~abrec.abtest.readout.log_periods` gives on the exported log."""
        outside = sorted(set(self.variants) - set(names))
        if outside:
            raise InputError(f"The log has variants outside {list(names)}: {outside}.")
        base = self._periods(self.reward_kind, proportion=False)
        shape = (self.units.shape[0], len(names))
        n, total, total_sq = np.zeros(shape), np.zeros(shape), np.zeros(shape)
        for j, name in enumerate(names):
            if name in self.variants:
                i = self.variants.index(name)
                n[:, j], total[:, j], total_sq[:, j] = base.n[:, i], base.sum[:, i], base.sum_sq[:, i]
        return PeriodStats(n, total, total_sq, tuple(names))

    def columns(self) -> dict[str, str]:
        """The exported log's reward columns and their kinds: ``reward`` the primary, the others by name."""
        out = {"reward": self.reward_kind}
        for kind, m in sorted(self.metrics.items()):
            if kind != self.reward_kind and m["on_time"].sum() > 0:
                out[_column_name(kind)] = kind
        return out

    def _periods(self, kind: str, proportion: bool) -> PeriodStats:
        m = self.metrics.get(kind)
        zero = np.zeros_like(self.units)
        if m is None:
            return PeriodStats(self.units, zero, zero, self.variants)
        if proportion:
            return PeriodStats(self.units, m["positive"], m["positive"], self.variants)
        return PeriodStats(self.units, m["total"], m["total_sq"], self.variants)

    def readout(
        self, *, control: str | None, alpha: float = 0.05, correction: str = "holm", secondary_correction: str = "bh"
    ) -> MetricsReadout:
        """:func:`~abrec.abtest.scorecard.analyze_metrics` of the exported log (default metrics), from these
        statistics: the same period-weighted z tests, delta-method ratios, corrections and SRM checks."""
        _check(alpha, correction)
        if not self.variants:
            raise InputError("The log has no rows (check the experiment name).")
        if self.leaked:
            raise InputError(f"{self.leaked} unit(s) appear in more than one variant; units must stay in one variant.")
        names = list(self.variants)
        if control is None:
            raise InputError(
                f"Name the control variant (control=..., abrec analyze --control); the variants are {names}."
            )
        weights = _weights_in_force(self.p_min, self.p_max)
        columns = self.columns()
        chosen: list[Metric] = [DEFAULT_METRICS[0]]
        skipped = []
        for m in DEFAULT_METRICS[1:]:
            if m.column in columns:
                chosen.append(m)
            else:
                skipped.append((m.name, f"the log has no {m.column!r} column"))
        readouts = []
        for i, m in enumerate(chosen):
            kind = columns[m.column]
            fix = correction if i == 0 else "none"
            if m.kind == "ratio":
                mm = self.metrics.get(kind)
                zero = np.zeros_like(self.units)
                sy, syy, sxy = (zero, zero, zero) if mm is None else (mm["total"], mm["total_sq"], mm["cross"])
                summaries = _ratio_moments(self.units, sy, self.rows_sum, syy, self.rows_sq, sxy, names)
                r = _period_readout(
                    summaries,
                    self.units,
                    weights,
                    control=control,
                    alpha=alpha,
                    correction=fix,
                    tuning_parameter=None,
                    metric=f"{m.column} per row (ratio)",
                    method=PERIOD_RATIO,
                )
            else:
                label = "per unit (mean)" if m.kind == "mean" else "units with any (proportion)"
                r = analyze_periods(
                    self._periods(kind, m.kind == "proportion"),
                    weights,
                    control=control,
                    alpha=alpha,
                    correction=fix,
                    metric=f"{m.column} {label}",
                )
            readouts.append(replace(r, metric=m.name))
        n_treatments = len(readouts[0].variants) - 1
        secondary = _adjust_together(readouts[1:], secondary_correction, alpha)
        statement = _statement(chosen, n_treatments, alpha, correction, secondary_correction)
        return MetricsReadout(tuple(chosen), (readouts[0], *secondary), statement, tuple(skipped))


def experiment_stats(connection: sa.Connection, experiment: str, reward_kind: str) -> ExperimentStats:
    """Read ``experiment``'s statistics (a few rows per period and variant, whatever the log's length)."""
    cells = connection.execute(sa.select(*_C.c).where(_C.c.experiment == experiment)).mappings().all()
    metric_rows = connection.execute(sa.select(*_M.c).where(_M.c.experiment == experiment)).mappings().all()
    with_decisions = sorted({c["variant"] for c in cells if int(c["decisions"]) > 0})
    index = {v: i for i, v in enumerate(with_decisions)}
    n_periods = 1 + max((int(c["period"]) for c in cells if int(c["decisions"]) > 0), default=-1)
    shape = (n_periods, len(with_decisions))
    units, rows_sum, rows_sq = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    p_min, p_max = np.full(shape, np.nan), np.full(shape, np.nan)
    decided = np.zeros(shape)
    counts: dict[str, dict[str, int]] = {}
    leaked = 0.0
    for c in cells:
        total = counts.setdefault(c["variant"], dict.fromkeys((*_COUNTS, "waiting"), 0))
        for k in _COUNTS:
            total[k] += int(c[k])
        leaked += float(c["leaked"])
        i = index.get(c["variant"])
        t = int(c["period"])
        if i is None or t >= n_periods:
            continue
        units[t, i], rows_sum[t, i], rows_sq[t, i] = c["units"], c["rows_sum"], c["rows_sq"]
        decided[t, i] = c["decisions"]
        if c["p_min"] is not None:
            p_min[t, i], p_max[t, i] = c["p_min"], c["p_max"]
    for total in counts.values():
        total["waiting"] = total["shown"] - total["journaled"]
    metrics: dict[str, dict[str, FloatArray]] = {}
    for m in metric_rows:
        arrays = metrics.setdefault(
            m["kind"], {k: np.zeros(shape) for k in ("total", "total_sq", "positive", "cross", "on_time")}
        )
        i = index.get(m["variant"])
        t = int(m["period"])
        if i is None or t >= n_periods:
            continue
        for k in arrays:
            arrays[k][t, i] = m[k]
    return ExperimentStats(
        experiment=experiment,
        reward_kind=reward_kind,
        variants=tuple(with_decisions),
        units=units,
        rows_sum=rows_sum,
        rows_sq=rows_sq,
        p_min=p_min,
        p_max=p_max,
        decided=decided,
        metrics=metrics,
        counts=counts,
        leaked=round(leaked),
    )


def top_items(connection: sa.Connection, experiment: str, n: int = 5) -> dict[str, list[tuple[str, int, float]]]:
    """Each variant's ``n`` most shown items: ``(item, times shown, reward total)``, most shown first."""
    variants = connection.execute(
        sa.select(_I.c.variant).distinct().where(_I.c.experiment == experiment).order_by(_I.c.variant)
    ).scalars()
    out: dict[str, list[tuple[str, int, float]]] = {}
    for variant in list(variants):
        query = (
            sa.select(_I.c.item, _I.c.shown, _I.c.reward_sum)
            .where((_I.c.experiment == experiment) & (_I.c.variant == variant))
            .order_by(_I.c.shown.desc(), _I.c.item)
            .limit(n)
        )
        out[str(variant)] = [(str(i), int(s), float(r)) for i, s, r in connection.execute(query)]
    return out


def history(connection: sa.Connection, experiment: str) -> list[tuple[str, float, float, float, float]]:
    """The metric history of ``experiment``: ``(variant, at, units, total, total_sq)`` rows by time."""
    query = (
        sa.select(_H.c.variant, _H.c.at, _H.c.units, _H.c.total, _H.c.total_sq)
        .where(_H.c.experiment == experiment)
        .order_by(_H.c.at, _H.c.variant)
    )
    return [(str(v), float(a), float(n), float(t), float(q)) for v, a, n, t, q in connection.execute(query)]
