"""Workload ``serve``: the decision service over HTTP, with full durability, and its crash test.

One run starts each server as a real process (``abrec serve``, one uvicorn worker, the settings ``abrec serve``
uses; ``ABREC_BENCH_SERVE_WORKERS=N`` gives it, and the no-op server, N workers) and drives it from a separate
load-generator process (``python benchmarks/serve.py load ...``: a small asyncio HTTP/1.1 client on keep-alive
connections, so the client is not the bottleneck; the ``noop`` case measures that ceiling). Latency is measured
by the client, per HTTP request. Cases, one JSON line each:

- ``noop`` (db ``none``): a no-op FastAPI endpoint served by uvicorn with the same settings: the framework's
  ceiling for the same request bodies;
- ``decide``, ``decide_reward`` (a decide, then a reward for its first item: two requests),
  ``decide_batch`` (100 decisions per call), on ``sqlite`` and ``postgresql``: closed loop at concurrency 32;
  every 200 comes after the COMMIT (SQLite ``synchronous=FULL``, PostgreSQL ``synchronous_commit=on``);
- ``decide_reward`` again at half of its maximum request rate (open loop, latency from each request's scheduled
  start), with ``offered_requests_per_s``: the latency target is set there;
- ``learn_latency``: 32 clients each reward a decision of a learning variant, then decide until the service
  serves a policy version that includes that reward; the latency (from the reward's 200 to the first such
  decision, resolved afterwards from the journal and snapshot tables) is in ``p50_ms``/``p99_ms``/``p999_ms``;
- ``crash``: ``kill -9`` the server under decide + reward traffic ``kills`` times (20 per database) and check
  every acknowledged decision and reward (tests/service/_traffic.py, the crash test's code); the counts.

Each served case's line carries ``server_cpu_ms`` (the server process tree's CPU per answered request, the
learner's included) and ``client_cpu_ms`` (the load generator's own CPU per request over the measured part):
what one request costs each side of the two cores.

``ABREC_BENCH_SERVE_CASES`` (comma-separated case names, default all) and ``ABREC_BENCH_SERVE_DBS`` (default
``sqlite,postgresql``) select what runs, e.g. ``ABREC_BENCH_SERVE_CASES=noop,decide_reward,decide_batch
ABREC_BENCH_SERVE_DBS=sqlite``. ``ABREC_BENCH_SERVE_BASE=DIR`` (another checkout, e.g. ``git worktree add DIR
COMMIT``) runs the no-op and the served cases ``ABREC_BENCH_SERVE_REPEATS`` times (default 2), each time on that
checkout's code and then on this one, every line tagged ``code`` (``base``/``current``) and ``repeat``: a speed
ratio measured in one run.

Each decide carries a client request id made as :mod:`abrec.client` makes one (time-ordered, UUID version 7);
``ABREC_BENCH_SERVE_REQUEST_IDS=random`` sends random ones (``uuid.uuid4().hex``) instead, which cost the store
more (each lands anywhere in the unique index on them).

PostgreSQL is ``$ABREC_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``), in a
fresh schema dropped at the end; when it cannot be reached its lines carry ``"status": "unavailable"``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(REPO / "tests" / "service"), str(REPO / "tests")]  # the crash test's server and traffic code

CONCURRENCY = 32
BATCH = 100
N_CANDIDATES = 20
K = 3
CONTEXT_DIM = 8
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CASES = ("noop", "decide", "decide_reward", "decide_batch", "learn_latency", "crash")
REQUEST_IDS = os.environ.get("ABREC_BENCH_SERVE_REQUEST_IDS", "client")
if REQUEST_IDS not in ("client", "random"):
    raise SystemExit(f"ABREC_BENCH_SERVE_REQUEST_IDS={REQUEST_IDS!r}: choose 'client' (the default) or 'random'.")
RANDOM_REQUEST_IDS = REQUEST_IDS == "random"
_WORKERS = os.environ.get("ABREC_BENCH_SERVE_WORKERS", "1")
if not _WORKERS.isdigit() or int(_WORKERS) < 1:
    raise SystemExit(f"ABREC_BENCH_SERVE_WORKERS={_WORKERS!r}: give a number of uvicorn workers (1 or more).")
WORKERS = int(_WORKERS)


def bench_config() -> dict[str, Any]:
    """The served experiment: a uniform control, Bernoulli Thompson sampling and LinUCB on 8-d contexts."""
    return {
        "experiments": [
            {
                "name": "bench",
                "seed": 0,
                "context_dim": CONTEXT_DIM,
                "variants": [
                    {"name": "random", "policy": "uniform"},
                    {"name": "ts", "policy": "bernoulli_ts", "params": {"propensity_draws": 100}},
                    {"name": "lin", "policy": "linucb"},
                ],
                "control": "random",
                "reward": {"kind": "click", "window": 3600, "default": 0.0},
            }
        ]
    }


# ------------------------------------------------------------------------------------------ the no-op server
def noop_app() -> Any:
    """A FastAPI app whose ``POST /noop`` does nothing (the ceiling); ``/readyz`` as the service's."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/noop")
    async def noop() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _serve_noop(port: int, workers: int = 1) -> None:
    import uvicorn

    # The settings of `abrec serve` (src/abrec/cli/serve.py): its number of workers, no access log.
    if workers == 1:
        uvicorn.run(noop_app(), host="127.0.0.1", port=port, workers=1, log_level="warning", access_log=False)
        return
    uvicorn.run(
        "serve:noop_app",
        factory=True,
        app_dir=str(HERE),
        host="127.0.0.1",
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )


