"""An on-disk embedding cache: one SQLite file per encoder, addressed by the text's SHA-256.

A cache file belongs to one encoder: its :attr:`~abrec.embeddings.base.Encoder.identity` and
dimension are written into the file when it is created, in abrec's file header
(:class:`abrec._header.FileHeader` of kind 'embedding-cache', one row of the table ``abrec_meta`` per
key, each value JSON), and checked every time it is opened. A
vector is stored under ``sha256(text.encode("utf-8"))`` as ``dim`` little-endian float32 values,
so the full address of a vector is (encoder identity, text hash), and a catalog is encoded once:
later runs, restarts and other processes read it back.

Several processes may read and write one file at once: SQLite runs in WAL mode (readers never
block the writer) with a busy timeout (writers wait their turn), and every write is one
transaction of ``INSERT OR IGNORE`` (the same text always has the same vector, so the first
writer wins). A file that is not an abrec cache (garbage bytes, another SQLite database), a cache
of another format version, or one written by another encoder raises
:class:`~abrec.errors.CacheError`: cached vectors are never reused silently.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .._header import FileHeader
from .._keyed_file import KeyedFile
from ..errors import CacheError
from .base import Float32Array

__all__ = ["EmbeddingCache", "text_key"]

KIND = "embedding-cache"
FORMAT_VERSION = 1
_CHUNK = 500  # keys per SELECT ... IN (...), well under SQLite's variable limit
_DTYPE = np.dtype("<f4")


def text_key(text: str) -> bytes:
    """The 32-byte address of ``text``: ``sha256(text.encode("utf-8"))`` (lone surrogates passed through).

    Examples
    --------
    >>> text_key("abc").hex()[:16]
    'ba7816bf8f01cfea'
    """
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).digest()


class EmbeddingCache(KeyedFile):
    """The embedding cache of one encoder, in the SQLite file ``path`` (created if missing).

    Parameters
    ----------
    path : the cache file; one file per encoder identity.
    identity : the encoder's :attr:`~abrec.embeddings.base.Encoder.identity`.
    dim : the encoder's dimension.
    timeout : seconds a writer waits for another process's write to finish.

    Raises
    ------
    abrec.errors.CacheError
        The file is not an abrec embedding cache, is of another format version, or was written by
        another encoder (identity or dimension).

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> path = os.path.join(tempfile.mkdtemp(), "emb.sqlite")
    >>> with EmbeddingCache(path, identity="demo-v1", dim=2) as cache:
    ...     cache.put(["a"], np.array([[0.6, 0.8]], dtype=np.float32))
    ...     vectors, found = cache.get(["a", "b"])
    >>> vectors[0], found
    (array([0.6, 0.8], dtype=float32), array([ True, False]))
    >>> EmbeddingCache(path, identity="other-v1", dim=2)
    Traceback (most recent call last):
    ...
    abrec.errors.CacheError: ... holds embeddings of the encoder 'demo-v1' (dim 2), not of 'other-v1' (dim 2)...
    """

    kind = KIND
    version = FORMAT_VERSION
    table = "vectors"
    columns = "key BLOB PRIMARY KEY, vector BLOB NOT NULL"
    what = "embedding cache"
    example = "embeddings.sqlite"

    def __init__(self, path: str | os.PathLike[str], *, identity: str, dim: int, timeout: float = 60.0) -> None:
        if not isinstance(identity, str) or not identity:
            raise CacheError(f"An embedding cache needs a non-empty encoder identity. Got {identity!r}.")
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise CacheError(f"An embedding cache needs a dimension >= 1. Got {dim!r}.")
        self.identity = identity
        self.dim = dim
        super().__init__(path, timeout=timeout)

    # ------------------------------------------------------------------ schema
    def _header(self) -> FileHeader:
        fields = {"identity": self.identity, "dim": self.dim, "dtype": "float32-le", "key": "sha256(utf-8 text)"}
        return FileHeader(KIND, FORMAT_VERSION, fields)

    def _check(self, fields: Mapping[str, Any]) -> None:
        if (fields.get("identity"), fields.get("dim")) != (self.identity, self.dim):
            raise CacheError(
                f"{self.path} holds embeddings of the encoder {fields.get('identity')!r} (dim {fields.get('dim')}), "
                f"not of {self.identity!r} (dim {self.dim}). A cache is never reused for another encoder: "
                "use one cache file per encoder, or delete this one."
            )

    # ------------------------------------------------------------------ reading and writing
    def _run(self, what: str, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            with self._lock:
                return self._conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise CacheError(f"Could not {what} the embedding cache {self.path}: {exc}.") from exc

    def get_keys(self, keys: Sequence[bytes]) -> tuple[Float32Array, npt.NDArray[np.bool_]]:
        """Vectors stored under ``keys`` (see :func:`text_key`): ``(len(keys), dim)`` and a found mask.

        Rows that were not found are zero.
        """
        out = np.zeros((len(keys), self.dim), dtype=np.float32)
        found = np.zeros(len(keys), dtype=bool)
        if not keys:
            return out, found
        where: dict[bytes, list[int]] = {}
        for i, key in enumerate(keys):
            where.setdefault(bytes(key), []).append(i)
        unique = list(where)
        width = self.dim * _DTYPE.itemsize
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start : start + _CHUNK]
            sql = f"SELECT key, vector FROM vectors WHERE key IN ({', '.join('?' * len(chunk))})"
            for key, blob in self._run("read", sql, chunk):
                if not isinstance(blob, bytes) or len(blob) != width:
                    raise CacheError(
                        f"{self.path} is corrupt: a vector has {len(blob) if isinstance(blob, bytes) else blob!r} "
                        f"bytes, not {width}. Delete the file to rebuild it."
                    )
                rows = where[bytes(key)]
                out[rows] = np.frombuffer(blob, dtype=_DTYPE)
                found[rows] = True
        return out, found

    def get(self, texts: Sequence[str]) -> tuple[Float32Array, npt.NDArray[np.bool_]]:
        """Cached vectors of ``texts``: ``(len(texts), dim)`` float32 (zero rows where missing) and a found mask."""
        return self.get_keys([text_key(text) for text in texts])

    def put_keys(self, keys: Sequence[bytes], vectors: npt.ArrayLike) -> None:
        """Store ``vectors`` (``(len(keys), dim)``) under ``keys``, in one transaction; existing keys are kept."""
        x = np.asarray(vectors)
        if x.shape != (len(keys), self.dim) or not np.isfinite(x).all():
            raise CacheError(
                f"Cannot store vectors of shape {x.shape} (finite: {bool(np.isfinite(x).all())}) for {len(keys)} "
                f"texts in a cache of dimension {self.dim}."
            )
        rows = [(bytes(key), row.tobytes()) for key, row in zip(keys, x.astype(_DTYPE), strict=True)]
        try:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany("INSERT OR IGNORE INTO vectors VALUES (?, ?)", rows)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
        except sqlite3.DatabaseError as exc:
            raise CacheError(f"Could not write to the embedding cache {self.path}: {exc}.") from exc

    def put(self, texts: Sequence[str], vectors: npt.ArrayLike) -> None:
        """Store ``vectors`` of ``texts`` (one row each)."""
        self.put_keys([text_key(text) for text in texts], vectors)

    def __len__(self) -> int:
        return int(self._run("count", "SELECT COUNT(*) FROM vectors")[0][0])

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str):
            return False
        return bool(self._run("read", "SELECT 1 FROM vectors WHERE key = ?", [text_key(text)]))

    def keys(self) -> Iterator[bytes]:
        """Every stored key (in key order)."""
        return iter([row[0] for row in self._run("read", "SELECT key FROM vectors ORDER BY key")])

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmbeddingCache({self.path!r}, identity={self.identity!r}, dim={self.dim})"
