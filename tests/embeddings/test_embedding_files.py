"""Embeddings files (.npz and .parquet): lossless round trip under abrec's file header, refusals with one message."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from abrec import __version__
from abrec.embeddings import ItemFeatures, read_embeddings, write_embeddings
from abrec.errors import DataError

FEATURES = ItemFeatures(np.array(["a", "b", "c"]), np.arange(6, dtype=np.float32).reshape(3, 2) / 7)


def _header(path: Path) -> dict[str, object]:
    if path.suffix == ".npz":
        with np.load(path) as z:
            return dict(json.loads(str(z["header"])))
    return dict(json.loads(pq.read_schema(path).metadata[b"abrec"]))


def _rewrite(path: Path, header: str | None) -> Path:
    """The same file with ``header`` as its header text (None: no header)."""
    out = path.with_name(f"x{path.suffix}")
    if path.suffix == ".npz":
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files if k != "header"}
        np.savez(out, **arrays, **({} if header is None else {"header": np.array(header)}))
    else:
        table = pq.read_table(path)
        pq.write_table(table.replace_schema_metadata(None if header is None else {b"abrec": header.encode()}), out)
    return out


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_round_trip_is_lossless(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"e{suffix}"
    write_embeddings(path, FEATURES, "fake:2")
    ids, vectors, identity = read_embeddings(path)
    assert ids.tolist() == ["a", "b", "c"] and identity == "fake:2" and vectors.dtype == np.float32
    np.testing.assert_array_equal(vectors, FEATURES.vectors)
    assert _header(path) == {
        "format": "abrec.embeddings",
        "format_version": 1,
        "abrec_version": __version__,
        "identity": "fake:2",
        "dim": 2,
    }


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_files_of_the_previous_layout_load(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"e{suffix}"
    write_embeddings(path, FEATURES, "fake:2")
    old = {"kind": "embeddings", "format": "abrec.embeddings", "format_version": 1, "identity": "fake:2", "dim": 2}
    ids, vectors, identity = read_embeddings(_rewrite(path, json.dumps({**old, "abrec": "0.0.1"})))
    assert ids.tolist() == ["a", "b", "c"] and identity == "fake:2"
    np.testing.assert_array_equal(vectors, FEATURES.vectors)


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format_version": 2}, r"holds an abrec 'embeddings' file of version 2; this abrec reads version 1: upgrade"),
        ({"format": "abrec.policy"}, r"holds an abrec 'policy' file, not an abrec 'embeddings' file"),
        ({"format": "other.embeddings"}, r"is not an abrec 'embeddings' file \(format 'other\.embeddings'\)"),
        ({"dim": "two"}, r"is corrupt: its header holds dim='two'"),
        ({"dim": 3}, r"is corrupt: 3 ids but vectors of shape"),
    ],
)
def test_bad_headers_are_refused(tmp_path: Path, suffix: str, change: dict[str, object], message: str) -> None:
    path = tmp_path / f"e{suffix}"
    write_embeddings(path, FEATURES, "fake:2")
    with pytest.raises(DataError, match=message):
        read_embeddings(_rewrite(path, json.dumps({**_header(path), **change})))


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_corrupt_and_missing_headers_are_refused(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"e{suffix}"
    write_embeddings(path, FEATURES, "fake:2")
    with pytest.raises(DataError, match=r"x\.(npz|parquet) has a corrupt abrec header"):
        read_embeddings(_rewrite(path, '{"format": "abrec.embeddings", '))
    with pytest.raises(DataError, match=r"x\.(npz|parquet) is not an abrec 'embeddings' file \(no header\)"):
        read_embeddings(_rewrite(path, None))


def test_unreadable_files(tmp_path: Path) -> None:
    (tmp_path / "e.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="is not a readable abrec embeddings file"):
        read_embeddings(tmp_path / "e.npz")
    pq.write_table(pa.table({"x": [1]}), tmp_path / "e.parquet")
    with pytest.raises(DataError, match="is not a readable abrec embeddings file"):
        read_embeddings(tmp_path / "e.parquet")
