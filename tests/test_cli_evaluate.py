"""``abrec evaluate``: OBD sample, an InteractionLog CSV, and its errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from abrec.cli import app

runner = CliRunner()


def _rows(stdout: str) -> dict[tuple[str, str], list[str]]:
    out = {}
    for line in stdout.splitlines()[2:]:
        parts = line.split()
        if len(parts) >= 7:
            chosen = parts[2] == "*"
            cells = parts[3:] if chosen else parts[2:]
            out[(parts[0], parts[1] + (" *" if chosen else ""))] = cells
    return out


def test_obd_sample_zozotown_bts(tmp_path: Path) -> None:
    report, out = tmp_path / "r.html", tmp_path / "r.json"
    result = runner.invoke(
        app,
        ["evaluate", "obd", "--policy", "zozotown_bts", "--estimators", "dm,ipw,snipw,dr", "--bootstrap", "20",
         "--draws", "20000", "--report", str(report), "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert sum(key[1].endswith("*") for key in rows) == 1  # one chosen estimator
    ipw = float(rows[("zozotown_bts", "ipw")][0])
    assert abs(ipw - 0.004567) < 0.0005  # OBP's IPW on 1e6 draws; 2e4 draws here
    assert ("(logging)", "on_policy") in rows and float(rows[("(logging)", "on_policy")][0]) == 0.0038
    html = report.read_text()
    assert "<svg" in html and "zozotown_bts" in html and "<script" not in html
    data = json.loads(out.read_text())
    assert data["log"] == {"n_rows": 10000, "n_actions": 80, "n_positions": 3}
    assert {e["estimator"] for e in data["policies"][0]["estimates"]} == {"dm", "ipw", "snipw", "dr"}
    assert data["policies"][0]["dist_source"] == "policy"  # the policy's own action_distribution
    assert data["reward_model"]["model_error_in_intervals"] is True  # logistic regression: influence terms
    assert "first-order refit on every resample" in html
    selection = data["policies"][0]["selection"]
    assert selection["method"] == "slope" and "bias-variance ladder" in selection["reason"]


def _csv(tmp_path: Path, propensity: bool = True) -> Path:
    rng = np.random.default_rng(0)
    n = 1200
    item = rng.choice(["a", "b", "c"], n)
    segment = rng.choice(["x", "y"], n)
    p_click = np.where(item == "c", 0.5, 0.1) + np.where(segment == "y", 0.1, 0.0)
    frame = pd.DataFrame(
        {
            "unit": [f"u{i}" for i in range(n)],
            "item": item,
            "timestamp": pd.date_range("2024-01-01", periods=n, freq="min").astype(str),
            "reward": (rng.random(n) < p_click).astype(float),
            "segment": segment,
        }
    )
    if propensity:
        frame["propensity"] = 1 / 3
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    return path


def test_interaction_log_csv_with_learning_policies(tmp_path: Path) -> None:
    path, out = _csv(tmp_path), tmp_path / "e.json"
    result = runner.invoke(
        app,
        ["evaluate", str(path), "--policy", "uniform", "--policy", "epsilon_greedy",
         "--param", "epsilon_greedy.epsilon=0.2", "--policy", "linucb",
         "--context-columns", "segment", "--bootstrap", "20", "--select", "slope",
         "--json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    # uniform is the logging policy: IPW is exactly the mean reward
    assert rows[("uniform", "ipw")][0] == rows[("(logging)", "on_policy")][0]
    assert ("linucb", "replay_learning") in rows and ("epsilon_greedy", "replay_learning") in rows
    assert ("uniform", "replay_learning") not in rows  # it does not learn
    data = json.loads(out.read_text())
    assert data["policies"][2]["replay_learning"]["n_accepted"] > 100
    assert all(p["selection"]["method"] == "slope" for p in data["policies"])


def test_unknown_policy_suggests(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "obd", "--policy", "linucbb"])
    assert result.exit_code == 2
    assert "Did you mean 'linucb'" in result.stderr and "zozotown_bts" in result.stderr


def test_log_without_propensities(tmp_path: Path) -> None:
    path = _csv(tmp_path, propensity=False)
    result = runner.invoke(app, ["evaluate", str(path), "--policy", "uniform", "--context-columns", "segment"])
    assert result.exit_code == 2
    assert "no propensity" in result.stderr


def test_bad_param_and_missing_log(tmp_path: Path) -> None:
    result = runner.invoke(app, ["evaluate", "obd", "--policy", "linucb", "--param", "alpha=1"])
    assert result.exit_code == 2 and "policy.key=value" in result.stderr
    result = runner.invoke(app, ["evaluate", str(tmp_path / "none.csv"), "--policy", "uniform"])
    assert result.exit_code == 2 and "No such log" in result.stderr
