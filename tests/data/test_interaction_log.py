from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from abrec.data import Catalog, InteractionLog
from abrec.errors import DataError

GOOD = (
    "unit,item,timestamp,position,reward,propensity,policy,experiment,variant\n"
    "u1,3,2024-01-01 10:00:00+00:00,0,1.0,0.5,uniform,exp1,A\n"
    "u2,5,2024-01-01 10:01:00+00:00,1,0.0,0.25,uniform,exp1,B\n"
    "u3,5,2024-01-01 10:02:00+00:00,2,0.0,,uniform,exp1,\n"
)


def _csv(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _replace(line: int, column: str, value: str) -> str:
    """GOOD with one cell replaced (line numbers as an editor shows them, header = line 1)."""
    lines = GOOD.splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


def test_read_good_csv_types(tmp_path: Path) -> None:
    log = InteractionLog.read(_csv(tmp_path, GOOD))
    frame = log.frame
    assert len(log) == 3
    assert frame["item"].dtype == np.int64 and frame["position"].dtype == np.int64
    assert str(frame["timestamp"].dtype) == "datetime64[us, UTC]"
    assert frame["propensity"].isna().tolist() == [False, False, True]
    assert frame["variant"].tolist() == ["A", "B", ""]
    assert list(frame.columns) == [
        "unit", "item", "timestamp", "position", "reward", "propensity", "policy", "experiment", "variant",
        "event_id", "request_id", "policy_version", "propensity_draws", "assignment_p", "period", "session_id", "step",
    ]  # fmt: skip


def test_missing_column_names_it_and_lists_found(tmp_path: Path) -> None:
    text = GOOD.replace("reward,", "rewards,", 1)
    path = _csv(tmp_path, text)
    with pytest.raises(DataError) as info:
        InteractionLog.read(path)
    message = str(info.value)
    assert message.startswith(f"{path}: missing required column 'reward' (did you mean 'rewards'?)")
    assert "found columns: 'unit', 'item'" in message


def test_unexpected_column_suggests_the_schema_name(tmp_path: Path) -> None:
    path = _csv(tmp_path, GOOD.replace("propensity", "propensty", 1))
    with pytest.raises(DataError, match=r"unexpected column 'propensty' \(did you mean 'propensity'\?\)"):
        InteractionLog.read(path)


def test_bad_type_names_file_row_line_and_column(tmp_path: Path) -> None:
    path = _csv(tmp_path, _replace(3, "position", "second"))
    with pytest.raises(DataError) as info:
        InteractionLog.read(path)
    assert str(info.value) == f"{path}, row 2 (line 3), column 'position': position must be an integer; got 'second'"


def test_propensity_out_of_range(tmp_path: Path) -> None:
    path = _csv(tmp_path, _replace(4, "propensity", "1.7"))
    with pytest.raises(DataError) as info:
        InteractionLog.read(path)
    assert str(info.value) == f"{path}, row 3 (line 4), column 'propensity': propensity must be in (0, 1]; got 1.7"


def test_zero_propensity_rejected_in_memory() -> None:
    frame = pd.DataFrame({"unit": ["a", "b"], "item": [1, 2], "timestamp": [0, 1], "reward": [0, 1]})
    frame["propensity"] = [0.5, 0.0]
    with pytest.raises(DataError, match=re.escape("row 2, column 'propensity': propensity must be in (0, 1]; got 0.0")):
        InteractionLog(frame)


def test_nan_reward(tmp_path: Path) -> None:
    path = _csv(tmp_path, _replace(2, "reward", ""))
    with pytest.raises(DataError) as info:
        InteractionLog.read(path)
    assert str(info.value).startswith(f"{path}, row 1 (line 2), column 'reward': reward must be a number, not missing")


def test_unparseable_timestamp(tmp_path: Path) -> None:
    path = _csv(tmp_path, _replace(3, "timestamp", "yesterday"))
    with pytest.raises(DataError) as info:
        InteractionLog.read(path)
    message = str(info.value)
    assert message.startswith(f"{path}, row 2 (line 3), column 'timestamp': timestamp must be an ISO 8601 time")
    assert message.endswith("got 'yesterday'")


def test_negative_position_and_empty_unit_counted() -> None:
    frame = pd.DataFrame({"unit": ["a", "", ""], "item": [1, 2, 3], "timestamp": [0, 1, 2], "reward": [0, 1, 0]})
    with pytest.raises(DataError, match=r"row 2, column 'unit'.*non-empty.*\(1 more rows fail this check\)"):
        InteractionLog(frame)
    frame["unit"] = ["a", "b", "c"]
    frame["position"] = [0, -1, 0]
    with pytest.raises(DataError, match=r"row 2, column 'position': position must be an integer >= 0"):
        InteractionLog(frame)


def test_bad_parquet_names_file_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    frame = pd.DataFrame({"unit": ["a", "b"], "item": [1, 2], "timestamp": [0, 1], "reward": ["1", "lots"]})
    frame.to_parquet(path)
    with pytest.raises(
        DataError, match=re.escape(f"{path}, row 2, column 'reward': reward must be a number; got 'lots'")
    ):
        InteractionLog.read(path)


def test_parquet_of_another_kind_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "items.parquet"
    Catalog(pd.DataFrame({"item_id": [1], "t": ["x"]}), text_columns=["t"]).write(path)
    with pytest.raises(DataError, match="holds an abrec 'catalog' file, not an abrec 'interaction_log' file"):
        InteractionLog.read(path)


def test_ragged_csv_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"ragged\.csv: cannot be read as CSV"):
        InteractionLog.read(_csv(tmp_path, GOOD + "u4,1,2024-01-01,0,1,0.5,a,b,c,extra,more\n", "ragged.csv"))
    with pytest.raises(DataError, match=r"empty\.csv: the file is empty"):
        InteractionLog.read(_csv(tmp_path, "", "empty.csv"))


