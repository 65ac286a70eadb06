"""The write path's plain SQL on the DBAPI cursor (``_write.executemany`` / ``fetch``), on SQLite and PostgreSQL.

The group commit's statements skip SQLAlchemy's execution path. What must not change with that: they run in
the caller's transaction (a rollback takes them back, a read sees the transaction's own rows), and a database
error still arrives as SQLAlchemy's exception (``IntegrityError``...), which the group committer catches to retry
each submission alone.
"""

from __future__ import annotations

import contextlib
import dataclasses

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from store_records import decision, reward

from abrec.store import EventStore, WriteBatch, _rows, schema
from abrec.store._write import _ASSIGNMENT_COLUMNS, fetch, insert_values, select_in

_HEAD = 'SELECT "event_id" FROM "decisions" WHERE'


def _row(event_id: str) -> tuple[object, ...]:
    return _rows.decision_values(decision(event_id), True)


def test_statements_run_in_the_callers_transaction(store: EventStore) -> None:
    with store.engine.connect() as connection:
        with connection.begin() as transaction:
            insert_values(connection, schema.decisions, _rows.DECISION_COLUMNS, [_row("t1"), _row("t2")])
            seen = select_in(connection, _HEAD, "event_id", ["t1", "t2", "none"])
            assert sorted(r[0] for r in seen) == ["t1", "t2"]  # the transaction's own rows, as plain tuples
            transaction.rollback()
    assert store.decisions(["t1", "t2"]) == {}  # rolled back with the transaction
    with store.engine.connect() as connection:
        with connection.begin():
            insert_values(connection, schema.decisions, _rows.DECISION_COLUMNS, [_row("t3")])
    assert set(store.decisions(["t3"])) == {"t3"}  # committed with it


def test_a_database_error_is_sqlalchemys(store: EventStore) -> None:
    store.write(WriteBatch(decisions=[decision("taken")]))
    with store.engine.connect() as connection:
        with connection.begin():
            with pytest.raises(IntegrityError) as info:
                insert_values(connection, schema.decisions, _rows.DECISION_COLUMNS, [_row("taken")])
            assert isinstance(info.value.orig, connection.dialect.loaded_dbapi.IntegrityError)
            assert "INSERT INTO" in str(info.value.statement)
    with store.engine.connect() as connection:
        with connection.begin():
            with pytest.raises(sa.exc.DBAPIError) as failed:
                select_in(connection, 'SELECT nope FROM "decisions" WHERE', "event_id", ["taken"])
            assert isinstance(failed.value.orig, connection.dialect.loaded_dbapi.Error)  # wrapped, not bare


def test_writes_read_back_the_same_through_the_plain_path(store: EventStore) -> None:
    store.write(WriteBatch(decisions=[decision("e1")]))
    first = store.write(WriteBatch(rewards=[reward("e1", "a", value=1.0)]))
    again = store.write(WriteBatch(rewards=[reward("e1", "a", value=1.0), reward("e1", "a", value=0.0)]))
    assert first.rewards[0].status == "stored"
    assert [o.status for o in again.rewards] == ["duplicate", "conflict"]
    stored, written = again.rewards[0].reward, first.rewards[0].reward  # the stored row, read back as a record
    assert (stored.event_id, stored.item, stored.kind, stored.value) == ("e1", "a", "click", 1.0)
    assert (stored.position, stored.late, stored.received_at) == (written.position, written.late, written.received_at)
    assert isinstance(stored.seq, int)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_connection_dropped_mid_transaction_fails_that_write_and_the_next_one_reconnects(
    store: EventStore, database_url: str
) -> None:
    admin = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    try:
        with store.engine.connect() as connection:
            transaction = connection.begin()
            pid = fetch(connection, "SELECT pg_backend_pid()", ())[0][0]
            with admin.connect() as other:  # the server ends that session (a restart, a failover)
                other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(sa.exc.OperationalError) as info:  # SQLAlchemy's, as from its own execution path
                insert_values(connection, schema.decisions, _rows.DECISION_COLUMNS, [_row("lost")])
            assert isinstance(info.value.orig, connection.dialect.loaded_dbapi.OperationalError)
            with contextlib.suppress(sa.exc.DBAPIError):
                transaction.rollback()
    finally:
        admin.dispose()
    stored = store.write(WriteBatch(decisions=[decision("after")]))  # a fresh connection from the pool
    assert stored.decisions[0].status == "stored"
    assert set(store.decisions(["lost", "after"])) == {"after"}


