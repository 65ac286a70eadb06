"""The decision service's durable event store: SQLite (default) or PostgreSQL, through SQLAlchemy and Alembic.

- :func:`database_url`, :func:`upgrade`: which database, and creating/migrating its tables (``abrec db upgrade``);
- :class:`EventStore`: decisions, rewards, assignments, the learner's journal and policy snapshots; each
  :meth:`~EventStore.write` is one transaction that returns after its COMMIT is on disk;
- :class:`GroupCommitter`: concurrent writes merged into shared transactions (fast and still durable);
- the records (:mod:`abrec.store.records`) and :class:`LearnerLock`.

Examples
--------
>>> import pathlib, tempfile
>>> from datetime import UTC, datetime, timedelta
>>> from abrec.abtest.assignment import Experiment
>>> url = f"sqlite:///{pathlib.Path(tempfile.mkdtemp()) / 'abrec.db'}"
>>> upgrade(url)
'0005'
>>> store = EventStore(url)
>>> now = datetime.now(UTC)
>>> exp = Experiment.create("home", {"control": 0.5, "treatment": 0.5})
>>> store.put_experiment("home", {"variants": ["control", "treatment"]},
...                      AllocationRow.from_experiment(exp, period=0, started_at=now))
>>> decision = DecisionRow(event_id="e1", experiment="home", unit="alice", variant="control", period=0,
...     assignment_p=0.5, policy="uniform", policy_version="1", k=2, items=("7", "3"), propensities=(0.5, 0.5),
...     created_at=now, window_closes_at=now + timedelta(hours=1))
>>> reward = RewardRow(event_id="e1", item="3", kind="click", value=1.0, received_at=now)
>>> result = store.write(WriteBatch(decisions=[decision], rewards=[reward]))
>>> result.decisions[0].status, result.rewards[0].status, result.rewards[0].reward.position
('stored', 'stored', 1)
>>> store.write(WriteBatch(rewards=[reward])).rewards[0].status  # a retry is never stored twice
'duplicate'
>>> log = store.export_log("home")
>>> frame = log.frame  # item ids that are all integers are int64 in a log, as when it is read from CSV
>>> frame["item"].tolist(), frame["position"].tolist(), frame["reward"].tolist(), frame["event_id"].tolist()
([7, 3], [0, 1], [0.0, 1.0], ['e1/0', 'e1/1'])
>>> store.close()
"""

from __future__ import annotations

from .engine import database_url
from .errors import SchemaVersionError, StoreError
from .event_store import EventStore
from .group_commit import GroupCommitter
from .lock import LearnerLock
from .migrate import upgrade
from .records import (
    AllocationRow,
    Assignment,
    DecisionOutcome,
    DecisionRow,
    ExperimentRow,
    JournalEntry,
    RewardOutcome,
    RewardRow,
    Snapshot,
    WriteBatch,
    WriteResult,
)

__all__ = [
    "AllocationRow",
    "Assignment",
    "DecisionOutcome",
    "DecisionRow",
    "EventStore",
    "ExperimentRow",
    "GroupCommitter",
    "JournalEntry",
    "LearnerLock",
    "RewardOutcome",
    "RewardRow",
    "SchemaVersionError",
    "Snapshot",
    "StoreError",
    "WriteBatch",
    "WriteResult",
    "database_url",
    "upgrade",
]
