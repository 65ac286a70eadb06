"""Run abrec's benchmark workloads: ``python benchmarks/run.py NAME`` (NAME = ``all`` or a workload).

stdout carries one JSON object per line and nothing else; progress and diagnostics go to stderr.
Workloads register below as {name: function(Options) -> iterator of dicts}.

Examples
--------
    .venv/bin/python benchmarks/run.py all
    .venv/bin/python benchmarks/run.py w1 --rounds 10000 --policies linucb,lin_ts --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any

import embed
import ope
import sim
import w1

Workload = Callable[[w1.Options], Iterator[dict[str, Any]]]

WORKLOADS: dict[str, Workload] = {
    "w1": w1.run,
    "embed": embed.run,
    "sim": sim.run,
    "ope": ope.run,
}


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
    options = w1.Options(rounds=args.rounds, policies=policies, seeds=args.seeds, max_seconds=args.max_seconds)
    names = list(WORKLOADS) if args.name == "all" else [args.name]
    try:
        for name in names:
            print(f"[run] workload {name}", file=sys.stderr, flush=True)
            for line in WORKLOADS[name](options):
                print(json.dumps(line), flush=True)
    except w1.MissingDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
