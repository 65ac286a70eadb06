"""Alembic's environment: migrate the connection that :func:`abrec.store.upgrade` hands over.

Alembic runs this file for every command; imported any other way (a doctest collector) it does nothing.
"""

from __future__ import annotations

from alembic import context

from abrec.store.schema import metadata


def _run() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=metadata, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


if getattr(context, "_proxy", None) is not None:
    _run()
