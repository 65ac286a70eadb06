"""The light encoder: hashed word and character n-grams, projected to ``dim``; no torch needed.

Each text is read twice by scikit-learn's :class:`~sklearn.feature_extraction.text.HashingVectorizer`
(MurmurHash3, the same on every machine and in every process: no Python ``hash()``): as lowercased
word 1-2-grams and as character 3-5-grams within word boundaries. Counts get sublinear tf
(``1 + ln(count)``), each of the two blocks is L2-normalised (so words and characters weigh the
same), and the ``2 * 2**18`` hashed features are mapped to ``dim`` by a fixed sparse signed
random projection: each feature adds ``+-1/2`` to 4 coordinates, drawn from the raw output of
numpy's PCG64 bit generator seeded with ``seed`` (a stream numpy keeps stable across versions).
Rows are then L2-normalised; a text with no features (empty, or only spaces) becomes
:func:`~abrec.embeddings.base.null_vector`.

It is a fallback for machines without the ``llm`` extra, not a substitute: it matches shared
words and spellings, not meanings.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .._params import Constraint, Interval, validate_params
from .base import Encoder

__all__ = ["HashingEncoder"]

_HASH_FEATURES = 2**18
_NONZEROS = 4


@functools.lru_cache(maxsize=4)
def _projection(seed: int, dim: int) -> Any:
    """The fixed sparse ``(2 * 2**18, dim)`` signed projection for ``seed`` (cached: ~40 ms to build)."""
    from scipy import sparse

    n_rows = 2 * _HASH_FEATURES
    raw = np.random.PCG64(seed).random_raw(n_rows * _NONZEROS)
    columns = (raw % np.uint64(dim)).astype(np.int64)
    signs = np.where((raw >> np.uint64(40)) & np.uint64(1), 1.0, -1.0) / np.sqrt(_NONZEROS)
    indptr = np.arange(0, n_rows * _NONZEROS + 1, _NONZEROS, dtype=np.int64)
    return sparse.csr_matrix((signs, columns, indptr), shape=(n_rows, dim))


@functools.lru_cache(maxsize=1)
def _vectorizers() -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import HashingVectorizer

    common: dict[str, Any] = {
        "n_features": _HASH_FEATURES,
        "alternate_sign": False,
        "norm": None,
        "lowercase": True,
        "dtype": np.float64,
    }
    return (
        HashingVectorizer(analyzer="word", ngram_range=(1, 2), **common),
        HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), **common),
    )


class HashingEncoder(Encoder):
    """Deterministic text encoder from hashed n-grams (scikit-learn only, no torch).

    Parameters
    ----------
    dim : output dimension (default 384, like MiniLM).
    seed : int seed of the fixed projection. Only an int: the projection must be the same in every
        process, because :attr:`identity` (and so the embedding cache) names it.
    batch_size : texts per batch (the output does not depend on it).

    Examples
    --------
    >>> enc = HashingEncoder(dim=64)
    >>> x = enc.encode(["Toy Story (1995)", "Toy Story 2 (1999)", "Heat (1995)"])
    >>> x.shape, x.dtype
    ((3, 64), dtype('float32'))
    >>> bool(x[0] @ x[1] > x[0] @ x[2])
    True
    >>> enc.identity
    'abrec-hashing-v1(dim=64,seed=0,word=1-2,char_wb=3-5,tf=sublinear,features=2x2^18,nonzeros=4)'
    """

    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "dim": Interval("int", 1),
        "seed": Interval("int", 0),
        "batch_size": Interval("int", 1),
    }

    def __init__(self, dim: int = 384, *, seed: int = 0, batch_size: int = 1024) -> None:
        self._dim = dim
        self.seed = seed
        self.batch_size = batch_size
        validate_params(
            type(self).__name__,
            self._parameter_constraints,
            {"dim": dim, "seed": seed, "batch_size": batch_size},
        )

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def identity(self) -> str:
        return (
            f"abrec-hashing-v1(dim={self._dim},seed={self.seed},word=1-2,char_wb=3-5,tf=sublinear,"
            f"features=2x2^18,nonzeros={_NONZEROS})"
        )

    def _encode(self, texts: list[str]) -> npt.NDArray[np.float64]:
        from scipy import sparse
        from sklearn.preprocessing import normalize

        blocks = []
        for vectorizer in _vectorizers():
            counts = vectorizer.transform(texts)
            counts.data = 1.0 + np.log(counts.data)
            blocks.append(normalize(counts, norm="l2", copy=False))
        features = sparse.hstack(blocks, format="csr")
        projected = features @ _projection(self.seed, self._dim)
        return np.asarray(projected.toarray(), dtype=np.float64)
