"""Embeddings files: item ids and their vectors, with the encoder's identity, in ``.npz`` or ``.parquet``.

``.npz`` holds ``ids``, ``vectors`` (float32) and a JSON header (format name and version, encoder
identity, dimension); it is read with ``allow_pickle=False``. ``.parquet`` holds an ``item_id`` column
and one list column ``embedding``, with the same header in the file's metadata.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .features import ItemFeatures

__all__ = ["read_embeddings", "write_embeddings"]

FORMAT = "abrec.embeddings"
FORMAT_VERSION = 1


def _header(identity: str, dim: int) -> dict[str, Any]:
    from .. import __version__

    return {
        "kind": "embeddings",
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "identity": identity,
        "dim": dim,
        "abrec": __version__,
    }


def write_embeddings(path: str | os.PathLike[str], features: ItemFeatures, identity: str) -> None:
    """Write ``features`` (ids and float32 vectors) to ``path`` (``.npz`` or ``.parquet``), atomically.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "items.npz"
    >>> write_embeddings(path, ItemFeatures(np.array(["a", "b"]), np.eye(2, dtype=np.float32)), "fake:2")
    >>> ids, vectors, identity = read_embeddings(path)
    >>> ids.tolist(), vectors.dtype.name, identity
    (['a', 'b'], 'float32', 'fake:2')
    """
    path = Path(path)
    ids = np.asarray(features.ids)
    vectors = np.ascontiguousarray(features.vectors, dtype=np.float32)
    if ids.ndim != 1 or vectors.ndim != 2 or vectors.shape[0] != ids.shape[0]:
        raise DataError(f"{path}: need ids (m,) and vectors (m, p); got {ids.shape} and {vectors.shape}.")
    if ids.dtype.kind not in "iuU":
        ids = ids.astype(str)
    header = json.dumps(_header(identity, int(vectors.shape[1])))
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        embedding = pa.FixedSizeListArray.from_arrays(vectors.ravel(), vectors.shape[1])
        table = pa.table({"item_id": pa.array(ids.tolist()), "embedding": embedding})
        table = table.replace_schema_metadata({b"abrec": header.encode()})
        pq.write_table(table, tmp)
    elif path.suffix == ".npz":
        with open(tmp, "wb") as fh:
            np.savez(fh, ids=ids, vectors=vectors, header=np.array(header))
    else:
        raise DataError(f"{path}: embeddings files end in .npz or .parquet.")
    os.replace(tmp, path)


def read_embeddings(
    path: str | os.PathLike[str],
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, np.dtype[np.float32]], str]:
    """Read ``(ids, vectors, encoder identity)`` from a file written by :func:`write_embeddings`."""
    path = Path(path)
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            meta = (table.schema.metadata or {}).get(b"abrec")
            header = json.loads(meta) if meta else {}
            ids = np.asarray(table.column("item_id").to_pylist())
            dim = int(header.get("dim", 0))
            flat = table.column("embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False)
            vectors = np.asarray(flat, dtype=np.float32).reshape(len(ids), dim)
        else:
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
                header = json.loads(str(z["header"]))
                ids, vectors = z["ids"], z["vectors"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not a readable abrec embeddings file ({exc}).") from exc
    if header.get("format") != FORMAT or header.get("format_version") != FORMAT_VERSION:
        raise DataError(f"{path} is not an abrec embeddings file of version {FORMAT_VERSION} (header {header}).")
    if vectors.shape != (ids.shape[0], header["dim"]):
        raise DataError(f"{path} is corrupt: {ids.shape[0]} ids but vectors of shape {vectors.shape}.")
    return ids, vectors.astype(np.float32, copy=False), str(header["identity"])
