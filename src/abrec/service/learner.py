"""The learner: joins decisions with their rewards (or the default once the window closes) and updates the policies.

Exactly one process learns: it holds the store's learner lock (a PostgreSQL advisory lock, a lock file for
SQLite); every other process retries to take it every second, so a crashed learner is replaced. A learner
works in micro-batches:

1. it reads what is ready: on-time rewards of each experiment's reward kind not yet learned, and shown items
   whose wait window closed without one (they get the experiment's default reward);
2. it appends them to the **journal** under one batch number (the canonical learning order; each shown
   item is learned exactly once: the journal refuses a second entry for an (event, item));
3. it folds the batch into each variant's policy with one ``Policy.update(Feedback(...))`` per variant, in
   journal order (:func:`feedback_for`), and writes a snapshot of every changed variant (version + 1,
   ``journal_seq`` = the last entry folded in); the API workers load new versions while serving.

A restart (of the learner, of the process, of the machine) loads each variant's latest snapshot and replays
the journal entries after its ``journal_seq`` batch by batch: the same calls in the same order on the same
state, so the same policy as a learner that never stopped (:meth:`Learner.restore`).

Adaptive allocation (thompson, top_two) is updated by the learner too, every ``cadence`` seconds: the
allocator of :func:`abrec.experiments.simulation.run_simulation` is fed the per-period statistics the store
keeps (:mod:`abrec.store.stats`: what :func:`abrec.abtest.readout.log_periods` gives on the exported log) and
its weights start a new allocation period (:meth:`abrec.abtest.assignment.Experiment.reweight`, so assigned
units keep their variant).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from ..abtest.allocation import PeriodStats
from ..errors import AbrecError, InputError
from ..policies.base import Policy
from ..policies.records import Feedback
from ..store.records import AllocationRow, DecisionRow, JournalEntry, Snapshot, WriteBatch, WriteResult
from ..store.stats import ExperimentStats
from .config import ServiceConfig, ServiceExperiment
from .features import ItemSpace
from .runtime import fresh_policies
from .sessions import SessionLearning, batch_mark, lookup_mark
from .snapshots import policy_from_bytes, policy_to_bytes

__all__ = ["Learner", "LearnerThread", "feedback_for", "fold", "next_allocation"]

#: Shown items whose window closed this long ago get the default reward (an on-time reward still
#: committing when the window closes is learned instead).
GRACE = timedelta(seconds=1)
#: A variant whose policy does not learn (uniform, a fixed ranking) keeps the same state whatever it is fed:
#: its snapshot (same state, a newer ``journal_seq``) is written when the learner is idle, or at most this
#: often while it is busy, instead of after every batch.
STATIC_SNAPSHOT_EVERY = 5.0
#: Seconds between the learner's deletions of the snapshots older than the newest ``snapshot_keep`` versions.
PRUNE_INTERVAL = 10.0
#: The learner folds newly committed rows into the results' sufficient statistics at most this often (seconds);
#: a results call, the dashboard and ``/metrics`` fold what is left before they read.
STATS_INTERVAL = 1.0


def feedback_for(
    entries: Sequence[JournalEntry],
    decisions: Mapping[str, DecisionRow],
    policy: Policy,
    *,
    features: ItemSpace | None,
    context_dim: int,
) -> Feedback:
    """The :class:`~abrec.policies.Feedback` of one variant's journal entries, in their order.

    Each entry is one shown item: its item id, value (the reward or the default), position, the decision's
    logged propensity at that position and context (zeros when none was stored; the first ``context_dim``
    values of an agent's session state, when an agent decided it while serving a paused experiment), and the
    item's features
    when the policy reads them.
    """
    n = len(entries)
    items = np.asarray([e.item for e in entries], dtype=str)
    rewards = np.fromiter((e.value for e in entries), dtype=np.float64, count=n)
    positions = np.fromiter((e.position for e in entries), dtype=np.int64, count=n)
    propensities = np.empty(n)
    contexts = np.zeros((n, context_dim))
    for i, e in enumerate(entries):
        d = decisions[e.event_id]
        propensities[i] = d.propensities[e.position]
        if d.context is not None:  # an agent's session state (decided while it served everyone) starts with it
            contexts[i] = d.context[:context_dim]
    feats = None
    if policy.uses_item_features:
        if features is None:
            raise AbrecError(f"{type(policy).__name__} reads item features but the experiment has none.")
        feats = features.lookup(items)
    return Feedback(items, rewards, contexts, positions, propensities, feats)


def fold(
    policy: Policy,
    entries: Sequence[JournalEntry],
    decisions: Mapping[str, DecisionRow],
    *,
    features: ItemSpace | None,
    context_dim: int,
) -> str:
    """Fold one batch of one variant's entries into ``policy``; returns "" or why the update was refused.

    A refused update (e.g. a Bernoulli policy given a rating of 4) leaves the policy as it was; replaying
    the journal refuses it the same way, so restarts stay exact.
    """
    if not entries or not policy.learns:
        return ""
    try:
        policy.update(feedback_for(entries, decisions, policy, features=features, context_dim=context_dim))
    except AbrecError as exc:
        return str(exc)
    return ""


def next_allocation(
    spec: ServiceExperiment, stats: ExperimentStats, current: AllocationRow, now: datetime
) -> AllocationRow | None:
    """The allocation of the next period from the experiment's statistics, or None when the current period saw
    nobody.

    The allocator of ``run_simulation`` (same class, parameters and seed) is fed every period's statistics
    (units' totals of the reward: :meth:`~abrec.store.stats.ExperimentStats.period_stats`, the numbers
    :func:`~abrec.abtest.readout.log_periods` gives on the exported log) in order; its weights reweight the
    current assignment experiment, so units keep their variant wherever possible.
    """
    allocator = spec.config.allocator()
    decided = stats.decided
    if allocator is None or current.period >= decided.shape[0] or decided[current.period].sum() == 0:
        return None
    names = spec.variant_names
    periods = stats.period_stats(names)
    for t in range(min(periods.n_periods, current.period + 1)):
        one = slice(t, t + 1)
        allocator.update(PeriodStats(periods.n[one], periods.sum[one], periods.sum_sq[one], names))
    weights = dict(zip(names, allocator.weights.tolist(), strict=True))
    experiment = current.to_experiment().reweight(weights)
    return AllocationRow.from_experiment(experiment, period=current.period + 1, started_at=now)


@dataclass
class _Variant:
    policy: Policy
    version: int = 0
    journal_seq: int = 0
    error: str = ""
    #: An agent variant's last micro-batch (number, time): what its next one completes is judged against it.
    mark: tuple[int, float] | None = None


@dataclass
class LearnerStatus:
    """What the learner did last (for logs and tests)."""

    batches: int = 0
    entries: int = 0
    snapshots: int = 0
    last_error: str = ""
    errors: dict[tuple[str, str], str] = field(default_factory=dict)


class Learner:
    """The learning loop's state and one step of it (see the module docstring).

    Parameters
    ----------
    store : EventStore
    config : ServiceConfig
    features : mapping of experiment name to ItemSpace or None
    batch_size : most journal entries per micro-batch.
    clock : returns the current time (tests move it).
    committer : GroupCommitter, optional
        Where the learner's writes (journal entries, snapshots) go: sharing the service's group commits
        (no extra transaction, no extra fsync, while decisions and rewards are being written); by default
        ``store.write``, one transaction each.
    watch : returns the service's current config and features; experiments added to it while the learner
        runs are learned from the next micro-batch on.
    """

    def __init__(
        self,
        store: Any,
        config: ServiceConfig,
        features: Mapping[str, ItemSpace | None],
        *,
        batch_size: int = 5000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        committer: Any = None,
        watch: Callable[[], tuple[ServiceConfig, Mapping[str, ItemSpace | None]]] | None = None,
    ) -> None:
        self.store = store
        self.committer = committer
        self.watch = watch
        self._pending: list[Snapshot] = []
        self.config = config
        self.features = dict(features)
        self.batch_size = batch_size
        self.clock = clock
        self.specs = {e.name: e for e in config.experiments}
        self.variants: dict[tuple[str, str], _Variant] = {}
        #: The agent variants: their sessions' transitions (abrec.service.sessions).
        self.sessions: dict[tuple[str, str], SessionLearning] = {}
        self.status = LearnerStatus()
        self._reward_seq = 0
        self._batch = 0
        self._closed_since: datetime | None = None
        self._static: set[tuple[str, str]] = set()  # non-learning variants whose snapshot is behind the journal
        self._static_at = time.monotonic()
        self._added: list[tuple[ServiceExperiment, ItemSpace | None]] = []

    def add_experiment(self, spec: ServiceExperiment, features: ItemSpace | None) -> None:
        """Learn ``spec`` too from the next micro-batch on (an experiment created while serving), restoring its
        variants as :meth:`restore` does. Called from another thread: applied by the learner's own thread."""
        self._added.append((spec, features))

    def _take_added(self) -> None:
        while self._added:
            added, space = self._added.pop(0)
            if added.name in self.specs:
                continue
            self.config = dataclasses.replace(self.config, experiments=(*self.config.experiments, added))
            self.specs[added.name] = added
            self.features[added.name] = space
            self._restore(added)
        self._put_snapshots()

    # ------------------------------------------------------------------ restart
    def restore(self) -> None:
        """Each variant's latest snapshot plus the journal after it, replayed batch by batch."""
        self._batch = int(self.store.last_journal_batch())
        for spec in self.config.experiments:
            self._restore(spec)
        self._put_snapshots()

    def _restore(self, spec: ServiceExperiment) -> None:
        fresh = fresh_policies(spec)
        space = self.features.get(spec.name)
        for name in spec.variant_names:
            snap = self.store.latest_snapshot(spec.name, name)
            if snap is None:
                state = _Variant(fresh[name])
            else:
                state = _Variant(policy_from_bytes(snap.state), snap.version, snap.journal_seq)
            self.variants[(spec.name, name)] = state
            if name in spec.states:
                if space is None:
                    raise AbrecError(
                        f"Agent variant {spec.name!r}/{name!r} needs item features; the experiment has none."
                    )
                self.sessions[(spec.name, name)] = SessionLearning(spec, name, space, GRACE)
                state.mark = lookup_mark(self.store, spec.name, name, state.journal_seq)
            replayed = self._replay(spec, name, state)
            if replayed:
                self._snapshot(spec.name, name, state)

    def _replay(self, spec: ServiceExperiment, variant: str, state: _Variant) -> int:
        total = 0
        while True:
            entries = self.store.journal(spec.name, variant, state.journal_seq, self.batch_size)
            if not entries:
                return total
            # Never split a batch across pages: keep only whole batches unless the page holds a single one.
            last = entries[-1].batch
            if len(entries) == self.batch_size and any(e.batch != last for e in entries):
                entries = [e for e in entries if e.batch != last]
            decisions = self._decisions(e.event_id for e in entries)
            self._ensure_items(spec.name, [e.item for e in entries])
            for batch in _batches(entries):
                state.error = self._fold(spec, variant, state, batch, decisions)
                state.journal_seq = int(batch[-1].seq or 0)
            total += len(entries)

    # ------------------------------------------------------------------ one micro-batch
    def step(self) -> int:
        """Journal and learn what is ready now; returns the number of journal entries written."""
        if self.watch is not None:  # experiments the service added (the admin API) since this learner started
            config, features = self.watch()
            for served in config.experiments:
                if served.name not in self.specs:
                    self.add_experiment(served, features.get(served.name))
        if self._added:
            self._take_added()
        now = self.clock()
        cutoff = now - GRACE
        rewards = self.store.unjournaled_rewards(self._reward_seq, self.batch_size)
        closed = self.store.closed_unrewarded(cutoff, self.batch_size, since=self._closed_since)
        # Once a call returns fewer than a batch, everything closed by its cutoff is journaled after this step.
        closed_since = cutoff if len(closed) < self.batch_size else self._closed_since
        if not rewards and not closed:
            self._closed_since = closed_since
            self.flush_static()
            return 0
        decisions = self._decisions(r.event_id for r in rewards)
        for d, _item, _position in closed:
            decisions[d.event_id] = d
        batch = self._batch + 1
        entries: list[JournalEntry] = []
        seen: set[tuple[str, str]] = set()
        for r in rewards:
            d = decisions.get(r.event_id)
            if d is None or d.experiment not in self.specs or (r.event_id, r.item) in seen:
                continue
            seen.add((r.event_id, r.item))
            position = r.position if r.position is not None else d.items.index(r.item)
            entries.append(_entry(d, r.item, position, r.value, "reward", batch, now))
        for d, item, position in closed:
            spec = self.specs.get(d.experiment)
            if spec is None or (d.event_id, item) in seen:
                continue
            seen.add((d.event_id, item))
            entries.append(_entry(d, item, position, spec.reward.default, "default", batch, now))
        if rewards:
            self._reward_seq = max(self._reward_seq, max(int(r.seq or 0) for r in rewards))
        if not entries:
            self._closed_since = closed_since
            self.flush_static()
            return 0
        written = list(self._write(WriteBatch(journal=entries)).journal)
        self._batch = batch
        self._closed_since = closed_since
        self.status.batches += 1
        self.status.entries += len(written)
        self.learn(written, decisions)
        if time.monotonic() - self._static_at >= STATIC_SNAPSHOT_EVERY:
            self.flush_static()
        return len(written)

    def learn(self, entries: Sequence[JournalEntry], decisions: Mapping[str, DecisionRow]) -> None:
        """Fold journaled entries (one batch, seq filled) into each variant's policy; snapshot the changed ones."""
        by_variant: dict[tuple[str, str], list[JournalEntry]] = {}
        for e in sorted(entries, key=lambda e: int(e.seq or 0)):
            by_variant.setdefault((e.experiment, e.variant), []).append(e)
        for (experiment, variant), group in by_variant.items():
            spec = self.specs[experiment]
            state = self.variants[(experiment, variant)]
            self._ensure_items(experiment, [e.item for e in group])
            state.error = self._fold(spec, variant, state, group, decisions)
            if state.error:
                self.status.errors[(experiment, variant)] = state.error
            state.journal_seq = int(group[-1].seq or 0)
            if state.policy.learns:
                self._snapshot(experiment, variant, state)
            else:  # the same state: snapshotted when the learner is idle (flush_static)
                self._static.add((experiment, variant))
        self._put_snapshots()

    def _fold(
        self,
        spec: ServiceExperiment,
        variant: str,
        state: _Variant,
        entries: Sequence[JournalEntry],
        decisions: Mapping[str, DecisionRow],
    ) -> str:
        """Fold one micro-batch of one variant's entries: ``Policy.update`` (:func:`fold`), or for an agent the
        n-step transitions the batch completes (:class:`~abrec.service.sessions.SessionLearning`)."""
        learning = self.sessions.get((spec.name, variant))
        if learning is None:
            return fold(
                state.policy, entries, decisions, features=self.features.get(spec.name), context_dim=spec.context_dim
            )
        error = learning.fold(
            state.policy, self.store, entries, state.mark, ensure=lambda items: self._ensure_items(spec.name, items)
        )
        state.mark = batch_mark(entries)
        return error

    def flush_static(self) -> None:
        """Snapshot the non-learning variants whose snapshot is behind the journal (see STATIC_SNAPSHOT_EVERY)."""
        self._static_at = time.monotonic()
        while self._static:
            key = min(self._static)
            self._snapshot(key[0], key[1], self.variants[key])
            self._static.discard(key)
        self._put_snapshots()

    def _snapshot(self, experiment: str, variant: str, state: _Variant) -> None:
        """Take the next snapshot of ``variant`` (written with the others of the step: _put_snapshots)."""
        state.version += 1
        self._pending.append(
            Snapshot(
                experiment=experiment,
                variant=variant,
                version=state.version,
                journal_seq=state.journal_seq,
                policy=state.policy.name,
                state=policy_to_bytes(state.policy),
                created_at=self.clock(),
            )
        )

    def _put_snapshots(self) -> None:
        """Write the snapshots taken, in one transaction; a version taken meanwhile (a rollback wrote it)
        raises InputError (the learner thread then restarts from the database)."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        outcomes = self._write(WriteBatch(snapshots=pending)).snapshots
        self.status.snapshots += sum(o == "stored" for o in outcomes)
        for snap, outcome in zip(pending, outcomes, strict=True):
            if outcome != "stored":
                raise InputError(
                    f"Snapshot version {snap.version} of {snap.experiment!r}/{snap.variant!r} exists; "
                    "a snapshot is never overwritten (take the next version)."
                )

    def _write(self, batch: WriteBatch) -> WriteResult:
        if self.committer is not None:
            result: WriteResult = self.committer.submit(batch).result()
            return result
        written: WriteResult = self.store.write(batch)
        return written

    def _decisions(self, event_ids: Iterable[str]) -> dict[str, DecisionRow]:
        ids = sorted(set(event_ids))
        return dict(self.store.decisions(ids)) if ids else {}

    def _ensure_items(self, experiment: str, items: Sequence[str]) -> None:
        space = self.features.get(experiment)
        if space is None:
            return
        missing = space.missing(sorted(set(items)))
        if missing:
            space.add(self.store.item_texts(missing))

    # ------------------------------------------------------------------ allocation
    def reallocate(self) -> list[AllocationRow]:
        """Start a new allocation period for every adaptive experiment whose cadence has passed."""
        now = self.clock()
        out = []
        for spec in self.config.experiments:
            if not spec.adaptive or spec.cadence is None:
                continue
            current = self.store.allocation(spec.name)
            if (now - current.started_at).total_seconds() < spec.cadence:
                continue
            row = next_allocation(spec, self.store.stats(spec.name), current, now)
            if row is not None:
                self.store.put_allocation(row)
                out.append(row)
        return out


def _batches(entries: Sequence[JournalEntry]) -> list[list[JournalEntry]]:
    out: list[list[JournalEntry]] = []
    for e in entries:
        if out and out[-1][0].batch == e.batch:
            out[-1].append(e)
        else:
            out.append([e])
    return out


def _entry(
    d: DecisionRow, item: str, position: int, value: float, source: str, batch: int, now: datetime
) -> JournalEntry:
    return JournalEntry(
        experiment=d.experiment,
        variant=d.variant,
        event_id=d.event_id,
        item=item,
        position=position,
        value=value,
        source=source,  # type: ignore[arg-type]
        batch=batch,
        learned_at=now,
    )


class LearnerThread:
    """Runs the learner in a daemon thread once this process holds the learner lock (retried every second).

    Parameters
    ----------
    make_learner : builds a :class:`Learner` (called after the lock is taken).
    lock : the store's learner lock (``acquire(blocking=False) -> bool``, ``release()``).
    poll_interval : seconds between micro-batches unless a full batch is waiting (a backlog).
    on_error : receives the text of an unexpected error (the loop then restarts from the database).
    drain_timeout : the most seconds :meth:`stop` spends learning what is pending (:meth:`drain`).
    snapshot_keep : every PRUNE_INTERVAL seconds, the snapshots older than each variant's newest
        ``snapshot_keep`` versions are deleted (:meth:`~abrec.store.EventStore.prune_snapshots`); 0 keeps them all.
    """

    def __init__(
        self,
        make_learner: Callable[[], Learner],
        lock: Any,
        *,
        poll_interval: float = 0.1,
        retry_interval: float = 1.0,
        on_error: Callable[[str], None] | None = None,
        drain_timeout: float = 10.0,
        snapshot_keep: int = 0,
    ) -> None:
        self._make = make_learner
        self.snapshot_keep = snapshot_keep
        self._lock = lock
        self.poll_interval = poll_interval
        self.retry_interval = retry_interval
        self.drain_timeout = drain_timeout
        self._on_error = on_error or (lambda _text: None)
        self._stop = threading.Event()
        self.holding = False
        self.learner: Learner | None = None
        self._thread = threading.Thread(target=self._run, name="abrec-learner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after learning what is pending (:meth:`drain`); wait at most ``timeout`` seconds (default
        ``drain_timeout`` + 10)."""
        self._stop.set()
        self._thread.join(self.drain_timeout + 10.0 if timeout is None else timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                got = bool(self._lock.acquire(blocking=False))
            except Exception as exc:
                self._on_error(f"learner lock: {exc}")
                got = False
            if not got:
                self._stop.wait(self.retry_interval)
                continue
            self.holding = True
            try:
                self._learn()
            finally:
                self.holding = False
                try:
                    self._lock.release()
                except Exception as exc:
                    self._on_error(f"learner lock release: {exc}")

    def _learn(self) -> None:
        try:
            learner = self._make()
            learner.restore()
        except Exception as exc:
            self._on_error(f"learner start: {type(exc).__name__}: {exc}")
            self._stop.wait(self.retry_interval)
            return
        self.learner = learner
        next_allocation_check = 0.0
        next_fold = 0.0
        next_prune = 0.0
        while not self._stop.is_set():
            try:
                learned = learner.step()
                # The results' statistics: folded here, off the request path, at most once per STATS_INTERVAL
                # seconds so that the fold's write transaction does not queue every group commit behind it
                # (a results call folds whatever is left first, so readouts stay exact).
                if time.monotonic() >= next_fold:
                    learner.store.fold_stats()
                    next_fold = time.monotonic() + STATS_INTERVAL
                if time.monotonic() >= next_allocation_check:
                    learner.reallocate()
                    next_allocation_check = time.monotonic() + 1.0
                if self.snapshot_keep and time.monotonic() >= next_prune:
                    learner.store.prune_snapshots(self.snapshot_keep)
                    next_prune = time.monotonic() + PRUNE_INTERVAL
            except Exception as exc:
                self._on_error(f"learner: {type(exc).__name__}: {exc}")
                self._stop.wait(self.retry_interval)
                return
            if learned < learner.batch_size:  # caught up: let the next micro-batch gather (the GIL is shared)
                self._stop.wait(self.poll_interval)
        self.drain(learner)

    def drain(self, learner: Learner, timeout: float | None = None) -> int:
        """On stop: learn everything pending now (micro-batches until none is left or ``timeout``, default
        ``drain_timeout``, has passed), snapshot the non-learning variants and fold the statistics, so that a
        graceful shutdown leaves snapshots that include the last rewards. Returns the journal entries written."""
        deadline = time.monotonic() + (self.drain_timeout if timeout is None else timeout)
        total = 0
        try:
            while time.monotonic() < deadline:
                learned = learner.step()
                total += learned
                if learned == 0:
                    break
            learner.flush_static()
            learner.store.fold_stats()
        except Exception as exc:
            self._on_error(f"learner drain: {type(exc).__name__}: {exc}")
        return total
