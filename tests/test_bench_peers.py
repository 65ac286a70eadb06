"""The side-by-side benchmarks (``benchmarks/side_by_side.py``, ``w1_peers``, ``w1_worker``, ``run.py``) and
the table generator (``tools/bench_tables.py``), on small budgets: the run order, the ratios computed from one
run's lines, the result line of a worker, the thread settings of its subprocess, the "no ratio measured" path,
the failing exit status when a peer is unavailable, and the README tables.
"""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _shared import REPO, shared_path

sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tools"))

import bench_tables

import peers
import side_by_side
import w1_peers

W1_FILE = "linear_bandit_K50_d32_T100k.npz"


def _line(
    seq: int, system: str, speed: float, cpu_speed: float, *, batch: int = 1, threads: str = "1"
) -> dict[str, Any]:
    return {
        "workload": "w1",
        "part": "side_by_side",
        "seq": seq,
        "system": system,
        "batch": batch,
        "threads": threads,
        "status": "ok",
        "rounds": 100,
        "reward": 10,
        "rounds_per_s": speed,
        "rounds_per_cpu_s": cpu_speed,
    }


def _run_main(argv: list[str]) -> tuple[int, list[dict[str, Any]], str]:
    import run

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run.main(argv)
    return code, [json.loads(row) for row in out.getvalue().splitlines()], err.getvalue()


# --- run order and ratios ---------------------------------------------------------------------------


def test_interleave_puts_abrec_before_and_after_every_peer() -> None:
    order = list(side_by_side.interleave("a", ["p", "q"], [1, 1000], ["1", "default"], repeats=2))
    group = [s for s, key, th in order if key == 1 and th == "1"]
    assert group == ["a", "p", "a", "q", "a"] * 2
    assert {(key, th) for _, key, th in order} == {(1, "1"), (1, "default"), (1000, "1"), (1000, "default")}
    assert len(order) == 4 * 2 * 5


def test_ratio_divides_by_the_mean_of_the_neighbouring_abrec_runs() -> None:
    lines = [
        _line(0, "abrec_linucb", 100.0, 200.0),
        _line(1, "vw_squarecb", 10.0, 5.0),
        _line(2, "abrec_linucb", 300.0, 600.0),
        _line(3, "mabwiser_linucb", 40.0, 40.0),
        _line(4, "abrec_linucb", 500.0, 1000.0),
        # another thread setting: its own abrec runs only
        _line(5, "abrec_linucb", 1000.0, 1000.0, threads="default"),
        _line(6, "vw_squarecb", 100.0, 100.0, threads="default"),
    ]
    ratios = {(r["peer"], r["threads"]): r for r in side_by_side.pair_ratios(lines, "abrec_linucb", "batch")}
    vw = ratios[("vw_squarecb", "1")]
    assert vw["ratio_rounds_per_s"] == pytest.approx(200.0 / 10.0)  # mean of 100 and 300
    assert vw["ratio_rounds_per_cpu_s"] == pytest.approx(400.0 / 5.0)
    assert vw["pairs"][0]["abrec_seqs"] == [0, 2]
    assert vw["target"] == 50.0 and vw["meets_target"] is False
    assert ratios[("mabwiser_linucb", "1")]["ratio_rounds_per_s"] == pytest.approx(400.0 / 40.0)
    assert "target" not in ratios[("mabwiser_linucb", "1")]  # the target is for batches, not online
    assert ratios[("vw_squarecb", "default")]["ratio_rounds_per_s"] == pytest.approx(10.0)  # one neighbour


def test_ratio_medians_over_repeats_and_skips_failed_runs() -> None:
    lines = [
        _line(0, "abrec_linucb", 100.0, 100.0, batch=1000),
        _line(1, "mabwiser_linucb", 50.0, 50.0, batch=1000),  # 2x
        _line(2, "abrec_linucb", 100.0, 100.0, batch=1000),
        _line(3, "mabwiser_linucb", 10.0, 10.0, batch=1000),  # 10x
        _line(4, "abrec_linucb", 100.0, 100.0, batch=1000),
        _line(5, "mabwiser_linucb", 20.0, 20.0, batch=1000),  # 5x
        {"workload": "w1", "part": "side_by_side", "seq": 6, "system": "mabwiser_linucb", "batch": 1000,
         "threads": "1", "status": "failed", "reason": "boom"},
        _line(7, "abrec_linucb", 100.0, 100.0, batch=1000),
    ]  # fmt: skip
    (r,) = side_by_side.pair_ratios(lines, "abrec_linucb", "batch")
    assert r["n_pairs"] == 3
    assert r["ratio_rounds_per_s"] == pytest.approx(5.0)
    assert r["meets_target"] is True  # >= 5x MABWiser in batches


