"""``abrec serve`` runs the learner in a process of its own (abrec.service.learner_process), beside the workers.

Real servers: the learner is a child process (not a worker's thread), it learns the rewards the worker acknowledges,
a learner process killed with SIGKILL is started again and goes on from the journal, it never outlives a server
killed with SIGKILL, and ``ABREC_LEARNER_PROCESS=false`` puts it back in the worker.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml
from _server import Server, start_server
from _service_config import config_mapping

from abrec.store import EventStore, schema

MODULE = "abrec.service.learner_process"


def _learner_children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` and that run the learner process's module."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z" and MODULE in cmdline:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[0] != "Z"


def _until(check: Callable[[], object], seconds: float, what: str) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {seconds} s: {what}")


def _decide_and_reward(server: Server, n: int, tag: str) -> list[tuple[str, str]]:
    """``n`` decisions, each rewarded 1 on its first item; the acknowledged (event, item) pairs."""
    done = []
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        for i in range(n):
            body = {"experiment": "home", "unit": f"{tag}{i}", "candidates": list("abcdef"), "k": 2}
            d = client.post("/v1/decide", json=body).json()
            item = d["slate"][0]["item"]
            reward = {"event_id": d["event_id"], "item": item, "value": 1.0}
            assert client.post("/v1/rewards", json={"rewards": [reward]}).status_code == 200
            done.append((d["event_id"], item))
    return done


def _journaled(database_url: str, pairs: list[tuple[str, str]]) -> bool:
    with EventStore(database_url) as store, store.engine.connect() as connection:
        j = schema.journal
        learned = set(connection.execute(sa.select(j.c.event_id, j.c.item).where(j.c.source == "reward")).all())
    return set(pairs) <= learned


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[Server] = []

    def start(database_url: str, **env: str) -> Server:
        config = tmp_path / "service.yaml"
        config.write_text(yaml.safe_dump(config_mapping()))
        server = start_server(config, database_url, env=env, log_path=tmp_path / f"server{len(started)}.log")
        started.append(server)
        return server

    yield start
    for server in started:
        server.kill()


def test_the_learner_runs_in_its_own_process_and_learns_what_the_worker_acknowledges(
    serve: Callable[..., Server], database_url: str
) -> None:
    server = serve(database_url)
    children = _until(lambda: _learner_children(server.process.pid), 30, "a learner process")
    assert isinstance(children, list) and len(children) == 1
    ready = httpx.get(f"{server.url}/readyz", timeout=10).json()
    assert ready == {"status": "ok", "detail": "serving"}  # the worker holds no learner
    pairs = _decide_and_reward(server, 12, "a")
    _until(lambda: _journaled(database_url, pairs), 30, "every acknowledged reward journaled")

    def snapshot() -> bool:  # and learned: the Thompson variant gets a policy snapshot
        with EventStore(database_url) as store:
            return store.latest_versions().get(("home", "ts"), 0) >= 1

    _until(snapshot, 30, "a snapshot of the learning variant")


def test_a_killed_learner_process_is_started_again_and_goes_on_learning(
    serve: Callable[..., Server], sqlite_url: str
) -> None:
    server = serve(sqlite_url)
    first = _until(lambda: _learner_children(server.process.pid), 30, "a learner process")
    assert isinstance(first, list)
    os.kill(first[0], signal.SIGKILL)
    again = _until(
        lambda: [p for p in _learner_children(server.process.pid) if p != first[0]], 30, "a new learner process"
    )
    assert isinstance(again, list) and len(again) == 1
    assert "restarting it" in server.log()
    pairs = _decide_and_reward(server, 8, "b")
    _until(lambda: _journaled(sqlite_url, pairs), 30, "the new learner journals the rewards")


def test_the_learner_process_does_not_outlive_a_killed_server(serve: Callable[..., Server], sqlite_url: str) -> None:
    server = serve(sqlite_url)
    child = _until(lambda: _learner_children(server.process.pid), 30, "a learner process")
    assert isinstance(child, list)
    os.kill(server.process.pid, signal.SIGKILL)  # the server alone, not its process group
    server.process.wait(10)
    _until(lambda: not _alive(child[0]), 30, "the orphaned learner process exits")
    with EventStore(sqlite_url) as store:  # and it let the learner lock go
        lock = store.learner_lock()
        assert lock.acquire()
        lock.release()


def test_learner_process_off_puts_the_learner_in_the_worker(serve: Callable[..., Server], sqlite_url: str) -> None:
    server = serve(sqlite_url, ABREC_LEARNER_PROCESS="false")

    def detail() -> bool:
        return bool(httpx.get(f"{server.url}/readyz", timeout=10).json()["detail"] == "learner here")

    _until(detail, 30, "the worker takes the learner lock")
    assert _learner_children(server.process.pid) == []
    pairs = _decide_and_reward(server, 6, "c")
    _until(lambda: _journaled(sqlite_url, pairs), 30, "the worker's learner journals the rewards")


def test_a_sigterm_while_the_learner_process_starts_does_not_kill_it(tmp_path: Path, sqlite_url: str) -> None:
    """SIGTERM reaches every process of the group (a terminal, ``kill``): the learner process leaves it to its
    parent even in its first moments, while its interpreter still imports; it stops when its input closes."""
    from abrec.service.learner_process import LearnerProcess

    config = tmp_path / "service.yaml"
    config.write_text(yaml.safe_dump(config_mapping()))
    env = {**os.environ, "ABREC_CONFIG": str(config), "ABREC_DATABASE_URL": sqlite_url}
    learner = LearnerProcess(env, stop_timeout=60)
    learner.start()
    try:
        pid = learner.pid
        assert pid is not None
        os.kill(pid, signal.SIGTERM)  # at once: the child is still starting
        time.sleep(0.5)
        os.kill(pid, signal.SIGINT)
        _until(lambda: _holds_learner_lock(sqlite_url), 60, "the learner process takes the learner lock")
        assert learner.pid == pid and learner.starts == 1
    finally:
        code = learner.stop()
    assert code == 0
    assert learner.stop() == 0  # idempotent


def _holds_learner_lock(url: str) -> bool:
    with EventStore(url) as store:
        lock = store.learner_lock()
        if lock.acquire():
            lock.release()
            return False
        return True
