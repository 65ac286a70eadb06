"""Speed-ups of W2 (``make bench BENCH=ope``) change no number.

- ``evaluate_policies`` fits its default reward model on one BLAS thread: the evaluation equals the one
  given a reward model fitted with the machine's default BLAS threads (the 2-core development machine
  runs two; where BLAS has one thread this holds trivially).
- ``load_obd`` converts the affinity columns as one block when pandas parsed them as finite numbers: the
  same float64 values as column by column, and a bad cell still fails with its row and column.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from abrec.data._schema import Source, as_float
from abrec.data.obd import _affinity, _packaged, load_obd
from abrec.errors import DataError
from abrec.ope import cross_fit_rewards, evaluate_policies
from abrec.ope.feedback import LoggedFeedback
from abrec.ope.zozotown import zozotown_bts_policy


@pytest.mark.parametrize("campaign", ["all", "men"])
def test_evaluation_equals_the_one_with_a_default_threads_reward_model(campaign: str) -> None:
    fb = LoggedFeedback.from_obd(load_obd(campaign=campaign))
    policies = {"bts": zozotown_bts_policy(campaign)}
    options = {"n_bootstrap": 30, "n_draws": 8192, "replay_learning": False}
    inside = evaluate_policies(fb, policies, **options)
    given = evaluate_policies(fb, policies, rewards=cross_fit_rewards(fb, n_folds=3, seed=0), **options)
    assert inside.to_json() == given.to_json()
    assert inside.policies[0].estimates and all(np.isfinite(r.value) for r in inside.policies[0].estimates)


@pytest.mark.parametrize(("policy", "campaign"), [(p, c) for p in ("random", "bts") for c in ("all", "men", "women")])
def test_affinity_block_equals_column_by_column(policy: str, campaign: str) -> None:
    obd = load_obd(campaign=campaign, policy=policy)
    from abrec.data import io

    frame, source = io.read_csv(
        next((_packaged() / policy / campaign).glob(f"{campaign}.csv*")),
        str_columns=[f"user_feature_{i}" for i in range(4)],
        index_col=0,
    )
    columns = [f"user-item_affinity_{i}" for i in range(obd.n_items)]
    slow = np.column_stack(
        [as_float(frame[c], source=source, column=c, allow_missing=False).to_numpy() for c in columns]
    )
    assert obd.affinity.dtype == np.float64 and obd.affinity.flags.c_contiguous
    assert obd.affinity.shape == slow.shape and obd.affinity.tobytes() == np.ascontiguousarray(slow).tobytes()


def test_affinity_other_dtypes_and_no_columns() -> None:
    import pandas as pd

    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5], "c": [True, False]})
    source = Source("frame")
    out = _affinity(frame, ["a", "b", "c"], source)  # ints and floats as a block, bools column by column
    assert out.tolist() == [[1.0, 0.5, 1.0], [2.0, 1.5, 0.0]] and out.dtype == np.float64
    assert _affinity(frame, [], source).shape == (2, 0)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("abc", "must be a number; got 'abc'"),
        ("inf", "must be finite; got inf"),
        ("", "must be a number, not missing; got a missing value (NaN)"),
    ],
)
def test_a_bad_affinity_cell_names_its_row_and_column(tmp_path: Path, cell: str, message: str) -> None:
    root = tmp_path / "obd"
    folder = root / "random" / "men"
    folder.mkdir(parents=True)
    source = _packaged() / "random" / "men"
    for name in ("men.csv", "item_context.csv"):
        (folder / name).write_bytes(gzip.decompress((source / f"{name}.gz").read_bytes()))
    path = folder / "men.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    column = header.index("user-item_affinity_7")
    cells = lines[42].split(",")
    cells[column] = cell
    lines[42] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as info:
        load_obd(root, campaign="men", policy="random")
    assert str(info.value) == f"{path}, row 42 (line 43), column 'user-item_affinity_7': user-item_affinity_7 {message}"
