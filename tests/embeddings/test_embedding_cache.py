"""The on-disk embedding cache and the cached encoder: reuse, refusal of foreign files, two processes at once."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from abrec.embeddings import CachedEncoder, EmbeddingCache, FakeEncoder, text_key
from abrec.errors import CacheError, InputError

TEXTS = [f"item number {i}" for i in range(50)]


def test_second_pass_makes_no_model_calls(tmp_path: Path) -> None:
    path = tmp_path / "emb.sqlite"
    fake = FakeEncoder(dim=8, batch_size=16)
    first = CachedEncoder(fake, path)
    vectors = first.encode(TEXTS)
    assert (first.hits, first.misses, first.model_calls, first.texts_encoded) == (0, 50, 4, 50)
    np.testing.assert_array_equal(vectors, FakeEncoder(dim=8).encode(TEXTS))

    restarted = FakeEncoder(dim=8)
    second = CachedEncoder(restarted, path)  # a new process would see the same file
    np.testing.assert_array_equal(second.encode(TEXTS), vectors)
    assert (second.hits, second.misses, second.model_calls, restarted.calls) == (50, 0, 0, [])


def test_only_misses_are_encoded_once_in_order(tmp_path: Path) -> None:
    fake = FakeEncoder(dim=4, batch_size=2)
    cached = CachedEncoder(fake, tmp_path / "emb.sqlite")
    cached.encode(["b"])
    fake.reset()
    out = cached.encode(["a", "b", "c", "a", "d", "e"])
    assert fake.calls == [["a", "c"], ["d", "e"]]
    assert (cached.hits, cached.misses, cached.texts_encoded) == (1, 6, 5)
    np.testing.assert_array_equal(out[0], out[3])
    np.testing.assert_array_equal(out, FakeEncoder(dim=4).encode(["a", "b", "c", "a", "d", "e"]))


def test_progress_reports_encoded_misses(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    cached = CachedEncoder(FakeEncoder(dim=4), tmp_path / "emb.sqlite", progress=lambda d, t: seen.append((d, t)))
    cached.encode(TEXTS[:5], batch_size=2)
    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]
    seen.clear()
    cached.encode(TEXTS[:5])
    assert seen == []  # nothing to encode, no progress bar


def test_another_identity_or_dimension_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "emb.sqlite"
    CachedEncoder(FakeEncoder(dim=4, name="one"), path).encode(["x"])
    with pytest.raises(CacheError, match=r"holds embeddings of the encoder 'abrec-fake-v1\(name=one,dim=4\)'"):
        CachedEncoder(FakeEncoder(dim=4, name="two"), path)
    with pytest.raises(CacheError, match="dim 4"):
        EmbeddingCache(path, identity="abrec-fake-v1(name=one,dim=4)", dim=5)
    other = EmbeddingCache(tmp_path / "other.sqlite", identity="someone-else", dim=4)
    with pytest.raises(CacheError, match="belongs to the encoder 'someone-else'"):
        CachedEncoder(FakeEncoder(dim=4), other)


@pytest.mark.parametrize("content", [b"garbage bytes " * 100, b"SQLite format 3\x00" + b"\xff" * 200])
def test_corrupt_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "emb.sqlite"
    path.write_bytes(content)
    with pytest.raises(CacheError, match="not a readable abrec embedding cache"):
        EmbeddingCache(path, identity="x", dim=2)
    assert path.read_bytes() == content


def test_foreign_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(CacheError, match=r"not an abrec embedding cache \(tables: \['users'\]\)"):
        EmbeddingCache(path, identity="x", dim=2)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL


def test_other_format_version_and_corrupt_rows_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "emb.sqlite"
    EmbeddingCache(path, identity="x", dim=2).put(["a"], np.ones((1, 2), dtype=np.float32))
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO vectors VALUES (?, ?)", (text_key("b"), b"\x00" * 3))
    cache = EmbeddingCache(path, identity="x", dim=2)
    with pytest.raises(CacheError, match="is corrupt: a vector has 3 bytes, not 8"):
        cache.get(["b"])
    cache.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE abrec_meta SET value = '99' WHERE key = 'format_version'")
    with pytest.raises(CacheError, match=r"'embedding-cache' file of version 99; this abrec reads version 1: upgrade"):
        EmbeddingCache(path, identity="x", dim=2)


def test_header_rows_round_trip_and_refusals(tmp_path: Path) -> None:
    from abrec import __version__

    path = tmp_path / "emb.sqlite"
    EmbeddingCache(path, identity="x", dim=2).close()
    with sqlite3.connect(path) as conn:
        rows = dict(conn.execute("SELECT key, value FROM abrec_meta"))
    assert rows == {  # the rows written before the shared header, key for key: old caches open
        "format": '"abrec.embedding-cache"',
        "format_version": "1",
        "abrec_version": f'"{__version__}"',
        "identity": '"x"',
        "dim": "2",
        "dtype": '"float32-le"',
        "key": '"sha256(utf-8 text)"',
    }
    EmbeddingCache(path, identity="x", dim=2).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE abrec_meta SET value = '\"abrec.policy\"' WHERE key = 'format'")
    with pytest.raises(CacheError, match=r"holds an abrec 'policy' file, not an abrec 'embedding-cache' file"):
        EmbeddingCache(path, identity="x", dim=2)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE abrec_meta SET value = '{oops' WHERE key = 'format'")
    with pytest.raises(CacheError, match="has a corrupt abrec header"):
        EmbeddingCache(path, identity="x", dim=2)
    with sqlite3.connect(path) as conn:
        conn.execute("DELETE FROM abrec_meta")
    with pytest.raises(CacheError, match=r"is not an abrec 'embedding-cache' file \(no header\)"):
        EmbeddingCache(path, identity="x", dim=2)


def test_directory_and_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CacheError, match="is a directory"):
        EmbeddingCache(tmp_path, identity="x", dim=2)
    with pytest.raises(CacheError, match="non-empty encoder identity"):
        EmbeddingCache(tmp_path / "a.sqlite", identity="", dim=2)
    cache = EmbeddingCache(tmp_path / "a.sqlite", identity="x", dim=2)
    with pytest.raises(CacheError, match="Cannot store vectors of shape"):
        cache.put(["a"], np.full((1, 2), np.nan))
    with pytest.raises(InputError):
        CachedEncoder(FakeEncoder(dim=2), tmp_path / "b.sqlite").encode([1])  # type: ignore[list-item]


def test_cache_basics(tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path / "a.sqlite", identity="x", dim=2) as cache:
        cache.put(["a", "b"], np.array([[1, 0], [0, 1]], dtype=np.float32))
        cache.put(["a"], np.array([[5, 5]], dtype=np.float32))  # first writer wins
        assert len(cache) == 2 and "a" in cache and "c" not in cache and 3 not in cache
        vectors, found = cache.get(["b", "c", "a"])
        np.testing.assert_array_equal(vectors, [[0, 1], [0, 0], [1, 0]])
        np.testing.assert_array_equal(found, [True, False, True])
        assert sorted(cache.keys()) == sorted([text_key("a"), text_key("b")])
        assert cache.get([])[0].shape == (0, 2)


# ------------------------------------------------------------------ two real processes
def _worker(path: str, texts: list[str], barrier: multiprocessing.synchronize.Barrier, out: str) -> None:
    barrier.wait()  # both processes open the (possibly new) file at once
    encoder = CachedEncoder(FakeEncoder(dim=8, batch_size=7), path)
    first = encoder.encode(texts)
    again = encoder.encode(texts[::-1])  # reads while the other process may be writing
    np.save(out, np.stack([first, again[::-1]]))


def test_two_processes_write_and_read_at_once(tmp_path: Path) -> None:
    path = os.fspath(tmp_path / "shared.sqlite")
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    halves = [TEXTS[:35], TEXTS[15:]]  # overlapping: both may write texts 15-34
    outs = [os.fspath(tmp_path / f"out{i}.npy") for i in range(2)]
    procs = [
        ctx.Process(target=_worker, args=(path, texts, barrier, out)) for texts, out in zip(halves, outs, strict=True)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0, 0]
    reference = FakeEncoder(dim=8)
    for texts, out in zip(halves, outs, strict=True):
        got = np.load(out)
        np.testing.assert_array_equal(got[0], reference.encode(texts))
        np.testing.assert_array_equal(got[1], reference.encode(texts))
    final = CachedEncoder(FakeEncoder(dim=8), path)
    np.testing.assert_array_equal(final.encode(TEXTS), reference.encode(TEXTS))
    assert final.model_calls == 0 and len(final.cache) == len(TEXTS)
