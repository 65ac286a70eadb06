"""One :class:`~abrec.store.records.WriteBatch` written in one transaction, each operation checked first.

Writers are serialised (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: a transaction-level advisory lock taken by
the caller), so what the checks read cannot change before the inserts: every decision and reward gets its
outcome from the checks, and the inserts never hit a unique constraint. A bad operation (an unknown event, a
reward conflicting with the stored one) is answered and skipped; it never rolls back the others. The cost
is O(batch): a few indexed ``IN`` look-ups and one executemany per table.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import time
from collections.abc import Collection, Iterator, Sequence
from typing import Any, Literal

import sqlalchemy as sa

from . import _rows, schema
from .records import (
    DecisionOutcome,
    DecisionRow,
    JournalEntry,
    RewardOutcome,
    RewardRow,
    Snapshot,
    WriteBatch,
    WriteResult,
    trusted,
)

__all__: list[str] = []

_D, _R = schema.decisions, schema.rewards
_ASSIGNMENT_COLUMNS = ("experiment", "unit", "variant", "period", "assigned_at")
#: The most rows in one multi-row ``INSERT`` on SQLite (see :func:`insert_values`).
SQLITE_VALUES_ROWS = 128
# SQLite's limit on a statement's parameters: 32,766 since 3.32, 999 before.
_SQLITE_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
_IDS: sa.BindParameter[list[str]] = sa.bindparam("ids", expanding=True)
# Statements built once (expanding IN lists: no per-value coercion, one cached compilation).
_BY_REQUEST = sa.select(*_D.c).where((_D.c.experiment == sa.bindparam("experiment")) & _D.c.client_request_id.in_(_IDS))
_J, _S = schema.journal, schema.snapshots
_APPEND = sa.insert(_J).returning(_J.c.seq, sort_by_parameter_order=True)
_VERSIONS = sa.select(_S.c.experiment, _S.c.variant, _S.c.version).where(
    (_S.c.experiment == sa.bindparam("experiment"))
    & (_S.c.variant == sa.bindparam("variant"))
    & _S.c.version.in_(sa.bindparam("versions", expanding=True))
)


@functools.cache
def insert_sql(
    dialect: str,
    table: str,
    columns: tuple[str, ...],
    *,
    ignore: bool = False,
    positional: bool = False,
    rows: int = 1,
) -> str:
    """A plain ``INSERT`` for the DBAPI's executemany, optionally ``ON CONFLICT DO NOTHING``: named parameters
    (rows as dicts), or positional ones (``?`` / ``%s``, rows as tuples in the order of ``columns``); ``rows``
    positional rows in one statement (``VALUES (...), (...)``, the parameters of one row after another).

    Run by :func:`executemany` on the DBAPI's cursor, it skips SQLAlchemy's per-row parameter processing and its
    per-statement result set-up: the hot path of group commit.
    """
    if positional:
        marks = ", ".join(_mark(dialect) for _ in columns)
    else:
        assert rows == 1, "several rows in one statement take positional parameters"
        marks = ", ".join(f":{c}" if dialect == "sqlite" else f"%({c})s" for c in columns)
    values = ", ".join(f"({marks})" for _ in range(rows))
    return f'INSERT INTO "{table}" ({_columns(None, columns)}) VALUES {values}' + (
        " ON CONFLICT DO NOTHING" if ignore else ""
    )


@functools.cache
def update_sql(dialect: str, table: str, columns: tuple[str, ...], keys: tuple[str, ...]) -> str:
    """A plain ``UPDATE`` of ``columns`` for the row whose ``keys`` equal the parameters ``k_<key>`` (named
    parameters, for the DBAPI's executemany, as :func:`insert_sql`)."""

    def mark(name: str) -> str:
        return f":{name}" if dialect == "sqlite" else f"%({name})s"

    sets = ", ".join(f'"{c}" = {mark(c)}' for c in columns)
    where = " AND ".join(f'"{k}" = {mark("k_" + k)}' for k in keys)
    return f'UPDATE "{table}" SET {sets} WHERE {where}'


def update_many(connection: sa.Connection, table: sa.Table, keys: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """Update ``table``'s rows in one executemany: each dict holds the new values and ``k_<key>`` for each of
    ``keys`` (every dict the same keys)."""
    if rows:
        wanted = tuple(f"k_{k}" for k in keys)
        columns = tuple(c for c in rows[0] if c not in wanted)
        sql = update_sql(connection.dialect.name, table.name, columns, tuple(keys))
        executemany(connection, sql, rows)


def insert_many(
    connection: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], *, ignore: bool = False
) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``: as :func:`insert_values` on SQLite, in one
    executemany elsewhere."""
    if not rows:
        return
    columns = tuple(rows[0])
    if connection.dialect.name == "sqlite":
        insert_values(connection, table, columns, [tuple(row[c] for c in columns) for row in rows], ignore=ignore)
        return
    executemany(connection, insert_sql(connection.dialect.name, table.name, columns, ignore=ignore), rows)


def insert_values(
    connection: sa.Connection,
    table: sa.Table,
    columns: tuple[str, ...],
    rows: list[tuple[Any, ...]],
    *,
    ignore: bool = False,
) -> None:
    """Insert ``rows`` (tuples of the values of ``columns``) into ``table``: the DBAPI binds positional values
    without looking each name up in a dict (the group commit's hot inserts).

    On SQLite, many rows go in one multi-row ``INSERT ... VALUES (...), (...)`` (a power of two rows, up to
    :data:`SQLITE_VALUES_ROWS` and within SQLite's limit on parameters: 100 rows in three statements). sqlite3's
    executemany lets go of the GIL around every row's step, and the group commit's thread must win it back from the
    event loop each time (up to the interpreter's switch interval, 5 ms, while the loop runs Python); one statement
    lets go of it once. With a thread running Python
    all the time, a group commit of 100 decide + reward pairs took 316 / 320 ms with executemany and 87 / 103 ms
    this way (``benchmarks/serve_store.py --modes group_commit --concurrency 1 --db sqlite --batch 100 --busy 1
    --base DIR``). PostgreSQL's driver pipelines the executemany instead.
    """
    if not rows:
        return
    dialect = connection.dialect.name
    if dialect != "sqlite":
        executemany(connection, insert_sql(dialect, table.name, columns, ignore=ignore, positional=True), rows)
        return
    most = max(1, min(SQLITE_VALUES_ROWS, _SQLITE_VARIABLES // len(columns)))
    start = 0
    while start < len(rows):
        # A power of two rows per statement: a few statement texts per table, each prepared once and kept in
        # sqlite3's statement cache (preparing a 50-row INSERT costs more than running it).
        size = 1 << (min(most, len(rows) - start).bit_length() - 1)
        chunk = rows[start : start + size]
        start += size
        sql = insert_sql(dialect, table.name, columns, ignore=ignore, positional=True, rows=size)
        params = [value for row in chunk for value in row]
        with _cursor(connection, sql, params) as cursor:
            cursor.execute(sql, params)


@functools.cache
def _in_sql(dialect: str, select: str, column: str, n: int) -> str:
    """``select`` (ending in ``WHERE`` and its other conditions, if any) for rows whose ``column`` is one of ``n``
    values given after the other parameters: ``IN (?, ...)`` on SQLite, ``= ANY(%s)`` (one array) on PostgreSQL."""
    if dialect == "sqlite":
        return f'{select} "{column}" IN ({", ".join("?" for _ in range(n))})'
    return f'{select} "{column}" = ANY(%s)'


@contextlib.contextmanager
def _cursor(connection: sa.Connection, sql: str, params: Any) -> Iterator[Any]:
    """A cursor of the connection's own DBAPI connection (its transaction), closed after the block.

    SQLAlchemy's execution path builds a result object, its column metadata and an execution context for every
    statement: a third of a small group commit's CPU. A DBAPI error in the block is raised as SQLAlchemy raises
    it (``IntegrityError``, ``DataError``, ``OperationalError``...), which is what the callers catch.
    """
    dbapi = connection.dialect.loaded_dbapi
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    except dbapi.Error as exc:
        raise sa.exc.DBAPIError.instance(sql, params, exc, dbapi.Error, dialect=connection.dialect) from exc
    finally:
        cursor.close()


def executemany(connection: sa.Connection, sql: str, rows: Sequence[Any]) -> None:
    """Run plain ``sql`` once per row of parameters (dicts or tuples, as its marks say) in the connection's
    transaction, through the DBAPI (psycopg 3 pipelines it; sqlite3 loops in C)."""
    with _cursor(connection, sql, rows) as cursor:
        cursor.executemany(sql, rows)


def fetch(connection: sa.Connection, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows (tuples) of plain query ``sql`` in the connection's transaction, through the DBAPI."""
    with _cursor(connection, sql, params) as cursor:
        cursor.execute(sql, params)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


def select_in(
    connection: sa.Connection, select: str, column: str, values: list[str], *params: Any
) -> list[tuple[Any, ...]]:
    """The rows of a plain ``select`` (see :func:`_in_sql`) whose ``column`` is among ``values`` (one chunk).

    Plain SQL on the DBAPI's cursor (:func:`fetch`): the group commit's and the fold's look-ups skip SQLAlchemy's
    compilation of an expanding IN list, its result set-up and its per-row result processing (the columns read
    are text, integers, floats and booleans, which both drivers return as Python values already)."""
    dialect = connection.dialect.name
    if dialect == "sqlite":
        return fetch(connection, _in_sql(dialect, select, column, len(values)), (*params, *values))
    return fetch(connection, _in_sql(dialect, select, column, 0), (*params, values))


def _columns(table: sa.Table | None, names: Sequence[str] | None = None) -> str:
    """Quoted column names: ``names``, or every column of ``table``."""
    assert names is not None or table is not None
    return ", ".join(f'"{name}"' for name in (names or [c.name for c in table.c]))  # type: ignore[union-attr]


def _mark(dialect: str) -> str:
    return "?" if dialect == "sqlite" else "%s"


_KNOWN_REQUESTS = {
    dialect: f'SELECT "client_request_id" FROM "decisions" WHERE "experiment" = {_mark(dialect)} AND'
    for dialect in ("sqlite", "postgresql")
}
_SLATES = f'SELECT {_columns(_D, ("event_id", "items", "window_closes_at"))} FROM "decisions" WHERE'
_REWARD_COLUMNS = tuple(c.name for c in _R.c)
_STORED_REWARDS = f'SELECT {_columns(_R)} FROM "rewards" WHERE'


def write_batch(connection: sa.Connection, batch: WriteBatch, stateless: Collection[str] = frozenset()) -> WriteResult:
    """Write ``batch`` in the caller's (serialised) transaction and say what happened to each operation.

    The decisions of the experiments in ``stateless`` (no agent variants) stay out of the session index."""
    now = time.time()
    decisions, fresh = _decisions(connection, batch, stateless)
    rewards = _rewards(connection, batch, fresh)
    if batch.assignments:
        rows = [(e, u, v, p, now) for e, u, v, p in batch.assignments]
        insert_values(connection, schema.assignments, _ASSIGNMENT_COLUMNS, rows, ignore=True)
    if batch.items:
        texts = [{"item_id": i, "text": t, "created_at": now} for i, t in batch.items]
        insert_many(connection, schema.items, texts, ignore=True)
    journal: tuple[JournalEntry, ...] = ()
    if batch.journal:  # in order; a second entry for an (event, item) fails the batch (unique index)
        params = [_rows.journal_params(e) for e in batch.journal]
        seqs = [row[0] for row in connection.execute(_APPEND, params)]
        journal = tuple(_rows.journal_row({**p, "seq": s}) for p, s in zip(params, seqs, strict=True))
    return WriteResult(tuple(decisions), tuple(rewards), journal, _snapshots(connection, batch.snapshots))


def _snapshots(connection: sa.Connection, snapshots: Sequence[Snapshot]) -> tuple[Literal["stored", "exists"], ...]:
    """Insert the snapshots whose version is new; a version that exists is left as it is (``exists``)."""
    if not snapshots:
        return ()
    taken: set[tuple[str, str, int]] = set()
    wanted: dict[tuple[str, str], list[int]] = {}
    for snap in snapshots:
        wanted.setdefault((snap.experiment, snap.variant), []).append(snap.version)
    for (experiment, variant), versions in wanted.items():
        found = connection.execute(_VERSIONS, {"experiment": experiment, "variant": variant, "versions": versions})
        taken.update((e, v, int(n)) for e, v, n in found)
    out: list[Literal["stored", "exists"]] = []
    rows = []
    for snap in snapshots:
        key = (snap.experiment, snap.variant, snap.version)
        if key in taken:
            out.append("exists")
            continue
        taken.add(key)
        out.append("stored")
        rows.append(
            {
                "experiment": snap.experiment,
                "variant": snap.variant,
                "version": snap.version,
                "journal_seq": snap.journal_seq,
                "policy": snap.policy,
                "state": snap.state,
                "created_at": snap.created_at.timestamp(),
            }
        )
    if rows:
        connection.execute(sa.insert(_S), rows)
    return tuple(out)


def _decisions(
    connection: sa.Connection, batch: WriteBatch, stateless: Collection[str]
) -> tuple[list[DecisionOutcome], dict[str, DecisionRow]]:
    """Insert the new decisions; a known (experiment, client request id) replays the stored decision."""
    keyed: dict[str, set[str]] = {}
    for d in batch.decisions:
        if d.client_request_id is not None:
            keyed.setdefault(d.experiment, set()).add(d.client_request_id)
    seen: dict[tuple[str, str | None], DecisionRow] = {}
    for experiment, crids in keyed.items():  # (experiment, client_request_id): the unique index
        for chunk in _rows.chunks(crids):
            # A plain query for the stored ones first (usually none), then their rows.
            head = _KNOWN_REQUESTS[connection.dialect.name]
            known = [row[0] for row in select_in(connection, head, "client_request_id", chunk, experiment)]
            if not known:
                continue
            for row in connection.execute(_BY_REQUEST, {"experiment": experiment, "ids": known}).mappings():
                seen[(experiment, row["client_request_id"])] = _rows.decision_row(row)
    outcomes: list[DecisionOutcome] = []
    fresh: dict[str, DecisionRow] = {}
    params = []
    for d in batch.decisions:
        if d.client_request_id is not None:
            key = (d.experiment, d.client_request_id)
            stored = seen.get(key)
            if stored is not None:
                outcomes.append(DecisionOutcome("replayed", stored))
                continue
            seen[key] = d
        outcomes.append(DecisionOutcome("stored", d))
        fresh[d.event_id] = d
        params.append(_rows.decision_values(d, d.experiment not in stateless))
    insert_values(connection, _D, _rows.DECISION_COLUMNS, params)
    return outcomes, fresh


class _Slate:
    __slots__ = ("closes", "positions")

    def __init__(self, items: list[str] | tuple[str, ...], closes: float) -> None:
        self.positions = _rows.positions(items)
        self.closes = closes


def _rewards(connection: sa.Connection, batch: WriteBatch, fresh: dict[str, DecisionRow]) -> list[RewardOutcome]:
    if not batch.rewards:
        return []
    event_ids = {r.event_id for r in batch.rewards}
    slates = {e: _Slate(d.items, d.window_closes_at.timestamp()) for e, d in fresh.items() if e in event_ids}
    for chunk in _rows.chunks(event_ids - slates.keys()):
        for slate in select_in(connection, _SLATES, "event_id", chunk):
            event_id, items, closes = tuple(slate)
            slates[event_id] = _Slate(_rows.loads(items), closes)
    stored: dict[tuple[str, str, str], RewardRow] = {}
    for chunk in _rows.chunks(event_ids & slates.keys()):
        for values in select_in(connection, _STORED_REWARDS, "event_id", chunk):
            found = dict(zip(_REWARD_COLUMNS, values, strict=True))
            stored[(found["event_id"], found["item"], found["kind"])] = _rows.reward_row(found)
    outcomes: list[RewardOutcome] = []
    params = []
    for r in batch.rewards:
        outcome = _check(r, slates, stored)
        if outcome.status in ("stored", "late"):
            stored[(r.event_id, r.item, r.kind)] = outcome.reward
            params.append(_rows.reward_params(outcome.reward))
        outcomes.append(outcome)
    insert_many(connection, _R, params)
    return outcomes


def _check(r: RewardRow, slates: dict[str, _Slate], stored: dict[tuple[str, str, str], RewardRow]) -> RewardOutcome:
    slate = slates.get(r.event_id)
    if slate is None:
        return RewardOutcome(
            "unknown_event", r, f"Unknown event id {r.event_id!r}: no decision has it (event ids come from decide)."
        )
    position = slate.positions.get(r.item)
    if position is None:
        shown = ", ".join(repr(i) for i in slate.positions)
        return RewardOutcome(
            "wrong_item", r, f"Item {r.item!r} was not shown in event {r.event_id!r}; its slate is [{shown}]."
        )
    if r.position is not None and r.position != position:
        return RewardOutcome(
            "wrong_item",
            r,
            f"Item {r.item!r} of event {r.event_id!r} was shown at position {position}, not {r.position}.",
        )
    previous = stored.get((r.event_id, r.item, r.kind))
    if previous is not None:
        if previous.value == r.value:
            return RewardOutcome("duplicate", previous)
        return RewardOutcome(
            "conflict",
            r,
            f"Event {r.event_id!r}, item {r.item!r} already has a {r.kind!r} reward of {previous.value!r}; "
            f"a stored reward never changes (got {r.value!r}).",
        )
    late = r.received_at.timestamp() > slate.closes
    row = trusted(
        RewardRow,
        event_id=r.event_id,
        item=r.item,
        kind=r.kind,
        value=r.value,
        received_at=r.received_at,
        position=position,
        late=late,
        seq=None,
    )
    return RewardOutcome("late" if late else "stored", row, "received after the reward window closed" if late else "")
