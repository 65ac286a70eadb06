"""Item features for policies: a catalog's texts, encoded (through the cache), optionally reduced.

:func:`item_features` works on any catalog-like object (:class:`CatalogLike`: ``.ids`` and
``.texts()``; ``abrec.data.Catalog`` is one) and returns :class:`ItemFeatures`, a named
``(ids, vectors)`` pair. :meth:`ItemFeatures.lookup` gives the rows of any candidate ids, which is
the ``item_features=(m, p)`` argument of ``Policy.decide``.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..errors import InputError
from .base import Encoder
from .cache import EmbeddingCache
from .cached import CachedEncoder, Progress
from .reduce import PCAReducer

__all__ = ["CatalogLike", "ItemFeatures", "item_features"]


@runtime_checkable
class CatalogLike(Protocol):
    """What :func:`item_features` needs of a catalog: item ids and one text per item, in the same order."""

    @property
    def ids(self) -> npt.NDArray[Any]: ...

    def texts(self) -> list[str]: ...


class ItemFeatures(NamedTuple):
    """Item ids ``(m,)`` and their feature rows ``(m, p)`` (float32), in the same order.

    Examples
    --------
    >>> import numpy as np
    >>> feats = ItemFeatures(np.array([10, 20, 30]), np.eye(3, dtype=np.float32))
    >>> ids, vectors = feats  # a plain pair, too
    >>> feats.lookup([30, 10])
    array([[0., 0., 1.],
           [1., 0., 0.]], dtype=float32)
    """

    ids: npt.NDArray[Any]
    vectors: npt.NDArray[np.float32]

    def rows(self, ids: npt.ArrayLike) -> npt.NDArray[np.int64]:
        """Row of each of ``ids`` in :attr:`vectors`, ``-1`` where an id is unknown."""
        return _rows(np.asarray(self.ids), np.asarray(ids))

    def lookup(self, ids: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Feature rows of ``ids`` (any shape; features on a new last axis); unknown ids raise InputError."""
        query = np.asarray(ids)
        rows = self.rows(query)
        if (rows < 0).any():
            missing = query[rows < 0][:5].tolist()
            raise InputError(f"item ids {missing} are not in the item features; encode them first.")
        out: npt.NDArray[np.float32] = self.vectors[rows]
        return out


def _rows(known: npt.NDArray[Any], query: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    rows = np.full(query.shape, -1, dtype=np.int64)
    if known.size == 0 or query.size == 0:
        return rows
    if (known.dtype.kind in "iuf") != (query.dtype.kind in "iuf"):
        return rows  # numbers never equal strings
    order = np.argsort(known, kind="stable")
    ordered = known[order]
    try:
        pos = np.searchsorted(ordered, query)
    except TypeError:  # incomparable object ids
        return rows
    inside = pos < ordered.shape[0]
    hit = np.zeros(query.shape, dtype=bool)
    hit[inside] = ordered[pos[inside]] == query[inside]
    rows[hit] = order[pos[hit]]
    return rows


def item_features(
    catalog: CatalogLike,
    encoder: Encoder,
    *,
    cache: EmbeddingCache | str | os.PathLike[str] | None = None,
    reducer: PCAReducer | None = None,
    batch_size: int | None = None,
    progress: Progress | None = None,
) -> ItemFeatures:
    """Encode a catalog's texts into item features ``(ids, float32 (m, p))``.

    Parameters
    ----------
    catalog : any object with ``.ids`` (``(m,)`` array, unique) and ``.texts()`` (``m`` str).
    encoder : the text encoder.
    cache : an embedding cache (or its path, e.g. :func:`encoder_cache_path`) of ``encoder``; only texts it
        lacks are encoded. (Or pass a :class:`CachedEncoder` as ``encoder``.)
    reducer : a :class:`PCAReducer`; an unfitted one is fitted on this catalog first (in place).
        Without it, ``p`` is the encoder's dimension.
    batch_size : texts per model call.
    progress : ``progress(done, total)`` callback over the texts to encode (with a cache: the misses).

    Returns
    -------
    ItemFeatures
        ``(ids, vectors)``: the catalog's ids and one float32 row per item.

    Examples
    --------
    >>> import numpy as np
    >>> from abrec.embeddings import HashingEncoder
    >>> class Shelf:
    ...     ids = np.array([1, 2, 3])
    ...     def texts(self):
    ...         return ["red shoe", "blue shoe", "green hat"]
    >>> ids, x = item_features(Shelf(), HashingEncoder(dim=16), reducer=PCAReducer(2))
    >>> ids.tolist(), x.shape
    ([1, 2, 3], (3, 2))
    """
    ids = np.asarray(catalog.ids)
    texts = catalog.texts()
    if ids.ndim != 1 or len(texts) != ids.shape[0]:
        raise InputError(f"catalog has {ids.shape} ids but {len(texts)} texts; expected one text per id.")
    if np.unique(ids).shape[0] != ids.shape[0]:
        raise InputError("catalog ids must be unique.")
    if cache is not None:
        vectors = CachedEncoder(encoder, cache).encode(texts, batch_size=batch_size, progress=progress)
    elif isinstance(encoder, CachedEncoder):  # progress over the texts the cache lacks
        vectors = encoder.encode(texts, batch_size=batch_size, progress=progress)
    else:
        vectors = _encode_with_progress(encoder, texts, batch_size, progress)
    if reducer is not None:
        if not reducer.fitted:
            reducer.fit(vectors)
        vectors = reducer.transform(vectors)
    return ItemFeatures(ids, vectors)


def _encode_with_progress(
    encoder: Encoder, texts: list[str], batch_size: int | None, progress: Progress | None
) -> npt.NDArray[np.float32]:
    if progress is None:
        return encoder.encode(texts, batch_size=batch_size)
    size = batch_size or encoder.batch_size
    parts = [np.zeros((0, encoder.dim), dtype=np.float32)]
    progress(0, len(texts))
    for start in range(0, len(texts), size):
        parts.append(encoder.encode(texts[start : start + size], batch_size=size))
        progress(min(start + size, len(texts)), len(texts))
    return np.concatenate(parts)
