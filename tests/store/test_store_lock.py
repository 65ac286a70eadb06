"""The learner lock: one holder across processes; a holder killed with SIGKILL frees it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from abrec.store import EventStore

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
