"""The joined log: decisions with their rewards, as an :class:`~abrec.data.interactions.InteractionLog`.

One row per shown item (``event_id`` = ``<event id>/<position>``, ``request_id`` = the event id,
``timestamp`` = the decision's time), every column of the schema filled from the decision. ``reward`` is the
value the learner learned when the item is journaled, else its on-time reward of the primary kind (the
experiment's reward kind, or ``reward_kind`` when given), else 0 while it waits (late rewards are never
the primary reward: they were not learned). Every other reward kind found becomes an extra reward column
(its on-time value, 0 when absent; a kind named like a standard column gets the prefix ``reward_``). The
``context`` column is there when every exported decision has a context, all of one length.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from ..data.interactions import SCHEMA_COLUMNS, InteractionLog
from . import schema

__all__ = ["export_log"]

_STANDARD = frozenset(SCHEMA_COLUMNS)


def _column_name(kind: str) -> str:
    return f"reward_{kind}" if kind in _STANDARD else kind


def export_log(
    connection: sa.Connection, experiment: str | None, *, reward_kind: str | None = None, variant: str | None = None
) -> InteractionLog:
    """The joined log of ``experiment`` (every experiment when None; one ``variant``'s decisions only when given,
    e.g. an agent's, whose contexts are its session states), decisions in the order they were stored."""
    d, r, j, e = schema.decisions, schema.rewards, schema.journal, schema.experiments
    primary_of = {name: kind for name, kind in connection.execute(sa.select(e.c.name, e.c.reward_kind))}
    dq = sa.select(*d.c).order_by(d.c.seq)
    rq = sa.select(r.c.event_id, r.c.item, r.c.kind, r.c.value).join(d, d.c.event_id == r.c.event_id)
    rq = rq.where(sa.not_(r.c.late))
    jq = sa.select(j.c.event_id, j.c.item, j.c.value)
    if experiment is not None:
        dq = dq.where(d.c.experiment == experiment)
        rq = rq.where(d.c.experiment == experiment)
        jq = jq.where(j.c.experiment == experiment)
    if variant is not None:
        dq = dq.where(d.c.variant == variant)
    decisions = connection.execute(dq).mappings().all()
    on_time: dict[tuple[str, str, str], float] = {(ev, it, k): v for ev, it, k, v in connection.execute(rq)}
    learned: dict[tuple[str, str], float] = {(ev, it): v for ev, it, v in connection.execute(jq)}

    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "unit",
            "item",
            "position",
            "reward",
            "propensity",
            "policy",
            "experiment",
            "variant",
            "event_id",
            "request_id",
            "policy_version",
            "propensity_draws",
            "assignment_p",
            "period",
            "session_id",
            "step",
        )
    }
    times: list[float] = []
    contexts: list[list[float] | None] = []
    primary_kinds: list[str] = []
    pairs: list[tuple[str, str]] = []
    for row in decisions:
        items = json.loads(row["items"])
        propensities = json.loads(row["propensities"])
        context = None if row["context"] is None else json.loads(row["context"])
        kind = reward_kind or primary_of.get(row["experiment"], "click")
        event = row["event_id"]
        for position, (item, propensity) in enumerate(zip(items, propensities, strict=True)):
            value = learned.get((event, item))
            if value is None:
                value = on_time.get((event, item, kind), 0.0)
            columns["unit"].append(row["unit"])
            columns["item"].append(item)
            columns["position"].append(position)
            columns["reward"].append(value)
            columns["propensity"].append(propensity)
            columns["policy"].append(row["policy"])
            columns["experiment"].append(row["experiment"])
            columns["variant"].append(row["variant"])
            columns["event_id"].append(f"{event}/{position}")
            columns["request_id"].append(event)
            columns["policy_version"].append(row["policy_version"])
            columns["propensity_draws"].append(row["propensity_draws"])
            columns["assignment_p"].append(row["assignment_p"])
            columns["period"].append(row["period"])
            columns["session_id"].append(row["session_id"])
            columns["step"].append(row["step"])
            times.append(row["created_at"])
            contexts.append(context)
            primary_kinds.append(kind)
            pairs.append((event, item))

    used = set(primary_kinds)
    extras = sorted({k for _, _, k in on_time} - used)
    for kind in extras:
        values = [on_time.get((ev, it, kind), 0.0) for ev, it in pairs]
        if len(used) > 1:  # several primary kinds: a row's own primary kind is its reward, not an extra
            values = [0.0 if p == kind else v for v, p in zip(values, primary_kinds, strict=True)]
        columns[_column_name(kind)] = values
    micros = np.round(np.asarray(times, dtype=np.float64) * 1e6).astype(np.int64)
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(micros, unit="us", utc=True),
            **{k: pd.Series(v, dtype="str") for k, v in columns.items() if k in ("unit", "item")},
            **{k: v for k, v in columns.items() if k not in ("unit", "item")},
        }
    )
    lengths = {len(c) if c is not None else -1 for c in contexts}
    if contexts and len(lengths) == 1 and -1 not in lengths:
        frame["context"] = pd.Series([np.asarray(c, dtype=np.float64) for c in contexts], dtype=object)
    return InteractionLog(frame, reward_columns=[_column_name(k) for k in extras])
