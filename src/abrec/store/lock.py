"""The store's process-level locks.

:class:`LearnerLock`: exactly one learner process works on a database at a time; a dead one's lock frees itself.

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held on a connection of its own; the
  server releases it when that connection closes, which the kernel does when the process dies (even by
  SIGKILL).
- SQLite: ``flock`` on the file ``<database>.learner.lock``, released by the kernel when the process dies.

:class:`WriteMutex` (SQLite): the writers of every abrec process queue for ``flock`` on ``<database>.write.lock``
before they open a write transaction. SQLite serialises writers itself, but a writer that finds the database
locked sleeps and retries (its busy handler backs off 1, 2, 5, 10, 15, 20, 25 ms...), so a request waiting behind
the learner process's write waited up to twice as long as that write. A writer queued on the ``flock`` is woken
by the kernel the moment the holder commits. (A writer that does not take it, such as the ``sqlite3`` shell, is
still serialised by SQLite, with its sleeps.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from .errors import StoreError

__all__ = ["LearnerLock", "WriteMutex"]


class LearnerLock:
    """The one-learner lock of an :class:`~abrec.store.EventStore` (get it with ``store.learner_lock()``).

    ``acquire(blocking=False)`` returns whether this process now holds it; ``release()`` lets it go. Also a
    context manager that acquires (blocking) and releases.
    """

    def __init__(self, engine: Engine, key: int) -> None:
        self._engine = engine
        self._key = key
        self._fd: int | None = None
        self._connection: sa.Connection | None = None
        self.path: Path | None = None
        if engine.dialect.name == "sqlite":
            database = engine.url.database
            assert database
            self.path = Path(database).resolve().with_name(Path(database).name + ".learner.lock")

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None or self._connection is not None

    def acquire(self, blocking: bool = False) -> bool:
        """Take the lock; without ``blocking``, return False at once when another process holds it."""
        if self.held:
            return True
        if self.path is not None:
            return self._acquire_file(blocking)
        return self._acquire_advisory(blocking)

    def _acquire_file(self, blocking: bool) -> bool:
        assert self.path is not None
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def _acquire_advisory(self, blocking: bool) -> bool:
        try:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except DBAPIError as exc:
            raise StoreError(f"Cannot connect to take the learner lock: {exc.orig}") from exc
        try:
            function = "pg_advisory_lock" if blocking else "pg_try_advisory_lock"
            got = connection.execute(sa.text(f"SELECT {function}(:key)"), {"key": self._key}).scalar()
        except BaseException:
            connection.close()
            raise
        if blocking or got:
            self._connection = connection
            return True
        connection.close()
        return False

    def alive(self) -> bool:
        """Whether the lock is still held (on PostgreSQL: whether its connection still answers)."""
        if self._fd is not None:
            return True
        if self._connection is None:
            return False
        try:
            self._connection.execute(sa.text("SELECT 1"))
        except DBAPIError:
            return False
        return True

    def release(self) -> None:
        """Let the lock go (a no-op when not held)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(DBAPIError):
                connection.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            connection.invalidate()  # never back to the pool: the session's lock state goes with it
            connection.close()

    def __enter__(self) -> LearnerLock:
        self.acquire(blocking=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class WriteMutex:
    """Serialise the write transactions of every thread and process on one SQLite database (module docstring).

    Parameters
    ----------
    path : the lock file (``<database>.write.lock``; created when missing, never removed).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._threads = threading.Lock()  # flock is per open file: the threads of one process queue here first
        self._fd: int | None = None
        self._pid = 0

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the database's write turn for the block."""
        with self._threads:
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _open(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked child opens its own (its own lock owner)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            self._pid = os.getpid()
        return self._fd

    def close(self) -> None:
        """Close the lock file (the next write opens it again)."""
        with self._threads:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None
