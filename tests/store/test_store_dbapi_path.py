"""The write path's plain SQL on the DBAPI cursor (``_write.executemany`` / ``fetch``), on SQLite and PostgreSQL.

The group commit's statements skip SQLAlchemy's execution path. What must not change with that: they run in
the caller's transaction (a rollback takes them back, a read sees the transaction's own rows), and a database
error still arrives as SQLAlchemy's exception (``IntegrityError``...), which the group committer catches to retry
each submission alone.
"""

from __future__ import annotations

import contextlib

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from store_records import decision, reward

from abrec.store import EventStore, WriteBatch, _rows, schema
from abrec.store._write import fetch, insert_values, select_in

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
