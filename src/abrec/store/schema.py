"""The event store's tables (SQLAlchemy Core), as the migrations in ``migrations/versions`` create them.

Times are float Unix seconds (UTC; exact to the microsecond both ways), JSON values are text, policy states
are bytes. ``tests/store/test_migrations.py`` checks that the migrated database matches these definitions.
"""

from __future__ import annotations

import sqlalchemy as sa

__all__ = [
    "allocations",
    "api_keys",
    "assignments",
    "audit",
    "decisions",
    "experiments",
    "items",
    "journal",
    "metadata",
    "rewards",
    "snapshots",
    "stat_cells",
    "stat_cursor",
    "stat_history",
    "stat_items",
    "stat_metrics",
    "stat_units",
]

metadata = sa.MetaData()

#: A 64-bit autoincrement key (SQLite's rowid alias must be declared INTEGER).
SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.Float()

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("config", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("reward_kind", sa.Text, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
)

allocations = sa.Table(
    "allocations",
    metadata,
    sa.Column("experiment", sa.Text, primary_key=True),
    sa.Column("period", sa.BigInteger, primary_key=True),
    sa.Column("weights", sa.Text, nullable=False),
    sa.Column("ranges", sa.Text, nullable=False),
    sa.Column("salt", sa.Text, nullable=False),
    sa.Column("started_at", TIME, nullable=False),
)

assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("experiment", sa.Text, primary_key=True),
    sa.Column("unit", sa.Text, primary_key=True),
    sa.Column("variant", sa.Text, nullable=False),
    sa.Column("period", sa.BigInteger, nullable=False),
    sa.Column("assigned_at", TIME, nullable=False),
)

