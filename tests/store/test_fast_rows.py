"""The learner's writes in group commits (journal entries and snapshots in a WriteBatch), batch submissions to the
group committer, and trusted decision rows equal to checked ones; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import numpy as np
import pytest
from sqlalchemy.exc import IntegrityError
from store_records import T0, allocation, decision, reward

from abrec.errors import InputError
from abrec.store import DecisionRow, EventStore, GroupCommitter, JournalEntry, Snapshot, WriteBatch, WriteResult
from abrec.store.records import trusted


def _entry(event_id: str, item: str, position: int, value: float, batch: int = 1) -> JournalEntry:
    return JournalEntry(
        experiment="exp",
        variant="control",
        event_id=event_id,
        item=item,
        position=position,
        value=value,
        source="reward",
        batch=batch,
        learned_at=T0,
    )


def _snapshot(version: int, journal_seq: int, state: bytes = b"state") -> Snapshot:
    return Snapshot(
        experiment="exp",
        variant="control",
        version=version,
        journal_seq=journal_seq,
        policy="uniform",
        state=state,
        created_at=T0,
    )


def test_journal_entries_and_snapshots_are_written_as_append_journal_and_put_snapshot_write_them(
    store: EventStore,
) -> None:
    store.put_experiment("exp", {"k": 1}, allocation())
    d = decision()
    store.write(WriteBatch(decisions=[d]))
    entries = [_entry(d.event_id, "a", 0, 1.0), _entry(d.event_id, "b", 1, 0.0)]
    result = store.write(WriteBatch(journal=entries, rewards=[reward(d.event_id, "c")]))
    assert [e.seq for e in result.journal] == sorted(e.seq for e in result.journal) and result.rewards[0].ok
    assert [dataclasses.replace(e, seq=None) for e in result.journal] == entries
    assert store.journal("exp", "control") == list(result.journal)  # as append_journal would return them
    done = store.write(WriteBatch(snapshots=[_snapshot(1, int(result.journal[-1].seq or 0)), _snapshot(2, 0)]))
    assert done.snapshots == ("stored", "stored")
    latest = store.latest_snapshot("exp", "control")
    assert latest == _snapshot(2, 0) and store.snapshot("exp", "control", 1) == _snapshot(1, result.journal[-1].seq)
    # A version that exists is never overwritten: 'exists', the others of the batch are written.
    again = store.write(WriteBatch(snapshots=[_snapshot(2, 9, b"other"), _snapshot(3, 9, b"third")]))
    assert again.snapshots == ("exists", "stored")
    assert store.snapshot("exp", "control", 2) == _snapshot(2, 0) and store.latest_versions()[("exp", "control")] == 3
    # An (event, item) journaled twice fails the whole batch (the unique index), as append_journal does.
    with pytest.raises(IntegrityError):
        store.write(WriteBatch(journal=[_entry(d.event_id, "c", 2, 1.0), _entry(d.event_id, "a", 0, 1.0)]))
    assert len(store.journal("exp", "control")) == 2


def test_the_committer_gives_each_submission_its_own_journal_and_snapshot_outcomes(store: EventStore) -> None:
    store.put_experiment("exp", {"k": 1}, allocation())
    ds = [decision() for _ in range(3)]
    store.write(WriteBatch(decisions=ds))
    batches = [
        WriteBatch(journal=[_entry(ds[0].event_id, "a", 0, 1.0)], decisions=[decision()]),
        WriteBatch(snapshots=[_snapshot(1, 0)]),
        WriteBatch(journal=[_entry(ds[1].event_id, "b", 1, 0.5), _entry(ds[2].event_id, "c", 2, 0.0)]),
        WriteBatch(journal=[_entry(ds[0].event_id, "a", 0, 1.0)]),  # journaled twice: fails alone
        WriteBatch(snapshots=[_snapshot(1, 5)]),  # taken by the second batch
    ]
    with GroupCommitter(store, max_wait_s=0.2, max_batch=len(batches)) as committer:
        futures = committer.submit_many(batches)
        results: list[WriteResult | BaseException] = []
        for future in futures:
            try:
                results.append(future.result())
            except Exception as exc:
                results.append(exc)
    first, second, third, fourth, fifth = results
    assert isinstance(first, WriteResult) and [e.item for e in first.journal] == ["a"]
    assert first.decisions[0].status == "stored"
    assert isinstance(second, WriteResult) and second.snapshots == ("stored",) and second.journal == ()
    assert isinstance(third, WriteResult) and [e.item for e in third.journal] == ["b", "c"]
    assert isinstance(fourth, IntegrityError)
    assert isinstance(fifth, WriteResult) and fifth.snapshots == ("exists",)
    assert [e.item for e in store.journal("exp", "control")] == ["a", "b", "c"]


def test_asubmit_many_answers_every_batch_in_order_with_one_wake_up(store: EventStore) -> None:
    committer = GroupCommitter(store)

    async def main() -> list[WriteResult | BaseException]:
        good = [WriteBatch(decisions=[decision(f"e{i}", client_request_id=f"r{i}")]) for i in range(20)]
        bad = WriteBatch(decisions=[decision("e0", client_request_id="other")])  # event id taken: fails alone
        return await committer.asubmit_many([*good[:10], bad, *good[10:]])

    try:
        results = asyncio.run(main())
        assert asyncio.run(_empty(committer)) == []
    finally:
        committer.close()
    assert isinstance(results[10], IntegrityError)
    stored = [r for r in results if isinstance(r, WriteResult)]
    assert [r.decisions[0].decision.event_id for r in stored] == [f"e{i}" for i in range(20)]
    assert len(store.decisions([f"e{i}" for i in range(20)])) == 20
    with pytest.raises(TypeError):
        committer.submit_many([object()])  # type: ignore[list-item]


async def _empty(committer: GroupCommitter) -> list[Any]:
    return await committer.asubmit_many([])


def test_write_batch_checks_journal_and_snapshot_records() -> None:
    with pytest.raises(InputError, match="journal"):
        WriteBatch(journal=[object()])  # type: ignore[list-item]
    with pytest.raises(InputError, match="snapshots"):
        WriteBatch(snapshots=[b"bytes"])  # type: ignore[list-item]
    merged = WriteBatch.merge([WriteBatch(snapshots=[_snapshot(1, 0)]), WriteBatch(journal=[_entry("e", "a", 0, 1)])])
    assert len(merged) == 2 and merged.snapshots == (_snapshot(1, 0),) and merged.journal == (_entry("e", "a", 0, 1),)
    result = WriteResult(journal=(_entry("e", "a", 0, 1),), snapshots=("stored",))
    parts = result.split([WriteBatch(snapshots=[_snapshot(1, 0)]), WriteBatch(journal=[_entry("e", "a", 0, 1)])])
    assert parts == [WriteResult(snapshots=("stored",)), WriteResult(journal=(_entry("e", "a", 0, 1),))]


def _fields(row: DecisionRow) -> dict[str, Any]:
    return {f.name: getattr(row, f.name) for f in dataclasses.fields(DecisionRow)}


def test_a_trusted_decision_row_equals_the_checked_one_built_from_the_same_values() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 6))
        items = tuple(str(x) for x in rng.choice(1000, size=n, replace=False))
        props = rng.uniform(1e-6, 1.0, size=n)
        row = decision(
            uuid.uuid4().hex,
            items=items,
            propensities=tuple(props.tolist()),
            scores=tuple(rng.normal(size=n).tolist()) if rng.random() < 0.5 else (),
            context=tuple(rng.normal(size=3).tolist()) if rng.random() < 0.5 else None,
            client_request_id=None if rng.random() < 0.5 else "r",
        )
        fast = trusted(DecisionRow, **_fields(row))
        assert fast == row and hash(repr(fast)) == hash(repr(row))
        assert DecisionRow(**_fields(fast)) == fast  # what the trusted row holds passes the checks as it is


def test_trusted_builder_makes_the_record_trusted_makes_and_needs_every_field() -> None:
    from abrec.store.records import trusted_builder

    names = [f.name for f in dataclasses.fields(DecisionRow)][::-1]  # any order, as long as the values follow it
    build = trusted_builder(DecisionRow, names)
    row = decision(context=None, scores=(), client_request_id="r1")
    values = [getattr(row, name) for name in names]
    assert build(values) == row == trusted(DecisionRow, **_fields(row))
    with pytest.raises(TypeError, match="context"):
        trusted_builder(DecisionRow, [n for n in names if n != "context"])
    with pytest.raises(ValueError):  # one value short: refused, not a record with a field left unset
        build(values[:-1])


def test_decision_values_follow_the_decisions_columns_and_round_trip(store: EventStore) -> None:
    from abrec.store import _rows, schema

    assert set(_rows.DECISION_COLUMNS) == {c.name for c in schema.decisions.c} - {"seq"}
    assert len(_rows.DECISION_COLUMNS) == len(set(_rows.DECISION_COLUMNS))
    store.put_experiment("exp", {"k": 1}, allocation())
    odd = ("é", 'q"uote', "back\\slash", "tab\there", "日本")
    rows = [
        decision(items=odd[:3], candidates=odd, scores=(1e308, -1e-300, 0.0), context=(1.5e-7, -2.0)),
        decision(items=("a",), propensities=(1.0,), scores=(), context=None, client_request_id="r"),
        trusted(DecisionRow, **{**_fields(decision()), "seq": None}),
    ]
    result = store.write(WriteBatch(decisions=rows))
    assert [o.status for o in result.decisions] == ["stored"] * 3
    back = store.decisions([r.event_id for r in rows])
    assert [dataclasses.replace(back[r.event_id], seq=None) for r in rows] == rows


def test_a_non_finite_number_in_a_trusted_row_is_refused_not_stored_as_null(store: EventStore) -> None:
    store.put_experiment("exp", {"k": 1}, allocation())
    for name in ("propensities", "scores", "context"):
        bad = trusted(DecisionRow, **{**_fields(decision()), name: (0.5, float("nan"), 0.25)})
        with pytest.raises(ValueError, match="JSON compliant"):
            store.write(WriteBatch(decisions=[bad]))
        assert store.decisions([bad.event_id]) == {}


def test_a_known_request_id_among_new_ones_replays_only_that_one(store: EventStore) -> None:
    store.put_experiment("exp", {"k": 1}, allocation())
    first = decision(client_request_id="known")
    store.write(WriteBatch(decisions=[first]))
    batch = [decision(client_request_id=f"new{i}") for i in range(30)]
    batch.insert(17, decision(client_request_id="known", items=("x", "y")))
    result = store.write(WriteBatch(decisions=batch))
    statuses = [o.status for o in result.decisions]
    assert statuses == ["stored"] * 17 + ["replayed"] + ["stored"] * 13
    assert result.decisions[17].decision == store.decisions([first.event_id])[first.event_id]  # the stored row
    assert store.decisions([batch[17].event_id]) == {}
