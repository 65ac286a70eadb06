"""Embeddings files: item ids and their vectors, with the encoder's identity, in ``.npz`` or ``.parquet``.

``.npz`` holds ``ids``, ``vectors`` (float32) and ``header``, abrec's file header
(:class:`abrec._header.FileHeader` of kind 'embeddings', with the encoder identity and the
dimension); it is read with ``allow_pickle=False``. ``.parquet`` holds an ``item_id`` column and one
list column ``embedding``, with the same header in the file's metadata (key ``abrec``).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .._header import FileHeader
from ..errors import DataError
from .features import ItemFeatures

__all__ = ["read_embeddings", "write_embeddings"]

KIND = "embeddings"
FORMAT_VERSION = 1


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
    header = FileHeader(KIND, FORMAT_VERSION, {"identity": identity, "dim": int(vectors.shape[1])}).encode()
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
            raw: Any = (table.schema.metadata or {}).get(b"abrec")
            ids = np.asarray(table.column("item_id").to_pylist())
            flat = table.column("embedding").combine_chunks().flatten().to_numpy(zero_copy_only=False)
            vectors = np.asarray(flat, dtype=np.float32)
        else:
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
                raw = str(z["header"]) if "header" in z.files else None
                ids, vectors = z["ids"], z["vectors"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path} is not a readable abrec embeddings file ({exc}).") from exc
    fields = FileHeader.decode(raw, path=path, kind=KIND, version=FORMAT_VERSION, error=DataError).fields
    dim, identity = fields.get("dim"), fields.get("identity")
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1 or not isinstance(identity, str):
        raise DataError(f"{path} is corrupt: its header holds dim={dim!r}, identity={identity!r}.")
    if path.suffix == ".parquet" and vectors.size == ids.shape[0] * dim:  # the list column, flattened
        vectors = vectors.reshape(ids.shape[0], dim)
    if vectors.shape != (ids.shape[0], dim):
        raise DataError(f"{path} is corrupt: {ids.shape[0]} ids but vectors of shape {vectors.shape} (dim {dim}).")
    return ids, vectors.astype(np.float32, copy=False), identity
