"""``abrec serve`` as a real process (uvicorn, two workers) on SQLite and PostgreSQL, driven by the sync client."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from _server import start_server
from _service_config import config_mapping, experiment

from abrec.client import Client
from abrec.store import EventStore

ENV = {"ABREC_POLL_INTERVAL": "0.05"}


def test_two_workers_serve_one_learner_learns_and_a_kill_loses_nothing(
    database_url: str, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    path = write_config(config_mapping(experiment(reward={"kind": "click", "window": 3600})))
    server = start_server(path, database_url, workers=2, env={**ENV, "ABREC_CACHE_DIR": str(tmp_path / "cache")})
    try:
        acknowledged = []
        with Client(server.url, timeout=10.0) as client:
            for i in range(40):
                d = client.decide("home", unit=f"user-{i}", candidates=["a", "b", "c"], k=2, context=[0.0, 1.0, 0.0])
                status = client.reward(d.event_id, d.items[0], value=1.0)
                assert status.status == "stored"
                acknowledged.append(d.event_id)
            with EventStore(database_url) as store:
                lock = store.learner_lock()
                assert not lock.acquire(blocking=False)  # one of the workers holds it
            deadline = time.monotonic() + 10
            learned: dict[str, int] = {}
            while time.monotonic() < deadline and not all(learned.get(v, 0) > 0 for v in ("ts", "lin")):
                for i in range(6):
                    d = client.decide("home", unit=f"user-{i}", candidates=["a", "b", "c"], context=[0.0, 1.0, 0.0])
                    learned[d.variant] = d.snapshot_version
                time.sleep(0.05)
            assert learned.get("ts", 0) > 0 and learned.get("lin", 0) > 0, (learned, server.log()[-2000:])
        server.kill()  # kill -9: no shutdown, no cleanup
        with EventStore(database_url) as store:
            found = store.decisions(acknowledged)
            assert set(found) == set(acknowledged)  # every acknowledged decision is in the database
            counts = store.counts("home")
            assert sum(c["rewards"] for c in counts.values()) == 40
            lock = store.learner_lock()
            assert lock.acquire(blocking=False)  # released with the killed process
            lock.release()
        server = server.restart()
        with Client(server.url) as client:
            results = client.results("home")
            assert sum(v["decisions"] for v in results["variants"]) >= 40
            assert sum(v["rewards"] for v in results["variants"]) == 40
    finally:
        server.stop()
