"""Round trips between the commands: ``simulate`` -> ``analyze`` -> ``evaluate`` on CSV and Parquet, with no flag
beyond naming the control and the logging policy, and the numbers of the in-process readout and evaluation.

Two simulated experiments: one where every item is a candidate of every request (the uniform control's log
supports any target: ``evaluate`` gives numbers), and one with per-request candidate sets (6 of 30 items per
request: ``evaluate`` refuses, saying why and what would work).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from abrec.cli import app
from abrec.data import InteractionLog
from abrec.experiments import SimulationResult, load_config, run_simulation
from abrec.ope import LoggedFeedback, evaluate_policies
from abrec.policies import UniformRandom

runner = CliRunner()


def _config(name: str, n_items: int, n_candidates: int) -> dict[str, Any]:
    return {
        "name": name,
        "seed": 3,
        "env": {
            "env": "abrec/SyntheticCatalog-Bandit-v0",
            "seed": 3,
            "world": {"n_items": n_items, "new_item_share": 0.0},
            "view": {"n_users": 40, "n_candidates": n_candidates, "slate_size": 2, "horizon": 8},
        },
        "encoder": "hashing",
        "feature_dim": 4,
        "variants": [
            {"name": "random", "policy": "uniform"},
            {"name": "ts", "policy": "bernoulli_ts", "params": {"propensity_draws": 20}},
        ],
        "control": "random",
        "allocation": {"method": "fixed"},
    }


class Run:
    """One ``abrec simulate`` run: its config, log and JSON, and the same experiment run in process."""

    def __init__(self, folder: Path, config: dict[str, Any], suffix: str) -> None:
        self.folder = folder
        self.config = folder / "experiment.yaml"
        self.config.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.log = folder / f"log{suffix}"
        self.json = folder / "simulate.json"
        result = runner.invoke(app, ["simulate", str(self.config), "--log", str(self.log), "--json", str(self.json)])
        assert result.exit_code == 0, result.output
        self.stdout = result.stdout
        self.inside: SimulationResult = run_simulation(load_config(self.config))


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ABREC_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="module", params=[".csv", ".parquet"])
def full(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, cache: None) -> Run:
    return Run(tmp_path_factory.mktemp("full"), _config("full-catalog", 12, 12), request.param)


@pytest.fixture(scope="module", params=[".csv", ".parquet"])
def per_request(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, cache: None) -> Run:
    return Run(tmp_path_factory.mktemp("candidates"), _config("candidates", 30, 6), request.param)


def test_the_log_is_the_in_process_log(full: Run) -> None:
    assert InteractionLog.read(full.log) == full.inside.log  # every column, the extra rewards included
    assert full.inside.log.reward_columns == ("purchase", "revenue")


def test_analyze_reads_every_metric_out_as_simulate_did(full: Run) -> None:
    out = full.folder / "analyze.json"
    result = runner.invoke(app, ["analyze", str(full.log), "--control", "random", "--json", str(out)])
    assert result.exit_code == 0, result.output
    analyzed, simulated = json.loads(out.read_text()), json.loads(full.json.read_text())
    inside = json.loads(json.dumps(full.inside.readouts().to_dict()))
    assert analyzed["metrics"] == simulated["metrics"] == inside  # the very numbers, every metric
    assert analyzed["readout"] == simulated["readout"]
    assert [m["name"] for m in inside["metrics"]] == ["clicks per user", "CTR", "conversion", "revenue per user"]
    for stdout in (result.stdout, full.stdout):
        assert "secondary metrics (lift over random)" in stdout and "revenue per user" in stdout
        assert full.inside.readouts().correction in stdout


def test_evaluate_refuses_a_log_of_several_logging_policies_and_names_the_flag(full: Run) -> None:
    result = runner.invoke(app, ["evaluate", str(full.log), "--policy", "uniform", "--bootstrap", "5"])
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    line = result.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line
    assert "mixes 2 logging policies" in line and "--variant random" in line


def test_evaluate_on_the_uniform_control_gives_the_in_process_numbers(full: Run) -> None:
    out = full.folder / "evaluate.json"
    result = runner.invoke(
        app,
        ["evaluate", str(full.log), "--variant", "random", "--policy", "uniform", "--estimators", "ipw,dm",
         "--bootstrap", "20", "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    control = full.inside.log.for_variant("random")
    clicks_per_shown_item = float(control.frame["reward"].mean())
    assert data["log"]["n_rows"] == len(control) and data["log"]["n_actions"] == 12
    assert data["logging_policy"]["value"] == pytest.approx(clicks_per_shown_item, rel=1e-12)
    inside = evaluate_policies(
        LoggedFeedback.from_log(full.inside.log, logging_policy="random"),
        {"uniform": UniformRandom(seed=0)},
        estimators=["ipw", "dm"],
        n_bootstrap=20,
        seed=0,
    )
    ipw = next(e for e in data["policies"][0]["estimates"] if e["estimator"] == "ipw")
    assert ipw["value"] == pytest.approx(inside["uniform"].estimate("ipw").value, rel=1e-12)
    assert ipw["value"] == pytest.approx(clicks_per_shown_item, rel=1e-12)  # uniform target on a uniform log
    online = np.mean(full.inside.log.for_variant("random").frame["reward"])
    assert "(logging)" in result.stdout and f"{online:.6g}" in result.stdout


@pytest.mark.parametrize("variant", ["random", "ts"])
def test_evaluate_refuses_per_request_candidate_sets_and_says_what_would_work(per_request: Run, variant: str) -> None:
    result = runner.invoke(
        app, ["evaluate", str(per_request.log), "--variant", variant, "--policy", "uniform", "--bootstrap", "5"]
    )
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and "Traceback" not in result.output
    line = result.stderr.strip()
    assert "Per-request candidate sets" in line and "6 candidates" in line and "30 actions" in line
    assert "offline replay" in line and "n_candidates = n_items" in line


def test_analyze_reads_the_per_request_log_too(per_request: Run) -> None:
    result = runner.invoke(app, ["analyze", str(per_request.log), "--control", "random"])
    assert result.exit_code == 0, result.output
    assert "conversion" in result.stdout and "Benjamini-Hochberg" in result.stdout
