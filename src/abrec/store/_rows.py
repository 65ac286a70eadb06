"""Records <-> database rows: times as float Unix seconds, sequences as compact JSON text."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from .records import DecisionRow, JournalEntry, RewardRow, Snapshot, trusted

__all__: list[str] = []

T = TypeVar("T")
#: Values per IN (...) list: under SQLite's and psycopg's limits on bound parameters.
CHUNK = 5_000

_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def _record_writers() -> tuple[Callable[[Any], str], Callable[[Any], str]]:
    """JSON writers for a decision's id lists and number lists: orjson where installed (the ``serve`` extra; ~10x
    faster than json on them), else json.

    A DecisionRow's checks make its sequences flat tuples of strings or of finite floats, so no value is looked at
    here: orjson writes them (the same value read back as json's text, differing only in escapes and float
    spelling); what orjson refuses (a lone surrogate) goes to json's encoder, and so does a number list whose orjson
    text has a ``null`` (orjson writes NaN and infinity so), which json's encoder refuses with a ValueError.
    """
    try:
        import orjson
    except ImportError:  # pragma: no cover - an install without the serve extra
        return _encode, _encode
    fast = orjson.dumps

    def texts(value: Any) -> str:
        try:
            return fast(value).decode()
        except TypeError:  # orjson's refusals (a lone surrogate): JSONEncodeError is a TypeError
            return _encode(value)

    def numbers(value: Any) -> str:
        try:
            out = fast(value)
        except TypeError:
            return _encode(value)
        return _encode(value) if b"null" in out else out.decode()

    return texts, numbers


_texts_json, _numbers_json = _record_writers()


def _json_reader() -> Callable[[str], Any]:
    """orjson's reader where installed, else json's: the same values; what orjson refuses and json reads (the
    escape of a lone surrogate, which json's encoder writes) goes to json."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - an install without the serve extra
        return json.loads
    fast = orjson.loads
    slow = json.loads

    def loads(text: str) -> Any:
        try:
            return fast(text)
        except ValueError:  # orjson.JSONDecodeError
            return slow(text)

    return loads


#: JSON text (a stored column) as its value.
loads: Callable[[str], Any] = _json_reader()


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


#: The columns of :func:`decision_values`, in its order (every column of ``decisions`` but ``seq``).
DECISION_COLUMNS = (
    "event_id",
    "experiment",
    "client_request_id",
    "unit",
    "variant",
    "period",
    "assignment_p",
    "policy",
    "policy_version",
    "snapshot_version",
    "k",
    "n_shown",
    "items",
    "propensities",
    "scores",
    "propensity_draws",
    "candidates",
    "context",
    "session_id",
    "step",
    "created_at",
    "window_closes_at",
    "stateful",
)


def decision_values(d: DecisionRow, stateful: bool) -> tuple[Any, ...]:
    """The ``decisions`` row of ``d`` (JSON text for its sequences, Unix seconds for its times): the values of
    :data:`DECISION_COLUMNS`, in that order, for a positional executemany. ``stateful``: whether the row enters
    the session index (its experiment has agent variants, or the store was not told it has none)."""
    return (
        d.event_id,
        d.experiment,
        d.client_request_id,
        d.unit,
        d.variant,
        d.period,
        d.assignment_p,
        d.policy,
        d.policy_version,
        d.snapshot_version,
        d.k,
        len(d.items),
        _texts_json(d.items),
        _numbers_json(d.propensities),
        _numbers_json(d.scores),
        d.propensity_draws,
        _texts_json(d.candidates),
        None if d.context is None else _numbers_json(d.context),
        d.session_id,
        d.step,
        d.created_at.timestamp(),
        d.window_closes_at.timestamp(),
        stateful,
    )


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
