"""Fixtures for every test that needs a real database, on both of abrec's databases.

``database_url`` (function scope, parametrised ``sqlite`` / ``postgresql``) is the URL of an empty database at
the migration head:

- ``sqlite``: a fresh file in ``tmp_path``;
- ``postgresql``: the PostgreSQL at ``$ABREC_TEST_POSTGRES_URL`` (default
  ``postgresql+psycopg://postgres@127.0.0.1:5432/test``, trust auth, as on this machine and in CI). One schema
  ``abrec_test_<random>`` is made per test session, migrated once, emptied (``TRUNCATE``) before each test and
  dropped at the end; the URL carries it (``?options=-csearch_path=<schema>``), so ``EventStore(url)``,
  ``abrec db upgrade --database-url URL`` and a server started in a subprocess all use it.

When PostgreSQL cannot be reached, the ``postgresql`` cases are skipped with the reason, or fail under ``CI``
(:func:`_shared.missing`). ``empty_database_url`` is the same without the tables (for migration tests);
``store`` is an :class:`abrec.store.EventStore` on ``database_url``, closed after the test.

This module is imported by ``tests/store/conftest.py`` and by every other test folder that needs a database (the
service's), in its own ``conftest.py`` (``tests`` is on ``sys.path``)::

    from store._database_fixtures import _postgres, backend, database_url, empty_database_url, store  # noqa: F401

(a module of its own, so that no test imports a ``conftest`` by name: pytest imports each folder's ``conftest.py``
itself, and a second import of one under another name breaks collection).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from _shared import missing
from abrec.store import EventStore, upgrade

DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TABLES = (
    "experiments",
    "allocations",
    "assignments",
    "items",
    "decisions",
    "rewards",
    "journal",
    "snapshots",
    "api_keys",
    "audit",
    "stat_cursor",
    "stat_units",
    "stat_cells",
    "stat_metrics",
    "stat_items",
    "stat_history",
)
BACKENDS = ("sqlite", "postgresql")


def postgres_base_url() -> str:
    return os.environ.get("ABREC_TEST_POSTGRES_URL") or DEFAULT_POSTGRES


def with_schema(base: str, schema: str) -> str:
    """``base`` with ``search_path`` set to ``schema`` on every connection."""
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}')}"


class _Postgres:
    """The session's PostgreSQL: its reachability, and the schemas it made (dropped at the end)."""

    def __init__(self) -> None:
        self.base = postgres_base_url()
        self.prefix = f"abrec_test_{secrets.token_hex(4)}"
        self.schemas: list[str] = []
        self.error: str | None = None
        self.engine: sa.Engine | None = None
        try:
            engine = sa.create_engine(self.base, connect_args={"connect_timeout": 3}, poolclass=sa.pool.NullPool)
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
            self.engine = engine
        except Exception as exc:
            self.error = (
                f"PostgreSQL at {self.base} is not reachable ({type(exc).__name__}: {str(exc).splitlines()[0]})"
            )
        self.main: str | None = None

    def schema(self, suffix: str = "") -> str:
        if self.engine is None:
            missing(f"{self.error}; set ABREC_TEST_POSTGRES_URL or start PostgreSQL to run the postgresql cases")
        name = self.prefix + suffix
        with self.engine.begin() as connection:
            connection.execute(sa.text(f"CREATE SCHEMA {name}"))
        self.schemas.append(name)
        return name

    def migrated_url(self) -> str:
        if self.main is None:
            schema = self.schema()
            upgrade(with_schema(self.base, schema))
            self.main = schema
        url = with_schema(self.base, self.main)
        assert self.engine is not None
        with self.engine.begin() as connection:
            connection.execute(sa.text(f"TRUNCATE {', '.join(f'{self.main}.{t}' for t in TABLES)} RESTART IDENTITY"))
        return url

    def drop(self) -> None:
        if self.engine is None:
            return
        with self.engine.begin() as connection:
            for name in self.schemas:
                connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
        self.engine.dispose()


@pytest.fixture(scope="session")
def _postgres() -> Iterator[_Postgres]:
    server = _Postgres()
    yield server
    server.drop()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database kind of this case: ``sqlite`` or ``postgresql``."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, _postgres: _Postgres) -> str:
    """The URL of an empty database at the migration head (see the module docstring)."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'abrec.db'}"
        upgrade(url)
        return url
    return _postgres.migrated_url()


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path, _postgres: _Postgres) -> str:
    """The URL of a database without abrec's tables (a fresh SQLite file, or a fresh PostgreSQL schema)."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return with_schema(_postgres.base, _postgres.schema(f"_{secrets.token_hex(3)}"))


@pytest.fixture
def store(database_url: str) -> Iterator[EventStore]:
    """An :class:`~abrec.store.EventStore` on ``database_url``, closed after the test."""
    with EventStore(database_url) as opened:
        yield opened
