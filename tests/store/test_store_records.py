"""The records reject every value the database must never hold, with a message naming the field."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest
from store_records import T0, decision, reward

from abrec.errors import InputError
from abrec.store import JournalEntry, WriteBatch, WriteResult


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "1.0", None, True])
def test_reward_value_must_be_a_finite_float(value: object) -> None:
    with pytest.raises(InputError, match=r"RewardRow\.value must be a finite float"):
        reward("e", "a", value)  # type: ignore[arg-type]


def test_numbers_are_normalised_to_python_types() -> None:
    r = reward("e", "a", np.float32(0.5), position=np.int64(2))  # type: ignore[arg-type]
    assert type(r.value) is float and r.value == 0.5
    assert type(r.position) is int and r.position == 2
    d = decision(items=["x", "y"], propensities=np.array([0.5, 0.5]), scores=[1, 2], context=np.zeros(3))
    assert d.items == ("x", "y") and d.propensities == (0.5, 0.5) and d.scores == (1.0, 2.0)
    assert d.context == (0.0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"propensities": (0.5, math.nan, 0.2)}, "propensities must be a sequence of finite floats"),
        ({"propensities": (0.5, 1.5, 0.2)}, "propensities must be in"),
        ({"propensities": (0.5, 0.0, 0.2)}, "propensities must be in"),
        ({"propensities": (0.5, 0.5)}, "propensities must be one per item"),
        ({"scores": (0.0, math.inf, 1.0)}, "scores must be a sequence of finite floats"),
        ({"scores": (0.0,)}, "scores must be empty or one per item"),
        ({"context": (0.0, math.nan)}, "context must be a sequence of finite floats"),
        ({"assignment_p": 0.0}, "assignment_p must be in"),
        ({"assignment_p": math.nan}, "assignment_p must be a finite float"),
        ({"items": ("a", "a", "b")}, "items must be a sequence of distinct strings"),
        ({"items": (), "k": 1}, "items must be a non-empty sequence"),
        ({"items": "abc"}, "items must be a sequence of strings"),
        ({"unit": ""}, "unit must be a non-empty string"),
        ({"unit": "a\x00b"}, "unit must be a non-empty string without NUL"),
        ({"k": 0}, r"k must be an integer in \[1, 2\*\*63\)"),
        ({"step": -1}, r"step must be an integer in \[0"),
        ({"period": 2**63}, r"period must be an integer in \[0, 2\*\*63\)"),
        ({"created_at": datetime(2026, 1, 1)}, "created_at must be a timezone-aware datetime"),
    ],
)
def test_bad_decisions_are_rejected_with_the_field_named(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=f"DecisionRow.{message}"):
        decision(**fields)


@pytest.mark.parametrize("kind", ["", "click rate", "x" * 65, "1click"])
def test_reward_kinds_are_names(kind: str) -> None:
    with pytest.raises(InputError, match=r"RewardRow\.kind must be a name"):
        reward("e", "a", kind=kind)


def test_journal_entries_reject_nan_and_unknown_sources() -> None:
    base = dict(experiment="e", variant="v", event_id="x", item="a", position=0, batch=1, learned_at=T0)
    with pytest.raises(InputError, match=r"JournalEntry\.value must be a finite float"):
        JournalEntry(value=math.nan, source="reward", **base)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"JournalEntry\.source must be 'reward' or 'default'"):
        JournalEntry(value=1.0, source="guess", **base)  # type: ignore[arg-type]


def test_batches_merge_and_results_split_back_in_order() -> None:
    one = WriteBatch(decisions=[decision("d1")], rewards=[reward("d0", "a")], assignments=[("exp", "u", "control", 0)])
    two = WriteBatch(rewards=[reward("d1", "b"), reward("d1", "c")], items=[("a", "text")])
    merged = WriteBatch.merge([one, two])
    assert [d.event_id for d in merged.decisions] == ["d1"]
    assert [r.item for r in merged.rewards] == ["a", "b", "c"]
    assert len(merged) == 6
    from abrec.store import DecisionOutcome, RewardOutcome

    result = WriteResult(
        (DecisionOutcome("stored", merged.decisions[0]),),
        tuple(RewardOutcome("stored", r) for r in merged.rewards),
    )
    first, second = result.split([one, two])
    assert [o.reward.item for o in first.rewards] == ["a"] and len(first.decisions) == 1
    assert [o.reward.item for o in second.rewards] == ["b", "c"] and second.decisions == ()


def test_write_batch_checks_its_tuples() -> None:
    with pytest.raises(InputError, match=r"WriteBatch\.assignments must be an integer"):
        WriteBatch(assignments=[("exp", "u", "v", -1)])
    with pytest.raises(InputError, match=r"WriteBatch\.decisions must be DecisionRow records"):
        WriteBatch(decisions=[{"event_id": "x"}])  # type: ignore[list-item]
