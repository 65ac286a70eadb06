"""Sufficient statistics of every experiment (abrec.store.stats), backfilled from the rows already stored.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

The tables are created from their definitions in :mod:`abrec.store.schema` (as of this revision) and filled
by one :func:`abrec.store.stats.fold` of every decision, reward and journal entry stored so far, in the
migration's transaction: the statistics and their cursor are committed together with the new revision.
"""

from __future__ import annotations

from alembic import op

from abrec.store import schema
from abrec.store.stats import fold

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

TABLES = (
    schema.stat_cursor,
    schema.stat_units,
    schema.stat_cells,
    schema.stat_metrics,
    schema.stat_items,
    schema.stat_history,
)


def upgrade() -> None:
    connection = op.get_bind()
    for table in TABLES:
        table.create(connection)
    fold(connection)


def downgrade() -> None:
    connection = op.get_bind()
    for table in reversed(TABLES):
        table.drop(connection)
