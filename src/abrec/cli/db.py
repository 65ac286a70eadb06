"""``abrec db upgrade``: create the decision service's tables, or migrate them to this abrec's version.

:mod:`abrec.store` (SQLAlchemy, Alembic: the ``serve`` extra) is imported when a command runs, so that the
rest of the command line works without the extra.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Annotated

import typer

from ..errors import AbrecError
from ._help import ReadableCommand

__all__ = ["DATABASE_URL_HELP", "ENV_VAR", "app", "load_store"]

ENV_VAR = "ABREC_DATABASE_URL"
DATABASE_URL_HELP = (
    "The database: sqlite:///path/abrec.db or postgresql+psycopg://user@host:5432/dbname "
    f"(default: ${ENV_VAR}, else sqlite:///abrec.db)."
)

app = typer.Typer(
    name="db",
    help="The decision service's database (SQLite or PostgreSQL).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


def load_store() -> ModuleType:
    """:mod:`abrec.store`, or a user error saying which extra to install when its dependencies are missing."""
    try:
        return importlib.import_module("abrec.store")
    except ImportError as exc:
        raise AbrecError(
            f"The event store needs the 'serve' extra ({exc.name or exc} is missing): pip install 'abrec[serve]'."
        ) from exc


@app.command("upgrade", cls=ReadableCommand)
def db_upgrade(
    url: Annotated[str | None, typer.Option("--database-url", envvar=ENV_VAR, help=DATABASE_URL_HELP)] = None,
) -> None:
    """Create the tables of the decision service's database, or migrate them to this abrec's version
    (a database already there is left as it is)."""
    store = load_store()
    target = store.database_url(url)
    revision = store.upgrade(target)
    typer.echo(f"{store.engine.shown(target)}: at revision {revision} (the newest)")
