"""Graceful shutdown: SIGTERM during traffic finishes what is in flight, flushes the learner, closes the database.

A real ``abrec serve`` (one worker, the learner in it, polling only every 2 s so that rewards are pending when the
signal comes) gets decide + reward traffic from 8 threads; SIGTERM arrives in the middle of it. Then: the process
exits 0 within a bound, every acknowledged decision and reward is in the database, every acknowledged reward is
journaled (learned), and each learning variant's latest snapshot includes its last journal entry.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa
import yaml
from _server import start_server
from _service_config import config_mapping, experiment

from abrec.store import EventStore, schema

BOUND_S = 30.0  # uvicorn's graceful timeout (10 s) + the learner's drain (at most 10 s) + slack


def test_sigterm_during_traffic_keeps_every_acknowledged_request_and_snapshots_the_last_rewards(
    tmp_path: Path, database_url: str
) -> None:
    config = tmp_path / "service.yaml"
    config.write_text(yaml.safe_dump(config_mapping(experiment())))
    server = start_server(config, database_url, env={"ABREC_POLL_INTERVAL": "2.0"}, log_path=tmp_path / "server.log")
    decided: list[str] = []
    rewarded: list[tuple[str, str]] = []
    stop = threading.Event()

    def traffic(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30.0) as client:
            i = 0
            while not stop.is_set():
                i += 1
                body = {"experiment": "home", "unit": f"w{worker}-{i}", "candidates": list("abcdef"), "k": 2}
                try:
                    r = client.post("/v1/decide", json=body)
                    if r.status_code != 200:
                        return
                    d = r.json()
                    decided.append(d["event_id"])
                    item = d["slate"][0]["item"]
                    reward = {"event_id": d["event_id"], "item": item, "value": 1.0}
                    if client.post("/v1/rewards", json={"rewards": [reward]}).status_code == 200:
                        rewarded.append((d["event_id"], item))
                except httpx.HTTPError:  # the server stopped listening: not acknowledged
                    return

    threads = [threading.Thread(target=traffic, args=(w,)) for w in range(8)]
    try:
        for t in threads:
            t.start()
        time.sleep(3.0)
        acknowledged_before = len(rewarded)
        os.killpg(server.process.pid, signal.SIGTERM)
        sent_at = time.monotonic()
        code = server.process.wait(BOUND_S + 30)
        took = time.monotonic() - sent_at
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        server.stop()
    log = server.log()
    assert code == 0, log[-3000:]
    assert took < BOUND_S, (took, log[-3000:])
    assert acknowledged_before > 20 and len(decided) >= len(rewarded) > 0
    with EventStore(database_url) as store:
        assert len(store.decisions(decided)) == len(set(decided)) == len(decided)
        with store.engine.connect() as connection:
            r, j = schema.rewards, schema.journal
            stored = set(connection.execute(sa.select(r.c.event_id, r.c.item)).all())
            learned = {(e, i): v for e, i, v in connection.execute(sa.select(j.c.event_id, j.c.item, j.c.variant))}
            last_seq = dict(
                connection.execute(sa.select(j.c.variant, sa.func.max(j.c.seq)).group_by(j.c.variant)).all()
            )
        missing = [pair for pair in rewarded if pair not in stored]
        assert not missing, missing[:5]
        unlearned = [pair for pair in rewarded if pair not in learned]
        assert not unlearned, f"{len(unlearned)} acknowledged rewards not learned before the exit, e.g. {unlearned[:3]}"
        for variant in ("ts", "lin"):  # the learning variants: their final snapshot includes the last rewards
            snap = store.latest_snapshot("home", variant)
            assert snap is not None and snap.journal_seq >= last_seq[variant], (variant, snap, last_seq)