def test_ratio_of_times_is_peer_over_abrec() -> None:
    lines = [
        {"workload": "ope", "seq": 0, "system": "abrec", "campaign": "all", "threads": "1", "status": "ok",
         "seconds": 1.0, "cpu_seconds": 0.5},
        {"workload": "ope", "seq": 1, "system": "obp", "campaign": "all", "threads": "1", "status": "ok",
         "seconds": 12.0, "cpu_seconds": 10.0},
        {"workload": "ope", "seq": 2, "system": "abrec", "campaign": "all", "threads": "1", "status": "ok",
         "seconds": 3.0, "cpu_seconds": 1.5},
    ]  # fmt: skip
    (r,) = side_by_side.pair_ratios(lines, "abrec", "campaign", fields=("seconds", "cpu_seconds"))
    assert r["ratio_seconds"] == pytest.approx(6.0)
    assert r["ratio_cpu_seconds"] == pytest.approx(10.0)
    assert r["target"] == 10.0 and r["meets_target"] is False


def test_no_ratio_without_a_measured_peer() -> None:
    lines = [_line(0, "abrec_linucb", 100.0, 100.0), _line(1, "abrec_linucb", 100.0, 100.0)]
    assert side_by_side.pair_ratios(lines, "abrec_linucb", "batch") == []


def test_reference_reward_is_checked_only_on_a_full_run() -> None:
    full = _line(1, "mabwiser_linucb", 1.0, 1.0, batch=1000) | {"rounds": 100_000, "reward": 13562, "seed": 0}
    w1_peers.check_reward(full, 100_000)
    assert full["reward_matches_reference"] is True
    changed = full | {"reward": 13561}
    w1_peers.check_reward(changed, 100_000)
    assert changed["reward_matches_reference"] is False
    capped = _line(1, "mabwiser_linucb", 1.0, 1.0, batch=1000) | {"rounds": 5000, "seed": 0}
    w1_peers.check_reward(capped, 100_000)
    assert "reward_reference" not in capped


# --- workers and subprocesses ----------------------------------------------------------------------


def test_thread_env_sets_or_removes_the_blas_variables() -> None:
    base = {"OMP_NUM_THREADS": "8", "PATH": "/bin"}
    one = peers.thread_env("1", base)
    assert all(one[v] == "1" for v in peers.THREAD_VARS) and one["PATH"] == "/bin"
    default = peers.thread_env("default", base)
    assert not any(v in default for v in peers.THREAD_VARS)
    with pytest.raises(ValueError, match="threads must be one of"):
        peers.thread_env("2", base)


def test_w1_worker_line_matches_abrecs_own_run_loop() -> None:
    folder = shared_path("bench", needs=W1_FILE)
    import w1
    import w1_worker
    from abrec.envs import run_bandit
    from abrec.policies import make_policy

    out = io.StringIO()
    with redirect_stdout(out):
        w1_worker.main(["--system", "abrec_linucb", "--data", str(folder / W1_FILE), "--rounds", "300"])
    (line,) = [json.loads(row) for row in out.getvalue().splitlines()]
    expected = run_bandit(make_policy("linucb", seed=0), w1.load(folder / W1_FILE), batch=1, rounds=300)
    assert line["rounds"] == 300 and line["capped"] is False
    assert line["reward"] == expected.reward
    assert line["oracle_reward"] == expected.oracle_reward
    assert line["rounds_per_s"] == pytest.approx(300 / line["seconds"], rel=1e-2)
    assert line["rounds_per_cpu_s"] == pytest.approx(300 / line["cpu_seconds"], rel=1e-2)
    assert line["versions"]["abrec"] and line["versions"]["numpy"] == np.__version__


def test_run_worker_applies_one_blas_thread_in_the_subprocess() -> None:
    folder = shared_path("bench", needs=W1_FILE)
    args = ["--system", "abrec_linucb", "--data", str(folder / W1_FILE), "--rounds", "200", "--batch", "100"]
    line = peers.run_worker(Path(sys.executable), "w1_worker.py", args, "1", timeout_s=300)
    assert line["threads"] == "1"
    assert line["thread_env"]["OPENBLAS_NUM_THREADS"] == "1"
    assert line["threadpools"] and all(p["num_threads"] == 1 for p in line["threadpools"])
    assert line["process_cpu_s"] >= line["cpu_seconds"] > 0


def test_run_worker_reports_a_failing_subprocess() -> None:
    with pytest.raises(peers.WorkerError, match="exited with 2"):
        peers.run_worker(Path(sys.executable), "w1_worker.py", ["--system", "nope"], "default", timeout_s=60)


