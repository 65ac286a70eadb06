"""Item features in a live service: abrec's one pipeline (encoder -> cache -> PCA), fitted on the catalog at start.

:class:`ItemSpace` holds the feature row of every known item: the catalog's, encoded through the embedding
cache and reduced by a :class:`~abrec.embeddings.PCAReducer` fitted on the catalog (with the constant bias
column that :func:`abrec.experiments.simulation.world_item_features` adds), and any item first seen in a
decide with its text, encoded once (the cache keeps it for every process and restart) and reduced by the same
fitted reducer. Every worker process and the learner build the same rows from the same texts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..embeddings import CachedEncoder, PCAReducer, encoder_cache_path, item_features, make_encoder
from ..errors import InputError
from .config import Catalog

__all__ = ["ItemSpace", "UnknownItems"]

FloatArray = npt.NDArray[np.float64]


class UnknownItems(InputError):
    """Items whose features are needed but whose text was never given."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = list(ids)
        shown = ", ".join(repr(i) for i in self.ids[:5]) + (" ..." if len(self.ids) > 5 else "")
        super().__init__(
            f"Unknown items {shown}: they are neither in the catalog nor seen before; send each new item's text "
            "with it (candidates: [{id, text}])."
        )


class _Ids:
    """A catalog-like pair for :func:`~abrec.embeddings.item_features`."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        self._ids = np.asarray(list(ids), dtype=object)
        self._texts = list(texts)

    @property
    def ids(self) -> npt.NDArray[Any]:
        return self._ids

    def texts(self) -> list[str]:
        return self._texts


class ItemSpace:
    """The feature rows (``feature_dim + 1`` columns, the last a constant 1) of every known item.

    Parameters
    ----------
    encoder : encoder spec (:func:`~abrec.embeddings.make_encoder`).
    feature_dim : PCA dimension (at most the encoder's dimension and the catalog's size).
    catalog : the items known at start; their texts fit the PCA.
    cache_dir : folder of the embedding cache (one file per encoder), or None for no cache.
    notify : receives one line about the encoder and the timing.
    """

    def __init__(
        self,
        encoder: str,
        feature_dim: int,
        catalog: Catalog,
        *,
        cache_dir: str | Path | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        model = make_encoder(encoder, notify=notify)
        if len(catalog) == 0:
            raise InputError(
                "Policies that read item features need a catalog to fit the item features' PCA: add "
                "'catalog: {path: ...}' or 'catalog: {items: [...]}' to the config."
            )
        if feature_dim > model.dim or feature_dim > len(catalog):
            raise InputError(
                f"feature_dim {feature_dim} is larger than the encoder's dimension ({model.dim}) or the number of "
                f"catalog items ({len(catalog)}); choose feature_dim <= {min(model.dim, len(catalog))}."
            )
        self.identity = str(model.identity)
        self.feature_dim = feature_dim
        self._encoder = model if cache_dir is None else CachedEncoder(model, encoder_cache_path(cache_dir, model))
        self._reducer = PCAReducer(feature_dim)
        features = item_features(_Ids(catalog.ids, catalog.texts), self._encoder, reducer=self._reducer)
        self._lock = threading.Lock()
        self._rows: dict[str, int] = {}
        self._vectors = np.zeros((0, feature_dim + 1))
        self._append(list(catalog.ids), np.asarray(features.vectors, dtype=np.float64))

    @property
    def dim(self) -> int:
        """Columns of a feature row (``feature_dim + 1``)."""
        return self.feature_dim + 1

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, item: object) -> bool:
        return item in self._rows

    def _append(self, ids: list[str], reduced: FloatArray) -> None:
        rows = np.hstack([reduced, np.ones((reduced.shape[0], 1))])
        with self._lock:
            fresh = [i for i, item in enumerate(ids) if item not in self._rows]
            if not fresh:
                return
            start = len(self._rows)
            need = start + len(fresh)
            if need > self._vectors.shape[0]:
                grown = np.zeros((max(need, 2 * self._vectors.shape[0], 64), self.dim))
                grown[:start] = self._vectors[:start]
                self._vectors = grown
            self._vectors[start:need] = rows[fresh]
            for offset, i in enumerate(fresh):
                self._rows[ids[i]] = start + offset

    def add(self, texts: Mapping[str, str]) -> None:
        """Encode (through the cache) and reduce the texts of items not known yet."""
        new = {item: text for item, text in texts.items() if item not in self._rows}
        if not new:
            return
        ids = list(new)
        vectors = self._encoder.encode([new[i] for i in ids])
        self._append(ids, np.asarray(self._reducer.transform(vectors), dtype=np.float64))

    def missing(self, ids: Sequence[str]) -> list[str]:
        """The ids among ``ids`` that have no feature row."""
        rows = self._rows
        return [i for i in ids if i not in rows]

    def lookup(self, ids: npt.ArrayLike) -> FloatArray:
        """Feature rows of ``ids`` (any shape; the features on a new last axis); unknown ids raise UnknownItems."""
        query = np.asarray(ids, dtype=object)
        rows = self._rows
        try:
            index = np.fromiter((rows[i] for i in query.ravel().tolist()), dtype=np.int64, count=query.size)
        except KeyError:
            raise UnknownItems(self.missing(query.ravel().tolist())) from None
        out: FloatArray = self._vectors[index].reshape(*query.shape, self.dim)
        return out

    def user_vectors(self, histories: Sequence[Sequence[str]], *, half_life: float = 10.0) -> FloatArray:
        """``(n, feature_dim)`` user vectors from histories (oldest first), as :func:`~abrec.embeddings.user_contexts`.

        Built over the items' reduced features (the bias column left out); unknown items are ignored and an
        empty history gives the zero vector ("nothing known").
        """
        from ..embeddings import History, user_contexts

        rows = self._rows
        known = sorted({item for h in histories for item in h if item in rows})
        ids = np.asarray(known, dtype=str) if known else np.zeros(0, dtype=str)
        vectors = (
            self._vectors[[rows[i] for i in known], : self.feature_dim] if known else np.zeros((0, self.feature_dim))
        )
        out = user_contexts(
            [History(np.asarray(list(h), dtype=str)) for h in histories],
            (ids, vectors),
            half_life=half_life,
            unknown_items="ignore",
        )
        return np.asarray(out, dtype=np.float64)