items = sa.Table(
    "items",
    metadata,
    sa.Column("item_id", sa.Text, primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
)

decisions = sa.Table(
    "decisions",
    metadata,
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
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("window_closes_at", TIME, nullable=False),
    # Whether the row is in the session index: false for experiments without agent variants, which never read
    # sessions (0005); rows stored before 0005 and rows of an experiment the store was not told about are in it.
    sa.Column("stateful", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.UniqueConstraint("event_id", name="uq_decisions_event_id"),
    sa.UniqueConstraint("experiment", "client_request_id", name="uq_decisions_client_request"),
    sa.Index("ix_decisions_experiment_created", "experiment", "created_at"),
    sa.Index("ix_decisions_window", "window_closes_at"),
    # agents' sessions (0004), of the stateful rows only (0005): every other decision skips a random-keyed index
    sa.Index(
        "ix_decisions_session",
        "experiment",
        "unit",
        "session_id",
        "step",
        sqlite_where=sa.text("stateful = 1"),
        postgresql_where=sa.text("stateful"),
    ),
)

rewards = sa.Table(
    "rewards",
    metadata,
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("item", sa.Text, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("received_at", TIME, nullable=False),
    sa.Column("late", sa.Boolean, nullable=False),
    sa.UniqueConstraint("event_id", "item", "kind", name="uq_rewards_event_item_kind"),
)

journal = sa.Table(
    "journal",
    metadata,
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
    sa.Column("experiment", sa.Text, nullable=False),
    sa.Column("variant", sa.Text, nullable=False),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("item", sa.Text, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("batch", sa.BigInteger, nullable=False),
    sa.Column("learned_at", TIME, nullable=False),
    sa.UniqueConstraint("event_id", "item", name="uq_journal_event_item"),
    sa.Index("ix_journal_variant_seq", "experiment", "variant", "seq"),
)

snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("experiment", sa.Text, primary_key=True),
    sa.Column("variant", sa.Text, primary_key=True),
    sa.Column("version", sa.BigInteger, primary_key=True),
    sa.Column("journal_seq", sa.BigInteger, nullable=False),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("state", sa.LargeBinary, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
    sa.Column("created_at", TIME, nullable=False),
    sa.Column("revoked_at", TIME, nullable=True),
)

#: Every change made through the admin API (migration 0002): who (the key's name), what, when.
audit = sa.Table(
    "audit",
    metadata,
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
    sa.Column("at", TIME, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("experiment", sa.Text, nullable=True),
    sa.Column("details", sa.Text, nullable=False),
    sa.Index("ix_audit_experiment_seq", "experiment", "seq"),
)

# Sufficient statistics of every experiment (migration 0003), kept by abrec.store.stats.fold: see that module.
_COUNT = sa.BigInteger

#: The last decision, reward and journal seq folded into the statistics (one row, id 1).
stat_cursor = sa.Table(
    "stat_cursor",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("decisions_seq", sa.BigInteger, nullable=False),
    sa.Column("rewards_seq", sa.BigInteger, nullable=False),
    sa.Column("journal_seq", sa.BigInteger, nullable=False),
    sa.Column("updated_at", TIME, nullable=False),
)

#: One row per (experiment, unit): its variant, first period, shown items and, per reward kind (JSON),
#: ``[total, positive rows]``.
stat_units = sa.Table(
    "stat_units",
    metadata,
    sa.Column("experiment", sa.Text, primary_key=True),
    sa.Column("unit", sa.Text, primary_key=True),
    sa.Column("variant", sa.Text, nullable=False),
    sa.Column("period", sa.BigInteger, nullable=False),
    sa.Column("shown", _COUNT, nullable=False),
    sa.Column("leaked", sa.Boolean, nullable=False),
    sa.Column("kinds", sa.Text, nullable=False),
)

#: One row per (experiment, period, variant): unit sums (by the units' first period) and counts (by the
#: decisions' period), and the logged assignment probabilities' range.
stat_cells = sa.Table(
    "stat_cells",
    metadata,
    sa.Column("experiment", sa.Text, primary_key=True),
    sa.Column("period", sa.BigInteger, primary_key=True),
    sa.Column("variant", sa.Text, primary_key=True),
    sa.Column("units", sa.Float, nullable=False),
    sa.Column("rows_sum", sa.Float, nullable=False),
    sa.Column("rows_sq", sa.Float, nullable=False),
    sa.Column("leaked", sa.Float, nullable=False),
    sa.Column("decisions", _COUNT, nullable=False),
    sa.Column("shown", _COUNT, nullable=False),
    sa.Column("rewards", _COUNT, nullable=False),
    sa.Column("late", _COUNT, nullable=False),
    sa.Column("journaled", _COUNT, nullable=False),
    sa.Column("defaulted", _COUNT, nullable=False),
    sa.Column("p_min", sa.Float, nullable=True),
    sa.Column("p_max", sa.Float, nullable=True),
)

#: One row per (experiment, period, variant, reward kind): unit sums of the kind's per-unit total.
stat_metrics = sa.Table(
    "stat_metrics",
    metadata,
    sa.Column("experiment", sa.Text, primary_key=True),
    sa.Column("period", sa.BigInteger, primary_key=True),
    sa.Column("variant", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("total", sa.Float, nullable=False),
    sa.Column("total_sq", sa.Float, nullable=False),
    sa.Column("positive", sa.Float, nullable=False),
    sa.Column("cross", sa.Float, nullable=False),
    sa.Column("on_time", _COUNT, nullable=False),
)

#: Per (experiment, variant, item): times shown and the primary reward total.
stat_items = sa.Table(
    "stat_items",
    metadata,
    sa.Column("experiment", sa.Text, primary_key=True),
    sa.Column("variant", sa.Text, primary_key=True),
    sa.Column("item", sa.Text, primary_key=True),
    sa.Column("shown", _COUNT, nullable=False),
    sa.Column("reward_sum", sa.Float, nullable=False),
)

#: The primary metric's unit sums per variant over time (a point at most every HISTORY_EVERY seconds).
stat_history = sa.Table(
    "stat_history",
    metadata,
    sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
    sa.Column("experiment", sa.Text, nullable=False),
    sa.Column("variant", sa.Text, nullable=False),
    sa.Column("at", TIME, nullable=False),
    sa.Column("units", sa.Float, nullable=False),
    sa.Column("total", sa.Float, nullable=False),
    sa.Column("total_sq", sa.Float, nullable=False),
    sa.Index("ix_stat_history_experiment_at", "experiment", "at"),
)
