"""Text embeddings: encoders (one protocol), an on-disk cache, PCA, user vectors and policy features.

- :class:`Encoder` is the protocol: ``encode(texts) -> float32 (n, dim)`` with unit rows, plus a
  stable :attr:`~Encoder.identity` and :attr:`~Encoder.dim`. Implementations:
  :class:`SentenceTransformerEncoder` (any sentence-transformers model, local folder or hub name;
  the ``llm`` extra), :class:`HashingEncoder` (light, no torch), :class:`FakeEncoder` (tests), and
  :class:`CachedEncoder` (any encoder behind an :class:`EmbeddingCache`). Build one by name with
  :func:`make_encoder`.
- :class:`PCAReducer`, :func:`user_contexts` and :func:`item_features` turn embeddings into the
  ``contexts`` and ``item_features`` arrays of ``Policy.decide``.
- :func:`write_embeddings` / :func:`read_embeddings`: item ids + vectors + encoder identity in a
  ``.npz`` or ``.parquet`` file (what ``abrec embed`` writes).

Examples
--------
>>> import numpy as np
>>> from abrec.embeddings import History, item_features, make_encoder, user_contexts
>>> class Shelf:
...     ids = np.array([1, 2, 3])
...     def texts(self):
...         return ["red running shoe", "blue running shoe", "green wool hat"]
>>> items = item_features(Shelf(), make_encoder("hashing", dim=64))
>>> contexts = user_contexts([History([1, 2]), History([3])], items)
>>> items.vectors.shape, contexts.shape
((3, 64), (2, 64))
"""

from __future__ import annotations

from .base import Encoder
from .cache import EmbeddingCache, text_key
from .cached import CachedEncoder, Progress, encoder_cache_path
from .fake import FakeEncoder
from .features import CatalogLike, ItemFeatures, item_features
from .files import read_embeddings, write_embeddings
from .hashing import HashingEncoder
from .reduce import PCAReducer
from .registry import ENCODER_NAMES, make_encoder
from .sentence_transformer import SentenceTransformerEncoder, directory_digest, minilm_path
from .users import History, recency_weights, user_contexts

__all__ = [
    "CachedEncoder",
    "CatalogLike",
    "ENCODER_NAMES",
    "EmbeddingCache",
    "Encoder",
    "FakeEncoder",
    "HashingEncoder",
    "History",
    "ItemFeatures",
    "PCAReducer",
    "Progress",
    "SentenceTransformerEncoder",
    "directory_digest",
    "encoder_cache_path",
    "item_features",
    "make_encoder",
    "minilm_path",
    "read_embeddings",
    "recency_weights",
    "text_key",
    "user_contexts",
    "write_embeddings",
]
