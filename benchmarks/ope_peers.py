"""W2 side by side: abrec's and OBP 0.5.7's end-to-end off-policy evaluation in this run.

``ope_worker.py`` runs in a subprocess for each system (abrec with this interpreter, OBP with the one of
``.bench-peers/obp``, installed on first use), per campaign and thread setting, in the order abrec, OBP,
abrec (``side_by_side.interleave``). Lines (``"part"``): ``peer`` (OBP could not be installed: status
``"unavailable"`` and the reason), ``side_by_side`` (one per run: cold seconds, median warm seconds and
CPU seconds, estimates, thread pools, versions), ``ratio`` (OBP's seconds / abrec's, wall and CPU, from
this run only; target 10x on campaign ``all``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import peers
import side_by_side
import w1
from abrec.data.obd import CAMPAIGNS

ABREC = "abrec"
RUNS = 3  # warm runs per subprocess (after its cold first run)
TIMEOUT_S = 900.0


def _log(msg: str) -> None:
    print(f"[ope peers] {msg}", file=sys.stderr, flush=True)


def run(options: w1.Options) -> Iterator[dict[str, Any]]:
    data = w1.shared_dir() / "data" / "obd"
    if not data.is_dir():
        raise w1.MissingDataError(f"W2 data folder not found: {data} (set ABREC_SHARED).")
    yield peers.machine_line("ope")
    pythons: dict[str, Any] = {ABREC: sys.executable}
    env = peers.ensure("obp")
    if env.available:
        pythons["obp"] = env.python
    else:
        yield {
            "workload": "ope",
            "part": "peer",
            "system": "obp",
            "peer": "obp",
            "status": "unavailable",
            "reason": env.reason,
        }
    lines: list[dict[str, Any]] = []
    order = side_by_side.interleave(
        ABREC, [s for s in pythons if s != ABREC], CAMPAIGNS, peers.THREAD_SETTINGS, options.repeats
    )
    for seq, (system, campaign, threads) in enumerate(order):
        _log(f"#{seq} {system} campaign={campaign} threads={threads}")
        args = ["--system", system, "--data", str(data), "--campaign", campaign, "--runs", str(RUNS)]
        try:
            res = peers.run_worker(pythons[system], "ope_worker.py", args, threads, TIMEOUT_S)
            res["status"] = "ok"
            _log(f"   {res['seconds']:.2f} s warm ({res['cpu_seconds']:.2f} CPU-s), cold {res['cold_seconds']:.2f} s")
        except peers.WorkerError as exc:
            res = {
                "workload": "ope",
                "system": system,
                "campaign": campaign,
                "threads": threads,
                "status": "failed",
                "reason": str(exc),
            }
        res = {"part": "side_by_side", "seq": seq, **res}
        lines.append(res)
        yield res
    yield from side_by_side.pair_ratios(lines, ABREC, "campaign", fields=("seconds", "cpu_seconds"))
