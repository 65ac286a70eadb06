"""export_log: the joined log as an InteractionLog, every column filled, lossless through files, analysable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from store_records import T0, allocation, decision, reward

from abrec.abtest.readout import analyze_log
from abrec.data.interactions import InteractionLog
from abrec.store import EventStore, JournalEntry, WriteBatch


def _fill(store: EventStore, n: int = 40) -> None:
    store.put_experiment("exp", {}, allocation("exp"), reward_kind="click")
    rng = np.random.default_rng(7)
    decisions, rewards = [], []
    for i in range(n):
        variant = "control" if i % 2 else "treatment"
        d = decision(
            f"ev{i:03d}",
            unit=f"u{i % 14}",
            variant=variant,
            items=(f"item-{i % 5}", f"item-{(i + 1) % 5}"),
            created_at=T0 + timedelta(seconds=i, microseconds=i),
            context=tuple(rng.normal(size=3)),
            period=i // 20,
            assignment_p=0.5 if i < 20 else 0.25 if variant == "control" else 0.75,
            propensity_draws=i % 3 * 100,
            policy=f"policy-{variant}",
            policy_version=f"v{i % 4}",
            session_id=f"s{i % 7}",
            step=i,
        )
        decisions.append(d)
        if i % 3 == 0:
            rewards.append(reward(d.event_id, d.items[0], float(i % 2), at=d.created_at))
        if i % 4 == 0:
            rewards.append(reward(d.event_id, d.items[1], 9.5, kind="purchase", at=d.created_at))
        if i % 5 == 0:  # late: never the primary reward
            rewards.append(reward(d.event_id, d.items[1], 1.0, at=d.window_closes_at + timedelta(seconds=1)))
    store.write(WriteBatch(decisions=decisions, rewards=rewards))
    learned = [
        JournalEntry(
            experiment="exp",
            variant=decisions[i].variant,
            event_id=decisions[i].event_id,
            item=decisions[i].items[0],
            position=0,
            value=0.25,
            source="default",
            batch=1,
            learned_at=T0,
        )
        for i in (1, 2)
    ]
    store.append_journal(learned)


def test_every_column_is_filled_from_the_decision(store: EventStore) -> None:
    _fill(store)
    log = store.export_log("exp")
    frame = log.frame
    assert len(log) == 80 and log.reward_columns == ("purchase",) and log.has_context and log.assigned
    first = frame.iloc[0]
    assert first["unit"] == "u0" and first["item"] == "item-0" and first["position"] == 0
    assert first["event_id"] == "ev000/0" and first["request_id"] == "ev000"
    assert first["timestamp"] == pd.Timestamp(T0)
    assert frame.iloc[3]["timestamp"] == pd.Timestamp(T0 + timedelta(seconds=1, microseconds=1))
    assert first["policy"] == "policy-treatment" and first["variant"] == "treatment" and first["experiment"] == "exp"
    assert first["policy_version"] == "v0" and first["session_id"] == "s0"
    assert frame["propensity"].tolist()[:2] == [0.5, 1 / 3]
    assert frame["propensity_draws"].tolist()[2:8] == [100, 100, 200, 200, 0, 0]
    assert frame["assignment_p"].tolist()[40:44] == [0.75, 0.75, 0.25, 0.25]
    assert frame["period"].tolist()[38:42] == [0, 0, 1, 1] and frame["step"].tolist()[4:6] == [2, 2]
    by_event = frame.set_index("event_id")
    assert by_event.loc["ev003/0", "reward"] == 1.0  # on-time click
    assert by_event.loc["ev006/0", "reward"] == 0.0  # on-time click of value 0
    assert by_event.loc["ev005/1", "reward"] == 0.0  # a late click is not the reward
    assert by_event.loc["ev001/0", "reward"] == 0.25  # journaled: the learned (default) value
    assert by_event.loc["ev004/1", "purchase"] == 9.5 and by_event.loc["ev004/0", "purchase"] == 0.0
    np.testing.assert_array_equal(log.contexts()[0], log.contexts()[1])  # a slate's rows share the context
    assert store.export_log("nope").frame.empty
    assert len(store.export_log()) == 80


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_the_export_round_trips_through_files_and_analyses(store: EventStore, tmp_path: Path, suffix: str) -> None:
    _fill(store)
    log = store.export_log("exp")
    path = tmp_path / f"log{suffix}"
    log.write(path)
    back = InteractionLog.read(path)
    if suffix == ".parquet":
        assert back == log
    else:  # CSV: text, exact floats (repr), the same frame
        pd.testing.assert_frame_equal(back.frame.drop(columns="context"), log.frame.drop(columns="context"))
        np.testing.assert_array_equal(back.contexts(), log.contexts())
    for column in ("reward", "purchase"):
        readout = analyze_log(back, control="control", column=column)
        assert readout.control == "control" and [v.variant for v in readout.variants] == ["control", "treatment"]
        assert [v.units for v in readout.variants] == [7, 7]


def test_a_mixed_or_missing_context_leaves_the_column_out(store: EventStore) -> None:
    store.write(WriteBatch(decisions=[decision("a", context=None), decision("b", context=(1.0,))]))
    log = store.export_log()
    assert not log.has_context and len(log) == 6


def test_the_primary_kind_can_be_chosen(store: EventStore) -> None:
    store.put_experiment("exp", {}, allocation("exp"), reward_kind="click")
    store.write(WriteBatch(decisions=[decision("e", items=("a",))]))
    store.write(WriteBatch(rewards=[reward("e", "a", 1.0), reward("e", "a", 4.0, kind="purchase")]))
    click = store.export_log().frame
    assert click["reward"].tolist() == [1.0] and click["purchase"].tolist() == [4.0]
    purchase = store.export_log(reward_kind="purchase")
    assert purchase.frame["reward"].tolist() == [4.0] and purchase.reward_columns == ("click",)
