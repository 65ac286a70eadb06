"""The ``serve`` benchmark's code path on a small budget (``make bench BENCH=serve`` runs it in full; its crash case
is the code of tests/service/test_crash.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from _shared import REPO, missing
from abrec.store import EventStore

sys.path.insert(0, str(REPO / "benchmarks"))

import serve

#: The issue's keys, then the CPU each side spent per request and the number of workers, in this order.
KEYS = tuple(
    "bench case db concurrency requests_per_s decisions_per_s p50_ms p99_ms p999_ms errors server_cpu_ms "
    "client_cpu_ms workers".split()
)


def test_every_case_runs_and_reports_the_issue_keys() -> None:
    lines = list(serve.run_cases(units=150, seconds=2.0, probes=3, kills=0, dbs=("sqlite",)))
    by_case = {line["case"]: line for line in lines if "offered_requests_per_s" not in line}
    half = [line for line in lines if "offered_requests_per_s" in line]
    assert set(by_case) == {"noop", "decide", "decide_reward", "decide_batch", "learn_latency"}
    for case, line in by_case.items():
        extra = ("probes", "seconds") if case == "learn_latency" else ()
        assert tuple(line) == KEYS + extra, line
        assert line["db"] == ("none" if case == "noop" else "sqlite")
        assert line["errors"] == 0, line
    assert by_case["noop"]["requests_per_s"] > 0
    for case in ("noop", "decide", "decide_reward", "decide_batch"):  # the load generator's CPU per request
        assert 0 < by_case[case]["client_cpu_ms"] < 1_000, by_case[case]
    assert by_case["decide"]["decisions_per_s"] == by_case["decide"]["requests_per_s"] > 0
    reward = by_case["decide_reward"]
    assert abs(reward["requests_per_s"] - 2 * reward["decisions_per_s"]) <= 1
    batch = by_case["decide_batch"]
    assert batch["decisions_per_s"] == pytest.approx(serve.BATCH * batch["requests_per_s"], rel=0.01)
    assert 0 < by_case["learn_latency"]["p50_ms"] <= by_case["learn_latency"]["p99_ms"] < 20_000
    assert len(half) == 1 and half[0]["offered_requests_per_s"] > 0 and half[0]["errors"] == 0


def test_the_postgresql_database_is_made_fresh_and_dropped(tmp_path: Path) -> None:
    import sqlalchemy as sa

    with serve.database("postgresql", tmp_path) as url:
        if url is None:
            missing(f"PostgreSQL at {serve.postgres_base()} is not reachable")
        schema = url.rpartition("search_path%3D")[2]
        with EventStore(url) as store:  # at the migration head, else EventStore refuses it
            assert store.experiments() == []
    engine = sa.create_engine(serve.postgres_base())
    with engine.connect() as connection:
        names = connection.execute(sa.text("SELECT schema_name FROM information_schema.schemata")).scalars().all()
    engine.dispose()
    assert schema.startswith("abrec_bench_") and schema not in names


def test_the_load_generators_bodies_are_uniform_random_decides() -> None:
    import json

    import numpy as np
    from scipy import stats

    bodies = serve._Bodies(np.random.default_rng(0), block=97)  # blocks that do not divide the take: refills
    many = [json.loads(bodies.decide()) for _ in range(3000)] + json.loads(bodies.batch(1000))["requests"]
    ids = {b["request_id"] for b in many}
    assert len(ids) == len(many) and all(len(i) == 32 and i[12] == "7" for i in ids)  # time-ordered, as the client
    index = np.array([[int(c.removeprefix("item")) for c in b["candidates"]] for b in many])
    assert index.shape == (4000, serve.N_CANDIDATES) and index.min() >= 0 and index.max() < 500
    assert all(len(set(row)) == serve.N_CANDIDATES for row in index.tolist())  # distinct candidates
    assert all(b["k"] == serve.K and len(b["context"]) == serve.CONTEXT_DIM for b in many)
    # Every item equally likely to be a candidate, and the order random: the first candidate's rank among the
    # request's 20 is uniform, as is the unit.
    assert stats.chisquare(np.bincount(index.ravel(), minlength=500)).pvalue > 1e-4
    assert stats.chisquare(np.bincount(np.argsort(np.argsort(index))[:, 0], minlength=20)).pvalue > 1e-4
    units = np.array([int(b["unit"].removeprefix("u")) for b in many])
    assert stats.chisquare(np.bincount(units // 1000, minlength=10)).pvalue > 1e-4
