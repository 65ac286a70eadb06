"""The experiment commands: ``abrec simulate``, ``abrec analyze`` and ``abrec demo`` end to end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from _experiments import small_experiment, variant
from abrec.cli import app
from abrec.data import InteractionLog

runner = CliRunner()

CONFIG: dict[str, Any] = small_experiment(
    "cli-small",
    1,
    variants=[
        variant("random", "uniform"),
        variant("thompson", "bernoulli_ts", 20),
        variant("text-prior", "text_prior_ts", 20),
    ],
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("ABREC_CACHE_DIR", str(folder))
    return folder


def write_config(path: Path, **overrides: object) -> Path:
    path.write_text(yaml.safe_dump({**CONFIG, **overrides}), encoding="utf-8")
    return path


def test_simulate_then_analyze(tmp_path: Path, cache: Path) -> None:
    config = write_config(tmp_path / "experiment.yaml")
    report, log, out = tmp_path / "out" / "report.html", tmp_path / "out" / "log.parquet", tmp_path / "readout.json"
    result = runner.invoke(
        app, ["simulate", str(config), "--report", str(report), "--log", str(log), "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["variant", "units", "mean"]
    assert lines[2].startswith("random (control)")
    assert any(line.startswith("thompson") for line in lines) and any(line.startswith("text-prior") for line in lines)
    assert "sample ratio check" in result.stdout
    assert "offline replay on the control's logs" in result.stdout
    assert "wrote the report" in result.stderr and "embedded 60 item texts" in result.stderr
    assert list((cache / "embeddings").glob("*.sqlite"))  # the embedding cache went to ABREC_CACHE_DIR
    # the three files
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    frame = InteractionLog.read(log).frame
    assert len(frame) == 40 * 6 * 2
    assert {"unit", "variant", "policy", "experiment", "propensity", "reward"} <= set(frame.columns)
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert [row["variant"] for row in payload["readout"]] == ["random", "text-prior", "thompson"]  # as analyze
    assert [row["variant"] for row in payload["offline"]] == ["random", "thompson", "text-prior"]
    assert np.allclose(np.sum(payload["weights"], axis=1), 1.0) and len(payload["weights"]) == 3
    # the log reads back into the logged readout
    report2, out2 = tmp_path / "analyze.html", tmp_path / "analyze.json"
    analyzed = runner.invoke(
        app, ["analyze", str(log), "--control", "random", "--report", str(report2), "--json", str(out2)]
    )
    assert analyzed.exit_code == 0, analyzed.output
    assert analyzed.stdout.splitlines()[0].split()[:3] == ["variant", "units", "mean"]
    assert "random (control)" in analyzed.stdout and "sample ratio check" in analyzed.stdout
    assert "Per-variant readout" in report2.read_text(encoding="utf-8")
    analyzed_payload = json.loads(out2.read_text(encoding="utf-8"))
    rows = analyzed_payload["readout"]
    assert [r["variant"] for r in rows] == ["random", "text-prior", "thompson"]
    assert sum(r["units"] for r in rows) == 40 * 6
    assert rows == json.loads(json.dumps(payload["readout"]))  # the very numbers of the in-process readout
    assert analyzed_payload["metrics"] == payload["metrics"]  # every metric too


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"colour": "blue"}, "colour"),
        ({"variants": 3}, "'variants' must be a list"),
        ({"control": "nobody"}, "nobody"),
        ({"env": {**CONFIG["env"], "env": "abrec/NoSuchWorld-Bandit-v0"}}, "NoSuchWorld"),
    ],
)
def test_simulate_config_errors_exit_2(tmp_path: Path, cache: Path, overrides: dict[str, object], words: str) -> None:
    config = write_config(tmp_path / "bad.yaml", **overrides)
    result = runner.invoke(app, ["simulate", str(config)])
    assert result.exit_code == 2, result.output
    assert "error:" in result.stderr and words in result.stderr
    assert result.stdout == ""


def test_simulate_missing_config_exits_2(tmp_path: Path, cache: Path) -> None:
    result = runner.invoke(app, ["simulate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "cannot read the experiment config" in result.stderr


def test_analyze_without_variant_column_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "plain.csv"
    InteractionLog.from_arrays(unit=["a", "b", "c"], item=[1, 2, 3], timestamp=[0, 1, 2], reward=[0.0, 1.0, 0.0]).write(
        path
    )
    result = runner.invoke(app, ["analyze", str(path)])
    assert result.exit_code == 2
    assert "error:" in result.stderr and "variant" in result.stderr


def test_analyze_unknown_control_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    InteractionLog.from_arrays(
        unit=["a", "b", "c", "d"], item=1, timestamp=[0, 1, 2, 3], reward=[0.0, 1.0, 0.0, 1.0], variant=["x", "y"] * 2
    ).write(path)
    result = runner.invoke(app, ["analyze", str(path), "--control", "z"])
    assert result.exit_code == 2
    assert "error:" in result.stderr


def test_demo_writes_report_log_and_readout(tmp_path: Path, cache: Path) -> None:
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--steps", "3", "--encoder", "hashing", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"report.html", "log.parquet", "readout.json"}
    assert list((cache / "embeddings").glob("*.sqlite"))
    frame = InteractionLog.read(out / "log.parquet").frame
    assert len(frame) == 200 * 3 * 3
    assert set(frame["variant"]) == {"random", "thompson", "text-prior-ts", "hybrid-linucb"}
    payload = json.loads((out / "readout.json").read_text(encoding="utf-8"))
    assert payload["readout"][0]["variant"] == "random" and len(payload["offline"]) == 4
    assert "hybrid-linucb" in (out / "report.html").read_text(encoding="utf-8")
    assert "random (control)" in result.stdout