@contextmanager
def noop_server() -> Iterator[tuple[str, int]]:
    """The no-op server's URL and process id."""
    from _server import free_port

    port = free_port()
    command = [sys.executable, __file__, "noop-server", str(port), str(WORKERS)]
    process = subprocess.Popen(command, start_new_session=True)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", process)
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait(15)


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server at {url} exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server at {url} was not ready in {timeout} s")


# ------------------------------------------------------------------------------------------ the load generator
class _Connection:
    """One keep-alive HTTP/1.1 connection (enough of the protocol for uvicorn's JSON answers)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        for line in raw.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _request_ids(n: int) -> list[str]:
    """``n`` client request ids as ``abrec.client`` makes them (time-ordered), or with
    ``$ABREC_BENCH_SERVE_REQUEST_IDS`` ``random`` random ones (``uuid.uuid4().hex``, what a client of its own might
    send)."""
    if RANDOM_REQUEST_IDS:
        return [uuid.uuid4().hex for _ in range(n)]
    from abrec._ids import time_ordered_ids

    return time_ordered_ids(n)


def _decide_body(rng: np.random.Generator) -> dict[str, Any]:
    """One decide request: 20 distinct candidates of 500 items in random order, k = 3, an 8-d context, a unit
    of 10,000 and a request id (see :func:`_request_ids`)."""
    items = rng.choice(500, size=N_CANDIDATES, replace=False)
    return {
        "experiment": "bench",
        "unit": f"u{int(rng.integers(10_000))}",
        "candidates": [f"item{i}" for i in items],
        "k": K,
        "context": rng.normal(size=CONTEXT_DIM).round(4).tolist(),
        "request_id": _request_ids(1)[0],
    }


def _json_writer() -> Any:
    try:
        import orjson

        return orjson.dumps
    except ImportError:  # pragma: no cover - an install without the 'serve' extra
        return lambda content: json.dumps(content, separators=(",", ":")).encode()


_dumps = _json_writer()
_ITEM_NAMES = np.array([f"item{i}" for i in range(500)], dtype=object)
_UNIT_NAMES = np.array([f"u{i}" for i in range(10_000)], dtype=object)


class _Bodies:
    """Decide requests as :func:`_decide_body` makes them (the same distribution), made ``block`` at a time with
    vectorised draws and written by orjson: the load generator's CPU per request is a fifth of making each one
    alone, so the two cores it shares with the server go to the server."""

    def __init__(self, rng: np.random.Generator, block: int = 256) -> None:
        self.rng = rng
        self.block = block
        self._ready: list[dict[str, Any]] = []

    def _fill(self) -> None:
        rng, n = self.rng, self.block
        keys = rng.random((n, 500))
        smallest = np.argpartition(keys, N_CANDIDATES, axis=1)[:, :N_CANDIDATES]  # a uniform random 20-subset
        order = np.argsort(np.take_along_axis(keys, smallest, axis=1), axis=1)  # in a uniform random order
        items = _ITEM_NAMES[np.take_along_axis(smallest, order, axis=1)].tolist()
        units = _UNIT_NAMES[rng.integers(10_000, size=n)].tolist()
        contexts = rng.normal(size=(n, CONTEXT_DIM)).round(4).tolist()
        ids = _request_ids(n)
        self._ready = [
            {"experiment": "bench", "unit": u, "candidates": c, "k": K, "context": x, "request_id": r}
            for u, c, x, r in zip(units, items, contexts, ids, strict=True)
        ][::-1]

    def take(self, n: int) -> list[dict[str, Any]]:
        """The next ``n`` requests."""
        out = []
        for _ in range(n):
            if not self._ready:
                self._fill()
            out.append(self._ready.pop())
        return out

    def decide(self) -> bytes:
        """The JSON body of the next decide."""
        return bytes(_dumps(self.take(1)[0]))

    def batch(self, size: int = BATCH) -> bytes:
        """The JSON body of a batch of the next ``size`` decides."""
        return bytes(_dumps({"requests": self.take(size)}))


class _Load:
    def __init__(self, url: str, case: str, seed: int) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.case = case
        self.rng = np.random.default_rng(seed)
        self.bodies = _Bodies(self.rng)
        self.latencies: list[float] = []
        self.requests = 0
        self.decisions = 0
        self.errors = 0
        self.messages: list[str] = []
        #: The load generator's own CPU seconds over the measured part of the last run (warm-up excluded).
        self.cpu = 0.0

    def _record(self, status: int, body: bytes, started: float, decisions: int) -> bool:
        self.latencies.append(time.perf_counter() - started)
        self.requests += 1
        if status != 200:
            self.errors += 1
            if len(self.messages) < 3:
                self.messages.append(f"{status}: {body[:200]!r}")
            return False
        self.decisions += decisions
        return True

    async def one(self, conn: _Connection, started: float | None = None) -> None:
        """One unit of work of the case (its latency from ``started``, default now)."""
        t = time.perf_counter() if started is None else started
        if self.case == "noop":
            status, body = await conn.request("POST", "/noop", self.bodies.decide())
            self._record(status, body, t, 0)
        elif self.case == "decide_batch":
            status, body = await conn.request("POST", "/v1/decide/batch", self.bodies.batch())
            self._record(status, body, t, BATCH)
        else:
            status, body = await conn.request("POST", "/v1/decide", self.bodies.decide())
            if not self._record(status, body, t, 1) or self.case != "decide_reward":
                return
            decision = json.loads(body)
            reward = {
                "rewards": [
                    {
                        "event_id": decision["event_id"],
                        "item": decision["slate"][0]["item"],
                        "value": float(self.rng.random() < 0.1),
                    }
                ]
            }
            t = time.perf_counter()
            status, body = await conn.request("POST", "/v1/rewards", json.dumps(reward).encode())
            self._record(status, body, t, 0)

    async def closed_loop(self, concurrency: int, units: int, seconds: float) -> float:
        """``concurrency`` clients, each doing the next unit as soon as the last is answered, until ``units``
        units or ``seconds`` have passed (after a warm-up); returns the measured seconds."""
        conns = [_Connection(self.host, self.port) for _ in range(concurrency)]
        await asyncio.gather(*(self.one(c) for c in conns))  # warm-up: connect, first requests
        self.latencies.clear()
        self.requests = self.decisions = self.errors = 0
        self.cpu = -time.process_time()
        left = [units]
        start = time.perf_counter()
        deadline = start + seconds

        async def client(conn: _Connection) -> None:
            while left[0] > 0 and time.perf_counter() < deadline:
                left[0] -= 1
                await self.one(conn)

        await asyncio.gather(*(client(c) for c in conns))
        elapsed = time.perf_counter() - start
        self.cpu += time.process_time()
        for c in conns:
            c.close()
        return elapsed

    async def open_loop(self, concurrency: int, rate: float, units: int, seconds: float) -> float:
        """Units started at ``rate`` per second (evenly spaced, spread over ``concurrency`` connections); each
        latency counts from the unit's scheduled start, so a slow answer delays no measurement."""
        conns = [_Connection(self.host, self.port) for _ in range(concurrency)]
        await asyncio.gather(*(self.one(c) for c in conns))
        self.latencies.clear()
        self.requests = self.decisions = self.errors = 0
        self.cpu = -time.process_time()
        n = max(1, min(units, int(rate * seconds)))
        start = time.perf_counter() + 0.05

        async def client(i: int, conn: _Connection) -> None:
            for j in range(i, n, concurrency):
                due = start + j / rate
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self.one(conn, started=due)

        await asyncio.gather(*(client(i, c) for i, c in enumerate(conns)))
        elapsed = time.perf_counter() - start
        self.cpu += time.process_time()
        for c in conns:
            c.close()
        return elapsed

    def summary(self, seconds: float) -> dict[str, Any]:
        lat = np.asarray(self.latencies) * 1000.0 if self.latencies else np.zeros(1)
        return {
            "requests_per_s": round(self.requests / seconds, 1),
            "decisions_per_s": round(self.decisions / seconds, 1),
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2),
            "p999_ms": round(float(np.percentile(lat, 99.9)), 2),
            "errors": self.errors,
            "requests": self.requests,
            "messages": self.messages,
            "client_cpu_ms": round(1000.0 * self.cpu / max(self.requests, 1), 3),
        }


