"""The event store: every decision, reward, assignment, learned value and policy snapshot of the service.

One :class:`EventStore` per process; it is thread-safe (each call takes its own pooled connection). Every
write is one transaction that returns only after its COMMIT is on disk (see :mod:`abrec.store.engine`).
Writers are serialised: ``BEGIN IMMEDIATE`` on SQLite, a transaction-level advisory lock on PostgreSQL, so
the row numbers (``seq``) of decisions and rewards grow in commit order and a reader that remembers the last
``seq`` it saw never misses a row committed later. Group commit (:class:`~abrec.store.group_commit.GroupCommitter`)
merges concurrent requests into one such transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from ..data.interactions import InteractionLog
from ..errors import InputError, UnknownNameError
from . import _rows, schema, stats
from ._write import fetch, write_batch
from .engine import BEGIN_OPTION, create_store_engine, database_url, is_sqlite, shown
from .errors import SchemaVersionError, StoreError
from .lock import LearnerLock, WriteMutex
from .migrate import check_head
from .records import (
    AllocationRow,
    DecisionRow,
    ExperimentRow,
    ExperimentStatus,
    JournalEntry,
    RewardRow,
    Snapshot,
    WriteBatch,
    WriteResult,
)

__all__ = ["EventStore"]

_D, _R, _J = schema.decisions, schema.rewards, schema.journal
_DECISION_COLUMNS = list(_D.c)
#: A session's earlier steps with their on-time rewards of a kind (EventStore.session_history), built once.
_SESSION_HISTORY = (
    sa.select(_D.c.event_id, _D.c["items"], _R.c.item, _R.c.value)
    .select_from(
        _D.outerjoin(_R, (_R.c.event_id == _D.c.event_id) & (_R.c.kind == sa.bindparam("kind")) & sa.not_(_R.c.late))
    )
    .where(
        (_D.c.experiment == sa.bindparam("experiment"))
        & (_D.c.unit == sa.bindparam("unit"))
        & (_D.c.session_id == sa.bindparam("session_id"))
        & (_D.c.step < sa.bindparam("step"))
        & _D.c.stateful  # the session index holds these rows only (0005)
    )
    .order_by(_D.c.step, _D.c.seq)
)


def _key(scope: str, name: str) -> int:
    """A signed 64-bit advisory lock key for ``name`` within the schema ``scope``."""
    return int.from_bytes(hashlib.sha256(f"abrec:{scope}:{name}".encode()).digest()[:8], "big", signed=True)


class EventStore:
    """The decision service's database (SQLite file or PostgreSQL), at the migration head.

    Parameters
    ----------
    url : str
        ``sqlite:///path/abrec.db`` or ``postgresql+psycopg://user@host:5432/db`` (see
        :func:`~abrec.store.engine.database_url`).
    schema : str, optional
        PostgreSQL only: the schema holding the tables (its ``search_path``); tests use a fresh one.

    Raises
    ------
    abrec.store.errors.SchemaVersionError
        The database is not at this abrec's migration head: run ``abrec db upgrade``.
    abrec.store.errors.StoreError
        The database cannot be reached.
    """

    def __init__(self, url: str, *, schema: str | None = None) -> None:
        self.url = database_url(url)
        self.engine = create_store_engine(self.url, schema=schema)
        path = self.engine.url.database
        if is_sqlite(self.engine) and path and not Path(path).exists():
            self.engine.dispose()
            raise SchemaVersionError(
                f"There is no database at {path}; create it with `abrec db upgrade --database-url {shown(self.url)}`."
            )
        self.dialect = self.engine.dialect.name
        try:
            with self.engine.connect() as connection:
                check_head(connection, self.url)
                scope = (
                    "" if is_sqlite(self.engine) else connection.execute(sa.text("SELECT current_schema()")).scalar()
                )
                connection.rollback()
        except DBAPIError as exc:
            self.engine.dispose()
            raise StoreError(f"Cannot open the database {shown(self.url)}: {exc.orig}") from exc
        except BaseException:
            self.engine.dispose()
            raise
        self._write_key = _key(str(scope), "write")
        self._learner_key = _key(str(scope), "learner")
        #: SQLite: every abrec writer queues for the database's write turn (lock.WriteMutex); PostgreSQL's
        #: writers queue on the transaction-level advisory lock instead.
        self._write_mutex: WriteMutex | None = None
        self._stateless: frozenset[str] = frozenset()  # experiments whose decisions skip the session index
        if is_sqlite(self.engine) and path and path != ":memory:":
            self._write_mutex = WriteMutex(Path(path).resolve().with_name(Path(path).name + ".write.lock"))

    def __repr__(self) -> str:
        return f"EventStore({shown(self.url)!r})"

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
        if self._write_mutex is not None:
            self._write_mutex.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def ping(self) -> None:
        """Raise :class:`~abrec.store.errors.StoreError` unless the database answers (for ``/readyz``)."""
        try:
            with self.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
                connection.rollback()
        except DBAPIError as exc:
            raise StoreError(f"The database {shown(self.url)} does not answer: {exc.orig}") from exc

    @contextmanager
    def _writing(self) -> Iterator[sa.Connection]:
        """A serialised write transaction, committed (durably) when the block ends without error."""
        with contextlib.ExitStack() as turn:
            if self._write_mutex is not None:
                turn.enter_context(self._write_mutex.held())
            with self.engine.connect().execution_options(**{BEGIN_OPTION: "IMMEDIATE"}) as connection:
                with connection.begin():
                    if not is_sqlite(self.engine):
                        fetch(connection, "SELECT pg_advisory_xact_lock(%s)", (self._write_key,))
                    yield connection

    @contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as connection:
            try:
                yield connection
            finally:
                connection.rollback()

    # -- experiments and allocations ------------------------------------------------------------------------

    def put_experiment(
        self,
        name: str,
        config: Mapping[str, Any],
        allocation: AllocationRow,
        *,
        reward_kind: str = "click",
        replace: bool = False,
    ) -> None:
        """Store experiment ``name`` with its ``config``, primary ``reward_kind`` and first ``allocation``.

        Idempotent: when it is stored already with the same config and reward kind, nothing changes (its
        allocations are kept). Another config raises :class:`~abrec.errors.InputError`, unless ``replace``
        (the config and reward kind are overwritten; status and allocations are kept).
        """
        now = datetime.now(allocation.started_at.tzinfo)
        row = ExperimentRow(name=name, config=dict(config), reward_kind=reward_kind, created_at=now)
        if allocation.experiment != name:
            raise InputError(f"put_experiment({name!r}) got the allocation of experiment {allocation.experiment!r}.")
        text = json.dumps(row.config, sort_keys=True, allow_nan=False)
        e = schema.experiments
        with self._writing() as connection:
            found = connection.execute(sa.select(e.c.config, e.c.reward_kind).where(e.c.name == name)).first()
            if found is None:
                values = {"name": name, "config": text, "status": row.status, "reward_kind": reward_kind}
                connection.execute(sa.insert(e), {**values, "created_at": _rows.ts(now)})
                self._insert_allocation(connection, allocation)
                return
            if found.config == text and found.reward_kind == reward_kind:
                return
            if not replace:
                raise InputError(
                    f"Experiment {name!r} is stored with another config or reward kind "
                    f"({found.reward_kind!r}: {_diff(json.loads(found.config), row.config)}); a running experiment "
                    "keeps its definition: give the new one another name (or pass replace=True)."
                )
            connection.execute(sa.update(e).where(e.c.name == name).values(config=text, reward_kind=reward_kind))

    def set_status(self, name: str, status: ExperimentStatus) -> None:
        """Set experiment ``name``'s status ('running', 'paused' or 'stopped')."""
        if status not in ("running", "paused", "stopped"):
            raise InputError(f"An experiment's status is 'running', 'paused' or 'stopped'; got {status!r}.")
        e = schema.experiments
        with self._writing() as connection:
            if connection.execute(sa.update(e).where(e.c.name == name).values(status=status)).rowcount == 0:
                raise UnknownNameError("experiment", name, self._names(connection))

    def experiments(self) -> list[ExperimentRow]:
        """Every stored experiment, by name."""
        e = schema.experiments
        with self._reading() as connection:
            rows = connection.execute(sa.select(*e.c).order_by(e.c.name)).mappings().all()
        return [
            ExperimentRow(
                name=r["name"],
                config=json.loads(r["config"]),
                status=r["status"],
                reward_kind=r["reward_kind"],
                created_at=_rows.dt(r["created_at"]),
            )
            for r in rows
        ]

    def _names(self, connection: sa.Connection) -> list[str]:
        return list(connection.execute(sa.select(schema.experiments.c.name)).scalars())

    def allocation(self, experiment: str) -> AllocationRow:
        """The allocation in force now: the one of ``experiment``'s latest period."""
        rows = self._allocations(experiment, latest=True)
        return rows[-1]

    def allocations(self, experiment: str) -> list[AllocationRow]:
        """Every allocation of ``experiment``, by period."""
        return self._allocations(experiment, latest=False)

    def _allocations(self, experiment: str, *, latest: bool) -> list[AllocationRow]:
        a = schema.allocations
        query = sa.select(*a.c).where(a.c.experiment == experiment)
        query = query.order_by(a.c.period.desc()).limit(1) if latest else query.order_by(a.c.period)
        with self._reading() as connection:
            rows = connection.execute(query).mappings().all()
            if not rows:
                raise UnknownNameError("experiment", experiment, self._names(connection))
        return [
            AllocationRow(
                experiment=r["experiment"],
                period=r["period"],
                weights=json.loads(r["weights"]),
                ranges=tuple(tuple(x) for x in json.loads(r["ranges"])),
                salt=r["salt"],
                started_at=_rows.dt(r["started_at"]),
            )
            for r in rows
        ]

    def put_allocation(self, row: AllocationRow) -> None:
        """Store a new allocation period (an identical row stored before is a no-op; another one raises)."""
        with self._writing() as connection:
            names = self._names(connection)
            if row.experiment not in names:
                raise UnknownNameError("experiment", row.experiment, names)
            self._insert_allocation(connection, row)

    def _insert_allocation(self, connection: sa.Connection, row: AllocationRow) -> None:
        a = schema.allocations
        values = {
            "experiment": row.experiment,
            "period": row.period,
            "weights": json.dumps(dict(row.weights)),
            "ranges": json.dumps([list(r) for r in row.ranges]),
            "salt": row.salt,
            "started_at": _rows.ts(row.started_at),
        }
        key = (a.c.experiment == row.experiment) & (a.c.period == row.period)
        found = connection.execute(sa.select(a.c.weights, a.c.ranges, a.c.salt).where(key)).first()
        if found is None:
            connection.execute(sa.insert(a), values)
        elif (found.weights, found.ranges, found.salt) != (values["weights"], values["ranges"], values["salt"]):
            raise InputError(
                f"Experiment {row.experiment!r} already has another allocation for period {row.period}; "
                "a new allocation takes the next period."
            )

    def assignments(self, experiment: str, units: Sequence[str]) -> dict[str, str]:
        """The sticky variants of those of ``units`` assigned before in ``experiment``."""
        a = schema.assignments
        out: dict[str, str] = {}
        with self._reading() as connection:
            for chunk in _rows.chunks(dict.fromkeys(units)):
                query = sa.select(a.c.unit, a.c.variant).where((a.c.experiment == experiment) & a.c.unit.in_(chunk))
                out.update((unit, variant) for unit, variant in connection.execute(query))
        return out

    def item_texts(self, item_ids: Sequence[str] | None = None) -> dict[str, str]:
        """The stored texts of items first seen in a decide (all of them, or those among ``item_ids``)."""
        i = schema.items
        with self._reading() as connection:
            if item_ids is None:
                return {item: text for item, text in connection.execute(sa.select(i.c.item_id, i.c.text))}
            out: dict[str, str] = {}
            for chunk in _rows.chunks(dict.fromkeys(item_ids)):
                query = sa.select(i.c.item_id, i.c.text).where(i.c.item_id.in_(chunk))
                out.update((item, text) for item, text in connection.execute(query))
            return out

    # -- writes ---------------------------------------------------------------------------------------------

    def write(self, batch: WriteBatch) -> WriteResult:
        """Write ``batch`` in one transaction; return once it is committed on disk.

        Each decision is ``stored``, or ``replayed`` when its (experiment, client request id) is stored (the
        stored decision is returned, nothing is written). Each reward is ``stored``, ``late`` (stored, after
        the window closed), ``duplicate`` (same value stored before: nothing written), ``conflict`` (another
        value stored before), ``unknown_event`` or ``wrong_item`` (nothing written). Assignments and items are
        inserted unless present (the first row wins). One bad operation never rolls back the others; a
        database error raises and nothing of the batch is written.
        """
        with self._writing() as connection:
            return write_batch(connection, batch, self._stateless)

    def index_sessions(self, experiment: str, agents: bool) -> None:
        """Say whether ``experiment`` has agent variants (which read sessions): the decisions this store writes
        for an experiment without them stay out of the session index (cheaper to insert) and are never found by
        the session reads. Experiments it was not told about are indexed."""
        if agents:
            self._stateless = self._stateless - {experiment}
        else:
            self._stateless = self._stateless | {experiment}

    # -- reads for the learner and the service --------------------------------------------------------------

    def decisions(self, event_ids: Sequence[str]) -> dict[str, DecisionRow]:
        """The stored decisions among ``event_ids``, by event id (unknown ids are left out)."""
        out: dict[str, DecisionRow] = {}
        with self._reading() as connection:
            for chunk in _rows.chunks(dict.fromkeys(event_ids)):
                query = sa.select(*_DECISION_COLUMNS).where(_D.c.event_id.in_(chunk))
                for row in connection.execute(query).mappings():
                    out[row["event_id"]] = _rows.decision_row(row)
        return out

    def unjournaled_rewards(self, after_seq: int, limit: int) -> list[RewardRow]:
        """On-time rewards of their experiment's reward kind, not journaled yet, with ``seq > after_seq``,
        oldest first (at most ``limit``): what the learner learns next."""
        e = schema.experiments
        journaled = sa.exists().where((_J.c.event_id == _R.c.event_id) & (_J.c.item == _R.c.item))
        query = (
            sa.select(*_R.c)
            .join(_D, _D.c.event_id == _R.c.event_id)
            .join(e, e.c.name == _D.c.experiment)
            .where((_R.c.seq > after_seq) & sa.not_(_R.c.late) & (_R.c.kind == e.c.reward_kind) & ~journaled)
            .order_by(_R.c.seq)
            .limit(limit)
        )
        with self._reading() as connection:
            return [_rows.reward_row(row) for row in connection.execute(query).mappings()]

    def closed_unrewarded(
        self, now: datetime, limit: int, *, since: datetime | None = None
    ) -> list[tuple[DecisionRow, str, int]]:
        """Shown (decision, item, position) whose reward window closed by ``now`` without an on-time reward of
        the experiment's kind and that are not journaled: they learn the default reward. At most ``limit``,
        by window close time, then position.

        ``since`` skips decisions whose window closed at or before it (the learner passes the ``now`` of its
        previous call that returned fewer than ``limit``; everything closed by then is journaled).
        """
        e = schema.experiments
        count = sa.select(sa.func.count()).where(_J.c.event_id == _D.c.event_id).scalar_subquery()
        where = (_D.c.window_closes_at <= _rows.ts(now)) & (count < _D.c.n_shown)
        if since is not None:
            where &= _D.c.window_closes_at > _rows.ts(since)
        query = sa.select(*_DECISION_COLUMNS).where(where).order_by(_D.c.window_closes_at, _D.c.seq).limit(limit)
        out: list[tuple[DecisionRow, str, int]] = []
        with self._reading() as connection:
            found = [_rows.decision_row(row) for row in connection.execute(query).mappings()]
            done: set[tuple[str, str]] = set()
            for chunk in _rows.chunks([d.event_id for d in found]):
                rewarded = (
                    sa.select(_R.c.event_id, _R.c.item)
                    .join(_D, _D.c.event_id == _R.c.event_id)
                    .join(e, e.c.name == _D.c.experiment)
                    .where(_R.c.event_id.in_(chunk) & sa.not_(_R.c.late) & (_R.c.kind == e.c.reward_kind))
                )
                done.update((ev, it) for ev, it in connection.execute(rewarded))
                journaled = sa.select(_J.c.event_id, _J.c.item).where(_J.c.event_id.in_(chunk))
                done.update((ev, it) for ev, it in connection.execute(journaled))
        for decision in found:
            for position, item in enumerate(decision.items):
                if (decision.event_id, item) not in done:
                    out.append((decision, item, position))
                    if len(out) == limit:
                        return out
        return out

    def append_journal(self, entries: Sequence[JournalEntry]) -> list[JournalEntry]:
        """Append ``entries`` (in order, one transaction) and return them with their ``seq``.

        Only the learner holding :meth:`learner_lock` writes the journal; an (event, item) journaled twice
        raises and nothing of ``entries`` is written.
        """
        if not entries:
            return []
        params = [_rows.journal_params(e) for e in entries]
        query = sa.insert(_J).returning(_J.c.seq, sort_by_parameter_order=True)
        with self._writing() as connection:
            seqs = [row[0] for row in connection.execute(query, params)]
        return [_rows.journal_row({**p, "seq": s}) for p, s in zip(params, seqs, strict=True)]

    def journal(
        self, experiment: str, variant: str, after_seq: int = 0, limit: int | None = None
    ) -> list[JournalEntry]:
        """``variant``'s journal entries with ``seq > after_seq``, in learning order (at most ``limit``)."""
        query = (
            sa.select(*_J.c)
            .where((_J.c.experiment == experiment) & (_J.c.variant == variant) & (_J.c.seq > after_seq))
            .order_by(_J.c.seq)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._reading() as connection:
            return [_rows.journal_row(row) for row in connection.execute(query).mappings()]

    # -- session reads (agents: abrec.service.sessions) -----------------------------------------------------

    def session_decisions(
        self, experiment: str, sessions: Sequence[tuple[str, str]], *, variant: str | None = None
    ) -> dict[tuple[str, str], list[DecisionRow]]:
        """The decisions of each ``(unit, session_id)`` of ``experiment`` (of ``variant`` only, when given), in
        session order: by step, then by the order they were stored."""
        out: dict[tuple[str, str], list[DecisionRow]] = {key: [] for key in sessions}
        if not out:
            return out
        with self._reading() as connection:
            for chunk in _rows.chunks(list(out)):
                where = (_D.c.experiment == experiment) & sa.tuple_(_D.c.unit, _D.c.session_id).in_(chunk)
                where &= _D.c.stateful  # the session index holds these rows only (0005)
                if variant is not None:
                    where &= _D.c.variant == variant
                query = sa.select(*_DECISION_COLUMNS).where(where).order_by(_D.c.step, _D.c.seq)
                for row in connection.execute(query).mappings():
                    out[(row["unit"], row["session_id"])].append(_rows.decision_row(row))
        return out

    def session_history(
        self, experiment: str, unit: str, session_id: str, before_step: int, kind: str
    ) -> list[tuple[tuple[str, ...], tuple[float, ...]]]:
        """The steps of one session before ``before_step``, in session order: each step's shown items and the
        on-time rewards of ``kind`` received for them (0 for an item without one). One indexed query."""
        params = {"experiment": experiment, "unit": unit, "session_id": session_id, "step": before_step, "kind": kind}
        steps: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {}
        with self._reading() as connection:
            for event, items, item, value in connection.execute(_SESSION_HISTORY, params):
                if event not in steps:
                    steps[event] = (tuple(json.loads(items)), {})
                if item is not None:
                    steps[event][1][item] = float(value)
        return [(items, tuple(got.get(i, 0.0) for i in items)) for items, got in steps.values()]

    def sessions_changed(
        self, experiment: str, variant: str, after: datetime | None, until: datetime
    ) -> list[tuple[str, str]]:
        """The ``(unit, session_id)`` of ``variant``'s decisions created or closing in ``(after, until]``."""
        found: set[tuple[str, str]] = set()
        with self._reading() as connection:
            for column in (_D.c.created_at, _D.c.window_closes_at):  # two range scans, each on its index
                where = (_D.c.experiment == experiment) & (_D.c.variant == variant) & (column <= _rows.ts(until))
                if after is not None:
                    where &= column > _rows.ts(after)
                query = sa.select(_D.c.unit, _D.c.session_id).where(where).distinct()
                found.update((unit, session) for unit, session in connection.execute(query))
        return sorted(found)

    def journal_of(self, event_ids: Sequence[str]) -> list[JournalEntry]:
        """The journal entries of the decisions ``event_ids``, in journal order."""
        out: list[JournalEntry] = []
        with self._reading() as connection:
            for chunk in _rows.chunks(dict.fromkeys(event_ids)):
                query = sa.select(*_J.c).where(_J.c.event_id.in_(chunk))
                out.extend(_rows.journal_row(row) for row in connection.execute(query).mappings())
        return sorted(out, key=lambda e: int(e.seq or 0))

    def last_journal_batch(self) -> int:
        """The highest micro-batch number in the journal (0 when it is empty): a restarted learner goes on from it."""
        with self._reading() as connection:
            value = connection.execute(sa.select(sa.func.max(_J.c.batch))).scalar()
        return int(value or 0)

    def put_snapshot(self, snap: Snapshot) -> None:
        """Store a policy snapshot; its (experiment, variant, version) must be new."""
        s = schema.snapshots
        values = {
            "experiment": snap.experiment,
            "variant": snap.variant,
            "version": snap.version,
            "journal_seq": snap.journal_seq,
            "policy": snap.policy,
            "state": snap.state,
            "created_at": _rows.ts(snap.created_at),
        }
        key = (s.c.experiment == snap.experiment) & (s.c.variant == snap.variant) & (s.c.version == snap.version)
        with self._writing() as connection:
            if connection.execute(sa.select(s.c.version).where(key)).first() is not None:
                raise InputError(
                    f"Snapshot version {snap.version} of {snap.experiment!r}/{snap.variant!r} exists; "
                    "a snapshot is never overwritten (take the next version)."
                )
            connection.execute(sa.insert(s), values)

    def prune_snapshots(self, keep: int, *, chunk: int = 200) -> int:
        """Delete every snapshot but the newest ``keep`` versions of each variant; returns how many were deleted.

        Only the newest snapshot is ever read (the workers load it, a restarting learner replays the journal after
        it), and a learning variant gets a new one every micro-batch: a few a second under load, hundreds of
        kilobytes each for a LinUCB over a large catalog. Which variants have more than ``keep`` is read first, so
        the write turn is taken only when there is something to delete, and then for ``chunk`` versions at a time
        (a database that kept every snapshot until now is pruned in short transactions, writes in between).
        """
        if not isinstance(keep, int) or isinstance(keep, bool) or keep < 1:
            raise InputError(f"keep must be a whole number of snapshots per variant, 1 or more; got {keep!r}.")
        if not isinstance(chunk, int) or isinstance(chunk, bool) or chunk < 1:
            raise InputError(f"chunk must be a whole number of versions, 1 or more; got {chunk!r}.")
        s = schema.snapshots
        spans = sa.select(s.c.experiment, s.c.variant, sa.func.min(s.c.version), sa.func.max(s.c.version))
        with self._reading() as connection:
            over = [
                (e, v, int(oldest), int(newest) - keep)
                for e, v, oldest, newest in connection.execute(spans.group_by(s.c.experiment, s.c.variant))
                if int(oldest) <= int(newest) - keep
            ]
        deleted = 0
        for experiment, variant, first, last in over:  # versions first..last go
            for start in range(first, last + 1, chunk):
                end = min(start + chunk - 1, last)
                key = (s.c.experiment == experiment) & (s.c.variant == variant) & s.c.version.between(start, end)
                with self._writing() as connection:
                    deleted += connection.execute(sa.delete(s).where(key)).rowcount
        return deleted

    def latest_snapshot(self, experiment: str, variant: str) -> Snapshot | None:
        """The newest snapshot of ``variant`` (None before the first)."""
        s = schema.snapshots
        query = (
            sa.select(*s.c)
            .where((s.c.experiment == experiment) & (s.c.variant == variant))
            .order_by(s.c.version.desc())
            .limit(1)
        )
        with self._reading() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else _rows.snapshot_row(row)

    def snapshot(self, experiment: str, variant: str, version: int) -> Snapshot | None:
        """Snapshot ``version`` of ``variant`` (None when there is none)."""
        s = schema.snapshots
        key = (s.c.experiment == experiment) & (s.c.variant == variant) & (s.c.version == version)
        with self._reading() as connection:
            row = connection.execute(sa.select(*s.c).where(key)).mappings().first()
        return None if row is None else _rows.snapshot_row(row)

    def latest_versions(self) -> dict[tuple[str, str], int]:
        """The newest snapshot version per (experiment, variant): cheap, polled by the API workers."""
        s = schema.snapshots
        query = sa.select(s.c.experiment, s.c.variant, sa.func.max(s.c.version)).group_by(s.c.experiment, s.c.variant)
        with self._reading() as connection:
            return {(e, v): int(n) for e, v, n in connection.execute(query)}

    def fold_stats(self) -> int:
        """Fold the rows committed since the last call into the sufficient statistics (:mod:`abrec.store.stats`):
        the rows are read and aggregated outside the write lock (:func:`~abrec.store.stats.plan_fold`), and the
        write transaction, which commits the statistics with their cursor, holds it only to write the aggregates
        (or folds again under it when another fold moved the cursor meanwhile); returns the rows folded (0, without
        writing, when none)."""
        with self._reading() as connection:  # the reads and the aggregation, outside the write lock
            plan = stats.plan_fold(connection)
        if plan is None:
            return 0
        with self._writing() as connection:  # held only to write the aggregated rows and the cursor
            if stats.cursor_at(connection, plan.start):
                return stats.apply_fold(connection, plan)
            return stats.fold(connection)  # another fold moved the cursor meanwhile: fold again, under the lock

    def stats(self, experiment: str, *, refresh: bool = True) -> stats.ExperimentStats:
        """``experiment``'s sufficient statistics (after :meth:`fold_stats` unless ``refresh`` is False)."""
        if refresh:
            self.fold_stats()
        e = schema.experiments
        with self._reading() as connection:
            kind = connection.execute(sa.select(e.c.reward_kind).where(e.c.name == experiment)).scalar()
            if kind is None:
                raise UnknownNameError("experiment", experiment, self._names(connection))
            return stats.experiment_stats(connection, experiment, str(kind))

    def top_items(self, experiment: str, n: int = 5) -> dict[str, list[tuple[str, int, float]]]:
        """Each variant's ``n`` most shown items with their reward totals (from the statistics)."""
        with self._reading() as connection:
            return stats.top_items(connection, experiment, n)

    def metric_history(self, experiment: str) -> list[tuple[str, float, float, float, float]]:
        """The primary metric's unit sums per variant over time: ``(variant, at, units, total, total_sq)``."""
        with self._reading() as connection:
            return stats.history(connection, experiment)

    def counts(self, experiment: str) -> dict[str, dict[str, int]]:
        """Per variant of ``experiment``: ``decisions``, ``shown`` (items shown), ``rewards`` (stored, every
        kind, late included), ``late``, ``journaled`` (shown items learned), ``defaulted`` (learned with the
        default reward) and ``waiting`` (shown items not learned yet), from the statistics (no scan)."""
        zero = dict.fromkeys(("decisions", "shown", "rewards", "late", "journaled", "defaulted", "waiting"), 0)
        out: dict[str, dict[str, int]] = {}
        with self._reading() as connection:
            a = schema.allocations
            query = sa.select(a.c.weights).where(a.c.experiment == experiment).order_by(a.c.period.desc()).limit(1)
            weights = connection.execute(query).scalar()
        for variant in json.loads(weights) if weights else ():
            out[variant] = dict(zero)
        try:
            found = self.stats(experiment).counts
        except UnknownNameError:
            return out
        for variant, counts in found.items():
            out.setdefault(variant, dict(zero)).update(counts)
        return out

    def export_log(
        self, experiment: str | None = None, *, reward_kind: str | None = None, variant: str | None = None
    ) -> InteractionLog:
        """The joined log as an :class:`~abrec.data.interactions.InteractionLog` (see :mod:`abrec.store.export`)."""
        from .export import export_log

        with self._reading() as connection:
            return export_log(connection, experiment, reward_kind=reward_kind, variant=variant)

    def learner_lock(self) -> LearnerLock:
        """The lock that the one learner holds (a PostgreSQL advisory lock, or a lock file next to SQLite's)."""
        return LearnerLock(self.engine, self._learner_key)


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    keys = sorted(set(old) | set(new))
    changed = [k for k in keys if old.get(k) != new.get(k)]
    return f"keys {changed} differ" if changed else "the reward kind differs"
