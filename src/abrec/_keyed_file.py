"""One SQLite file of ``key -> value`` rows under abrec's file header, shared by several processes.

The embedding cache (:class:`abrec.embeddings.EmbeddingCache`) and the response cache of generative models
(:class:`abrec.llm.ResponseCache`) are both such files: a table ``abrec_meta`` holds the
:class:`~abrec._header.FileHeader` (one row per key, each value JSON), written when the file is created and
checked every time it is opened, and one table holds the rows, keyed by a 32-byte hash. Several processes may use
one file at once: WAL mode (readers never block the writer), a busy timeout (writers wait their turn), and writes
of ``INSERT OR IGNORE`` (the first writer wins: a key always means the same value). A file that is not one of ours
(garbage bytes, another SQLite database), of another format version, or written for another model raises
:class:`~abrec.errors.CacheError`; nothing is ever reused silently.

Subclasses name the file's ``kind``/``version``, its ``table`` and the SQL of its columns, what it is called in
messages, build the header (:meth:`KeyedFile._header`) and check the fields read back (:meth:`KeyedFile._check`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from ._header import FileHeader
from .errors import CacheError

__all__: list[str] = []


def retry_while_locked(step: Callable[[], object], timeout: float) -> None:
    """Run ``step``, retrying while SQLite says the file is locked (for up to ``timeout`` seconds).

    SQLite's busy timeout covers ordinary reads and writes, but not every lock taken while two
    processes open a new file at once (switching it to WAL, a first transaction racing a
    checkpoint): those fail at once with "database is locked", so they are retried here.
    """
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            message = str(exc).lower()
            if ("locked" not in message and "busy" not in message) or time.monotonic() > deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.2)


class KeyedFile:
    """Open (creating it if missing) and check one keyed SQLite file; see the module docstring."""

    kind: ClassVar[str]
    version: ClassVar[int]
    table: ClassVar[str]
    columns: ClassVar[str]  # the SQL of the table's columns, e.g. "key BLOB PRIMARY KEY, vector BLOB NOT NULL"
    what: ClassVar[str]  # what the file is called in messages, e.g. "embedding cache"
    example: ClassVar[str]  # a file name for the messages, e.g. "embeddings.sqlite"

    def __init__(self, path: str | os.PathLike[str], *, timeout: float) -> None:
        self.path = os.fspath(path)
        self._lock = threading.Lock()
        if os.path.isdir(self.path):
            article = "an" if self.what[:1] in "aeiou" else "a"
            raise CacheError(f"{self.path} is a directory; {article} {self.what} is a file (e.g. {self.example}).")
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise CacheError(f"Cannot open the {self.what} {self.path}: {exc}.") from exc
        try:
            self._conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            # Refuse a foreign database before switching to WAL: never alter a file that is not ours.
            retry_while_locked(lambda: self._refuse_foreign(self._tables()), timeout)
            retry_while_locked(lambda: self._conn.execute("PRAGMA journal_mode = WAL"), timeout)
            self._conn.execute("PRAGMA synchronous = NORMAL")
            retry_while_locked(self._check_or_create, timeout)
        except sqlite3.OperationalError as exc:
            self._conn.close()
            raise CacheError(f"Could not open the {self.what} {self.path} ({exc}) within {timeout} s.") from exc
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise CacheError(
                f"{self.path} is not a readable abrec {self.what} ({exc}); delete it or pick another path."
            ) from exc
        except CacheError:
            self._conn.close()
            raise

    # ------------------------------------------------------------------ for subclasses
    def _header(self) -> FileHeader:
        """The header a new file gets."""
        raise NotImplementedError

    def _check(self, fields: Mapping[str, Any]) -> None:
        """Raise CacheError when the header ``fields`` read back belong to another model."""
        raise NotImplementedError

    # ------------------------------------------------------------------ schema
    def _tables(self) -> set[str]:
        return {row[0] for row in self._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _refuse_foreign(self, tables: set[str]) -> None:
        if tables and not {"abrec_meta", self.table} <= tables:
            raise CacheError(
                f"{self.path} is an SQLite database but not an abrec {self.what} (tables: {sorted(tables)}); "
                "pick another path."
            )

    def _check_or_create(self) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            tables = self._tables()
            if not tables:
                conn.execute("CREATE TABLE abrec_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
                conn.execute(f"CREATE TABLE {self.table} ({self.columns}) WITHOUT ROWID")
                conn.executemany(
                    "INSERT INTO abrec_meta VALUES (?, ?)",
                    [(k, json.dumps(v)) for k, v in self._header().as_dict().items()],
                )
                tables = {"abrec_meta", self.table}
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self._refuse_foreign(tables)
        try:
            rows = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM abrec_meta")}
        except (json.JSONDecodeError, TypeError) as exc:
            raise CacheError(f"{self.path} has a corrupt abrec header ({exc}); delete it.") from exc
        header = FileHeader.decode(rows or None, path=self.path, kind=self.kind, version=self.version, error=CacheError)
        self._check(header.fields)

    # ------------------------------------------------------------------ life cycle
    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute(f"SELECT COUNT(*) FROM {self.table}").fetchone()[0])

    def close(self) -> None:
        """Close the file (idempotent)."""
        with self._lock:
            self._conn.close()
