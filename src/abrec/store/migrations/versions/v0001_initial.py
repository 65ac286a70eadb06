"""Every table of the decision service: experiments, allocations, assignments, items, decisions, rewards,
journal, snapshots and API keys.

Revision ID: 0001
Revises:
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("reward_kind", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "allocations",
        sa.Column("experiment", sa.Text, primary_key=True),
        sa.Column("period", sa.BigInteger, primary_key=True),
        sa.Column("weights", sa.Text, nullable=False),
        sa.Column("ranges", sa.Text, nullable=False),
        sa.Column("salt", sa.Text, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
    )
    op.create_table(
        "assignments",
        sa.Column("experiment", sa.Text, primary_key=True),
        sa.Column("unit", sa.Text, primary_key=True),
        sa.Column("variant", sa.Text, nullable=False),
        sa.Column("period", sa.BigInteger, nullable=False),
        sa.Column("assigned_at", sa.Float, nullable=False),
    )
    op.create_table(
        "items",
        sa.Column("item_id", sa.Text, primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("experiment", sa.Text, nullable=False),
        sa.Column("client_request_id", sa.Text, nullable=True),
        sa.Column("unit", sa.Text, nullable=False),
        sa.Column("variant", sa.Text, nullable=False),
        sa.Column("period", sa.BigInteger, nullable=False),
        sa.Column("assignment_p", sa.Float, nullable=False),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("policy_version", sa.Text, nullable=False),
        sa.Column("snapshot_version", sa.BigInteger, nullable=False),
        sa.Column("k", sa.Integer, nullable=False),
        sa.Column("n_shown", sa.Integer, nullable=False),
        sa.Column("items", sa.Text, nullable=False),
        sa.Column("propensities", sa.Text, nullable=False),
        sa.Column("scores", sa.Text, nullable=False),
        sa.Column("propensity_draws", sa.BigInteger, nullable=False),
        sa.Column("candidates", sa.Text, nullable=False),
        sa.Column("context", sa.Text, nullable=True),
        sa.Column("session_id", sa.Text, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("window_closes_at", sa.Float, nullable=False),
        sa.UniqueConstraint("event_id", name="uq_decisions_event_id"),
        sa.UniqueConstraint("experiment", "client_request_id", name="uq_decisions_client_request"),
    )
    op.create_index("ix_decisions_experiment_created", "decisions", ["experiment", "created_at"])
    op.create_index("ix_decisions_window", "decisions", ["window_closes_at"])
    op.create_table(
        "rewards",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("item", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.UniqueConstraint("event_id", "item", "kind", name="uq_rewards_event_item_kind"),
    )
    op.create_table(
        "journal",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("experiment", sa.Text, nullable=False),
        sa.Column("variant", sa.Text, nullable=False),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("item", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("batch", sa.BigInteger, nullable=False),
        sa.Column("learned_at", sa.Float, nullable=False),
        sa.UniqueConstraint("event_id", "item", name="uq_journal_event_item"),
    )
    op.create_index("ix_journal_variant_seq", "journal", ["experiment", "variant", "seq"])
    op.create_table(
        "snapshots",
        sa.Column("experiment", sa.Text, primary_key=True),
        sa.Column("variant", sa.Text, primary_key=True),
        sa.Column("version", sa.BigInteger, primary_key=True),
        sa.Column("journal_seq", sa.BigInteger, nullable=False),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("state", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("hash", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float, nullable=True),
    )


def downgrade() -> None:
    for table in ("api_keys", "snapshots", "journal", "rewards", "decisions", "items", "assignments", "allocations"):
        op.drop_table(table)
    op.drop_table("experiments")
