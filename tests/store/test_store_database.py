"""Durability settings read back from live connections, URLs, and the migrations on both databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from store_records import decision

from abrec.store import EventStore, SchemaVersionError, StoreError, WriteBatch, database_url, upgrade
from abrec.store.migrate import head_revision
from abrec.store.schema import metadata

TABLES = {"alembic_version", *metadata.tables}


def test_durability_settings_are_in_force_on_every_connection(store: EventStore, backend: str) -> None:
    with store.engine.connect() as one, store.engine.connect() as two:  # two pooled connections
        for connection in (one, two):
            if backend == "sqlite":
                assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
                assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
            else:
                assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
                assert connection.exec_driver_sql("SHOW fsync").scalar() == "on"


@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgresql_synchronous_commit_is_set_even_when_the_server_default_is_off(store: EventStore) -> None:
    url = sa.make_url(store.url)
    options = url.query["options"]
    off = url.update_query_dict({"options": f"{options} -csynchronous_commit=off"}).render_as_string(False)
    with EventStore(off) as relaxed, relaxed.engine.connect() as connection:
        assert connection.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_writes_begin_immediate(store: EventStore) -> None:
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    store.write(WriteBatch(decisions=[decision()]))
    assert statements[0] == "BEGIN IMMEDIATE"
    statements.clear()
    store.decisions(["x"])
    assert statements[0] == "BEGIN DEFERRED"


def test_upgrade_creates_every_table_in_its_own_place_and_twice_is_a_no_op(
    empty_database_url: str, backend: str
) -> None:
    refused = r"(has no abrec tables|There is no database).*abrec db upgrade --database-url"
    with pytest.raises(SchemaVersionError, match=refused):
        EventStore(empty_database_url)
    assert upgrade(empty_database_url) == head_revision() == "0005"
    with EventStore(empty_database_url) as store:
        store.write(WriteBatch(decisions=[decision("kept")]))
        with store.engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            assert tables == TABLES
            if backend == "postgresql":
                schema = connection.exec_driver_sql("SELECT current_schema()").scalar()
                assert str(schema).startswith("abrec_test_")
                query = "SELECT table_name FROM information_schema.tables WHERE table_schema = %(s)s"
                assert {r[0] for r in connection.exec_driver_sql(query, {"s": schema})} == TABLES
                public = (
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_name = 'decisions'"
                )
                assert connection.exec_driver_sql(public).scalar() == 0
            # the migrated tables are exactly the ones the code declares
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []
    assert upgrade(empty_database_url) == "0005"
    with EventStore(empty_database_url) as store:
        assert set(store.decisions(["kept"])) == {"kept"}


def test_a_database_at_another_revision_is_refused(database_url: str) -> None:
    with EventStore(database_url) as store:
        with store.engine.begin() as connection:
            connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0000'")
        try:
            with pytest.raises(SchemaVersionError, match=r"is at revision '0000'; this abrec needs revision '0005'"):
                EventStore(database_url)
        finally:  # the PostgreSQL schema is the session's: put it back
            with store.engine.begin() as connection:
                connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0005'")


def test_database_urls() -> None:
    assert database_url("postgres://u:pw@h/db") == "postgresql+psycopg://u:pw@h/db"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"
    with pytest.raises(StoreError, match="in-memory SQLite"):
        database_url("sqlite://")
    with pytest.raises(StoreError, match="Cannot parse the database URL"):
        database_url("not a url")
    with pytest.raises(StoreError, match=r"Unsupported database URL 'postgresql\+psycopg2://u:\*\*\*@h/db'"):
        database_url("postgresql+psycopg2://u:secret@h/db")


def test_the_default_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABREC_DATABASE_URL", "postgresql://a@b/c")
    assert database_url(None) == "postgresql+psycopg://a@b/c"
    monkeypatch.delenv("ABREC_DATABASE_URL")
    assert database_url(None) == "sqlite:///abrec.db"


def test_an_unreachable_database_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="Cannot open the database postgresql"):
        EventStore("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
