"""Alembic, configured in code: :func:`upgrade` brings a database to the head revision, no ``alembic.ini``.

Concurrent upgrades (several workers starting at once) are serialised: by ``BEGIN IMMEDIATE`` on SQLite, by
a transaction-level advisory lock on PostgreSQL.
"""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import DBAPIError

from .engine import BEGIN_OPTION, create_store_engine, database_url, is_sqlite, shown
from .errors import SchemaVersionError, StoreError

__all__ = ["MIGRATIONS", "check_head", "current_revision", "head_revision", "upgrade"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK = 0x61627265635F6D69  # "abrec_mi": one key for every upgrade of a database


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@functools.cache
def head_revision() -> str:
    """The newest revision this abrec's migrations know."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at (None: no abrec tables yet)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(url: str | None = None, *, schema: str | None = None) -> str:
    """Create or migrate the store's tables at ``url`` (see :func:`~abrec.store.engine.database_url`) to
    the head revision and return it; at head already, nothing changes.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> upgrade(f"sqlite:///{pathlib.Path(tempfile.mkdtemp()) / 'abrec.db'}")
    '0005'
    """
    url = database_url(url)
    engine = create_store_engine(url, schema=schema)
    try:
        with engine.connect().execution_options(**{BEGIN_OPTION: "IMMEDIATE"}) as connection:
            with connection.begin():
                if not is_sqlite(engine):
                    connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
                config = _config()
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                revision = current_revision(connection)
    except DBAPIError as exc:
        raise StoreError(f"Cannot create or migrate the tables of {shown(url)}: {exc.orig}") from exc
    finally:
        engine.dispose()
    assert revision is not None
    return revision


def check_head(connection: sa.Connection, url: str) -> None:
    """Raise :class:`~abrec.store.errors.SchemaVersionError` unless the database is at the head revision."""
    found = current_revision(connection)
    head = head_revision()
    if found == head:
        return
    state = "has no abrec tables" if found is None else f"is at revision {found!r}"
    raise SchemaVersionError(
        f"The database {shown(url)} {state}; this abrec needs revision {head!r}. "
        f"Run `abrec db upgrade --database-url {shown(url)}` first."
    )
