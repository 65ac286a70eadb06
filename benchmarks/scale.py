"""Workloads ``ray`` and ``ledger``: scaling out, and the launch ledger's calibration study.

``ray`` (``make bench BENCH=ray``), one JSON line per (case, backend)::

    {"bench": "ray", "case": "replicates|ope_stream", "backend": "local|processes|ray", "workers": N,
     "seconds": ..., "startup_s": ..., "rows_per_s": ..., "peak_rss_mb": ..., "identical": true, ...}

- ``replicates``: 40 replicates (``--rounds`` sets how many) of a simulated experiment of a few seconds each
  (500 items, 200 users per step, 60 steps, uniform vs Bernoulli TS vs epsilon-greedy), in process and on
  2 workers with each parallel backend. ``seconds`` excludes the start-up (``startup_s``, reported apart);
  ``speedup`` = in-process seconds / seconds; ``identical``: the replicates' fingerprint equals the
  in-process one (bit-identical numbers).
- ``ope_stream``: a generated 20,000,000-row Parquet log (20 shards, row groups of 1,000,000 rows; 80
  actions, 3 positions, uniform logging; ``--rounds`` sets the rows) evaluated streamed (IPW, SNIPW, DM, DR,
  SNDR; 50 Poisson bootstrap resamples) in process and on 2 workers. ``peak_rss_mb`` is the largest resident
  memory of one process of the run, ``peak_rss_total_mb`` of the whole process tree (driver and workers)
  at once, sampled every 0.2 s; ``in_memory_mb`` what the log would take as the in-memory estimators' arrays
  (action, position, reward, propensity and the target's per-row distribution); ``identical``: the estimates
  equal the in-process ones exactly.

``ledger``: the calibration study of :mod:`abrec.experiments.launches`: 200 simulated launches (``--rounds``),
each predicted off-policy then A/B tested, on the processes backend; one line per estimator with its
calibration and one line ``"group": "chosen"`` for the automatically selected estimator, plus lines per
condition (production policy, log size).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

import w1
from abrec.experiments import ExperimentConfig
from abrec.experiments.executor import make_executor
from abrec.experiments.replicates import run_replicates

REPLICATES = 40
ROWS = 20_000_000
ROW_GROUP = 1_000_000
LAUNCHES = 200
WORKERS = 2


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _tree_rss() -> tuple[float, float]:
    """(largest process, whole tree) resident memory in MB of this process and all its descendants (Linux /proc)."""
    pids, stack = [], [os.getpid()]
    while stack:
        pid = stack.pop()
        pids.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except OSError:
            continue
    sizes = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        sizes.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return (max(sizes, default=0.0), sum(sizes))


class _PeakRSS:
    """Samples :func:`_tree_rss` every 0.2 s in a thread; ``peak`` and ``total`` are the maxima seen."""

    def __enter__(self) -> _PeakRSS:
        self.peak = self.total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            one, total = _tree_rss()
            self.peak, self.total = max(self.peak, one), max(self.total, total)
            self._stop.wait(0.2)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _backends() -> list[str]:
    out = ["local", "processes"]
    try:
        import ray  # noqa: F401

        out.append("ray")
    except ImportError:
        _say("[ray] Ray is not installed (pip install 'abrec[ray]'): the ray backend is not measured")
    return out


def replicate_config() -> ExperimentConfig:
    return ExperimentConfig.from_mapping(
        {
            "name": "scale",
            "seed": 0,
            "env": {
                "env": "abrec/SyntheticCatalog-Bandit-v0",
                "seed": 0,
                "world": {"n_items": 500},
                "view": {"n_users": 200, "n_candidates": 20, "slate_size": 3, "horizon": 60},
            },
            "variants": [
                {"name": "random", "policy": "uniform"},
                {"name": "ts", "policy": "bernoulli_ts", "params": {"propensity_draws": 100}},
                {"name": "eg", "policy": "epsilon_greedy"},
            ],
            "control": "random",
            "allocation": {"method": "fixed"},
        }
    )


def _timed(backend: str, work: Callable[[Any], Any]) -> tuple[Any, dict[str, float]]:
    workers = 1 if backend == "local" else WORKERS
    with make_executor(backend, None if backend == "local" else workers) as executor, _PeakRSS() as rss:
        start = time.perf_counter()
        executor.start()  # start-up apart from the work
        begun = time.perf_counter()
        result = work(executor)
        seconds = time.perf_counter() - begun
    return result, {
        "workers": workers,
        "seconds": round(seconds, 3),
        "startup_s": round(begun - start, 3),
        "peak_rss_mb": round(rss.peak, 1),
        "peak_rss_total_mb": round(rss.total, 1),
    }


def _replicates(options: w1.Options) -> Iterator[dict[str, Any]]:
    n = options.rounds or REPLICATES
    config = replicate_config()
    base: dict[str, Any] = {}
    for backend in _backends():
        _say(f"[ray] replicates: {n} on {backend}")
        summary, line = _timed(backend, lambda ex: run_replicates(config, n, executor=ex))
        if backend == "local":
            base = {"seconds": line["seconds"], "fingerprint": summary.fingerprint()}
        yield {
            "bench": "ray",
            "case": "replicates",
            "backend": backend,
            "replicates": n,
            **line,
            "seconds_per_replicate": round(summary.seconds / n, 3),
            "speedup": round(base["seconds"] / line["seconds"], 3),
            "rows_per_s": None,
            "identical": summary.fingerprint() == base["fingerprint"],
            "cpu_count": os.cpu_count(),
        }


def write_log(folder: Path, rows: int, seed: int = 0) -> tuple[int, np.ndarray[Any, Any]]:
    """A uniform-logging Parquet log of ``rows`` rows in shards of ``ROW_GROUP``-row groups; the target table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    n_actions, n_positions = 80, 3
    rng = np.random.default_rng(seed)
    ctr = rng.uniform(0.001, 0.01, (n_actions, n_positions))
    per_file = max(ROW_GROUP, rows // 20)
    for j, start in enumerate(range(0, rows, per_file)):
        m = min(per_file, rows - start)
        a = rng.integers(0, n_actions, m).astype(np.int32)
        p = rng.integers(0, n_positions, m).astype(np.int8)
        table = pa.table(
            {
                "action": a,
                "position": p,
                "reward": (rng.random(m) < ctr[a, p]).astype(np.float32),
                "propensity": np.full(m, 1.0 / n_actions, dtype=np.float32),
            }
        )
        pq.write_table(table, folder / f"part-{j:05d}.parquet", row_group_size=ROW_GROUP)
    target = rng.dirichlet(np.ones(n_actions), size=n_positions).T
    return n_actions, target


def _ope_stream(options: w1.Options) -> Iterator[dict[str, Any]]:
    from abrec.ope.streaming import stream_estimates

    rows = options.rounds or ROWS
    folder = Path(tempfile.mkdtemp(prefix="abrec-bench-ope-"))
    try:
        _say(f"[ray] ope_stream: writing a {rows:,}-row Parquet log to {folder}")
        n_actions, target = write_log(folder, rows)
        size = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        in_memory = rows * (8 * 4 + 8 * n_actions) / 2**20
        base: Any = None
        for backend in _backends():
            _say(f"[ray] ope_stream: {rows:,} rows on {backend}")
            found, line = _timed(
                backend, lambda ex: stream_estimates(folder, {"target": target}, n_bootstrap=50, executor=ex)
            )
            values = [(e.estimator, e.value, e.standard_error, e.ci_low, e.ci_high) for e in found.estimates["target"]]
            base = values if base is None else base
            yield {
                "bench": "ray",
                "case": "ope_stream",
                "backend": backend,
                "rows": rows,
                **line,
                "rows_per_s": round(rows / line["seconds"]),
                "parquet_mb": round(size, 1),
                "in_memory_mb": round(in_memory, 1),
                "identical": values == base,
                "estimates": {name: round(value, 6) for name, value, *_ in values},
            }
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(options: w1.Options) -> Iterator[dict[str, Any]]:
    """Workload ``ray``: replicates and streamed OPE on each backend."""
    yield from _replicates(options)
    yield from _ope_stream(options)


def run_ledger(options: w1.Options) -> Iterator[dict[str, Any]]:
    """Workload ``ledger``: the calibration study (see the module docstring)."""
    from abrec.experiments.launches import simulate_launches

    n = options.rounds or LAUNCHES
    _say(f"[ledger] {n} simulated launches on {WORKERS} processes")
    start = time.perf_counter()
    with make_executor("processes", WORKERS) as executor:
        ledger = simulate_launches(n, seed=options.seeds[0], executor=executor)
    seconds = time.perf_counter() - start

    def line(group: str, by: str, c: Any) -> dict[str, Any]:
        return {
            "bench": "ledger",
            "by": by,
            "group": group,
            "launches": c.n,
            "coverage": round(c.coverage, 3),
            "coverage_ci": [round(v, 3) for v in c.coverage_ci],
            "agreement": round(c.agreement, 3),
            "bias": round(c.bias, 5),
            "mean_relative_error": round(c.mean_relative_error, 3),
            "sign_agreement": round(c.sign_agreement, 3),
            "rank_correlation": round(c.rank_correlation, 3),
            "lift_rank_correlation": round(c.lift_rank_correlation, 3),
        }

    chosen = ledger.calibration(by=lambda e: "chosen" if e.prediction.conditions.get("chosen") else "not chosen")
    assert isinstance(chosen, dict)
    yield {**line("chosen", "selection", chosen["chosen"]), "seconds": round(seconds, 1)}
    for by in ("estimator", "production", "challenger"):
        groups = ledger.calibration(by=by)
        assert isinstance(groups, dict)
        for group, c in groups.items():
            yield line(str(group), by, c)
    for by, edges in (("log_steps", (3, 10, 20, 41)), ("ess_share", (0.0, 0.3, 0.7, 1.01))):

        def bucket(e: Any, by: str = by, edges: tuple[float, ...] = edges) -> str:
            value = e.prediction.conditions.get(by)
            if value is None or e.prediction.estimator not in ("dr", "ipw", "snipw", "sndr"):
                return "n/a"
            i = int(np.searchsorted(edges, value, side="right")) - 1
            return f"[{edges[i]}, {edges[i + 1]})"

        groups = ledger.calibration(by=bucket)
        assert isinstance(groups, dict)
        for group, c in groups.items():
            if group != "n/a":
                yield line(group, f"{by} (weighting estimators)", c)
