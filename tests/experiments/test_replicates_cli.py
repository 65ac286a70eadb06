"""``abrec simulate CONFIG --replicates N --backend ...``: the same numbers on every backend, both intervals shown."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from _experiments import small_experiment
from abrec.cli import app
from abrec.experiments import ExperimentConfig
from abrec.experiments.replicates import run_replicates

runner = CliRunner()


def _config(tmp_path: Path) -> Path:
    variants = [{"name": "random", "policy": "uniform"}, {"name": "ts", "policy": "bernoulli_ts"}]
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(small_experiment("cli", 2, variants=variants)), encoding="utf-8")
    return path


def test_replicates_on_local_and_processes_give_the_python_numbers(tmp_path: Path) -> None:
    config = _config(tmp_path)
    expected = run_replicates(ExperimentConfig.from_mapping(yaml.safe_load(config.read_text())), 3)
    for backend in ("local", "processes"):
        out = tmp_path / f"{backend}.json"
        args = ["simulate", str(config), "--replicates", "3", "--backend", backend, "--json", str(out)]
        done = runner.invoke(app, args + (["--workers", "2"] if backend == "processes" else []))
        assert done.exit_code == 0, done.output
        assert "3 replicates of 'cli'" in done.stdout and "between replicates" in done.stdout
        assert "did this deployment win?" in done.stdout
        payload = json.loads(out.read_text())
        assert payload["fingerprint"] == expected.fingerprint()
        assert payload["lifts"]["ts"] == expected.relative_lifts("ts").tolist()


def test_backend_options_need_replicates(tmp_path: Path) -> None:
    config = _config(tmp_path)
    done = runner.invoke(app, ["simulate", str(config), "--backend", "processes"])
    assert done.exit_code == 2 and "add --replicates N" in done.stderr
    done = runner.invoke(app, ["simulate", str(config), "--replicates", "2", "--backend", "threads"])
    assert done.exit_code == 2 and "Unknown backend 'threads'" in done.stderr
    done = runner.invoke(app, ["simulate", str(config), "--replicates", "2", "--report", str(tmp_path / "r.html")])
    assert done.exit_code == 2 and "--json" in done.stderr