def test_whole_file_is_validated_before_returning(tmp_path: Path) -> None:
    """A bad value on the last of many rows still fails the read: nothing half-loaded."""
    lines = [GOOD.splitlines()[0]] + [f"u{i},{i % 7},2024-01-01T00:00:{i % 60:02d}Z,0,0,0.5,p,e,v" for i in range(5000)]
    lines[-1] = lines[-1].replace(",0.5,", ",-0.5,")
    path = _csv(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"row 5000 \(line 5001\), column 'propensity'"):
        InteractionLog.read(path)


def test_constructor_does_not_mutate_input_and_frame_is_a_copy() -> None:
    frame = pd.DataFrame(
        {"unit": [1, 2], "item": ["x", "y"], "timestamp": ["2024-01-01", "2024-01-02"], "reward": [1, 0]}
    )
    before = frame.copy()
    log = InteractionLog(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert log.frame["unit"].tolist() == ["1", "2"]
    copy = log.frame
    copy["reward"] = 9.0
    assert log.frame["reward"].tolist() == [1.0, 0.0]


def test_timestamps_are_utc() -> None:
    naive = pd.to_datetime(["2024-01-01 12:00"])
    tokyo = pd.to_datetime(["2024-01-01 21:00"]).tz_localize("Asia/Tokyo")
    a = InteractionLog.from_arrays(unit=["a"], item=[1], timestamp=naive, reward=[1.0])
    b = InteractionLog.from_arrays(unit=["a"], item=[1], timestamp=tokyo, reward=[1.0])
    c = InteractionLog.from_arrays(unit=["a"], item=[1], timestamp=["2024-01-01T12:00:00Z"], reward=[1.0])
    assert a == b == c
    assert a.frame["timestamp"].iloc[0] == pd.Timestamp("2024-01-01 12:00", tz="UTC")


def test_from_arrays_lengths_must_match() -> None:
    with pytest.raises(DataError, match="arrays of one length"):
        InteractionLog.from_arrays(unit=["a", "b"], item=[1], timestamp=[0, 1], reward=[1, 0])


def test_items_must_be_all_int_or_all_str() -> None:
    with pytest.raises(DataError, match="all integers or all strings"):
        InteractionLog.from_arrays(
            unit=["a", "b"], item=np.array(["x", 3], dtype=object), timestamp=[0, 1], reward=[1, 0]
        )


def test_filters_and_concat() -> None:
    def log(policy: str, variant: str) -> InteractionLog:
        return InteractionLog.from_arrays(
            unit=["a", "b"], item=[1, 2], timestamp=[0, 1], reward=[1, 0], policy=policy, variant=variant,
            experiment="e", extra_rewards={"buy": [1, 0]},
        )  # fmt: skip

    both = InteractionLog.concat([log("ucb", "A"), log("ts", "B")])
    assert len(both) == 4 and both.reward_columns == ("buy",)
    assert len(both.for_policy("ts")) == 2 and set(both.for_policy("ts").frame["variant"]) == {"B"}
    assert len(both.for_variant("A")) == 2 and len(both.for_variant("A", experiment="other")) == 0
    assert len(both.for_experiment("e")) == 4
    assert both.for_policy("ts").frame.index.tolist() == [0, 1]
    plain = InteractionLog.from_arrays(unit=["a"], item=[1], timestamp=[0], reward=[1])
    with pytest.raises(DataError, match="reward columns"):
        InteractionLog.concat([both, plain])
    with pytest.raises(DataError, match="at least one"):
        InteractionLog.concat([])


def test_reward_columns_must_be_declared_and_not_clash(tmp_path: Path) -> None:
    log = InteractionLog.from_arrays(unit=["a"], item=[1], timestamp=[0], reward=[1], extra_rewards={"buy": [0.5]})
    path = tmp_path / "log.csv"
    log.write(path)
    assert InteractionLog.read(path) == log  # a CSV's extra columns are read as extra rewards
    assert InteractionLog.read(path, reward_columns=["buy"]) == log
    with pytest.raises(DataError, match=r"unexpected column 'buy'.*reward_columns="):
        InteractionLog.read(path, reward_columns=[])
    typo = tmp_path / "typo.csv"
    typo.write_text(path.read_text().replace("propensity", "propensty"))
    with pytest.raises(DataError, match=r"unexpected column 'propensty' \(did you mean 'propensity'\?\)"):
        InteractionLog.read(typo)
    with pytest.raises(DataError, match="clashes"):
        InteractionLog(log.frame, reward_columns=["propensity"])


# ---- round trips ---------------------------------------------------------------------------------

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8)
_str_items = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=6).filter(
    lambda s: re.fullmatch(r"-?(0|[1-9][0-9]*)", s) is None and s.strip() != ""
)
_finite = st.floats(allow_nan=False, allow_infinity=False)
_times = st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))


