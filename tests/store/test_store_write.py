"""EventStore.write on SQLite and PostgreSQL: what is stored, replayed, refused, and that one bad op spoils nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from store_records import T0, allocation, decision, reward

from abrec.errors import InputError, UnknownNameError
from abrec.store import EventStore, WriteBatch


def _count(store: EventStore, table: str) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_decisions_round_trip_exactly(store: EventStore) -> None:
    rows = [decision(), decision(items=("x",), context=None, scores=(), client_request_id="r1", unit="u2")]
    result = store.write(WriteBatch(decisions=rows))
    assert [o.status for o in result.decisions] == ["stored", "stored"]
    found = store.decisions([r.event_id for r in rows] + ["nope"])
    assert set(found) == {r.event_id for r in rows}
    for row in rows:
        got = found[row.event_id]
        assert got.seq is not None
        assert got == type(row)(**{**{f: getattr(row, f) for f in row.__dataclass_fields__}, "seq": got.seq})
        assert got.created_at == row.created_at  # microseconds kept


def test_a_known_client_request_id_replays_the_stored_decision(store: EventStore) -> None:
    first = decision("e1", client_request_id="req-7")
    assert store.write(WriteBatch(decisions=[first])).decisions[0].status == "stored"
    retry = decision("e2", client_request_id="req-7", items=("q", "r"))
    again = store.write(WriteBatch(decisions=[retry])).decisions[0]
    assert again.status == "replayed"
    assert again.decision.event_id == "e1" and again.decision.items == first.items
    other_experiment = decision("e3", client_request_id="req-7", experiment="other")
    assert store.write(WriteBatch(decisions=[other_experiment])).decisions[0].status == "stored"
    assert set(store.decisions(["e1", "e2", "e3"])) == {"e1", "e3"}


def test_a_client_request_id_twice_in_one_batch_is_stored_once(store: EventStore) -> None:
    a, b = decision("e1", client_request_id="r"), decision("e2", client_request_id="r")
    result = store.write(WriteBatch(decisions=[a, b]))
    assert [o.status for o in result.decisions] == ["stored", "replayed"]
    assert result.decisions[1].decision.event_id == "e1"
    assert _count(store, "decisions") == 1


def test_reward_outcomes(store: EventStore) -> None:
    d = decision("e1", items=("a", "b", "c"))
    store.write(WriteBatch(decisions=[d]))
    late_at = d.window_closes_at + timedelta(microseconds=1)
    on_edge = d.window_closes_at
    batch = WriteBatch(
        rewards=[
            reward("e1", "b", 1.0),  # stored, position filled
            reward("e1", "b", 1.0),  # duplicate in the same batch
            reward("e1", "b", 0.0),  # conflict
            reward("e1", "b", 3.5, kind="purchase"),  # another kind: its own key
            reward("nope", "a"),  # unknown event
            reward("e1", "zz"),  # not in the slate
            reward("e1", "a", position=2),  # in the slate, at another position
            reward("e1", "c", 1.0, at=late_at),  # late
            reward("e1", "a", 0.0, at=on_edge, position=0),  # received as the window closes: on time
        ]
    )
    outcomes = store.write(batch).rewards
    assert [o.status for o in outcomes] == [
        "stored",
        "duplicate",
        "conflict",
        "stored",
        "unknown_event",
        "wrong_item",
        "wrong_item",
        "late",
        "stored",
    ]
    assert outcomes[0].reward.position == 1 and not outcomes[0].reward.late
    assert outcomes[1].ok and not outcomes[2].ok
    assert "already has a 'click' reward of 1.0" in outcomes[2].message
    assert "Unknown event id 'nope'" in outcomes[4].message
    assert "'zz' was not shown in event 'e1'" in outcomes[5].message
    assert "shown at position 0, not 2" in outcomes[6].message
    assert outcomes[7].reward.late and outcomes[7].reward.position == 2
    assert _count(store, "rewards") == 4
    # a retry after the commit: the stored rows answer it
    retry = store.write(WriteBatch(rewards=[reward("e1", "b", 1.0), reward("e1", "c", 2.0, at=late_at)])).rewards
    assert [o.status for o in retry] == ["duplicate", "conflict"]
    assert retry[0].reward.seq is not None and retry[0].reward.position == 1
    assert _count(store, "rewards") == 4


def test_a_reward_in_the_same_batch_as_its_decision(store: EventStore) -> None:
    d = decision("e1")
    result = store.write(WriteBatch(decisions=[d], rewards=[reward("e1", "c", 0.5)]))
    assert result.rewards[0].status == "stored" and result.rewards[0].reward.position == 2


def test_bad_operations_never_roll_back_the_good_ones(store: EventStore) -> None:
    store.write(WriteBatch(decisions=[decision("e1")], rewards=[reward("e1", "a", 1.0)]))
    batch = WriteBatch(
        decisions=[decision("e2", client_request_id="c1")],
        rewards=[reward("missing", "a"), reward("e1", "a", 0.0), reward("e1", "b", 1.0), reward("e2", "q")],
        assignments=[("exp", "u9", "treatment", 0)],
        items=[("new-item", "a new item's text")],
    )
    result = store.write(batch)
    assert [o.status for o in result.rewards] == ["unknown_event", "conflict", "stored", "wrong_item"]
    assert result.decisions[0].status == "stored"
    assert _count(store, "decisions") == 2 and _count(store, "rewards") == 2
    assert store.assignments("exp", ["u9"]) == {"u9": "treatment"}
    assert _count(store, "items") == 1


def test_a_database_error_writes_nothing_of_the_batch(store: EventStore) -> None:
    store.write(WriteBatch(decisions=[decision("e1")]))
    # a second decision with a stored event id passes the checks and hits the unique constraint
    batch = WriteBatch(
        decisions=[decision("e2"), decision("e1")], rewards=[reward("e1", "a")], assignments=[("exp", "u5", "x", 0)]
    )
    with pytest.raises(IntegrityError):
        store.write(batch)
    assert _count(store, "decisions") == 1 and _count(store, "rewards") == 0 and _count(store, "assignments") == 0


def test_assignments_and_items_keep_the_first_row(store: EventStore) -> None:
    store.write(WriteBatch(assignments=[("exp", "u1", "control", 0), ("exp", "u1", "treatment", 0)]))
    store.write(WriteBatch(assignments=[("exp", "u1", "treatment", 1), ("exp", "u2", "treatment", 1)]))
    store.write(WriteBatch(assignments=[("other", "u1", "b", 0)], items=[("i1", "first"), ("i1", "second")]))
    assert store.assignments("exp", ["u1", "u2", "u3", "u1"]) == {"u1": "control", "u2": "treatment"}
    assert store.assignments("other", ["u1"]) == {"u1": "b"}
    store.write(WriteBatch(items=[("i2", ""), ("i1", "third")]))
    assert store.item_texts() == {"i1": "first", "i2": ""}
    assert store.item_texts(["i2", "nope"]) == {"i2": ""}


def test_experiments_are_idempotent_and_never_silently_changed(store: EventStore) -> None:
    alloc = allocation("exp")
    store.put_experiment("exp", {"variants": ["control", "treatment"], "window_s": 600}, alloc, reward_kind="purchase")
    store.put_experiment("exp", {"window_s": 600, "variants": ["control", "treatment"]}, alloc, reward_kind="purchase")
    (row,) = store.experiments()
    assert (row.name, row.status, row.reward_kind) == ("exp", "running", "purchase")
    assert row.config == {"variants": ["control", "treatment"], "window_s": 600}
    with pytest.raises(InputError, match=r"Experiment 'exp' is stored with another config .*\['window_s'\] differ"):
        store.put_experiment(
            "exp", {"variants": ["control", "treatment"], "window_s": 60}, alloc, reward_kind="purchase"
        )
    with pytest.raises(InputError, match="another name"):
        store.put_experiment("exp", {"variants": ["control", "treatment"], "window_s": 600}, alloc)
    store.put_experiment("exp", {"window_s": 60}, alloc, reward_kind="click", replace=True)
    assert store.experiments()[0].config == {"window_s": 60} and store.experiments()[0].reward_kind == "click"
    store.set_status("exp", "paused")
    assert store.experiments()[0].status == "paused"
    with pytest.raises(UnknownNameError, match="Did you mean 'exp'"):
        store.set_status("exq", "stopped")


def test_allocations_by_period(store: EventStore) -> None:
    first = allocation("exp", {"control": 0.5, "treatment": 0.5})
    store.put_experiment("exp", {}, first)
    moved = first.to_experiment().reweight({"control": 0.2, "treatment": 0.8})
    from abrec.store import AllocationRow

    second = AllocationRow.from_experiment(moved, period=1, started_at=T0 + timedelta(hours=1))
    store.put_allocation(second)
    store.put_allocation(second)  # the same row again: a no-op
    assert store.allocation("exp") == second
    assert store.allocations("exp") == [first, second]
    assert store.allocation("exp").to_experiment() == moved
    other = AllocationRow.from_experiment(first.to_experiment(), period=1, started_at=T0)
    with pytest.raises(InputError, match="already has another allocation for period 1"):
        store.put_allocation(other)
    with pytest.raises(UnknownNameError, match="Unknown experiment 'nope'"):
        store.allocation("nope")
    with pytest.raises(UnknownNameError):
        store.put_allocation(allocation("nope"))


def test_big_batches_cross_the_in_list_chunks(store: EventStore) -> None:
    decisions = [decision(f"e{i}", items=("a", "b")) for i in range(5_200)]
    store.write(WriteBatch(decisions=decisions))
    rewards = [reward(f"e{i}", "b") for i in range(5_200)]
    outcomes = store.write(WriteBatch(rewards=rewards)).rewards
    assert all(o.status == "stored" for o in outcomes)
    again = store.write(WriteBatch(rewards=rewards)).rewards
    assert all(o.status == "duplicate" for o in again)
    assert len(store.decisions([d.event_id for d in decisions])) == 5_200
