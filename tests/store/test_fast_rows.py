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
