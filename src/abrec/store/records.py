"""The event store's records: frozen, validated when built, so a bad value never reaches the database.

Every record checks its own fields in ``__post_init__`` and raises :class:`abrec.errors.InputError` naming the
record, the field, what was expected and what was given (``RewardRow.value must be a finite float; got nan``).
Sequences are stored as tuples (lists and numpy arrays are accepted and converted), numbers as Python
``int``/``float``, times as timezone-aware ``datetime`` objects (naive ones are rejected: the store keeps UTC).
Text may not contain NUL characters (PostgreSQL's ``text`` cannot hold them).

Examples
--------
>>> from datetime import UTC, datetime
>>> now = datetime(2026, 1, 1, tzinfo=UTC)
>>> RewardRow(event_id="e1", item="42", kind="click", value=1, received_at=now).value
1.0
>>> RewardRow(event_id="e1", item="42", kind="click", value=float("nan"), received_at=now)
Traceback (most recent call last):
...
abrec.errors.InputError: RewardRow.value must be a finite float; got nan.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple, TypeVar

import numpy as np

from ..abtest.assignment import BucketRange, Experiment
from ..errors import InputError

__all__ = [
    "AllocationRow",
    "Assignment",
    "DecisionOutcome",
    "DecisionRow",
    "DecisionStatus",
    "ExperimentRow",
    "ExperimentStatus",
    "JournalEntry",
    "JournalSource",
    "RewardOutcome",
    "RewardRow",
    "RewardStatus",
    "Snapshot",
    "WriteBatch",
    "WriteResult",
]

ExperimentStatus = Literal["running", "paused", "stopped"]
DecisionStatus = Literal["stored", "replayed"]
RewardStatus = Literal["stored", "late", "duplicate", "conflict", "unknown_event", "wrong_item"]
JournalSource = Literal["reward", "default"]

_INT64 = 2**63
_KIND = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def _fail(owner: str, name: str, expected: str, value: object) -> InputError:
    shown = repr(value) if isinstance(value, str) else str(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return InputError(f"{owner}.{name} must be {expected}; got {shown}.")


def _text(owner: str, name: str, value: object, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not empty and not value) or "\x00" in value:
        expected = "a string without NUL characters" if empty else "a non-empty string without NUL characters"
        raise _fail(owner, name, expected, value)
    return value


def _texts(owner: str, name: str, values: Iterable[object], *, distinct: bool) -> tuple[str, ...]:
    if isinstance(values, str | bytes):
        raise _fail(owner, name, "a sequence of strings", values)
    out = tuple(values)
    for value in out:
        if not isinstance(value, str) or not value or "\x00" in value:
            raise _fail(owner, name, "a sequence of non-empty strings without NUL characters", value)
    if distinct and len(set(out)) != len(out):
        raise _fail(owner, name, "a sequence of distinct strings", list(out))
    return out  # type: ignore[return-value]  # every value was checked to be a str


def _int(owner: str, name: str, value: object, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise _fail(owner, name, f"an integer in [{low}, 2**63)", value)
    number = int(value)
    if not low <= number < _INT64:
        raise _fail(owner, name, f"an integer in [{low}, 2**63)", value)
    return number


def _float(owner: str, name: str, value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _fail(owner, name, "a finite float", value) from None
    if isinstance(value, bool | str) or not math.isfinite(number):
        raise _fail(owner, name, "a finite float", value)
    return number


def _floats(owner: str, name: str, values: Iterable[object]) -> tuple[float, ...]:
    if isinstance(values, str | bytes):
        raise _fail(owner, name, "a sequence of finite floats", values)
    try:
        out = tuple(float(v) for v in values)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _fail(owner, name, "a sequence of finite floats", values) from None
    if not all(math.isfinite(v) for v in out):
        raise _fail(owner, name, "a sequence of finite floats", list(out))
    return out


def _probability(owner: str, name: str, value: float) -> None:
    if not 0.0 < value <= 1.0:
        raise _fail(owner, name, "in (0, 1]", value)


def _time(owner: str, name: str, value: object) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise _fail(owner, name, "a timezone-aware datetime (e.g. datetime.now(UTC))", value)
    return value


def _json(owner: str, name: str, value: object) -> None:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{owner}.{name} must be JSON-serialisable with finite numbers: {exc}.") from None


def _set(record: object, name: str, value: object) -> None:
    object.__setattr__(record, name, value)


R = TypeVar("R")


def trusted(cls: type[R], **fields: Any) -> R:
    """A record built without its checks, from values that passed them before (database rows; the store's own)."""
    record = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(record, name, value)
    return record


def trusted_builder(cls: type[R], names: Sequence[str]) -> Callable[[Sequence[Any]], R]:
    """A maker of trusted ``cls`` records (as :func:`trusted`) from values given in the order of ``names``.

    For hot loops that build many records of one class: the field slots are looked up once, here, instead of
    once per value. ``names`` must name every field of ``cls`` (a slotted dataclass).
    """
    missing = {f.name for f in dataclasses.fields(cls)} - set(names)  # type: ignore[arg-type]
    if missing:
        raise TypeError(f"trusted_builder({cls.__name__}) misses the fields {sorted(missing)}")
    setters = tuple(getattr(cls, name).__set__ for name in names)
    new = object.__new__

    def build(values: Sequence[Any]) -> R:
        record = new(cls)
        for set_value, value in zip(setters, values, strict=True):
            set_value(record, value)
        return record

    return build


@dataclass(frozen=True, slots=True, kw_only=True)
class ExperimentRow:
    """An experiment: its config (JSON-serialisable mapping), status, primary reward kind and creation time."""

    name: str
    config: Mapping[str, Any]
    status: ExperimentStatus = "running"
    reward_kind: str = "click"
    created_at: datetime

    def __post_init__(self) -> None:
        _text("ExperimentRow", "name", self.name)
        if not isinstance(self.config, Mapping):
            raise _fail("ExperimentRow", "config", "a mapping", type(self.config).__name__)
        _json("ExperimentRow", "config", dict(self.config))
        if self.status not in ("running", "paused", "stopped"):
            raise _fail("ExperimentRow", "status", "one of 'running', 'paused', 'stopped'", self.status)
        if not isinstance(self.reward_kind, str) or not _KIND.match(self.reward_kind):
            raise _fail(
                "ExperimentRow", "reward_kind", "a name of letters, digits and _ (at most 64)", self.reward_kind
            )
        _time("ExperimentRow", "created_at", self.created_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class AllocationRow:
    """The :class:`abrec.abtest.assignment.Experiment` in force from allocation ``period`` on.

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> exp = Experiment.create("demo", {"a": 0.5, "b": 0.5})
    >>> row = AllocationRow.from_experiment(exp, period=0, started_at=datetime(2026, 1, 1, tzinfo=UTC))
    >>> row.to_experiment() == exp, row.weights
    (True, {'a': 0.5, 'b': 0.5})
    """

    experiment: str
    period: int
    weights: Mapping[str, float]
    ranges: tuple[tuple[str, int, int], ...]
    salt: str
    started_at: datetime

    def __post_init__(self) -> None:
        owner = "AllocationRow"
        _text(owner, "experiment", self.experiment)
        _set(self, "period", _int(owner, "period", self.period))
        if not isinstance(self.weights, Mapping) or not self.weights:
            raise _fail(owner, "weights", "a non-empty mapping {variant: weight}", self.weights)
        _set(
            self, "weights", {_text(owner, "weights", k): _float(owner, "weights", v) for k, v in self.weights.items()}
        )
        ranges = []
        for entry in self.ranges:
            label, start, stop = entry
            ranges.append(
                (_text(owner, "ranges", label, empty=True), _int(owner, "ranges", start), _int(owner, "ranges", stop))
            )
        _set(self, "ranges", tuple(ranges))
        _text(owner, "salt", self.salt, empty=True)
        _time(owner, "started_at", self.started_at)

    @classmethod
    def from_experiment(cls, experiment: Experiment, *, period: int, started_at: datetime) -> AllocationRow:
        """The row of ``experiment`` (its weights over every variant, its bucket ranges and salt)."""
        return cls(
            experiment=experiment.name,
            period=period,
            weights={v: experiment.weights[v] for v in experiment.variants},
            ranges=tuple((r.label, r.start, r.stop) for r in experiment.ranges),
            salt=experiment.salt,
            started_at=started_at,
        )

    def to_experiment(self) -> Experiment:
        """The assignment :class:`~abrec.abtest.assignment.Experiment` this row records."""
        ranges = tuple(BucketRange(label, start, stop) for label, start, stop in self.ranges)
        return Experiment(self.experiment, tuple(self.weights), ranges, self.salt)


class Assignment(NamedTuple):
    """A sticky assignment: ``unit`` of ``experiment`` sees ``variant`` (first written, for good)."""

    experiment: str
    unit: str
    variant: str
    period: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionRow:
    """One decision (one request, one slate): what was shown, with which propensities, by which policy version.

    ``items``, ``propensities`` and ``scores`` (empty, or one per item) go position by position; items are
    distinct. ``k`` is the slate size asked for (``len(items)`` may be smaller when there were fewer
    candidates). ``seq`` is the database's row number (None before it is stored).
    """

    event_id: str
    experiment: str
    unit: str
    variant: str
    period: int
    assignment_p: float
    policy: str
    policy_version: str
    k: int
    items: tuple[str, ...]
    propensities: tuple[float, ...]
    created_at: datetime
    window_closes_at: datetime
    scores: tuple[float, ...] = ()
    propensity_draws: int = 0
    candidates: tuple[str, ...] = ()
    context: tuple[float, ...] | None = None
    session_id: str = ""
    step: int = 0
    snapshot_version: int = 0
    client_request_id: str | None = None
    seq: int | None = None

    def __post_init__(self) -> None:
        owner = "DecisionRow"
        for name in ("event_id", "experiment", "unit", "variant"):
            _text(owner, name, getattr(self, name))
        for name in ("policy", "policy_version", "session_id"):
            _text(owner, name, getattr(self, name), empty=True)
        if self.client_request_id is not None:
            _text(owner, "client_request_id", self.client_request_id)
        _set(self, "period", _int(owner, "period", self.period))
        _set(self, "k", _int(owner, "k", self.k, low=1))
        _set(self, "propensity_draws", _int(owner, "propensity_draws", self.propensity_draws))
        _set(self, "step", _int(owner, "step", self.step))
        _set(self, "snapshot_version", _int(owner, "snapshot_version", self.snapshot_version))
        if self.seq is not None:
            _set(self, "seq", _int(owner, "seq", self.seq))
        p = _float(owner, "assignment_p", self.assignment_p)
        _probability(owner, "assignment_p", p)
        _set(self, "assignment_p", p)
        items = _texts(owner, "items", self.items, distinct=True)
        if not items:
            raise _fail(owner, "items", "a non-empty sequence (the slate)", [])
        _set(self, "items", items)
        propensities = _floats(owner, "propensities", self.propensities)
        if len(propensities) != len(items):
            raise _fail(owner, "propensities", f"one per item ({len(items)})", list(propensities))
        for value in propensities:
            _probability(owner, "propensities", value)
        _set(self, "propensities", propensities)
        scores = _floats(owner, "scores", self.scores)
        if scores and len(scores) != len(items):
            raise _fail(owner, "scores", f"empty or one per item ({len(items)})", list(scores))
        _set(self, "scores", scores)
        _set(self, "candidates", _texts(owner, "candidates", self.candidates, distinct=False))
        if self.context is not None:
            _set(self, "context", _floats(owner, "context", self.context))
        _time(owner, "created_at", self.created_at)
        _time(owner, "window_closes_at", self.window_closes_at)


@dataclass(frozen=True, slots=True, kw_only=True)
class RewardRow:
    """A reward for one shown item of a decision. ``kind`` is a name (``click``, ``purchase``, ...).

    ``position`` may be left None (the store fills it from the slate); when given it must match the item's
    position. ``late`` is set by the store (received after the decision's window closed); ``seq`` is the
    database's row number.
    """

    event_id: str
    item: str
    kind: str
    value: float
    received_at: datetime
    position: int | None = None
    late: bool = False
    seq: int | None = None

    def __post_init__(self) -> None:
        owner = "RewardRow"
        _text(owner, "event_id", self.event_id)
        _text(owner, "item", self.item)
        if not isinstance(self.kind, str) or not _KIND.match(self.kind):
            raise _fail(owner, "kind", "a name of letters, digits and _ (at most 64), e.g. 'click'", self.kind)
        _set(self, "value", _float(owner, "value", self.value))
        _time(owner, "received_at", self.received_at)
        if self.position is not None:
            _set(self, "position", _int(owner, "position", self.position))
        if not isinstance(self.late, bool):
            raise _fail(owner, "late", "a bool", self.late)
        if self.seq is not None:
            _set(self, "seq", _int(owner, "seq", self.seq))


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    """What :meth:`EventStore.write` did with a decision: ``stored``, or ``replayed`` (the client request id
    was seen before: ``decision`` is the stored one, nothing new was written)."""

    status: DecisionStatus
    decision: DecisionRow


@dataclass(frozen=True, slots=True)
class RewardOutcome:
    """What :meth:`EventStore.write` did with a reward.

    ``stored`` and ``late`` (stored, marked late: never learned) wrote it; ``duplicate`` (same value as the
    stored one: a retry) wrote nothing and counts as success; ``conflict`` (another value is stored for this
    event, item and kind), ``unknown_event`` and ``wrong_item`` (not in the slate, or at another position)
    wrote nothing and are the caller's errors. ``reward`` is the row as stored (position and late filled)
    when it is stored or a duplicate, else as given; ``message`` says what was wrong ("" when nothing was).
    """

    status: RewardStatus
    reward: RewardRow
    message: str = ""

    @property
    def ok(self) -> bool:
        """Whether the reward is in the database (stored now, stored late, or stored before)."""
        return self.status in ("stored", "late", "duplicate")


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteBatch:
    """Everything one transaction writes: decisions, rewards, sticky assignments, new items' texts, and the
    learner's journal entries and policy snapshots (so that its writes can share a group commit).

    ``journal`` entries are appended in order (only the learner holding the lock writes them; an (event, item)
    journaled twice makes the batch fail); a snapshot whose (experiment, variant, version) exists is not
    written (its outcome is ``exists``).
    """

    decisions: Sequence[DecisionRow] = ()
    rewards: Sequence[RewardRow] = ()
    assignments: Sequence[tuple[str, str, str, int]] = ()
    items: Sequence[tuple[str, str]] = ()
    journal: Sequence[JournalEntry] = ()
    snapshots: Sequence[Snapshot] = ()

    def __post_init__(self) -> None:
        owner = "WriteBatch"
        _set(self, "decisions", tuple(self.decisions))
        _set(self, "rewards", tuple(self.rewards))
        _set(self, "journal", tuple(self.journal))
        _set(self, "snapshots", tuple(self.snapshots))
        for e in self.journal:
            if not isinstance(e, JournalEntry):
                raise _fail(owner, "journal", "JournalEntry records", type(e).__name__)
        for snap in self.snapshots:
            if not isinstance(snap, Snapshot):
                raise _fail(owner, "snapshots", "Snapshot records", type(snap).__name__)
        for d in self.decisions:
            if not isinstance(d, DecisionRow):
                raise _fail(owner, "decisions", "DecisionRow records", type(d).__name__)
        for r in self.rewards:
            if not isinstance(r, RewardRow):
                raise _fail(owner, "rewards", "RewardRow records", type(r).__name__)
        assignments = []
        for a in self.assignments:
            experiment, unit, variant, period = a
            assignments.append(
                Assignment(
                    _text(owner, "assignments", experiment),
                    _text(owner, "assignments", unit),
                    _text(owner, "assignments", variant),
                    _int(owner, "assignments", period),
                )
            )
        _set(self, "assignments", tuple(assignments))
        items = []
        for entry in self.items:
            item_id, text = entry
            items.append((_text(owner, "items", item_id), _text(owner, "items", text, empty=True)))
        _set(self, "items", tuple(items))

    def __len__(self) -> int:
        return (
            len(self.decisions)
            + len(self.rewards)
            + len(self.assignments)
            + len(self.items)
            + len(self.journal)
            + len(self.snapshots)
        )

    @classmethod
    def merge(cls, batches: Sequence[WriteBatch]) -> WriteBatch:
        """One batch holding every batch's records, in order (what group commit writes in one transaction)."""
        if len(batches) == 1:
            return batches[0]
        out = cls.__new__(cls)
        _set(out, "decisions", tuple(d for b in batches for d in b.decisions))
        _set(out, "rewards", tuple(r for b in batches for r in b.rewards))
        _set(out, "assignments", tuple(a for b in batches for a in b.assignments))
        _set(out, "items", tuple(i for b in batches for i in b.items))
        _set(out, "journal", tuple(e for b in batches for e in b.journal))
        _set(out, "snapshots", tuple(s for b in batches for s in b.snapshots))
        return out


@dataclass(frozen=True, slots=True)
class WriteResult:
    """One outcome per decision and per reward of the batch, in the batch's order; the journal entries as
    appended (``seq`` filled) and each snapshot's outcome (``stored``, or ``exists``: that version is taken)."""

    decisions: tuple[DecisionOutcome, ...] = ()
    rewards: tuple[RewardOutcome, ...] = ()
    journal: tuple[JournalEntry, ...] = ()
    snapshots: tuple[Literal["stored", "exists"], ...] = ()

    def split(self, batches: Sequence[WriteBatch]) -> list[WriteResult]:
        """The results of each of the ``batches`` that were merged (in order) into the one written."""
        out = []
        d = r = j = s = 0
        for batch in batches:
            nd, nr, nj, ns = len(batch.decisions), len(batch.rewards), len(batch.journal), len(batch.snapshots)
            out.append(
                WriteResult(
                    self.decisions[d : d + nd],
                    self.rewards[r : r + nr],
                    self.journal[j : j + nj],
                    self.snapshots[s : s + ns],
                )
            )
            d, r, j, s = d + nd, r + nr, j + nj, s + ns
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class JournalEntry:
    """One learned (event, item): its value, whether it came from a reward or the default, and its batch.

    The journal is the canonical learning order: replaying it batch by batch rebuilds every policy.
    """

    experiment: str
    variant: str
    event_id: str
    item: str
    position: int
    value: float
    source: JournalSource
    batch: int
    learned_at: datetime
    seq: int | None = None

    def __post_init__(self) -> None:
        owner = "JournalEntry"
        for name in ("experiment", "variant", "event_id", "item"):
            _text(owner, name, getattr(self, name))
        _set(self, "position", _int(owner, "position", self.position))
        _set(self, "value", _float(owner, "value", self.value))
        if self.source not in ("reward", "default"):
            raise _fail(owner, "source", "'reward' or 'default'", self.source)
        _set(self, "batch", _int(owner, "batch", self.batch))
        _time(owner, "learned_at", self.learned_at)
        if self.seq is not None:
            _set(self, "seq", _int(owner, "seq", self.seq))


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """A variant's policy state after folding in the journal up to ``journal_seq`` (``state``: the npz bytes)."""

    experiment: str
    variant: str
    version: int
    journal_seq: int
    policy: str
    state: bytes = field(repr=False)
    created_at: datetime

    def __post_init__(self) -> None:
        owner = "Snapshot"
        for name in ("experiment", "variant"):
            _text(owner, name, getattr(self, name))
        _text(owner, "policy", self.policy, empty=True)
        _set(self, "version", _int(owner, "version", self.version))
        _set(self, "journal_seq", _int(owner, "journal_seq", self.journal_seq))
        if not isinstance(self.state, bytes):
            raise _fail(owner, "state", "bytes", type(self.state).__name__)
        _time(owner, "created_at", self.created_at)
