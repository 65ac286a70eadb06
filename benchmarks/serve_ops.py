"""Workload ``serve`` (operations cases): the results endpoint on a long log, and fuzzing at scale.

Cases, one JSON line each:

- ``results`` on ``sqlite`` and ``postgresql``: a real ``abrec serve`` process (one uvicorn worker, learner off
  so that nothing else runs while it is timed) serves an experiment whose log holds ``decisions`` decisions
  (default 1,000,000: 100,000 users, 3 items shown per decision, about 10% clicked and 2% bought). The log is
  filled through the store API in bulk (``EventStore.write`` of 5,000 decisions and their rewards at a time,
  each batch folded into the sufficient statistics as the learner folds them while serving: ``fill_s`` and
  ``fold_s``), never through HTTP. Then a client in this process times ``GET /v1/experiments/bench/results``
  over HTTP (keep-alive, one request at a time, ``requests`` of them): ``p50_ms``, ``p99_ms``; and the dashboard
  page of the experiment the same way (``dashboard_p50_ms``, ``dashboard_p99_ms``). The target is p99 <= 200 ms.
  ``full_scan_s`` is one full-scan readout of the same log (``export_log`` + ``analyze_metrics``: what results
  cost before the statistics), measured once, and ``same_readout`` says whether its numbers equal the endpoint's.
- ``fuzz`` (``sqlite``): schemathesis generates ``requests`` requests (default 10,000) from the OpenAPI document
  of a running ``abrec serve`` with an admin key, spread over every operation in rounds with new seeds (the code of
  tests/service/test_fuzz.py, which runs a small budget in ``make test``); each response is checked for a 5xx
  (``errors_5xx``) and against the schema of its documented status (``schema_mismatches``, the first few in
  ``mismatch_examples``); ``server_5xx`` is what the server's own ``/metrics`` counted.

``ABREC_BENCH_OPS_CASES`` (default ``results,fuzz``), ``ABREC_BENCH_SERVE_DBS`` (default ``sqlite,postgresql``),
``ABREC_BENCH_OPS_DECISIONS`` and ``ABREC_BENCH_OPS_FUZZ`` change what runs, e.g. ``ABREC_BENCH_OPS_DECISIONS=
100000``. Run alone: ``python benchmarks/serve_ops.py`` (prints the JSON lines).
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE)]
import serve  # noqa: E402  (benchmarks/serve.py: its config, databases, server start and test paths)

CASES = ("results", "fuzz")
DECISIONS = 1_000_000
FUZZ_REQUESTS = 10_000
TIMED_REQUESTS = 200
BATCH = 5_000
N_ITEMS = 200
K = 3


def _percentiles(seconds: Sequence[float]) -> tuple[float, float]:
    ms = np.asarray(seconds) * 1000.0
    return round(float(np.percentile(ms, 50)), 2), round(float(np.percentile(ms, 99)), 2)


# ------------------------------------------------------------------------------------------ results
def fill(database_url: str, experiment: str, decisions: int, *, seed: int = 0) -> dict[str, float]:
    """Write ``decisions`` decisions of ``experiment`` (stored by the server already) and their rewards in bulk,
    folding each batch into the statistics; returns the seconds spent writing and folding."""
    from abrec.store import DecisionRow, EventStore, RewardRow, WriteBatch
    from abrec.store.records import trusted

    rng = np.random.default_rng(seed)
    written = folded = 0.0
    with EventStore(database_url) as store:
        allocation = store.allocation(experiment)
        assignment = allocation.to_experiment()
        weights = dict(assignment.weights)
        config = next(e for e in store.experiments() if e.name == experiment).config
        names = {v["name"]: v["policy"] for v in config["variants"]}
        n_units = max(decisions // 10, 2)
        units = np.array([f"user{i}" for i in range(n_units)])
        variant_of = assignment.assign(units)
        now = datetime.now(UTC)
        items = np.array([f"item{i}" for i in range(N_ITEMS)])
        for start in range(0, decisions, BATCH):
            n = min(BATCH, decisions - start)
            who = rng.integers(0, n_units, n)
            slates = items[np.argsort(rng.random((n, N_ITEMS)), axis=1)[:, :K]]
            created = now - timedelta(seconds=60)
            rows = []
            for i in range(n):
                variant = str(variant_of[who[i]])
                rows.append(
                    trusted(
                        DecisionRow,
                        seq=None,
                        event_id=f"e{start + i:09d}",
                        experiment=experiment,
                        unit=str(units[who[i]]),
                        variant=variant,
                        period=allocation.period,
                        assignment_p=weights[variant],
                        policy=names[variant],
                        policy_version="1",
                        snapshot_version=0,
                        k=K,
                        items=tuple(slates[i].tolist()),
                        propensities=(1.0 / K,) * K,
                        scores=(),
                        propensity_draws=0,
                        candidates=tuple(slates[i].tolist()),
                        context=None,
                        session_id="",
                        step=0,
                        created_at=created,
                        window_closes_at=created + timedelta(hours=1),
                        client_request_id=None,
                    )
                )
            clicked = np.argwhere(rng.random((n, K)) < 0.034)  # ~10% of decisions get a click
            rewards = [
                RewardRow(event_id=rows[i].event_id, item=rows[i].items[j], kind="click", value=1.0, received_at=now)
                for i, j in clicked.tolist()
            ]
            rewards += [
                RewardRow(event_id=rows[i].event_id, item=rows[i].items[0], kind="purchase", value=1.0, received_at=now)
                for i in np.flatnonzero(rng.random(n) < 0.02).tolist()
            ]
            t = time.perf_counter()
            store.write(WriteBatch(decisions=rows))
            store.write(WriteBatch(rewards=rewards))
            written += time.perf_counter() - t
            t = time.perf_counter()
            store.fold_stats()
            folded += time.perf_counter() - t
    return {"fill_s": round(written, 1), "fold_s": round(folded, 1)}


def _timed(client: Any, path: str, n: int) -> tuple[list[float], Any]:
    seconds, last = [], None
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(path)
        seconds.append(time.perf_counter() - t)
        if r.status_code != 200:
            raise RuntimeError(f"GET {path}: {r.status_code} {r.text[:300]}")
        last = r
    return seconds, last


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        x, y = float(a), float(b)
        return (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def results_case(db: str, folder: Path, decisions: int, requests: int, note: Any) -> dict[str, Any]:
    import httpx
    import yaml
    from _server import start_server

    from abrec.abtest.scorecard import analyze_metrics
    from abrec.store import EventStore

    config = folder / "bench.yaml"
    config.write_text(yaml.safe_dump(serve.bench_config()), encoding="utf-8")
    with serve.database(db, folder) as url:
        if url is None:
            return {"bench": "serve", "case": "results", "db": db, "status": "unavailable"}
        server = start_server(config, url, env={"ABREC_LEARNER": "false"}, log_path=folder / f"ops-{db}.log")
        try:
            note(f"results on {db}: filling {decisions:,} decisions")
            cost = fill(url, "bench", decisions)
            note(f"results on {db}: timing {requests} requests")
            with httpx.Client(base_url=server.url, timeout=60.0) as client:
                _timed(client, "/v1/experiments/bench/results", 3)  # warm: imports, first connection
                seconds, last = _timed(client, "/v1/experiments/bench/results", requests)
                page, _ = _timed(client, "/experiments/bench?refresh=0", max(requests // 4, 20))
            p50, p99 = _percentiles(seconds)
            d50, d99 = _percentiles(page)
            body = last.json()
            note(f"results on {db}: one full-scan readout for comparison")
            t = time.perf_counter()
            with EventStore(url) as store:
                log = store.export_log("bench", reward_kind="click")
            scan = analyze_metrics(log, control="random", alpha=0.05).to_dict()
            full_scan = time.perf_counter() - t
            shown = int(sum(v["decisions"] for v in body["variants"]))
        finally:
            server.stop()
    return {
        "bench": "serve",
        "case": "results",
        "db": db,
        "decisions": shown,
        "requests": requests,
        "p50_ms": p50,
        "p99_ms": p99,
        "dashboard_p50_ms": d50,
        "dashboard_p99_ms": d99,
        "full_scan_s": round(full_scan, 1),
        "same_readout": _same(body["readout"], scan),
        "served": "real abrec serve process (1 worker, learner off), timed over HTTP by an httpx client",
        **cost,
    }


# ------------------------------------------------------------------------------------------ fuzz
def fuzz_case(folder: Path, requests: int, note: Any) -> dict[str, Any]:
    import httpx
    import yaml
    from _server import start_server
    from _service_config import config_mapping, experiment
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as seeded
    from prometheus_client.parser import text_string_to_metric_families

    from abrec.store import EventStore
    from abrec.store.admin import create_key

    try:
        import schemathesis
        from schemathesis.checks import response_schema_conformance
    except ImportError as error:
        return {"bench": "serve", "case": "fuzz", "db": "sqlite", "status": f"schemathesis missing: {error}"}

    url = f"sqlite:///{folder / 'fuzz.db'}"
    from abrec.store import upgrade

    upgrade(url)
    with EventStore(url) as store:
        token, _ = create_key(store, "fuzzer", "admin", actor="bench")
    config = folder / "fuzz.yaml"
    config.write_text(yaml.safe_dump(config_mapping(experiment())), encoding="utf-8")
    server = start_server(config, url, log_path=folder / "fuzz.log")
    counts = {"sent": 0, "errors_5xx": 0, "schema_mismatches": 0}
    examples: list[str] = []
    t0 = time.perf_counter()
    try:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        headers = {"Authorization": f"Bearer {token}"}
        per_round = max(1, min(200, math.ceil(requests / len(operations))))
        for round_ in range(1000):
            if counts["sent"] >= requests:
                break
            note(f"fuzz round {round_}: {counts['sent']:,} sent")
            for operation in operations:

                @given(case=operation.as_strategy())
                @seeded(round_)
                @settings(max_examples=per_round, deadline=None, suppress_health_check=list(HealthCheck), database=None)
                def one(case: Any) -> None:
                    counts["sent"] += 1
                    response = case.call(base_url=server.url, headers=headers, timeout=30)
                    if response.status_code >= 500:
                        counts["errors_5xx"] += 1
                        examples.append(f"{case.method} {case.formatted_path}: {response.status_code}")
                        return
                    try:
                        case.validate_response(response, checks=[response_schema_conformance])
                    except Exception as exc:  # a schemathesis failure: the answer is off its documented schema
                        counts["schema_mismatches"] += 1
                        if len(examples) < 5:
                            examples.append(f"{case.method} {case.formatted_path}: {str(exc).splitlines()[0][:200]}")

                one()
        text = httpx.get(f"{server.url}/metrics", timeout=30).text
        statuses: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "abrec_http_requests_total":
                    statuses[s.labels["status"]] = statuses.get(s.labels["status"], 0.0) + s.value
        alive = server.alive()
    finally:
        server.stop()
    return {
        "bench": "serve",
        "case": "fuzz",
        "db": "sqlite",
        "requests": counts["sent"],
        "errors_5xx": counts["errors_5xx"],
        "schema_mismatches": counts["schema_mismatches"],
        "server_answered": int(sum(statuses.values())),
        "server_5xx": int(sum(v for k, v in statuses.items() if k.startswith("5"))),
        "server_alive": alive,
        "seconds": round(time.perf_counter() - t0, 1),
        "mismatch_examples": examples[:5],
    }


# ------------------------------------------------------------------------------------------ the workload
def run_cases(
    *,
    cases: Sequence[str] = CASES,
    dbs: Sequence[str] = ("sqlite", "postgresql"),
    decisions: int = DECISIONS,
    fuzz_requests: int = FUZZ_REQUESTS,
    requests: int = TIMED_REQUESTS,
) -> Iterator[dict[str, Any]]:
    """The operations ``cases`` (see the module docstring)."""
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        raise ValueError(f"unknown serve_ops cases {unknown}; the cases are {', '.join(CASES)}")

    def note(line: str) -> None:
        print(f"[serve_ops] {line}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="abrec-bench-ops-") as tmp:
        folder = Path(tmp)
        if "results" in cases:
            for db in dbs:
                yield results_case(db, folder, decisions, requests, note)
        if "fuzz" in cases:
            yield fuzz_case(folder, fuzz_requests, note)


def run(options: Any) -> Iterator[dict[str, Any]]:
    """The operations cases of the ``serve`` workload for benchmarks/run.py (``--rounds`` caps the timed results
    requests)."""
    yield from run_cases(
        cases=serve._listed("ABREC_BENCH_OPS_CASES", CASES),
        dbs=serve._listed("ABREC_BENCH_SERVE_DBS", ("sqlite", "postgresql")),
        decisions=int(os.environ.get("ABREC_BENCH_OPS_DECISIONS") or DECISIONS),
        fuzz_requests=int(os.environ.get("ABREC_BENCH_OPS_FUZZ") or FUZZ_REQUESTS),
        requests=int(getattr(options, "rounds", 0) or TIMED_REQUESTS),
    )


if __name__ == "__main__":
    import json

    for line in run(None):
        print(json.dumps(line), flush=True)
