"""Admin changes on a real ``abrec serve`` with two workers: every worker applies them, and a restart keeps them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from _server import Server, start_server
from _service_config import config_mapping, experiment

from abrec.store import EventStore, upgrade
from abrec.store.admin import create_key

CANDIDATES = ["a", "b", "c", "d"]


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    url = f"sqlite:///{tmp_path / 'abrec.db'}"
    upgrade(url)
    with EventStore(url) as store:
        token, _ = create_key(store, "ops", "admin", actor="test")
    config = tmp_path / "service.yaml"
    config.write_text(yaml.safe_dump(config_mapping(experiment())))
    running = start_server(config, url, workers=2, env={"ABREC_ALLOCATION_POLL": "0.2"})
    try:
        yield running, token
    finally:
        running.stop()


def _policies(base: str, n: int, prefix: str) -> list[dict[str, Any]]:
    out = []
    with httpx.Client(base_url=base, timeout=10.0) as http:  # a new connection per request: both workers answer
        for i in range(n):
            r = http.post(
                "/v1/decide",
                json={"experiment": "home", "unit": f"{prefix}{i}", "candidates": CANDIDATES},
                headers={"Connection": "close"},
            )
            assert r.status_code == 200, r.text
            out.append(r.json())
    return out


def test_a_pause_reaches_every_worker_and_survives_a_restart(two_workers: tuple[Server, str]) -> None:
    running, token = two_workers
    admin = {"Authorization": f"Bearer {token}"}
    assert {d["policy"] for d in _policies(running.url, 40, "a")} == {"uniform", "bernoulli_ts", "linucb"}
    r = httpx.post(f"{running.url}/v1/admin/experiments/home/pause", json={"serve": "ts"}, headers=admin)
    assert r.status_code == 200, r.text
    time.sleep(1.0)  # allocation_poll 0.2 s: every worker has seen it
    assert {d["policy"] for d in _policies(running.url, 40, "b")} == {"bernoulli_ts"}
    running = running.restart()
    try:
        assert {d["policy"] for d in _policies(running.url, 40, "c")} == {"bernoulli_ts"}
        r = httpx.post(f"{running.url}/v1/admin/experiments/home/resume", headers=admin)
        assert r.status_code == 200, r.text
        time.sleep(1.0)
        assert {d["policy"] for d in _policies(running.url, 40, "d")} == {"uniform", "bernoulli_ts", "linucb"}
        text = httpx.get(f"{running.url}/experiments/home").text
        assert text.index(">resume<") < text.index(">pause<")  # the audit trail, newest first
    finally:
        running.stop()