def test_an_uninstallable_peer_is_unavailable_with_the_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bogus = peers.Peer("bogus", (("--no-index", "--find-links", str(tmp_path), "abrec-no-such-package==0.0.0"),), ())
    monkeypatch.setitem(peers.PEERS, "bogus", bogus)
    env = peers.ensure("bogus", root=tmp_path / "peers", timeout_s=300)
    assert not env.available and env.python is None
    assert "abrec-no-such-package" in env.reason and "failed" in env.reason


# --- run.py: with and without peers -----------------------------------------------------------------


def test_without_peers_only_abrec_lines_and_no_ratio() -> None:
    shared_path("bench", needs=W1_FILE)
    code, lines, _ = _run_main(["w1", "--policies", "linucb", "--rounds", "200"])
    assert code == 0
    assert [ln.get("policy") for ln in lines[:-1]] == ["linucb", "linucb"]
    assert lines[-1] == side_by_side.no_ratio_line("w1") and lines[-1]["measured"] is False
    assert not any("reference" in ln or "speedup_vs_obp" in ln for ln in lines)


def test_an_unavailable_peer_makes_the_bench_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    shared_path("bench", needs=W1_FILE)
    import w1

    def unavailable(name: str) -> peers.PeerEnv:
        return peers.PeerEnv(name, None, "pip install failed: no network")

    def no_subprocess(*args: Any) -> dict[str, Any]:  # the peer never runs; abrec's runs are not under test here
        raise peers.WorkerError("not run in this test")

    monkeypatch.setattr(peers, "ensure", unavailable)
    monkeypatch.setattr(peers, "run_worker", no_subprocess)
    monkeypatch.setattr(w1, "run", lambda options: iter(()))
    code, lines, err = _run_main(["w1", "--peers", "--rounds", "200"])
    assert code == 1
    gone = [ln for ln in lines if ln.get("status") == "unavailable"]
    assert {ln["system"] for ln in gone} == set(w1_peers.SYSTEMS)
    assert all(ln["reason"] == "pip install failed: no network" for ln in gone)
    assert not [ln for ln in lines if ln.get("part") == "ratio"]
    assert "did not happen" in err


# --- tables -----------------------------------------------------------------------------------------


def _run_lines() -> list[dict[str, Any]]:
    machine = {
        "workload": "w1",
        "part": "machine",
        "date": "2026-12-06 03:00 UTC",
        "cpu": "Test CPU",
        "cpu_count": 2,
        "load_average_1m": 3.5,
        "python": "3.11.7",
        "command": "benchmarks/run.py w1 --peers",
    }
    runs = [
        _line(0, "abrec_linucb", 40_000.0, 60_000.0),
        _line(1, "vw_squarecb", 1_000.0, 2_000.0),
        _line(2, "abrec_linucb", 60_000.0, 80_000.0),
    ]  # fmt: skip
    return [machine, *runs, *side_by_side.pair_ratios(runs, "abrec_linucb", "batch")]


def test_tables_show_medians_ratios_and_the_machine() -> None:
    text = bench_tables.w1_tables(_run_lines())
    assert "Test CPU (2 cores, load average 3.5" in text and "`benchmarks/run.py w1 --peers`" in text
    assert "| abrec `linucb` | 1 BLAS thread | 50,000 | 70,000 | 10 (100) |" in text
    assert "| Vowpal Wabbit, squarecb | 1 BLAS thread | 1,000 | 2,000 |" in text
    assert "| Vowpal Wabbit, squarecb | online | 1 BLAS thread | 50.0x | 35.0x | >= 50x: met |" in text


def test_tables_say_when_no_ratio_was_measured() -> None:
    lines = [_line(0, "abrec_linucb", 1.0, 1.0), side_by_side.no_ratio_line("w1")]
    assert "no ratio measured" in bench_tables.w1_tables(lines)


def test_readme_blocks_are_replaced_between_their_markers(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- bench-tables:w1 start -->\nold\n<!-- bench-tables:w1 end -->\noutro\n")
    src = tmp_path / "run.jsonl"
    src.write_text("\n".join(json.dumps(ln) for ln in _run_lines()) + "\n")
    assert bench_tables.main([str(src), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n<!-- bench-tables:w1 start -->\nMeasured 2026-12-06")
    assert "old" not in text and text.endswith("<!-- bench-tables:w1 end -->\noutro\n")
    assert "50.0x" in text
    empty = "<!-- bench-tables:w1 start -->\n<!-- bench-tables:w1 end -->"
    assert (
        bench_tables.replace_blocks(empty, {"w1": "T"})
        == "<!-- bench-tables:w1 start -->\nT\n<!-- bench-tables:w1 end -->"
    )
    with pytest.raises(ValueError, match="no '<!-- bench-tables:ope start -->'"):
        bench_tables.replace_blocks("no markers", {"ope": "x"})
