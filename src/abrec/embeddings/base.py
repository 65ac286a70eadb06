"""The text-encoder protocol: a list of texts in, a float32 matrix of unit rows out.

Every abrec encoder subclasses :class:`Encoder` and implements :meth:`Encoder._encode` (one batch
of validated texts to a raw ``(len(batch), dim)`` array), :attr:`Encoder.identity` and
:attr:`Encoder.dim`. The base class does what every encoder shares: it validates the input (a
list of ``str``), splits it into batches, checks the raw output (shape, finite values) and
L2-normalises every row in float64 before casting to float32.

A row whose raw vector is zero (the light encoder's empty or whitespace-only text) cannot be
normalised; it becomes the fixed unit vector :func:`null_vector` (every entry ``1/sqrt(dim)``),
so that it is still a unit row, the same for every such text and for every run.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import EncoderError, InputError

__all__ = ["Encoder", "Float32Array", "check_batch_size", "check_texts", "null_vector", "unit_rows"]

Float32Array = npt.NDArray[np.float32]


def check_texts(texts: Any) -> list[str]:
    """Return ``texts`` as a new list of ``str``, or raise :class:`~abrec.errors.InputError`.

    Examples
    --------
    >>> check_texts(("a", "b"))
    ['a', 'b']
    >>> check_texts("one text")
    Traceback (most recent call last):
    ...
    abrec.errors.InputError: texts must be a sequence of str (a list of texts). Got a single str; wrap it: ['one text'].
    """
    if isinstance(texts, str | bytes):
        what = "str; wrap it: [" + repr(texts[:40]) + "]" if isinstance(texts, str) else "bytes; decode it first"
        raise InputError(f"texts must be a sequence of str (a list of texts). Got a single {what}.")
    if isinstance(texts, np.ndarray):
        texts = texts.tolist()
    if not isinstance(texts, Sequence):
        raise InputError(f"texts must be a sequence of str (a list of texts). Got {type(texts).__name__}.")
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise InputError(
                f"texts must be a sequence of str. Item {i} is {type(text).__name__} ({text!r:.40}); "
                "convert it with str() or drop it."
            )
    return items


def check_batch_size(batch_size: Any, owner: str = "Encoder") -> int:
    """Return ``batch_size`` if it is an int >= 1, else raise :class:`~abrec.errors.ParameterError`."""
    from .._params import Interval, validate_params

    validate_params(owner, {"batch_size": Interval("int", 1)}, {"batch_size": batch_size})
    return int(batch_size)


def null_vector(dim: int) -> Float32Array:
    """The unit vector a zero row becomes: every entry ``1/sqrt(dim)``.

    Examples
    --------
    >>> null_vector(4)
    array([0.5, 0.5, 0.5, 0.5], dtype=float32)
    """
    return np.full(dim, 1.0 / np.sqrt(dim), dtype=np.float32)


def unit_rows(raw: npt.ArrayLike, dim: int, who: str = "encoder", rows: int | None = None) -> Float32Array:
    """Check a raw ``(n, dim)`` output and return its rows L2-normalised, as float32.

    Rows are normalised in float64 so that the float32 result has norm 1 within 1e-6. A zero row
    becomes :func:`null_vector`. Raises :class:`~abrec.errors.EncoderError` on a wrong shape or
    non-finite values.

    Examples
    --------
    >>> unit_rows([[3.0, 4.0], [0.0, 0.0]], 2)
    array([[0.6       , 0.8       ],
           [0.70710677, 0.70710677]], dtype=float32)
    """
    x = np.array(raw, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != dim or (rows is not None and x.shape[0] != rows):
        expected = f"({'n' if rows is None else rows}, {dim})"
        raise EncoderError(f"{who} returned an array of shape {x.shape}; expected {expected}.")
    if not np.isfinite(x).all():
        raise EncoderError(f"{who} returned NaN or infinite values.")
    norms = np.linalg.norm(x, axis=1)
    zero = norms == 0.0
    x[zero] = 1.0
    norms[zero] = np.sqrt(dim)
    out: Float32Array = (x / norms[:, None]).astype(np.float32)
    return out


class Encoder(ABC):
    """Base class of abrec's text encoders (and of yours).

    Subclasses set :attr:`batch_size` and implement :attr:`identity`, :attr:`dim` and
    :meth:`_encode`. :attr:`identity` names the model and every setting that changes the vectors
    (it keys the embedding cache); two encoders with the same identity must give the same vectors.

    Examples
    --------
    >>> import numpy as np
    >>> class Length(Encoder):
    ...     identity, dim, batch_size = "length-v1", 2, 32
    ...     def _encode(self, texts):
    ...         return np.array([[len(t), 1.0] for t in texts])
    >>> Length().encode(["abc", ""]).round(3)
    array([[0.949, 0.316],
           [0.   , 1.   ]], dtype=float32)
    >>> Length().encode([]).shape
    (0, 2)
    """

    batch_size: int = 64

    @property
    @abstractmethod
    def identity(self) -> str:
        """A stable, non-empty string naming the model (name, revision or content digest) and settings."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """The number of columns of :meth:`encode`'s output."""

    @abstractmethod
    def _encode(self, texts: list[str]) -> npt.ArrayLike:
        """Encode one batch of validated texts into a raw ``(len(texts), dim)`` array (any float dtype)."""

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None) -> Float32Array:
        """Encode ``texts`` into a float32 ``(len(texts), dim)`` matrix of L2-normalised rows.

        Parameters
        ----------
        texts : a sequence of str (not one str); an empty sequence gives a ``(0, dim)`` matrix.
        batch_size : texts per model call (default :attr:`batch_size`); the result does not depend on it.

        Returns
        -------
        numpy.ndarray
            float32, shape ``(len(texts), dim)``, every row of norm 1.

        Raises
        ------
        abrec.errors.InputError
            ``texts`` is not a sequence of str.
        abrec.errors.EncoderError
            The model failed or returned an array of the wrong shape or with NaN.
        """
        items = check_texts(texts)
        size = self.batch_size if batch_size is None else check_batch_size(batch_size, type(self).__name__)
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        who = f"{type(self).__name__} ({self.identity})"
        parts = [unit_rows(self._encode(chunk), self.dim, who, len(chunk)) for chunk in _chunks(items, size)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(identity={self.identity!r})"


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
