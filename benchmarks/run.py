"""Run abrec's benchmark workloads: ``python benchmarks/run.py NAME`` (NAME = ``all`` or a workload).

stdout carries one JSON object per line and nothing else; progress and diagnostics go to stderr.
Workloads register below as {name: function(Options) -> iterator of dicts}.

Examples
--------
    .venv/bin/python benchmarks/run.py all
    .venv/bin/python benchmarks/run.py w1 --rounds 10000 --policies linucb,lin_ts --seeds 0,1,2
    .venv/bin/python benchmarks/run.py w1 --peers --policies linucb   # abrec and the peers, side by side

With ``--peers`` (``make bench PEERS=1``), the workloads that have peers (``PEER_WORKLOADS``) also run them
side by side with abrec (``w1_peers``, ``ope_peers``) and print ratios computed from that run only; the exit
status is 1 when a peer could not be installed or run. Without it, they print one line saying that no ratio
was measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import agents as rl
import embed
import llm
import ope
import ope_peers
import scale
import seq_ope
import serve
import serve_ops
import side_by_side
import sim
import w1
import w1_peers

Workload = Callable[[w1.Options], Iterator[dict[str, Any]]]


def _chain(*parts: Workload) -> Workload:
    """One workload made of several modules' cases, run one after the other."""

    def run(options: w1.Options) -> Iterator[dict[str, Any]]:
        for part in parts:
            yield from part(options)

    return run


WORKLOADS: dict[str, Workload] = {
    "w1": w1.run,
    "embed": embed.run,
    "sim": sim.run,
    "ope": ope.run,
    "ray": scale.run,
    "ledger": scale.run_ledger,
    "serve": _chain(serve.run, serve_ops.run),  # the service, then results latency and fuzzing
    "llm": llm.run,
    "rl": _chain(rl.run, seq_ope.run),  # agents vs bandits, then sequential OPE
}
PEER_WORKLOADS: dict[str, Workload] = {"w1": w1_peers.run, "ope": ope_peers.run}


def _int_list(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one seed")
    return values


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="benchmarks/run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("name", help=f"'all' or one of: {', '.join(WORKLOADS)}")
    ap.add_argument("--rounds", type=_positive_int, default=None, help="rounds to run (default: the whole workload)")
    ap.add_argument("--policies", default=None, help="comma-separated registered policy names (default: all)")
    ap.add_argument("--seeds", type=_int_list, default=(0,), help="comma-separated seeds (default: 0)")
    ap.add_argument(
        "--max-seconds",
        type=float,
        default=60.0,
        help="time cap per (policy, protocol, seed) run; past it, the rounds done so far are reported (default 60)",
    )
    ap.add_argument(
        "--peers",
        action="store_true",
        help="also run the peers (Vowpal Wabbit, MABWiser, contextualbandits, OBP) side by side, with ratios",
    )
    ap.add_argument(
        "--repeats", type=_positive_int, default=1, help="with --peers: repeats of the interleaved sequence (default 1)"
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.name != "all" and args.name not in WORKLOADS:
        print(
            f"error: unknown workload {args.name!r}. Known: all, {', '.join(WORKLOADS)}.",
            file=sys.stderr,
        )
        return 2
    policies: tuple[str, ...] | None = None
    if args.policies is not None:
        from abrec.policies import registered_policies

        w1._import_policy_modules()
        known = registered_policies()
        policies = tuple(p.strip() for p in args.policies.split(",") if p.strip())
        unknown = [p for p in policies if p not in known]
        if unknown or not policies:
            print(f"error: unknown policies {unknown or args.policies!r}. Known: {', '.join(known)}.", file=sys.stderr)
            return 2
    options = w1.Options(
        rounds=args.rounds,
        policies=policies,
        seeds=args.seeds,
        max_seconds=args.max_seconds,
        peers=args.peers,
        repeats=args.repeats,
    )
    names = list(WORKLOADS) if args.name == "all" else [args.name]
    failed: list[str] = []
    try:
        for name in names:
            print(f"[run] workload {name}", file=sys.stderr, flush=True)
            for line in WORKLOADS[name](options):
                print(json.dumps(line), flush=True)
            if name not in PEER_WORKLOADS:
                continue
            if not options.peers:
                print(json.dumps(side_by_side.no_ratio_line(name)), flush=True)
                continue
            for line in PEER_WORKLOADS[name](options):
                print(json.dumps(line), flush=True)
                if line.get("status") in ("unavailable", "failed"):
                    failed.append(f"{line.get('system')}: {line.get('reason')}")
    except w1.MissingDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if failed:
        print(f"error: {len(failed)} peer run(s) did not happen: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
