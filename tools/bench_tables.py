"""Turn the JSON lines of ``benchmarks/run.py ... --peers`` into the README's benchmark tables.

    .venv/bin/python benchmarks/run.py w1 --peers --policies linucb > bench-results/w1.jsonl
    .venv/bin/python tools/bench_tables.py bench-results/w1.jsonl bench-results/ope.jsonl            # print them
    .venv/bin/python tools/bench_tables.py bench-results/*.jsonl --readme README.md                  # rewrite

With ``--readme``, the text between ``<!-- bench-tables:NAME start -->`` and ``<!-- bench-tables:NAME end -->``
(NAME = ``w1`` or ``ope``) is replaced by the tables of that workload; a workload without lines in the input
is left as it is. Every number comes from the input lines: speeds of one system are the median over its runs
in that setting, and ratios are the ``ratio`` lines, which the benchmark computed from the same run.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

W1_NAMES = {
    "abrec_linucb": "abrec `linucb`",
    "vw_squarecb": "Vowpal Wabbit, squarecb",
    "mabwiser_linucb": "MABWiser, LinUCB",
    "contextualbandits_linucb": "contextualbandits, LinUCB",
}
THREADS = {"1": "1 BLAS thread", "default": "default threads"}


def read_lines(texts: Iterable[str]) -> list[dict[str, Any]]:
    """The JSON objects of the given texts, one per non-empty line; other lines are an error."""
    out = []
    for text in texts:
        for n, row in enumerate(text.splitlines(), 1):
            if row.strip():
                try:
                    out.append(json.loads(row))
                except json.JSONDecodeError as exc:
                    raise ValueError(f"line {n} is not JSON ({exc.msg}): {row[:80]!r}") from None
    return out


def _fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}x"


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _machine(lines: list[dict[str, Any]], workload: str) -> str:
    meta = [ln for ln in lines if ln.get("workload") == workload and ln.get("part") == "machine"]
    if not meta:
        return ""
    m = meta[0]
    return (
        f"Measured {m['date']} on {m['cpu']} ({m['cpu_count']} cores, load average {m['load_average_1m']} at the "
        f"start: the machine was shared with other jobs), Python {m['python']}, `{m['command']}`."
    )


def _speed_cell(runs: list[dict[str, Any]], field: str) -> str:
    return _fmt(_median([float(r[field]) for r in runs if r.get(field)]))


def w1_tables(lines: list[dict[str, Any]]) -> str:
    runs = [ln for ln in lines if ln.get("workload") == "w1" and ln.get("part") == "side_by_side"]
    ok = [r for r in runs if r.get("status") == "ok"]
    ratios = [ln for ln in lines if ln.get("workload") == "w1" and ln.get("part") == "ratio"]
    out = []
    if (note := _machine(lines, "w1")) != "":
        out += [note, ""]
    out += [
        "| system | threads | online: rounds/s | per CPU-s | clicks (rounds) | batches of 1,000: rounds/s "
        "| per CPU-s | clicks (rounds) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    systems = list(dict.fromkeys(r["system"] for r in ok))
    for threads in THREADS:
        for system in systems:
            cells = [W1_NAMES.get(system, system), THREADS[threads]]
            for batch in (1, 1000):
                sel = [r for r in ok if r["system"] == system and r["threads"] == threads and r["batch"] == batch]
                if not sel:
                    cells += ["—", "—", "—"]
                    continue
                first = sel[0]
                clicks = f"{first['reward']:,} ({first['rounds']:,})"
                cells += [_speed_cell(sel, "rounds_per_s"), _speed_cell(sel, "rounds_per_cpu_s"), clicks]
            out.append("| " + " | ".join(cells) + " |")
    for r in runs:
        if r.get("status") != "ok":
            out.append(f"\n{W1_NAMES.get(r['system'], r['system'])}: {r.get('status')} ({r.get('reason')}).")
    out += [
        "",
        "| abrec `linucb` / peer | protocol | threads | ratio, rounds/s | ratio, per CPU-s | target |",
        "|---|---|---|---:|---:|---|",
    ]
    for r in ratios:
        if not r.get("measured"):
            continue
        target = "—"
        if r.get("target") is not None:
            target = f">= {r['target']:g}x: {'met' if r.get('meets_target') else 'not met'}"
        protocol = "online" if r["batch"] == 1 else f"batches of {r['batch']:,}"
        out.append(
            f"| {W1_NAMES.get(r['peer'], r['peer'])} | {protocol} | {THREADS[r['threads']]} "
            f"| {_ratio(r.get('ratio_rounds_per_s'))} | {_ratio(r.get('ratio_rounds_per_cpu_s'))} | {target} |"
        )
    if not any(r.get("measured") for r in ratios):
        out.append("| no ratio measured (the peers did not run) | | | | | |")
    return "\n".join(out)


def ope_tables(lines: list[dict[str, Any]]) -> str:
    runs = [ln for ln in lines if ln.get("workload") == "ope" and ln.get("part") == "side_by_side"]
    ok = [r for r in runs if r.get("status") == "ok"]
    ratios = [ln for ln in lines if ln.get("workload") == "ope" and ln.get("part") == "ratio" and ln.get("measured")]
    out = []
    if (note := _machine(lines, "ope")) != "":
        out += [note, ""]
    out += [
        "| campaign | threads | abrec: s (CPU-s) | OBP 0.5.7: s (CPU-s) | OBP / abrec, wall | OBP / abrec, CPU "
        "| target |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for r in ratios:

        def cell(system: str, r: dict[str, Any] = r) -> str:
            sel = [
                o
                for o in ok
                if o["system"] == system and o["campaign"] == r["campaign"] and o["threads"] == r["threads"]
            ]
            wall = _median([float(o["seconds"]) for o in sel])
            cpu = _median([float(o["cpu_seconds"]) for o in sel])
            return f"{_fmt(wall, 2)} ({_fmt(cpu, 2)})"

        target = "—"
        if r.get("target") is not None:
            target = f">= {r['target']:g}x: {'met' if r.get('meets_target') else 'not met'}"
        out.append(
            f"| `{r['campaign']}` | {THREADS[r['threads']]} | {cell('abrec')} | {cell(r['peer'])} "
            f"| {_ratio(r.get('ratio_seconds'))} | {_ratio(r.get('ratio_cpu_seconds'))} | {target} |"
        )
    if not ratios:
        out.append("| no ratio measured (OBP did not run) | | | | | | |")
    for r in runs:
        if r.get("status") != "ok":
            out.append(f"\n{r['system']}: {r.get('status')} ({r.get('reason')}).")
    return "\n".join(out)


TABLES = {"w1": w1_tables, "ope": ope_tables}


def replace_blocks(text: str, blocks: dict[str, str]) -> str:
    """Put ``blocks[name]`` between the ``bench-tables:name`` markers of ``text``; a missing marker is an error."""
    for name, body in blocks.items():
        pattern = re.compile(
            rf"(<!-- bench-tables:{name} start -->)\n.*?(<!-- bench-tables:{name} end -->)", flags=re.DOTALL
        )
        if not pattern.search(text):
            raise ValueError(f"no '<!-- bench-tables:{name} start -->' ... 'end -->' markers in the README")

        def fill(m: re.Match[str], body: str = body) -> str:
            return f"{m.group(1)}\n{body}\n{m.group(2)}"

        text = pattern.sub(fill, text)
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*", help="files of JSON lines (default: stdin)")
    ap.add_argument("--readme", type=Path, default=None, help="rewrite the marked blocks of this file in place")
    args = ap.parse_args(argv)
    texts = [Path(p).read_text() for p in args.inputs] if args.inputs else [sys.stdin.read()]
    try:
        lines = read_lines(texts)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    present = {ln.get("workload") for ln in lines if ln.get("part") in ("side_by_side", "ratio")}
    blocks = {name: make(lines) for name, make in TABLES.items() if name in present}
    if not blocks:
        print(
            "error: no side-by-side or ratio lines in the input (run benchmarks/run.py with --peers)", file=sys.stderr
        )
        return 2
    if args.readme is None:
        for name, body in blocks.items():
            print(f"<!-- {name} -->\n{body}\n")
        return 0
    try:
        args.readme.write_text(replace_blocks(args.readme.read_text(), blocks))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"rewrote {', '.join(blocks)} in {args.readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
