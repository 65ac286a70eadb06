"""The session index holds only the decisions of experiments with agent variants (the ``stateful`` rows).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Every decision used to enter ``ix_decisions_session`` (experiment, unit, session, step), whose key starts with the
unit: a random place in the index for each row, so each row of a group commit dirtied a page of its own. Only
agents read sessions, so the index becomes partial, on a new column ``stateful``. Rows stored before this
revision are marked stateful (they stay in the index, as before); the service marks the decisions of an
experiment without agent variants as not stateful.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = ["experiment", "unit", "session_id", "step"]


def upgrade() -> None:
    op.add_column("decisions", sa.Column("stateful", sa.Boolean, nullable=False, server_default=sa.true()))
    op.drop_index("ix_decisions_session", "decisions")
    op.create_index(
        "ix_decisions_session",
        "decisions",
        _COLUMNS,
        sqlite_where=sa.text("stateful = 1"),
        postgresql_where=sa.text("stateful"),
    )


def downgrade() -> None:
    op.drop_index("ix_decisions_session", "decisions")
    op.create_index("ix_decisions_session", "decisions", _COLUMNS)
    op.drop_column("decisions", "stateful")
