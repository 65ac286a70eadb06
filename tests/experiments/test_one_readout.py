"""One readout: ``abrec analyze`` on a simulation's exported log gives exactly the in-process readout.

The run below is the case that used to disagree: three variants under Thompson allocation with periods of
five steps (the weights move far from 1/3), where a log without periods and assignment weights gave
another lift and a false sample-ratio alarm. Static allocation is covered too, in Parquet and in CSV, and
every metric (clicks per user, CTR, conversion, revenue per user) with its correction.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from _experiments import small_experiment, variant
from abrec.abtest.readout import analyze_log
from abrec.cli import app
from abrec.data import InteractionLog
from abrec.envs import make_env
from abrec.experiments import ExperimentConfig, SimulationResult, run_simulation

runner = CliRunner()
FIELDS = ("units", "mean", "lift", "lift_low", "lift_high", "p_value", "p_adjusted", "sequential_low", "chance_to_win")


def _config(allocation: dict[str, Any]) -> ExperimentConfig:
    return ExperimentConfig.from_mapping(
        small_experiment(
            "one-readout",
            11,
            variants=[variant("random", "uniform"), variant("ts", "bernoulli_ts", 20), variant("eg", "epsilon_greedy")],
            allocation=allocation,
            view={"n_users": 60, "n_candidates": 8, "slate_size": 2, "horizon": 20},
        )
    )


@pytest.fixture(scope="module", params=["thompson", "fixed"])
def run(request: pytest.FixtureRequest) -> SimulationResult:
    if request.param == "thompson":
        allocation = {"method": "thompson", "min_share": 0.1, "period": 5, "draws": 2000}
    else:
        allocation = {"method": "fixed", "weights": {"random": 0.5, "ts": 0.3, "eg": 0.2}}
    return run_simulation(_config(allocation))


def _same(a: float | None, b: float | None) -> bool:
    """Equal numbers, or both undefined (NaN in process, null in strict JSON)."""
    a, b = (math.nan if x is None else float(x) for x in (a, b))
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_analyze_on_the_exported_log_equals_the_in_process_readout(
    run: SimulationResult, suffix: str, tmp_path: Path
) -> None:
    inside = run.readout()
    assert inside.method == "period-weighted z"
    if run.config.allocation["method"] == "thompson":
        assert run.weights.max() > 0.6  # the allocation moved far from 1/3
    path = tmp_path / f"log{suffix}"
    run.log.write(path)
    assert InteractionLog.read(path) == run.log  # lossless
    out = tmp_path / "readout.json"
    result = runner.invoke(app, ["analyze", str(path), "--control", "random", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "period-weighted z" in result.output and "weights in force" in result.output
    payload = json.loads(out.read_text())
    rows = payload["readout"]
    assert [r["variant"] for r in rows] == [v.variant for v in inside.variants]
    for row, want in zip(rows, inside.rows(), strict=True):
        for name in FIELDS:
            assert _same(row[name], want[name]), (name, row[name], want[name])
    srm_line = next(line for line in result.output.splitlines() if "sample ratio check" in line)
    assert f"p = {inside.srm.p_value:.3g}" in srm_line and "MISMATCH" not in srm_line
    # every metric, with the very numbers (and the correction) of the in-process multi-metric readout
    metrics = run.readouts()
    assert payload["metrics"] == json.loads(json.dumps(metrics.to_dict(), allow_nan=False))
    assert [m["name"] for m in payload["metrics"]["metrics"]] == ["clicks per user", "CTR", "conversion",
                                                                   "revenue per user"]  # fmt: skip
    assert metrics.primary.rows() == inside.rows()  # the primary is the one-metric readout
    for name in ("CTR", "conversion", "revenue per user"):
        assert name in result.stdout
    assert metrics.correction in result.stdout


def test_every_metric_is_read_out_period_weighted(run: SimulationResult) -> None:
    metrics = run.readouts()
    assert [r.method for r in metrics.readouts] == [
        "period-weighted z",
        "period-weighted z (delta-method ratio)",
        "period-weighted z",
        "period-weighted z",
    ]
    frame = run.log.frame
    assert run.log.reward_columns == ("purchase", "revenue")
    world = make_env(dict(run.config.env)).unwrapped.world  # type: ignore[attr-defined]
    row = {item: i for i, item in enumerate(np.asarray(world.item_ids).tolist())}
    price = world.price[[row[item] for item in frame["item"]]]
    np.testing.assert_array_equal(frame["revenue"].to_numpy(), frame["purchase"].to_numpy() * price)
    assert frame["purchase"].sum() > 0
    # every unit sees one slate of k items, so CTR = clicks per user / k and both tests agree
    k = run.slate_size
    ctr, clicks = metrics["CTR"], metrics["clicks per user"]
    for a, b in zip(ctr.variants, clicks.variants, strict=True):
        assert math.isclose(a.mean * k, b.mean, rel_tol=1e-12)
        assert _same(a.p_value, b.p_value) or math.isclose(a.p_value, b.p_value, rel_tol=1e-9)
    assert "Benjamini-Hochberg" in metrics.correction and "Holm" in metrics.correction


def test_the_log_carries_what_the_readout_needs(run: SimulationResult) -> None:
    frame = run.log.frame
    assert run.log.assigned and frame["assignment_p"].between(0, 1, inclusive="right").all()
    weights = run.weights
    assert np.allclose(weights.sum(axis=1), 1.0)
    # the logged assignment probability is the share of traffic each variant received, on average
    share = run.periods.n / run.periods.n.sum(axis=1, keepdims=True)
    assert abs(float((share - weights).mean())) < 0.05


def test_without_assignment_probabilities_the_readout_says_welch(run: SimulationResult) -> None:
    frame = run.log.frame.drop(columns=["assignment_p", "period"])
    plain = analyze_log(InteractionLog(frame, reward_columns=run.log.reward_columns), control="random")
    assert plain.method == "welch-t"


def test_a_control_is_required_with_assignment_probabilities(run: SimulationResult) -> None:
    with pytest.raises(ValueError, match="control"):
        analyze_log(run.log)
