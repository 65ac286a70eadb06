"""Event store writes per second: group commit vs one transaction per write, on SQLite and PostgreSQL.

N threads (the service's request handlers) each write, one after another, a decision and the reward of its
previous decision (what a decide + reward pair writes), every write durable (SQLite WAL with
``synchronous=FULL``, PostgreSQL ``synchronous_commit=on``). ``per_write`` calls ``EventStore.write`` from
each thread (one transaction each; writers queue on the database's write lock); ``group_commit`` submits to
one :class:`abrec.store.GroupCommitter` and waits for the future. One JSON line per (db, mode, concurrency)
on stdout::

    {"bench": "serve_store", "db": "sqlite", "mode": "group_commit", "concurrency": 32, "writes": 6400,
     "writes_per_s": ..., "p50_ms": ..., "p99_ms": ..., "commits": ..., "mean_group": ..., "seconds": ...}

Run: ``.venv/bin/python benchmarks/serve_store.py [--seconds 3] [--concurrency 1,8,32] [--db sqlite,postgresql]``
(PostgreSQL at ``$ABREC_BENCH_POSTGRES_URL``, default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``,
in a temporary schema dropped afterwards). ``run(...)`` yields the same dicts for ``benchmarks/run.py``.

``--batch N`` makes each write N decide + reward pairs (100: what a batch decide call commits) and ``--busy F``
runs a thread that spends the share F of its time in Python meanwhile, as a served worker's event loop does:
the writer thread then has to win the GIL back after each database call (lines carry ``batch``, ``busy`` and
``busy_measured``, the share of the time that thread did run).

Event ids and client request ids are time-ordered, as the service and :mod:`abrec.client` make them;
``--ids random`` sends random ones (``uuid.uuid4().hex``). ``--base DIR`` (another checkout, e.g. ``git worktree
add DIR COMMIT``) measures every case ``--repeats`` times (default 2) on that checkout's code and then on this
one, each in a fresh process, alternately; the lines carry ``code`` (``base``/``current``) and ``repeat``: a
speed ratio from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from abrec.store import DecisionRow, EventStore, GroupCommitter, RewardRow, WriteBatch, upgrade

HERE = Path(__file__).resolve().parent
_IDS = ["client"]  # "client": time-ordered (abrec._ids), as the service makes them; "random": uuid4
POSTGRES = os.environ.get("ABREC_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _id() -> str:
    if _IDS[0] == "random":
        return uuid.uuid4().hex
    from abrec._ids import time_ordered_ids

    return time_ordered_ids(1)[0]


def _pairs(previous: list[DecisionRow], unit: str, size: int) -> tuple[WriteBatch, list[DecisionRow]]:
    """``size`` decide + reward pairs in one write (a batch call): ``size`` new decisions of ``unit``, and a reward
    for each of ``previous`` (the decisions of the writer's last write)."""
    parts = [_pair(previous[i] if i < len(previous) else None, unit) for i in range(size)]
    if size == 1:
        return parts[0][0], [parts[0][1]]
    batch = WriteBatch.merge([b for b, _ in parts])
    return batch, [d for _, d in parts]


def _pair(previous: DecisionRow | None, unit: str) -> tuple[WriteBatch, DecisionRow]:
    now = datetime.now(UTC)
    items = tuple(f"item-{i}" for i in range(5))
    decision = DecisionRow(
        event_id=_id(),
        experiment="bench",
        unit=unit,
        variant="control",
        period=0,
        assignment_p=0.5,
        policy="linucb",
        policy_version="3",
        k=5,
        items=items,
        propensities=(0.2,) * 5,
        scores=(0.5, 0.4, 0.3, 0.2, 0.1),
        candidates=tuple(f"item-{i}" for i in range(20)),
        context=tuple(0.01 * i for i in range(16)),
        created_at=now,
        window_closes_at=now + timedelta(minutes=10),
        client_request_id=_id(),
    )
    rewards = (
        []
        if previous is None
        else [RewardRow(event_id=previous.event_id, item="item-1", kind="click", value=1.0, received_at=now)]
    )
    return WriteBatch(decisions=[decision], rewards=rewards, assignments=[("bench", unit, "control", 0)]), decision


def _busy(share: float, stop: threading.Event, spent: list[float]) -> None:
    """Run Python for ``share`` of each 2 ms and sleep the rest, until ``stop``: the event loop's part of the GIL
    in a served worker (its Python releases the GIL only when it waits), which the writer thread shares. Its
    CPU seconds go to ``spent``."""
    period = 0.002
    start = time.thread_time()
    while not stop.is_set():
        end = time.perf_counter() + share * period
        while time.perf_counter() < end:
            pass
        if share < 1.0:
            time.sleep((1.0 - share) * period)
    spent.append(time.thread_time() - start)


def _measure(
    store: EventStore, mode: str, concurrency: int, seconds: float, batch: int = 1, busy: float = 0.0
) -> dict[str, Any]:
    committer = GroupCommitter(store) if mode == "group_commit" else None
    write: Callable[[WriteBatch], Any] = (lambda b: committer.submit(b).result()) if committer else store.write
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    start_gate = threading.Barrier(concurrency + 1)
    stop = threading.Event()

    def client(k: int) -> None:
        previous: list[DecisionRow] = []
        start_gate.wait()
        while not stop.is_set():
            writing, previous = _pairs(previous, f"u{k}", batch)
            t0 = time.perf_counter()
            try:
                result = write(writing)
            except Exception:
                errors[k] += 1
                continue
            latencies[k].append(time.perf_counter() - t0)
            if any(not r.ok for r in result.rewards):
                errors[k] += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    for thread in threads:
        thread.start()
    spent: list[float] = []
    spinner = threading.Thread(target=_busy, args=(busy, stop, spent), daemon=True) if busy > 0 else None
    if spinner is not None:
        spinner.start()
    start_gate.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    if spinner is not None:
        spinner.join()
    elapsed = time.perf_counter() - t0
    if committer is not None:
        committer.close()
    flat = sorted(x for part in latencies for x in part)
    n = len(flat)
    commits = committer.commits if committer else n
    return {
        "writes": n,
        "writes_per_s": round(n / elapsed, 1),
        "p50_ms": round(1000 * statistics.median(flat), 3) if flat else None,
        "p99_ms": round(1000 * flat[min(n - 1, int(0.99 * n))], 3) if flat else None,
        "commits": commits,
        "mean_group": round(n / commits, 2) if commits else None,
        "errors": sum(errors),
        "seconds": round(elapsed, 2),
        # The share of the time the busy thread ran Python (below ``busy`` where the writers held the GIL).
        "busy_measured": round(sum(spent) / elapsed, 3) if spent else 0.0,
    }


def _databases(names: Sequence[str], folder: Path) -> Iterator[tuple[str, str, Callable[[], None]]]:
    for name in names:
        if name == "sqlite":
            url = f"sqlite:///{folder / 'bench.db'}"
            yield name, url, lambda: None
        else:
            schema = f"abrec_bench_{secrets.token_hex(4)}"
            admin = sa.create_engine(POSTGRES, poolclass=sa.pool.NullPool)
            with admin.begin() as connection:
                connection.exec_driver_sql(f"CREATE SCHEMA {schema}")

            def drop(schema: str = schema, admin: sa.Engine = admin) -> None:
                with admin.begin() as connection:
                    connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
                admin.dispose()

            sep = "&" if "?" in POSTGRES else "?"
            yield name, f"{POSTGRES}{sep}options={quote(f'-csearch_path={schema}')}", drop


def run(
    seconds: float = 3.0,
    concurrency: Sequence[int] = (1, 8, 32),
    databases: Sequence[str] = ("sqlite", "postgresql"),
    modes: Sequence[str] = ("per_write", "group_commit"),
    batch: int = 1,
    busy: float = 0.0,
) -> Iterator[dict[str, Any]]:
    """Yield one result dict per (database, mode, concurrency): each write ``batch`` decide + reward pairs,
    while a thread runs Python ``busy`` of the time (0: none)."""
    if not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be a whole number of pairs per write, 1 or more; got {batch!r}.")
    if not 0.0 <= busy <= 1.0:
        raise ValueError(f"busy is the share of the time a thread runs Python, from 0 to 1; got {busy!r}.")
    with tempfile.TemporaryDirectory(prefix="abrec-bench-") as folder:
        for db, url, cleanup in _databases(databases, Path(folder)):
            try:
                upgrade(url)
                with EventStore(url) as store:
                    for mode in modes:
                        for n in concurrency:
                            print(f"serve_store: {db} {mode} concurrency {n} ...", file=sys.stderr, flush=True)
                            row = _measure(store, mode, n, seconds, batch, busy)
                            yield {
                                "bench": "serve_store",
                                "db": db,
                                "mode": mode,
                                "concurrency": n,
                                "batch": batch,
                                "busy": busy,
                                **row,
                            }
            finally:
                cleanup()


def _against(base: Path, repeats: int, argv: list[str]) -> Iterator[dict[str, Any]]:
    """Each case of ``argv`` (the options above) on ``base``'s code, then on this one, ``repeats`` times."""
    code = {"base": str(base / "src"), "current": str(HERE.parent / "src")}
    for repeat in range(repeats):
        for label, src in code.items():
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
            print(f"serve_store: {label} code, repeat {repeat}", file=sys.stderr, flush=True)
            done = subprocess.run(
                [sys.executable, __file__, *argv], env=env, capture_output=True, text=True, check=False
            )
            if done.returncode != 0:
                raise SystemExit(f"serve_store on the {label} code failed:\n{done.stderr[-2000:]}")
            for line in done.stdout.splitlines():
                yield {**json.loads(line), "code": label, "repeat": repeat}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="measuring time per case (default 3)")
    ap.add_argument("--concurrency", default="1,8,32", help="comma-separated writer thread counts (default 1,8,32)")
    ap.add_argument("--db", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    ap.add_argument("--modes", default="per_write,group_commit", help="comma-separated: per_write, group_commit")
    ap.add_argument("--ids", choices=("client", "random"), default="client", help="time-ordered (default) or uuid4")
    ap.add_argument(
        "--batch", type=int, default=1, help="decide + reward pairs per write (default 1; 100: a batch call)"
    )
    ap.add_argument("--busy", type=float, default=0.0, help="share of the time a thread runs Python (default 0)")
    ap.add_argument("--base", type=Path, help="another checkout: measure its code and this one alternately")
    ap.add_argument("--repeats", type=int, default=2, help="with --base: rounds of base then current (default 2)")
    args = ap.parse_args(argv)
    _IDS[0] = args.ids
    if args.batch < 1:
        ap.error(f"--batch {args.batch}: give 1 or more decide + reward pairs per write")
    if not 0.0 <= args.busy <= 1.0:
        ap.error(f"--busy {args.busy}: give the share of the time a thread runs Python, from 0 to 1")
    if args.base is not None:
        if not (args.base / "src" / "abrec").is_dir():
            raise SystemExit(f"--base {args.base}: no src/abrec there; give a checkout (git worktree add DIR COMMIT).")
        own = ["--seconds", str(args.seconds), "--concurrency", args.concurrency, "--db", args.db]
        own += ["--batch", str(args.batch), "--busy", str(args.busy)]
        for row in _against(args.base, args.repeats, [*own, "--modes", args.modes, "--ids", args.ids]):
            print(json.dumps(row), flush=True)
        return 0
    for row in run(
        args.seconds,
        [int(c) for c in args.concurrency.split(",")],
        [d.strip() for d in args.db.split(",")],
        [m.strip() for m in args.modes.split(",")],
        args.batch,
        args.busy,
    ):
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
