"""An encoder that goes through the embedding cache: only texts the cache lacks reach the model.

:class:`CachedEncoder` looks every text up in an :class:`~abrec.embeddings.cache.EmbeddingCache`,
encodes the misses (each distinct text once, in the order given, in batches), stores them, and
returns the same float32 vectors the wrapped encoder would (a float32 round trip is exact).
Counters let a test prove that a second run does no model calls; a progress callback lets a CLI
draw a progress bar.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import CacheError
from .base import Encoder, Float32Array, check_batch_size, check_texts
from .cache import EmbeddingCache, text_key

__all__ = ["CachedEncoder", "Progress", "encoder_cache_path"]

#: ``progress(done, total)``: ``done`` of the ``total`` texts missing from the cache are encoded.
Progress = Callable[[int, int], None]


def encoder_cache_path(directory: str | os.PathLike[str], encoder: Encoder) -> Path:
    """The cache file of ``encoder`` in ``directory`` (created): one SQLite file per encoder identity.

    Examples
    --------
    >>> import tempfile
    >>> from abrec.embeddings import HashingEncoder
    >>> encoder_cache_path(tempfile.mkdtemp(), HashingEncoder(dim=8)).suffix
    '.sqlite'
    """
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{hashlib.sha256(encoder.identity.encode()).hexdigest()[:16]}.sqlite"


class CachedEncoder(Encoder):
    """``encoder`` behind an embedding cache; same identity, dimension and vectors as ``encoder``.

    Parameters
    ----------
    encoder : the encoder whose vectors are cached.
    cache : an :class:`EmbeddingCache` of this encoder, or the path of its cache file (opened or
        created with the encoder's identity and dimension).
    progress : optional ``progress(done, total)`` called before the first and after every model
        batch of an :meth:`encode` call that has misses (``total`` = distinct texts to encode).

    Attributes
    ----------
    hits, misses : texts (positions of the input, over every call) found / not found in the cache.
    model_calls : batches sent to the wrapped encoder.
    texts_encoded : distinct texts sent to the wrapped encoder (a text repeated in one call counts once).

    Raises
    ------
    abrec.errors.CacheError
        ``cache`` belongs to another encoder, or its file is not an abrec cache.

    Examples
    --------
    >>> import os, tempfile
    >>> from abrec.embeddings import FakeEncoder
    >>> path = os.path.join(tempfile.mkdtemp(), "emb.sqlite")
    >>> first = CachedEncoder(FakeEncoder(dim=4), path)
    >>> _ = first.encode(["a", "b", "a"])
    >>> first.hits, first.misses, first.model_calls, first.texts_encoded
    (0, 3, 1, 2)
    >>> again = CachedEncoder(FakeEncoder(dim=4), path)  # a restart
    >>> bool((again.encode(["b", "a"]) == first.encode(["b", "a"])).all()), again.model_calls
    (True, 0)
    """

    def __init__(
        self,
        encoder: Encoder,
        cache: EmbeddingCache | str | os.PathLike[str],
        *,
        progress: Progress | None = None,
    ) -> None:
        if isinstance(cache, EmbeddingCache):
            if (cache.identity, cache.dim) != (encoder.identity, encoder.dim):
                raise CacheError(
                    f"The cache {cache.path} belongs to the encoder {cache.identity!r} (dim {cache.dim}), not to "
                    f"{encoder.identity!r} (dim {encoder.dim}); open one cache per encoder."
                )
        else:
            cache = EmbeddingCache(cache, identity=encoder.identity, dim=encoder.dim)
        self.encoder = encoder
        self.cache = cache
        self.progress = progress
        self.batch_size = encoder.batch_size
        self.hits = 0
        self.misses = 0
        self.model_calls = 0
        self.texts_encoded = 0

    @property
    def identity(self) -> str:
        return self.encoder.identity

    @property
    def dim(self) -> int:
        return self.encoder.dim

    def reset_counters(self) -> None:
        """Set :attr:`hits`, :attr:`misses`, :attr:`model_calls` and :attr:`texts_encoded` to 0."""
        self.hits = self.misses = self.model_calls = self.texts_encoded = 0

    def _encode(self, texts: list[str]) -> npt.ArrayLike:
        return self.encode(texts)

    def encode(
        self, texts: Sequence[str], *, batch_size: int | None = None, progress: Progress | None = None
    ) -> Float32Array:
        """Encode ``texts`` through the cache (see :meth:`Encoder.encode`).

        ``batch_size`` is the number of missing texts per model call; ``progress`` overrides the
        constructor's callback for this call.
        """
        items = check_texts(texts)
        size = self.batch_size if batch_size is None else check_batch_size(batch_size, type(self).__name__)
        keys = [text_key(text) for text in items]
        out, found = self.cache.get_keys(keys)
        pending: dict[bytes, list[int]] = {}
        for i in np.flatnonzero(~found).tolist():
            pending.setdefault(keys[i], []).append(i)
        self.hits += int(found.sum())
        self.misses += len(items) - int(found.sum())
        report = progress if progress is not None else self.progress
        # Longest texts first, so that each model batch pads little (the output keeps the input order).
        todo = sorted(pending, key=lambda key: -len(items[pending[key][0]]))
        if todo and report is not None:
            report(0, len(todo))
        for start in range(0, len(todo), size):
            chunk = todo[start : start + size]
            vectors = self.encoder.encode([items[pending[key][0]] for key in chunk], batch_size=len(chunk))
            self.model_calls += 1
            self.texts_encoded += len(chunk)
            self.cache.put_keys(chunk, vectors)
            for key, vector in zip(chunk, vectors, strict=True):
                out[pending[key]] = vector
            if report is not None:
                report(start + len(chunk), len(todo))
        return out

    def __repr__(self) -> str:
        return f"CachedEncoder({self.encoder!r}, cache={self.cache.path!r})"
