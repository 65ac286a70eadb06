"""``abrec ledger``: predict from ``abrec evaluate --json``, observe from ``abrec analyze --json``, show, simulate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from abrec.cli import app
from abrec.data.interactions import InteractionLog
from abrec.experiments.ledger import Ledger

runner = CliRunner()


def test_predict_observe_show_closes_the_loop(tmp_path: Path) -> None:
    ev_json, readout_json, ledger = tmp_path / "ev.json", tmp_path / "readout.json", tmp_path / "ledger.jsonl"
    done = runner.invoke(
        app,
        ["evaluate", "obd", "--policy", "bernoulli_ts", "--bootstrap", "20", "--draws", "2000", "--json", str(ev_json)],
    )
    assert done.exit_code == 0, done.output
    rng = np.random.default_rng(0)
    variant = np.where(np.arange(600) % 2, "challenger", "production")
    log = InteractionLog.from_arrays(
        unit=[f"u{i}" for i in range(600)],
        item="x",
        timestamp=0,
        variant=variant,
        reward=(rng.random(600) < 0.01).astype(float),
    )
    log.write(tmp_path / "ab.parquet")
    done = runner.invoke(
        app, ["analyze", str(tmp_path / "ab.parquet"), "--control", "production", "--json", str(readout_json)]
    )
    assert done.exit_code == 0, done.output
    done = runner.invoke(
        app,
        ["ledger", "predict", str(ledger), "--launch", "L1", "--evaluation", str(ev_json), "--policy", "bernoulli_ts"],
    )
    assert done.exit_code == 0, done.output
    evaluation = json.loads(ev_json.read_text())
    (policy,) = evaluation["policies"]
    chosen = next(e for e in policy["estimates"] if e["estimator"] == policy["selection"]["chosen"])
    (entry,) = Ledger(ledger).entries()
    assert entry.prediction.estimate == chosen["value"] and entry.prediction.estimator == chosen["estimator"]
    assert entry.prediction.baseline == evaluation["logging_policy"]["value"]
    done = runner.invoke(app, ["ledger", "show", str(ledger)])
    assert done.exit_code == 0 and "no launch has an online result yet" in done.stderr
    done = runner.invoke(
        app,
        [
            "ledger",
            "observe",
            str(ledger),
            "--launch",
            "L1",
            "--readout",
            str(readout_json),
            "--variant",
            "challenger",
            "--source",
            "exp-1",
        ],
    )
    assert done.exit_code == 0, done.output
    rows = {r["variant"]: r for r in json.loads(readout_json.read_text())["readout"]}
    (entry,) = Ledger(ledger).entries()
    assert entry.observation is not None and entry.observation.value == rows["challenger"]["mean"]
    assert entry.observation.control_value == rows["production"]["mean"]
    report = tmp_path / "ledger.html"
    done = runner.invoke(
        app, ["ledger", "show", str(ledger), "--report", str(report), "--json", str(tmp_path / "l.json")]
    )
    assert done.exit_code == 0, done.output
    assert "calibration by estimator (1 launches" in done.stdout
    assert 'class="diagonal"' in report.read_text()
    assert json.loads((tmp_path / "l.json").read_text())["launches"][0]["launch"] == "L1"
    again = runner.invoke(
        app,
        ["ledger", "observe", str(ledger), "--launch", "L2", "--readout", str(readout_json), "--variant", "challenger"],
    )
    assert again.exit_code == 2 and again.stderr.startswith("error: Unknown launch (record its prediction first)")


def test_simulate_writes_a_new_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "study.jsonl"
    done = runner.invoke(app, ["ledger", "simulate", str(ledger), "--launches", "1", "--bootstrap", "10"])
    assert done.exit_code == 0, done.output
    assert len(Ledger(ledger)) >= 4  # one prediction per estimator
    assert done.stdout.splitlines()[0].split()[:2] == ["group", "n"]
    again = runner.invoke(app, ["ledger", "simulate", str(ledger), "--launches", "1"])
    assert again.exit_code == 2 and "exists" in again.stderr
