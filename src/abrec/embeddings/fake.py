"""A deterministic fake encoder for tests, shipped in the package (like httpx's ``MockTransport``).

:class:`FakeEncoder` needs no model: by default each text's vector is drawn from its SHA-256
digest (the same in every process and on every machine); a ``handler`` can return chosen vectors
instead. It records every batch it was asked to encode, so a test can count model calls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from .._params import Interval, validate_params
from .base import Encoder

__all__ = ["FakeEncoder", "digest_vector"]


def digest_vector(text: str, dim: int) -> npt.NDArray[np.float64]:
    """A pseudo-random vector in ``[-1, 1)^dim`` drawn from ``sha256(text)``: same text, same vector, anywhere.

    Examples
    --------
    >>> digest_vector("a", 3).round(3)
    array([0.495, 0.119, 0.56 ])
    """
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:16], "little")
    raw = np.random.PCG64(seed).random_raw(dim)
    unit: npt.NDArray[np.float64] = (raw >> np.uint64(11)).astype(np.float64) / 2.0**53
    return 2.0 * unit - 1.0


class FakeEncoder(Encoder):
    """Deterministic fake encoder; records the batches it encodes.

    Parameters
    ----------
    dim : output dimension.
    handler : optional ``handler(texts) -> (len(texts), dim) array`` giving the raw vectors
        (rows are L2-normalised afterwards); default :func:`digest_vector` of each text.
    name : part of :attr:`identity`; give two fakes different names to make their caches differ.
    batch_size : texts per call of the handler.

    Attributes
    ----------
    calls : list of the batches encoded so far (each a list of texts), oldest first.

    Examples
    --------
    >>> enc = FakeEncoder(dim=4)
    >>> enc.encode(["a", "b", "a"]).shape, len(enc.calls)
    ((3, 4), 1)
    >>> bool((enc.encode(["a"]) == enc.encode(["a"])).all()), enc.identity
    (True, 'abrec-fake-v1(name=fake,dim=4)')
    >>> FakeEncoder(dim=2, handler=lambda texts: [[1.0, 1.0]] * len(texts)).encode(["x"])
    array([[0.70710677, 0.70710677]], dtype=float32)
    """

    def __init__(
        self,
        dim: int = 8,
        *,
        handler: Callable[[list[str]], npt.ArrayLike] | None = None,
        name: str = "fake",
        batch_size: int = 64,
    ) -> None:
        validate_params(type(self).__name__, {"dim": Interval("int", 1), "batch_size": Interval("int", 1)}, locals())
        self._dim = dim
        self.handler = handler
        self.name = name
        self.batch_size = batch_size
        self.calls: list[list[str]] = []

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def identity(self) -> str:
        return f"abrec-fake-v1(name={self.name},dim={self._dim})"

    @property
    def texts_encoded(self) -> int:
        """How many texts the fake was asked to encode, over all calls."""
        return sum(len(batch) for batch in self.calls)

    def _encode(self, texts: list[str]) -> npt.ArrayLike:
        self.calls.append(list(texts))
        if self.handler is not None:
            return self.handler(list(texts))
        return np.array([digest_vector(text, self._dim) for text in texts]).reshape(len(texts), self._dim)

    def reset(self) -> None:
        """Forget the recorded calls."""
        self.calls.clear()