@st.composite
def _logs(draw: st.DrawFn) -> InteractionLog:
    n = draw(st.integers(1, 6))
    int_items = draw(st.booleans())
    items = st.integers(-(2**62), 2**62) if int_items else _str_items
    extra = draw(st.sampled_from([{}, {"purchase": None}]))
    return InteractionLog.from_arrays(
        unit=draw(st.lists(_text.filter(lambda s: s.strip() != ""), min_size=n, max_size=n)),
        item=np.array(draw(st.lists(items, min_size=n, max_size=n)), dtype=np.int64 if int_items else object),
        timestamp=pd.DatetimeIndex(draw(st.lists(_times, min_size=n, max_size=n))),
        reward=draw(st.lists(_finite, min_size=n, max_size=n)),
        position=draw(st.lists(st.integers(0, 20), min_size=n, max_size=n)),
        propensity=draw(st.lists(st.floats(0, 1, exclude_min=True) | st.just(float("nan")), min_size=n, max_size=n)),
        policy=draw(st.lists(_text, min_size=n, max_size=n)),
        experiment=draw(_text),
        variant=draw(st.lists(_text, min_size=n, max_size=n)),
        extra_rewards={k: draw(st.lists(_finite, min_size=n, max_size=n)) for k in extra},
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(log=_logs(), suffix=st.sampled_from(["csv", "csv.gz", "parquet"]))
def test_round_trip_is_exact(tmp_path: Path, log: InteractionLog, suffix: str) -> None:
    path = tmp_path / f"log.{suffix}"
    log.write(path)
    back = InteractionLog.read(path, reward_columns=None if suffix == "parquet" else log.reward_columns)
    pd.testing.assert_frame_equal(back.frame, log.frame)
    assert back == log


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(GOOD)
    log = InteractionLog.read(path)
    with pytest.raises(DataError):
        log.write(tmp_path / "log.unknown")
    (tmp_path / "sub").mkdir()
    with pytest.raises(OSError):
        log.write(tmp_path / "missing" / "log.csv")
    assert path.read_text() == GOOD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv", "sub"]


# ---- the event record: every field survives both formats ------------------------------------------


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".csv.gz"])
def test_every_event_field_round_trips(tmp_path: Path, suffix: str) -> None:
    n = 5
    rng = np.random.default_rng(0)
    log = InteractionLog.from_arrays(
        unit=[f"u{i}" for i in range(n)],
        item=["a", "b", "c", "a", "b"],
        timestamp=np.arange(n) * 1.5,
        reward=rng.random(n),
        extra_rewards={"purchase": [0.0, 1.0, 0.0, 0.0, 2.5]},
        position=[0, 1, 0, 1, 0],
        propensity=[0.5, 0.25, 1.0, 0.125, 0.3],
        policy="bernoulli_ts",
        experiment="exp",
        variant=["A", "B", "A", "B", "A"],
        event_id=[f"r{i}/0" for i in range(n)],
        request_id=[f"r{i}" for i in range(n)],
        policy_version="2",
        propensity_draws=[0, 1000, 0, 1000, 7],
        assignment_p=[0.5, 0.5, 0.1, 0.9, 0.1],
        period=[0, 0, 1, 1, 2],
        session_id=["s1", "s1", "s2", "", "s2"],
        step=[0, 1, 0, 0, 1],
        context=rng.normal(size=(n, 3)),
    )
    path = tmp_path / f"log{suffix}"
    log.write(path)
    back = InteractionLog.read(path)
    assert back == log and back.reward_columns == ("purchase",)
    assert np.array_equal(back.contexts(), log.contexts())
    assert back.frame["propensity_draws"].tolist() == [0, 1000, 0, 1000, 7]


def test_event_fields_are_validated() -> None:
    base = {"unit": ["u"], "item": [1], "timestamp": [0], "reward": [1.0]}
    with pytest.raises(DataError, match=r"column 'assignment_p': assignment_p must be in \(0, 1\]; got 1.5"):
        InteractionLog(pd.DataFrame({**base, "assignment_p": [1.5]}))
    with pytest.raises(DataError, match="column 'period': period must be an integer >= 0; got -1"):
        InteractionLog(pd.DataFrame({**base, "period": [-1]}))
    with pytest.raises(DataError, match="column 'propensity_draws'"):
        InteractionLog(pd.DataFrame({**base, "propensity_draws": [0.5]}))
    with pytest.raises(DataError, match="context vectors must all have one length"):
        InteractionLog(pd.DataFrame({**base, "unit": ["u", "v"], "item": [1, 2], "timestamp": [0, 1],
                                     "reward": [1.0, 0.0], "context": [[1.0, 2.0], [1.0]]}))  # fmt: skip
    with pytest.raises(DataError, match="unknown column 'perod' \\(did you mean 'period'\\?\\)"):
        InteractionLog.from_arrays(unit=["u"], item=[1], timestamp=[0], reward=[1.0], perod=[1])
