"""W1 side by side: abrec's LinUCB and the peers (Vowpal Wabbit, MABWiser, contextualbandits) in this run.

Every system runs ``w1_worker.py`` in its own subprocess (abrec with this interpreter, each peer with the
one of its virtual environment, installed on first use by ``peers.ensure``), on the same W1 file and seed,
under both thread settings (one BLAS thread; the machine's default) and both protocols (online, batches of
1,000), interleaved as ``side_by_side.interleave`` says. Lines (``"part"``):

- ``peer``: a peer that could not be installed (``"status": "unavailable"`` and the reason);
- ``side_by_side``: one per run: rounds, reward, rounds/s (wall) and rounds per CPU-second of the loop,
  the subprocess's whole CPU and wall time, thread pools, versions; a peer that ran all T rounds also gets
  its reward next to the one of ``shared/bench/README.md`` (the workload is deterministic: a different
  reward means the workload or the peer changed);
- ``ratio``: abrec / peer from this run's lines only (``side_by_side.pair_ratios``), with the issue's target
  where it names one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import peers
import side_by_side
import w1

ABREC = "abrec_linucb"
SYSTEMS = {
    "vw_squarecb": "vowpalwabbit",
    "mabwiser_linucb": "mabwiser",
    "contextualbandits_linucb": "contextualbandits",
}
BATCHES = (1, w1.BATCH)
# Rewards over all T = 100,000 rounds, seed 0, from shared/bench/README.md: a check of the workload and the peer
# (never a speed; speeds are only compared within one run).
REFERENCE_REWARDS: dict[tuple[str, int], int] = {
    ("vw_squarecb", 1): 11256,
    ("vw_squarecb", 1000): 11849,
    ("mabwiser_linucb", 1000): 13562,
    ("contextualbandits_linucb", 1): 13928,
    ("contextualbandits_linucb", 1000): 13248,
}
STARTUP_ALLOWANCE_S = 300.0  # imports, data loading and warm-up on top of the loop's time cap


def _log(msg: str) -> None:
    print(f"[w1 peers] {msg}", file=sys.stderr, flush=True)


def check_reward(line: dict[str, Any], total: int) -> None:
    """Add the reference reward (and whether it matches) to a peer line that ran all ``total`` rounds."""
    ref = REFERENCE_REWARDS.get((line["system"], line["batch"]))
    if ref is None or line.get("status") != "ok" or line["rounds"] != total or line.get("seed") != 0:
        return
    line["reward_reference"] = ref
    line["reward_matches_reference"] = line["reward"] == ref


def run(options: w1.Options) -> Iterator[dict[str, Any]]:
    data = w1.data_path()
    if not data.is_file():
        w1.load(data)  # raises MissingDataError with the message that says where it should be
    total = w1.T_ROUNDS if options.rounds is None else min(options.rounds, w1.T_ROUNDS)
    yield peers.machine_line("w1")
    pythons: dict[str, Any] = {ABREC: sys.executable}
    for system, name in SYSTEMS.items():
        env = peers.ensure(name)
        if env.available:
            pythons[system] = env.python
        else:
            yield {
                "workload": "w1",
                "part": "peer",
                "system": system,
                "peer": name,
                "status": "unavailable",
                "reason": env.reason,
            }
    available = [s for s in SYSTEMS if s in pythons]
    lines: list[dict[str, Any]] = []
    order = side_by_side.interleave(ABREC, available, BATCHES, peers.THREAD_SETTINGS, options.repeats)
    for seq, (system, batch, threads) in enumerate(order):
        args = [
            "--system",
            system,
            "--data",
            str(data),
            "--batch",
            str(batch),
            "--rounds",
            str(total),
            "--max-seconds",
            str(options.max_seconds),
            "--seed",
            str(options.seeds[0]),
        ]
        _log(f"#{seq} {system} batch={batch} threads={threads}")
        try:
            res = peers.run_worker(
                pythons[system], "w1_worker.py", args, threads, options.max_seconds + STARTUP_ALLOWANCE_S
            )
            res["status"] = "ok"
        except peers.WorkerError as exc:
            res = {
                "workload": "w1",
                "system": system,
                "batch": batch,
                "threads": threads,
                "status": "failed",
                "reason": str(exc),
            }
        res = {"part": "side_by_side", "seq": seq, **res}
        check_reward(res, total)
        if res["status"] == "ok":
            _log(
                f"   {res['rounds']} rounds, reward {res['reward']}, {res['rounds_per_s']:,.0f} rounds/s, "
                f"{res['rounds_per_cpu_s']:,.0f} per CPU-s"
            )
        lines.append(res)
        yield res
    yield from side_by_side.pair_ratios(lines, ABREC, "batch")
