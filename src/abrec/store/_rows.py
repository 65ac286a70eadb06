"""Records <-> database rows: times as float Unix seconds, sequences as compact JSON text."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from .records import DecisionRow, JournalEntry, RewardRow, Snapshot, trusted

__all__: list[str] = []

T = TypeVar("T")
#: Values per IN (...) list: under SQLite's and psycopg's limits on bound parameters.
CHUNK = 5_000

_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def _json_writer() -> Callable[[Any], str]:
    """orjson where installed (the ``serve`` extra; ~10x faster on the decisions' id and number lists), else json.

    orjson writes NaN and infinity as ``null`` instead of refusing them, and refuses a lone surrogate that json
    escapes: only a flat tuple of strings and finite floats goes to orjson (the same value read back, the text
    differing only in escapes and float spelling); anything else, or a value orjson refuses, goes to json's
    encoder, which raises for a non-finite number.
    """
    try:
        import orjson
    except ImportError:  # pragma: no cover - an install without the serve extra
        return _encode
    fast = orjson.dumps
    isfinite = math.isfinite

    def dumps(value: Any) -> str:
        # The fast path only for flat sequences of strings or finite numbers (the decisions' columns).
        if type(value) is not tuple or not all(type(v) is str or (type(v) is float and isfinite(v)) for v in value):
            return _encode(value)
        try:
            return fast(value).decode()
        except TypeError:  # orjson's refusals (a lone surrogate): JSONEncodeError is a TypeError
            return _encode(value)

    return dumps


_dumps: Callable[[Any], str] = _json_writer()


def dumps(value: Any) -> str:
    return _dumps(value)


def ts(moment: datetime) -> float:
    return moment.timestamp()


def dt(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def chunks(values: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    batch: list[T] = []
    for value in values:
        batch.append(value)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def decision_params(d: DecisionRow) -> dict[str, Any]:
    return {
        "event_id": d.event_id,
        "experiment": d.experiment,
        "client_request_id": d.client_request_id,
        "unit": d.unit,
        "variant": d.variant,
        "period": d.period,
        "assignment_p": d.assignment_p,
        "policy": d.policy,
        "policy_version": d.policy_version,
        "snapshot_version": d.snapshot_version,
        "k": d.k,
        "n_shown": len(d.items),
        "items": _dumps(d.items),
        "propensities": _dumps(d.propensities),
        "scores": _dumps(d.scores),
        "propensity_draws": d.propensity_draws,
        "candidates": _dumps(d.candidates),
        "context": None if d.context is None else _dumps(d.context),
        "session_id": d.session_id,
        "step": d.step,
        "created_at": d.created_at.timestamp(),
        "window_closes_at": d.window_closes_at.timestamp(),
    }


def decision_row(row: Mapping[Any, Any]) -> DecisionRow:
    context = row["context"]
    return trusted(
        DecisionRow,
        seq=row["seq"],
        event_id=row["event_id"],
        experiment=row["experiment"],
        client_request_id=row["client_request_id"],
        unit=row["unit"],
        variant=row["variant"],
        period=row["period"],
        assignment_p=row["assignment_p"],
        policy=row["policy"],
        policy_version=row["policy_version"],
        snapshot_version=row["snapshot_version"],
        k=row["k"],
        items=tuple(json.loads(row["items"])),
        propensities=tuple(json.loads(row["propensities"])),
        scores=tuple(json.loads(row["scores"])),
        propensity_draws=row["propensity_draws"],
        candidates=tuple(json.loads(row["candidates"])),
        context=None if context is None else tuple(json.loads(context)),
        session_id=row["session_id"],
        step=row["step"],
        created_at=dt(row["created_at"]),
        window_closes_at=dt(row["window_closes_at"]),
    )


def reward_params(r: RewardRow) -> dict[str, Any]:
    return {
        "event_id": r.event_id,
        "item": r.item,
        "position": r.position,
        "kind": r.kind,
        "value": r.value,
        "received_at": r.received_at.timestamp(),
        "late": r.late,
    }


def reward_row(row: Mapping[Any, Any]) -> RewardRow:
    return trusted(
        RewardRow,
        seq=row["seq"],
        event_id=row["event_id"],
        item=row["item"],
        position=row["position"],
        kind=row["kind"],
        value=row["value"],
        received_at=dt(row["received_at"]),
        late=bool(row["late"]),
    )


def journal_params(e: JournalEntry) -> dict[str, Any]:
    return {
        "experiment": e.experiment,
        "variant": e.variant,
        "event_id": e.event_id,
        "item": e.item,
        "position": e.position,
        "value": e.value,
        "source": e.source,
        "batch": e.batch,
        "learned_at": e.learned_at.timestamp(),
    }


def journal_row(row: Mapping[Any, Any]) -> JournalEntry:
    return trusted(
        JournalEntry,
        seq=row["seq"],
        experiment=row["experiment"],
        variant=row["variant"],
        event_id=row["event_id"],
        item=row["item"],
        position=row["position"],
        value=row["value"],
        source=row["source"],
        batch=row["batch"],
        learned_at=dt(row["learned_at"]),
    )


def snapshot_row(row: Mapping[Any, Any]) -> Snapshot:
    return Snapshot(
        experiment=row["experiment"],
        variant=row["variant"],
        version=row["version"],
        journal_seq=row["journal_seq"],
        policy=row["policy"],
        state=bytes(row["state"]),
        created_at=dt(row["created_at"]),
    )


def positions(items: Sequence[str]) -> dict[str, int]:
    return {item: i for i, item in enumerate(items)}
