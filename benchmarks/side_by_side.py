"""Side-by-side runs: abrec and a peer in alternating subprocesses, and the ratios of this run's numbers.

The order within one thread setting and protocol is abrec, peer 1, abrec, peer 2, abrec, ... (repeated
``repeats`` times), so that every peer run has an abrec run just before and just after it, under the same
load. ``pair_ratios`` divides each peer's figure by the mean of those two neighbours (wall-clock rounds/s
and rounds per CPU-second separately) and reports the median over repeats. No figure from anywhere
else enters a ratio: a system that did not run has no ratio.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Iterator
from typing import Any

# Figures a ratio is held against (the targets), keyed by (workload, peer system, protocol key).
TARGETS: dict[tuple[str, str, int | str], float] = {
    ("w1", "vw_squarecb", 1): 50.0,
    ("w1", "mabwiser_linucb", 1000): 5.0,
    ("ope", "obp", "all"): 10.0,
}

Runner = Callable[[str, Any, str, int], dict[str, Any]]
"""runner(system, key, threads, seq) -> result line (raises to report a failure)."""


def interleave(
    abrec: str, peers: list[str], keys: Iterable[Any], threads: Iterable[str], repeats: int
) -> Iterator[tuple[str, Any, str]]:
    """The run order: for each thread setting and key, ``repeats`` x (abrec, peer, abrec, peer, ..., abrec)."""
    for th in threads:
        for key in keys:
            for _ in range(repeats):
                yield abrec, key, th
                for peer in peers:
                    yield peer, key, th
                    yield abrec, key, th


def _speed(line: dict[str, Any], field: str) -> float | None:
    value = line.get(field)
    return float(value) if isinstance(value, int | float) and value > 0 else None


def pair_ratios(
    lines: list[dict[str, Any]],
    abrec: str,
    key_field: str,
    fields: tuple[str, ...] = ("rounds_per_s", "rounds_per_cpu_s"),
) -> list[dict[str, Any]]:
    """Ratios abrec / peer from the ``side_by_side`` lines of one run, in run order (``seq``).

    Each peer line is paired with the abrec lines of the same thread setting and ``key_field`` value that
    ran just before and just after it (either alone where only one exists); the ratio uses their mean.
    Lines that failed (``status`` not ``"ok"``) pair with nothing. For speeds, higher is better; a field
    ending in ``seconds`` is a time, so the ratio is peer / abrec (how many times faster abrec is).
    Returns one line per (peer, threads, key): the median ratio over pairs, and the pairs themselves.
    """
    ok = [ln for ln in sorted(lines, key=lambda ln: ln["seq"]) if ln.get("status") == "ok"]
    groups: dict[tuple[str, Any, str], list[dict[str, Any]]] = {}
    for ln in ok:
        if ln["system"] == abrec:
            continue
        same = [
            o for o in ok if o["system"] == abrec and o["threads"] == ln["threads"] and o[key_field] == ln[key_field]
        ]
        before = [o for o in same if o["seq"] < ln["seq"]]
        after = [o for o in same if o["seq"] > ln["seq"]]
        neighbours = ([before[-1]] if before else []) + ([after[0]] if after else [])
        if not neighbours:
            continue
        pair: dict[str, Any] = {"peer_seq": ln["seq"], "abrec_seqs": [o["seq"] for o in neighbours]}
        for f in fields:
            peer_v = _speed(ln, f)
            ours = [v for v in (_speed(o, f) for o in neighbours) if v is not None]
            if peer_v is None or not ours:
                pair[f"ratio_{f}"] = None
                continue
            mine = statistics.fmean(ours)
            pair[f"abrec_{f}"] = mine
            pair[f"peer_{f}"] = peer_v
            pair[f"ratio_{f}"] = peer_v / mine if f.endswith("seconds") else mine / peer_v
        groups.setdefault((ln["system"], ln[key_field], ln["threads"]), []).append(pair)
    out = []
    for (system, key, threads), pairs in groups.items():
        workload = next(ln["workload"] for ln in ok if ln["system"] == system)
        line: dict[str, Any] = {
            "workload": workload,
            "part": "ratio",
            "abrec": abrec,
            "peer": system,
            key_field: key,
            "threads": threads,
            "measured": True,
            "n_pairs": len(pairs),
        }
        for f in fields:
            values = [p[f"ratio_{f}"] for p in pairs if p.get(f"ratio_{f}") is not None]
            line[f"ratio_{f}"] = round(statistics.median(values), 3) if values else None
            abrec_all = [p[f"abrec_{f}"] for p in pairs if f"abrec_{f}" in p]
            peer_all = [p[f"peer_{f}"] for p in pairs if f"peer_{f}" in p]
            line[f"abrec_{f}"] = round(statistics.median(abrec_all), 4) if abrec_all else None
            line[f"peer_{f}"] = round(statistics.median(peer_all), 4) if peer_all else None
        target = TARGETS.get((workload, system, key))
        if target is not None:
            main = line[f"ratio_{fields[0]}"]
            line["target"] = target
            line["meets_target"] = main is not None and main >= target
        line["pairs"] = pairs
        out.append(line)
    return out


def no_ratio_line(workload: str) -> dict[str, Any]:
    """What a run without peers says in place of ratios."""
    return {
        "workload": workload,
        "part": "ratio",
        "measured": False,
        "note": f"no ratio measured: the peers did not run. `make bench BENCH={workload} PEERS=1` runs them "
        "side by side with abrec and reports ratios from that run only",
    }
