"""An index on the decisions of a session: agents read a unit's session at every decide and learner batch.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index("ix_decisions_session", "decisions", ["experiment", "unit", "session_id", "step"])


def downgrade() -> None:
    op.drop_index("ix_decisions_session", "decisions")
