"""``abrec evaluate FOLDER``: a folder of Parquet shards is streamed, on any backend, with the Python numbers."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from abrec.cli import app
from abrec.data.obd import load_obd
from abrec.ope import LoggedFeedback
from abrec.ope.streaming import evaluate_shards, write_shards
from abrec.policies import make_policy

runner = CliRunner()


def test_evaluate_streams_a_folder_of_shards(tmp_path: Path) -> None:
    fb = LoggedFeedback.from_obd(load_obd(None, campaign="all", policy="random"))
    folder = write_shards(fb, tmp_path / "shards", n_shards=2, row_group_rows=2500)
    expected = evaluate_shards(folder, {"uniform": make_policy("uniform", seed=0)}, n_bootstrap=30)
    for backend in ("local", "processes"):
        out = tmp_path / f"{backend}.json"
        done = runner.invoke(
            app,
            [
                "evaluate",
                str(folder),
                "--policy",
                "uniform",
                "--bootstrap",
                "30",
                "--backend",
                backend,
                "--json",
                str(out),
            ],
        )
        assert done.exit_code == 0, done.output
        assert "10,000 rows in 4 blocks" in done.stderr and "streamed" in done.stderr
        table = json.loads(out.read_text())["table"]
        got = {(r["policy"], r["estimator"]): r["value"] for r in table}
        for r in expected["uniform"].estimates:
            assert got[("uniform", r.estimator)] == r.value
    done = runner.invoke(app, ["evaluate", str(folder), "--policy", "linucb"])
    assert done.exit_code == 2 and "decides on contexts" in done.stderr
    done = runner.invoke(app, ["evaluate", "obd", "--policy", "uniform", "--backend", "processes"])
    assert done.exit_code == 2 and "stream a folder of Parquet shards" in done.stderr