def _sqlite_statements(connection: sa.Connection) -> list[str]:
    """The statements SQLite runs on ``connection`` from now on (its trace callback: one per statement run,
    so once per row of an executemany)."""
    seen: list[str] = []
    connection.connection.dbapi_connection.set_trace_callback(seen.append)  # type: ignore[union-attr]
    return seen


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_inserts_many_rows_per_statement_in_chunks(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    from abrec.store import _write

    monkeypatch.setattr(_write, "SQLITE_VALUES_ROWS", 4)
    ids = [f"m{i:02d}" for i in range(10)]
    with store.engine.connect() as connection:
        with connection.begin():
            statements = _sqlite_statements(connection)
            insert_values(connection, schema.decisions, _rows.DECISION_COLUMNS, [_row(e) for e in ids])
            connection.connection.dbapi_connection.set_trace_callback(None)  # type: ignore[union-attr]
    inserts = [s for s in statements if s.startswith("INSERT")]
    assert [s.count("), (") + 1 for s in inserts] == [4, 4, 2]  # 10 rows in three statements, not ten runs
    stored = store.decisions(ids)
    assert sorted(stored) == ids
    assert dataclasses.replace(stored["m07"], seq=None) == decision("m07")  # each value in its column, not shifted
    seqs = [stored[e].seq for e in ids]
    assert seqs == sorted(seqs)  # numbered in the order given, as one row at a time numbers them


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_statement_never_takes_more_parameters_than_sqlite_allows(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from abrec.store import _write

    monkeypatch.setattr(_write, "_SQLITE_VARIABLES", 3 * len(_rows.DECISION_COLUMNS) + 1)  # room for 3 rows, not 4
    ids = [f"v{i}" for i in range(7)]
    with store.engine.connect() as connection:
        with connection.begin():
            statements = _sqlite_statements(connection)
            insert_values(connection, schema.decisions, _rows.DECISION_COLUMNS, [_row(e) for e in ids])
    assert [s.count("), (") + 1 for s in statements if s.startswith("INSERT")] == [2, 2, 2, 1]  # powers of two
    assert sorted(store.decisions(ids)) == ids


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_statements_hold_a_power_of_two_rows_so_few_texts_are_prepared(store: EventStore) -> None:
    ids = [f"p{i:03d}" for i in range(100)]
    with store.engine.connect() as connection:
        with connection.begin():
            statements = _sqlite_statements(connection)
            insert_values(connection, schema.decisions, _rows.DECISION_COLUMNS, [_row(e) for e in ids])
    assert [s.count("), (") + 1 for s in statements if s.startswith("INSERT")] == [64, 32, 4]
    assert sorted(store.decisions(ids)) == ids


def test_insert_or_ignore_keeps_the_first_row_in_a_multi_row_statement(store: EventStore) -> None:
    # u1 twice in one statement (two submissions of one group commit): the first row wins, as row by row.
    rows = [("x", "u1", "a", 0, 1.0), ("x", "u2", "b", 0, 1.0), ("x", "u1", "c", 0, 1.0), ("x", "u3", "d", 1, 2.0)]
    with store.engine.connect() as connection:
        with connection.begin():
            insert_values(connection, schema.assignments, _ASSIGNMENT_COLUMNS, rows, ignore=True)
            insert_values(connection, schema.assignments, _ASSIGNMENT_COLUMNS, [("x", "u2", "e", 0, 3.0)], ignore=True)
    assert store.assignments("x", ["u1", "u2", "u3"]) == {"u1": "a", "u2": "b", "u3": "d"}
