"""Builders of valid store records for tests (``from store_records import decision, reward``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from abrec.abtest.assignment import Experiment
from abrec.store import AllocationRow, DecisionRow, RewardRow

T0 = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def allocation(name: str = "exp", weights: dict[str, float] | None = None, period: int = 0) -> AllocationRow:
    exp = Experiment.create(name, weights or {"control": 0.5, "treatment": 0.5})
    return AllocationRow.from_experiment(exp, period=period, started_at=T0)


def decision(
    event_id: str | None = None,
    *,
    items: tuple[str, ...] = ("a", "b", "c"),
    created_at: datetime = T0,
    window: timedelta = timedelta(minutes=10),
    **fields: Any,
) -> DecisionRow:
    n = len(items)
    values: dict[str, Any] = {
        "event_id": event_id or uuid.uuid4().hex,
        "experiment": "exp",
        "unit": "u1",
        "variant": "control",
        "period": 0,
        "assignment_p": 0.5,
        "policy": "uniform",
        "policy_version": "1",
        "k": n,
        "items": items,
        "propensities": tuple(1.0 / (n + i) for i in range(n)),
        "scores": tuple(0.25 * i for i in range(n)),
        "candidates": (*items, "z"),
        "context": (0.1, -2.5),
        "session_id": "s1",
        "step": 3,
        "propensity_draws": 0,
        "snapshot_version": 2,
        "created_at": created_at,
        "window_closes_at": created_at + window,
    }
    values.update(fields)
    return DecisionRow(**values)


def reward(
    event_id: str, item: str, value: float = 1.0, *, kind: str = "click", at: datetime = T0, **fields: Any
) -> RewardRow:
    return RewardRow(event_id=event_id, item=item, kind=kind, value=value, received_at=at, **fields)
