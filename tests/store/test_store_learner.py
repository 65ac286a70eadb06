"""What the learner reads and writes: ready rewards, closed windows, the journal, snapshots, counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from store_records import T0, allocation, decision, reward

from abrec.errors import InputError
from abrec.store import EventStore, JournalEntry, Snapshot, WriteBatch, schema


def _entry(
    d_event: str, item: str, position: int, value: float, source: str = "reward", batch: int = 1
) -> JournalEntry:
    return JournalEntry(
        experiment="exp",
        variant="control",
        event_id=d_event,
        item=item,
        position=position,
        value=value,
        source=source,  # type: ignore[arg-type]
        batch=batch,
        learned_at=T0,
    )


@pytest.fixture
def filled(store: EventStore) -> EventStore:
    """exp (reward kind click): e1, e2 open windows at T0+10min; e3 closed early (T0+1min)."""
    store.put_experiment("exp", {}, allocation("exp"), reward_kind="click")
    store.put_experiment("other", {}, allocation("other"), reward_kind="purchase")
    d1, d2 = decision("e1"), decision("e2", variant="treatment")
    d3 = decision("e3", window=timedelta(minutes=1))
    d4 = decision("o1", experiment="other")
    store.write(WriteBatch(decisions=[d1, d2, d3, d4]))
    store.write(
        WriteBatch(
            rewards=[
                reward("e1", "a", 1.0),  # seq 1: ready
                reward("e1", "a", 5.0, kind="purchase"),  # seq 2: not exp's kind
                reward("e2", "b", 0.0),  # seq 3: ready
                reward("e3", "c", 1.0, at=T0 + timedelta(minutes=2)),  # seq 4: late
                reward("o1", "a", 2.0, kind="purchase"),  # seq 5: other's kind
                reward("o1", "b", 1.0, kind="click"),  # seq 6: not other's kind
            ]
        )
    )
    return store


def test_unjournaled_rewards_are_the_on_time_rewards_of_the_experiments_kind(filled: EventStore) -> None:
    ready = filled.unjournaled_rewards(0, 100)
    assert [(r.event_id, r.item, r.kind, r.value) for r in ready] == [
        ("e1", "a", "click", 1.0),
        ("e2", "b", "click", 0.0),
        ("o1", "a", "purchase", 2.0),
    ]
    seqs = [r.seq for r in ready]
    assert seqs == sorted(seqs) and all(s is not None for s in seqs)
    assert filled.unjournaled_rewards(0, 1) == ready[:1]
    assert filled.unjournaled_rewards(ready[0].seq or 0, 100) == ready[1:]
    filled.append_journal([_entry("e1", "a", 0, 1.0)])
    assert filled.unjournaled_rewards(0, 100) == ready[1:]


def test_closed_unrewarded_are_the_shown_items_to_learn_with_the_default(filled: EventStore) -> None:
    assert filled.closed_unrewarded(T0, 100) == []
    closed = filled.closed_unrewarded(T0 + timedelta(minutes=1), 100)
    # e3: nothing on time (c's reward came late): all three items
    assert [(d.event_id, item, pos) for d, item, pos in closed] == [("e3", "a", 0), ("e3", "b", 1), ("e3", "c", 2)]
    later = filled.closed_unrewarded(T0 + timedelta(hours=1), 100)
    pairs = [(d.event_id, item) for d, item, _ in later]
    # e1: a has an on-time click; e2: b has one; o1: a has an on-time purchase (other's kind)
    assert pairs == [
        *[("e3", "a"), ("e3", "b"), ("e3", "c")],  # the earliest window first
        *[("e1", "b"), ("e1", "c"), ("e2", "a"), ("e2", "c"), ("o1", "b"), ("o1", "c")],  # then by seq, position
    ]
    assert pairs[:3] == [("e3", "a"), ("e3", "b"), ("e3", "c")]  # by window close time
    assert len(filled.closed_unrewarded(T0 + timedelta(hours=1), 4)) == 4
    filled.append_journal([_entry("e3", "a", 0, 0.0, "default"), _entry("e3", "b", 1, 0.0, "default")])
    again = filled.closed_unrewarded(T0 + timedelta(hours=1), 100)
    assert (again[0][0].event_id, again[0][1]) == ("e3", "c")
    filled.append_journal([_entry("e3", "c", 2, 0.0, "default")])
    assert all(d.event_id != "e3" for d, _, _ in filled.closed_unrewarded(T0 + timedelta(hours=1), 100))
    since = filled.closed_unrewarded(T0 + timedelta(hours=1), 100, since=T0 + timedelta(minutes=10))
    assert since == []  # everything closed by T0+10min is skipped


def test_the_journal_keeps_the_learning_order_and_each_pair_once(filled: EventStore) -> None:
    assert filled.last_journal_batch() == 0
    first = filled.append_journal([_entry("e1", "a", 0, 1.0, batch=1), _entry("e1", "b", 1, 0.0, "default", batch=1)])
    assert filled.last_journal_batch() == 1
    second = filled.append_journal([_entry("e1", "c", 2, 0.0, "default", batch=2)])
    assert filled.last_journal_batch() == 2
    assert [e.seq for e in first + second] == sorted(e.seq for e in first + second)
    assert filled.append_journal([]) == []
    got = filled.journal("exp", "control", 0, 100)
    assert got == first + second
    assert filled.journal("exp", "control", first[0].seq or 0) == first[1:] + second
    assert filled.journal("exp", "control", 0, 1) == first[:1]
    assert filled.journal("exp", "treatment") == []
    with pytest.raises(IntegrityError):
        filled.append_journal([_entry("e2", "a", 0, 1.0), _entry("e1", "a", 0, 1.0)])
    assert filled.journal("exp", "control") == first + second  # the failed append wrote nothing


def test_snapshots_are_versioned_and_never_overwritten(store: EventStore) -> None:
    assert store.latest_snapshot("exp", "control") is None and store.latest_versions() == {}
    blob = bytes(range(256)) * 40
    snaps = [
        Snapshot(
            experiment="exp",
            variant="control",
            version=v,
            journal_seq=10 * v,
            policy="linucb",
            state=blob + bytes([v]),
            created_at=T0,
        )
        for v in (1, 2)
    ]
    for snap in snaps:
        store.put_snapshot(snap)
    store.put_snapshot(
        Snapshot(experiment="exp", variant="treatment", version=1, journal_seq=3, policy="x", state=b"", created_at=T0)
    )
    assert store.latest_snapshot("exp", "control") == snaps[1]
    assert store.snapshot("exp", "control", 1) == snaps[0]
    assert store.snapshot("exp", "control", 3) is None
    assert store.latest_versions() == {("exp", "control"): 2, ("exp", "treatment"): 1}
    with pytest.raises(InputError, match="Snapshot version 2 of 'exp'/'control' exists"):
        store.put_snapshot(snaps[1])


def _snap(variant: str, version: int) -> Snapshot:
    return Snapshot(
        experiment="exp",
        variant=variant,
        version=version,
        journal_seq=version,
        policy="linucb",
        state=bytes([version % 256]) * 5000,  # overflow pages, as real ones
        created_at=T0,
    )


def test_prune_keeps_each_variants_newest_snapshots(store: EventStore) -> None:
    for version in range(1, 8):
        store.put_snapshot(_snap("control", version))
    for version in (1, 2):
        store.put_snapshot(_snap("treatment", version))
    assert store.prune_snapshots(3) == 4  # control's 1-4; treatment has no more than 3
    assert [store.snapshot("exp", "control", v) is not None for v in range(1, 8)] == [False] * 4 + [True] * 3
    assert store.latest_snapshot("exp", "control") == _snap("control", 7)
    assert store.latest_versions() == {("exp", "control"): 7, ("exp", "treatment"): 2}
    assert store.prune_snapshots(3) == 0  # nothing more to delete
    store.put_snapshot(_snap("control", 8))  # versions go on after a prune
    assert store.prune_snapshots(1) == 4  # control's 5-7, treatment's 1
    assert store.latest_versions() == {("exp", "control"): 8, ("exp", "treatment"): 2}
    assert store.snapshot("exp", "treatment", 1) is None and store.snapshot("exp", "control", 7) is None


def test_prune_deletes_a_long_history_a_chunk_at_a_time(store: EventStore) -> None:
    for version in range(1, 12):
        store.put_snapshot(_snap("control", version))
    with store.engine.connect() as connection:  # versions 3 and 6 gone already (an earlier prune, by hand)
        connection.execute(schema.snapshots.delete().where(schema.snapshots.c.version.in_([3, 6])))
        connection.commit()
    assert store.prune_snapshots(2, chunk=3) == 7  # versions 1-9 but 3 and 6, in chunks 1-3, 4-6, 7-9
    assert [v for v in range(1, 12) if store.snapshot("exp", "control", v) is not None] == [10, 11]
    with pytest.raises(InputError, match="chunk must be a whole number of versions"):
        store.prune_snapshots(2, chunk=0)


@pytest.mark.parametrize("keep", [0, -1, 1.5, True, "3"])
def test_prune_refuses_to_keep_no_snapshot(store: EventStore, keep: object) -> None:
    store.put_snapshot(_snap("control", 1))
    with pytest.raises(InputError, match="keep must be a whole number of snapshots per variant, 1 or more"):
        store.prune_snapshots(keep)  # type: ignore[arg-type]
    assert store.latest_snapshot("exp", "control") == _snap("control", 1)


def test_counts_per_variant(filled: EventStore) -> None:
    filled.append_journal([_entry("e1", "a", 0, 1.0), _entry("e3", "a", 0, 0.0, "default")])
    counts = filled.counts("exp")
    assert counts["control"] == {
        "decisions": 2,
        "shown": 6,
        "rewards": 3,
        "late": 1,
        "journaled": 2,
        "defaulted": 1,
        "waiting": 4,
    }
    assert counts["treatment"] == {
        "decisions": 1,
        "shown": 3,
        "rewards": 1,
        "late": 0,
        "journaled": 0,
        "defaulted": 0,
        "waiting": 3,
    }
    assert set(filled.counts("other")) == {"control", "treatment"}
    assert filled.counts("other")["treatment"]["decisions"] == 0
