"""Database URLs and engines with full durability: a COMMIT returns only once it is on disk.

- SQLite (the default, ``sqlite:///abrec.db``): every connection gets ``journal_mode=WAL``,
  ``synchronous=FULL`` (the WAL is fsynced at every commit) and ``busy_timeout``; transactions are opened by
  abrec itself (``BEGIN``, or ``BEGIN IMMEDIATE`` for writes, so that writers queue on the database lock
  instead of failing with a stale snapshot).
- PostgreSQL (``postgresql+psycopg://user@host/db``, psycopg 3): every connection sets
  ``synchronous_commit = on``; a ``schema`` puts the store's tables in that schema (``search_path``).
"""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError

from .errors import StoreError

__all__ = ["BEGIN_OPTION", "DEFAULT_URL", "ENV_VAR", "create_store_engine", "database_url", "is_sqlite", "shown"]

DEFAULT_URL = "sqlite:///abrec.db"
ENV_VAR = "ABREC_DATABASE_URL"
#: Execution option naming how a SQLite transaction begins ("DEFERRED" or "IMMEDIATE").
BEGIN_OPTION = "abrec_sqlite_begin"
BUSY_TIMEOUT_MS = 30_000


def database_url(url: str | None = None) -> str:
    """The database URL to use: ``url``, else ``$ABREC_DATABASE_URL``, else ``sqlite:///abrec.db``.

    ``postgresql://`` and ``postgres://`` URLs get the psycopg 3 driver (``postgresql+psycopg://``).

    Examples
    --------
    >>> database_url("postgresql://abrec@db:5432/abrec")
    'postgresql+psycopg://abrec@db:5432/abrec'
    >>> database_url("mysql://x@y/z")
    Traceback (most recent call last):
    ...
    abrec.store.errors.StoreError: Unsupported database URL 'mysql://x@y/z': abrec stores events in SQLite ...
    """
    text = url if url else os.environ.get(ENV_VAR) or DEFAULT_URL
    parsed = _parse(text)
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        backend = "postgresql"
    if backend == "postgresql" and driver in ("", "psycopg"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if backend == "sqlite" and driver in ("", "pysqlite"):
        if parsed.database in (None, "", ":memory:") or str(parsed.database).startswith("file::memory:"):
            raise StoreError(
                f"Database URL {shown(text)!r} is an in-memory SQLite database, which is lost on exit and not "
                "shared between connections; give a file: sqlite:///path/to/abrec.db."
            )
        return text
    raise StoreError(
        f"Unsupported database URL {shown(text)!r}: abrec stores events in SQLite (sqlite:///path/to/abrec.db) "
        "or PostgreSQL (postgresql+psycopg://user@host:5432/dbname)."
    )


def _parse(text: str) -> URL:
    try:
        return make_url(text)
    except ArgumentError:
        raise StoreError(
            f"Cannot parse the database URL {text!r}; expected e.g. sqlite:///abrec.db or "
            "postgresql+psycopg://user@host:5432/dbname."
        ) from None


def shown(url: str | URL) -> str:
    """``url`` with its password hidden (for messages)."""
    parsed = url if isinstance(url, URL) else _parse(url)
    return parsed.render_as_string(hide_password=True)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def create_store_engine(url: str, *, schema: str | None = None) -> Engine:
    """An engine for ``url`` (see :func:`database_url`) whose every connection is set up for durability."""
    url = database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if schema is not None:
            raise StoreError(f"schema={schema!r} is for PostgreSQL; a SQLite database has no schemas.")
        engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000})
        sa.event.listen(engine, "connect", _sqlite_connect)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args: dict[str, Any] = {}
    if schema is not None:
        if not schema.isidentifier():
            raise StoreError(f"schema must be a plain identifier (letters, digits, _); got {schema!r}.")
        if "options" in parsed.query:
            raise StoreError("Give the schema either as schema= or in the URL's options, not both.")
        connect_args["options"] = f"-csearch_path={schema}"
    engine = sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    sa.event.listen(engine, "connect", _postgresql_connect)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # abrec emits BEGIN itself (_sqlite_begin)
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        mode = cursor.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"SQLite refused write-ahead logging (journal_mode is {mode!r}); use a local file.")
        cursor.execute("PRAGMA synchronous = FULL")
    finally:
        cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    mode = connection.get_execution_options().get(BEGIN_OPTION, "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")


def _postgresql_connect(dbapi_connection: Any, _record: Any) -> None:
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO on")
    dbapi_connection.commit()