def _load_main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="serve.py load")
    ap.add_argument("url")
    ap.add_argument("case")
    ap.add_argument("--units", type=int, default=10**9)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=0.0, help="open loop at this many units per second")
    ap.add_argument("--concurrency", type=int, default=CONCURRENCY)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    load = _Load(args.url, args.case, args.seed)
    cpu = time.process_time()
    if args.rate > 0:
        seconds = asyncio.run(load.open_loop(args.concurrency, args.rate, args.units, args.seconds))
    else:
        seconds = asyncio.run(load.closed_loop(args.concurrency, args.units, args.seconds))
    out = load.summary(seconds)
    out["client_cpu_share"] = round((time.process_time() - cpu) / seconds, 3)
    print(json.dumps(out), flush=True)
    return 0


def drive(
    url: str, case: str, *, units: int, seconds: float, rate: float = 0.0, seed: int = 0, pid: int | None = None
) -> dict[str, Any]:
    """Run the load generator in its own process against ``url``; its summary, with the CPU the server process
    ``pid`` spent per answered request (``server_cpu_ms``: its threads and child processes, the learner's included)."""
    command = [sys.executable, __file__, "load", url, case, "--units", str(units), "--seconds", str(seconds)]
    command += ["--rate", str(rate), "--seed", str(seed)]
    before = cpu_seconds(pid)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 300, check=False)
    after = cpu_seconds(pid)
    if done.returncode != 0:
        raise RuntimeError(f"the load generator failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    spent = None if before is None or after is None else after - before
    result["server_cpu_ms"] = None if spent is None else round(1000.0 * spent / max(result["requests"], 1), 3)
    return result


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds so far of process ``pid`` and of its live descendants (the learner's own process,
    uvicorn's workers): Linux ``/proc``; None elsewhere or without a pid.

    On a machine shared with other work, the CPU a request costs the server is steadier than its rate."""
    if pid is None:
        return None
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        ticks[child] = int(fields[11]) + int(fields[12])
    if pid not in ticks:
        return None
    tree = {pid}
    grew = True
    while grew:
        found = {child for child, parent in parents.items() if parent in tree} - tree
        grew = bool(found)
        tree |= found
    return sum(ticks[p] for p in tree) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------ learning latency
async def _learn_probes(
    url: str, database_url: str, probes: int, concurrency: int, timeout: float
) -> list[dict[str, Any]]:
    """Each client: find a unit of the ``ts`` variant, reward one of its decisions with 1 (``t0`` = the 200),
    then decide for it every 10 ms, recording (time, snapshot version), until the version served is 2 past the
    newest in the database at ``t0`` (the batch being learned then may miss the reward; the next one holds it).
    The journal tells afterwards which version first included the reward."""
    import sqlalchemy as sa

    from abrec.client import AsyncClient
    from abrec.store.engine import create_store_engine

    engine = create_store_engine(database_url)
    newest = sa.text("SELECT COALESCE(MAX(version), 0) FROM snapshots WHERE experiment = 'bench' AND variant = 'ts'")

    def newest_version() -> int:
        with engine.connect() as connection:
            return int(connection.execute(newest).scalar() or 0)

    rng = np.random.default_rng(1)
    records: list[dict[str, Any]] = []
    left = [probes]

    async def client(client: AsyncClient) -> None:
        while left[0] > 0:
            left[0] -= 1
            while True:
                body = _decide_body(rng)
                d = await client.decide(
                    "bench", unit=body["unit"], candidates=body["candidates"], k=K, context=body["context"]
                )
                if d.variant == "ts":
                    break
            await client.reward(d.event_id, d.items[0], 1.0)
            t0 = time.perf_counter()
            enough = await asyncio.to_thread(newest_version) + 2
            seen: list[tuple[float, int]] = []
            while time.perf_counter() - t0 < timeout:
                body = _decide_body(rng)
                probe = await client.decide(
                    "bench", unit=d.unit, candidates=body["candidates"], k=K, context=body["context"]
                )
                seen.append((time.perf_counter() - t0, probe.snapshot_version))
                if probe.snapshot_version >= enough:
                    break
                await asyncio.sleep(0.01)
            records.append({"event": d.event_id, "item": d.items[0], "seen": seen})

    try:
        async with AsyncClient(url, timeout=10.0) as c:
            await asyncio.gather(*(client(c) for _ in range(concurrency)))
    finally:
        engine.dispose()
    return records


def learning_latencies(url: str, database_url: str, probes: int, *, timeout: float = 20.0) -> list[float]:
    """Seconds from each probe's acknowledged reward to its first decision by a version that includes it."""
    import sqlalchemy as sa

    from abrec.store.engine import create_store_engine

    records = asyncio.run(_learn_probes(url, database_url, probes, min(CONCURRENCY, probes), timeout))
    engine = create_store_engine(database_url)
    out = []
    with engine.connect() as connection:
        for r in records:
            seq = connection.execute(
                sa.text("SELECT seq FROM journal WHERE event_id = :e AND item = :i"), {"e": r["event"], "i": r["item"]}
            ).scalar()
            version = connection.execute(
                sa.text(
                    "SELECT MIN(version) FROM snapshots "
                    "WHERE experiment = 'bench' AND variant = 'ts' AND journal_seq >= :s"
                ),
                {"s": seq if seq is not None else 2**62},
            ).scalar()
            first = next((t for t, v in r["seen"] if version is not None and v >= version), None)
            out.append(float("inf") if first is None else first)
    engine.dispose()
    return out


# ------------------------------------------------------------------------------------------ databases
def postgres_base() -> str:
    return os.environ.get("ABREC_TEST_POSTGRES_URL") or DEFAULT_POSTGRES


def _upgrader(src: Path | None) -> Any:
    """``abrec.store.upgrade``, or, for another checkout's ``src`` (``ABREC_BENCH_SERVE_BASE``), the same call made
    by that code in a subprocess (its own migration head)."""
    if src is None:
        from abrec.store import upgrade

        return upgrade

    def upgrade_with(url: str) -> None:
        code = "import sys; from abrec.store import upgrade; upgrade(sys.argv[1])"
        env = {**os.environ, "PYTHONPATH": str(src)}
        subprocess.run([sys.executable, "-c", code, url], env=env, check=True)

    return upgrade_with


def base_tree() -> Path | None:
    """``$ABREC_BENCH_SERVE_BASE``'s ``src`` (another checkout of abrec, e.g. ``git worktree add /tmp/base COMMIT``):
    the served cases then run alternately on that code (``"code": "base"``) and this one (``"current"``)."""
    text = os.environ.get("ABREC_BENCH_SERVE_BASE", "").strip()
    if not text:
        return None
    src = Path(text).resolve() / "src"
    if not (src / "abrec" / "__init__.py").is_file():
        raise SystemExit(f"ABREC_BENCH_SERVE_BASE={text}: no src/abrec there; give a checkout of abrec.")
    return src


@contextmanager
def database(kind: str, folder: Path, src: Path | None = None) -> Iterator[str | None]:
    """A fresh database at the migration head (of the code in ``src``, default this one): a SQLite file, or a
    PostgreSQL schema dropped afterwards (None when PostgreSQL cannot be reached)."""
    upgrade = _upgrader(src)
    if kind == "sqlite":
        url = f"sqlite:///{folder / f'bench-{secrets.token_hex(3)}.db'}"
        upgrade(url)
        yield url
        return
    import sqlalchemy as sa

    base = postgres_base()
    try:
        engine = sa.create_engine(base, connect_args={"connect_timeout": 3}, poolclass=sa.pool.NullPool)
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:
        print(f"[serve] PostgreSQL at {base} is not reachable: {exc}", file=sys.stderr)
        yield None
        return
    schema = f"abrec_bench_{secrets.token_hex(4)}"
    with engine.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        url = f"{base}{'&' if '?' in base else '?'}options={quote(f'-csearch_path={schema}')}"
        upgrade(url)
        yield url
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()


# ------------------------------------------------------------------------------------------ the workload
def _line(case: str, db: str, result: dict[str, Any], **extra: Any) -> dict[str, Any]:
    out = {"bench": "serve", "case": case, "db": db, "concurrency": CONCURRENCY}
    keys = (
        "requests_per_s",
        "decisions_per_s",
        "p50_ms",
        "p99_ms",
        "p999_ms",
        "errors",
        "server_cpu_ms",
        "client_cpu_ms",
    )
    out.update({k: result.get(k) for k in keys})
    out["workers"] = WORKERS
    out.update(extra)
    return out


def _served(
    server: Any, url_db: str, db: str, cases: Sequence[str], units: int, seconds: float, probes: int, note: Any
) -> Iterator[dict[str, Any]]:
    """The ``cases`` measured against one running ``server`` (tests/service/_server.py) on database ``url_db``."""
    url, pid = server.url, server.process.pid
    for case in [c for c in cases if c != "learn_latency"]:
        note(f"{case} on {db}")
        per_call = BATCH if case == "decide_batch" else 1
        result = drive(url, case, units=max(1, units // per_call), seconds=seconds, pid=pid)
        yield _line(case, db, result)
        if case == "decide_reward":
            rate = result["requests_per_s"] / 2 / 2  # half the request rate, in decide+reward units
            note(f"decide_reward on {db} at half load ({rate * 2:.0f} requests/s)")
            half = drive(url, case, units=units, seconds=seconds, rate=rate, pid=pid)
            yield _line(case, db, half, offered_requests_per_s=round(rate * 2, 1))
    if "learn_latency" not in cases:
        return
    note(f"learn_latency on {db}")
    start = time.perf_counter()
    latencies = learning_latencies(url, url_db, probes)
    lat = np.asarray(latencies) * 1000.0
    done = lat[np.isfinite(lat)]  # a probe that never saw its reward learned counts as an error

    def pct(q: float) -> float | None:
        return round(float(np.percentile(done, q)), 1) if done.size else None

    yield _line(
        "learn_latency",
        db,
        {
            "requests_per_s": None,
            "decisions_per_s": None,
            "p50_ms": pct(50),
            "p99_ms": pct(99),
            "p999_ms": pct(99.9),
            "errors": int(lat.size - done.size),
        },
        probes=len(latencies),
        seconds=round(time.perf_counter() - start, 1),
    )


def run_cases(
    *,
    units: int = 10**9,
    seconds: float = 10.0,
    probes: int = 100,
    kills: int = 20,
    dbs: Sequence[str] = ("sqlite", "postgresql"),
    cases: Sequence[str] = CASES,
    say: Any = None,
    base: Path | None = None,
    repeats: int = 1,
) -> Iterator[dict[str, Any]]:
    """The ``cases`` of the workload (see the module docstring) on ``dbs``; ``units`` caps the work per case.

    With ``base`` (another checkout's ``src``), the no-op and the served cases run ``repeats`` times, each time on
    ``base``'s code then on this one, every line tagged ``code`` and ``repeat``: a before/after ratio measured in
    one run. Learning latency and the crash test run on this code only."""
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        raise ValueError(f"unknown serve cases {unknown}; the cases are {', '.join(CASES)}")
    import yaml
    from _server import start_server
    from _traffic import crash_config, crash_run

    def note(line: str) -> None:
        print(f"[serve] {line}", file=sys.stderr, flush=True)
        if say is not None:
            say(line)

    with tempfile.TemporaryDirectory(prefix="abrec-bench-serve-") as tmp:
        folder = Path(tmp)
        config = folder / "bench.yaml"
        config.write_text(yaml.safe_dump(bench_config()), encoding="utf-8")
        crash = folder / "crash.yaml"
        crash.write_text(yaml.safe_dump(crash_config()), encoding="utf-8")
        codes: list[tuple[str, Path | None]] = [("current", None)]
        if base is not None:
            codes.insert(0, ("base", base))
        served = [c for c in ("decide", "decide_reward", "decide_batch", "learn_latency") if c in cases]
        for repeat in range(repeats if base is not None else 1):
            tag = {} if base is None else {"repeat": repeat}
            if "noop" in cases:
                with noop_server() as (url, pid):
                    note("noop")
                    noop = drive(url, "noop", units=units, seconds=seconds, pid=pid)
                    yield {**_line("noop", "none", noop), **tag}
            for db in dbs:
                for code, src in codes:
                    # learning latency: once, on this code
                    todo = [c for c in served if c != "learn_latency" or (src is None and repeat == 0)]
                    if not todo:
                        continue
                    label = {} if base is None else {"code": code, **tag}
                    with database(db, folder, src) as url_db:
                        if url_db is None:
                            killed = ["crash"] if "crash" in cases and kills > 0 and src is None else []
                            for case in [*todo, *killed]:
                                yield {"bench": "serve", "case": case, "db": db, "status": "unavailable", **label}
                            continue
                        env = None if src is None else {"PYTHONPATH": str(src)}
                        if base is not None:
                            note(f"{code} code ({src or 'this checkout'}), repeat {repeat + 1}")
                        log = folder / f"server-{db}-{code}.log"
                        server = start_server(config, url_db, workers=WORKERS, env=env, log_path=log)
                        try:
                            for line in _served(server, url_db, db, todo, units, seconds, probes, note):
                                yield {**line, **label}
                        finally:
                            server.stop()
        for db in dbs:
            if kills > 0 and "crash" in cases:
                with database(db, folder) as url_db:
                    if url_db is None:
                        continue
                    note(f"crash test on {db}: {kills} kills")
                    report = crash_run(crash, url_db, folder, kills=kills, seed=len(db), say=note)
                    yield {
                        "bench": "serve",
                        "case": "crash",
                        "db": db,
                        **report.counts,
                        "states_equal": all(report.states_equal.values()) and bool(report.states_equal),
                        "problems": report.problems[:5],
                    }


def run(options: Any) -> Iterator[dict[str, Any]]:
    """The ``serve`` workload of benchmarks/run.py: ``--rounds`` caps the requests per case, ``--max-seconds`` the
    seconds per case (default 10)."""
    seconds = 10.0 if options.max_seconds == 60.0 else float(options.max_seconds)
    cases = _listed("ABREC_BENCH_SERVE_CASES", CASES)
    dbs = _listed("ABREC_BENCH_SERVE_DBS", ("sqlite", "postgresql"))
    repeats = int(os.environ.get("ABREC_BENCH_SERVE_REPEATS") or 2)
    yield from run_cases(
        units=options.rounds or 10**9, seconds=seconds, cases=cases, dbs=dbs, base=base_tree(), repeats=repeats
    )


def _listed(variable: str, default: Sequence[str]) -> tuple[str, ...]:
    """The comma-separated names in environment ``variable`` (``default`` when it is unset or empty; none for
    ``none``, e.g. ``ABREC_BENCH_OPS_CASES=none`` to skip serve_ops.py in ``make bench BENCH=serve``)."""
    text = os.environ.get(variable, "").strip()
    if text == "none":
        return ()
    return tuple(n.strip() for n in text.split(",") if n.strip()) if text else tuple(default)


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "load":
        sys.exit(_load_main(sys.argv[2:]))
    if len(sys.argv) == 4 and sys.argv[1] == "noop-server":
        _serve_noop(int(sys.argv[2]), int(sys.argv[3]))
        sys.exit(0)
    print(
        "usage: serve.py load URL CASE [...] | serve.py noop-server PORT WORKERS (or: benchmarks/run.py serve)",
        file=sys.stderr,
    )
    sys.exit(2)
