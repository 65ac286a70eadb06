"""The learner lock: one holder across processes; a holder killed with SIGKILL frees it. The SQLite write mutex:
every abrec writer, of any process or thread, queues for the database's write turn."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from abrec.store import EventStore, schema
from abrec.store.lock import WriteMutex
from abrec.store.records import WriteBatch

HOLDER = """
import sys, time
from abrec.store import EventStore
store = EventStore(sys.argv[1])
lock = store.learner_lock()
print("held" if lock.acquire() else "busy", flush=True)
time.sleep(120)
"""


def _start_holder(url: str) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


def _acquire_within(store: EventStore, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lock = store.learner_lock()
        if lock.acquire():
            lock.release()
            return True
        time.sleep(0.05)
    return False


def test_a_held_lock_refuses_others_until_its_process_is_killed(store: EventStore) -> None:
    holder = _start_holder(store.url)
    try:
        other = store.learner_lock()
        assert not other.acquire() and not other.held
        time.sleep(0.2)
        assert not other.acquire()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        assert _acquire_within(store, 10)
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()


def test_acquire_release_in_one_process(store: EventStore) -> None:
    first, second = store.learner_lock(), store.learner_lock()
    assert first.acquire() and first.held and first.alive()
    assert first.acquire()  # re-entrant for its holder
    assert not second.acquire()  # another holder object, even in this process
    first.release()
    assert not first.held and not first.alive()
    assert second.acquire()
    second.release()
    second.release()  # a no-op
    with store.learner_lock() as lock:
        assert lock.held
        holder = subprocess.run(
            [sys.executable, "-c", HOLDER.replace("time.sleep(120)", ""), store.url], capture_output=True, text=True
        )
        assert holder.stdout.strip() == "busy"
    assert not lock.held


def test_the_sqlite_lock_file_sits_next_to_the_database(database_url: str, backend: str) -> None:
    with EventStore(database_url) as store:
        lock = store.learner_lock()
        if backend == "sqlite":
            assert lock.path is not None and lock.path.name == "abrec.db.learner.lock"
            assert lock.acquire()
            assert lock.path.read_text().strip() == str(os.getpid())
            lock.release()
        else:
            assert lock.path is None


# ------------------------------------------------------------------------------------------ the write mutex
FLOCK_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
sys.stdin.readline()
"""


def test_sqlite_writers_of_every_process_queue_on_the_write_lock_file(
    database_url: str, backend: str, tmp_path: Path
) -> None:
    """While another process holds ``<database>.write.lock``, a write waits (on the lock, not in SQLite: the
    database itself is free); it goes through the moment the holder lets go. PostgreSQL needs no file."""
    with EventStore(database_url) as store:
        mutex = store._write_mutex
        if backend != "sqlite":
            assert mutex is None
            return
        assert mutex is not None and mutex.path.name == "abrec.db.write.lock"
        holder = subprocess.Popen(
            [sys.executable, "-c", FLOCK_HOLDER, str(mutex.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None and holder.stdin is not None
        try:
            assert holder.stdout.readline().strip() == "held"
            done = threading.Event()
            writer = threading.Thread(
                target=lambda: (store.write(WriteBatch(items=[("x1", "a new item")])), done.set())
            )
            writer.start()
            assert not done.wait(0.5)  # queued behind the other process's turn
            with store.engine.connect() as connection:  # SQLite itself is not locked: a reader sees nothing yet
                assert connection.execute(sa.select(schema.items.c.item_id)).all() == []
            released = time.monotonic()
            holder.stdin.write("go\n")
            holder.stdin.flush()
            assert done.wait(10)
            assert time.monotonic() - released < 5.0
            writer.join(10)
        finally:
            holder.kill()
            holder.wait()
            holder.stdout.close()
            holder.stdin.close()
        with store.engine.connect() as connection:
            assert [r[0] for r in connection.execute(sa.select(schema.items.c.item_id))] == ["x1"]


def test_the_write_mutex_serialises_the_threads_of_one_process(tmp_path: Path) -> None:
    """flock is per open file: the threads of one process must queue on the in-process lock as well."""
    mutex = WriteMutex(tmp_path / "db.write.lock")
    inside = [0]
    most = [0]

    def work() -> None:
        for _ in range(50):
            with mutex.held():
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                time.sleep(0.0005)
                inside[0] -= 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert most[0] == 1
    mutex.close()
    with mutex.held():  # opens the file again after close
        pass
    mutex.close()
