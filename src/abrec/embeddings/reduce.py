"""PCA to a chosen dimension, fitted on a catalog's embeddings, saved as a versioned pickle-free ``.npz``.

Policies learn faster in fewer dimensions (LinUCB keeps a ``d x d`` matrix per item), so item
embeddings are usually reduced before they become features. :class:`PCAReducer` centres the
fitted matrix, takes its top right-singular vectors (numpy SVD, signs fixed so that each
component's largest-magnitude coefficient is positive: the same components on every run) and
projects onto them; with ``renormalize=True`` the projected rows are L2-normalised again.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .._header import FileHeader
from .._params import Constraint, Interval, validate_params
from ..errors import InputError, ParameterError, StateError

__all__ = ["PCAReducer"]

KIND = "pca-reducer"
FORMAT_VERSION = 1
FloatArray = npt.NDArray[np.float64]


class PCAReducer:
    """Principal-component projection of embeddings to ``n_components`` dimensions.

    Parameters
    ----------
    n_components : output dimension, at most ``min(n_samples, n_features)`` of the fitted matrix.
    renormalize : L2-normalise the projected rows (zero rows stay zero).

    Attributes
    ----------
    mean_ : ``(n_features,)`` mean of the fitted rows.
    components_ : ``(n_components, n_features)`` orthonormal principal axes.
    explained_variance_ratio_ : ``(n_components,)`` share of the total variance each axis keeps.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(50, 8)).astype(np.float32)
    >>> reducer = PCAReducer(3).fit(x)
    >>> reducer.transform(x).shape, reducer.transform(x).dtype
    ((50, 3), dtype('float32'))
    >>> reducer.save("/tmp/pca.npz")
    >>> bool(np.allclose(PCAReducer.load("/tmp/pca.npz").transform(x), reducer.transform(x)))
    True
    """

    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "n_components": Interval("int", 1),
        "renormalize": Constraint("bool"),
    }

    def __init__(self, n_components: int, *, renormalize: bool = True) -> None:
        self.n_components = n_components
        self.renormalize = renormalize
        validate_params(
            type(self).__name__, self._parameter_constraints, {"n_components": n_components, "renormalize": renormalize}
        )
        self.mean_: FloatArray | None = None
        self.components_: FloatArray | None = None
        self.explained_variance_ratio_: FloatArray | None = None

    @property
    def fitted(self) -> bool:
        """Whether :meth:`fit` (or :meth:`load`) has set the components."""
        return self.components_ is not None

    def fit(self, embeddings: npt.ArrayLike) -> PCAReducer:
        """Learn the mean and the top ``n_components`` principal axes of ``embeddings`` ``(n, d)``."""
        x = _matrix(embeddings, "embeddings")
        n, d = x.shape
        if self.n_components > min(n, d):
            raise InputError(
                f"PCAReducer(n_components={self.n_components}) needs at least that many rows and columns; "
                f"got embeddings of shape {x.shape}."
            )
        mean = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        components = vt[: self.n_components]
        biggest = np.argmax(np.abs(components), axis=1)
        components = components * np.sign(components[np.arange(len(components)), biggest])[:, None]
        variance = s**2
        total = variance.sum()
        self.mean_ = mean
        self.components_ = components
        self.explained_variance_ratio_ = (
            variance[: self.n_components] / total if total > 0 else np.zeros(self.n_components)
        )
        return self

    def transform(self, embeddings: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Project ``embeddings`` ``(n, d)`` to ``(n, n_components)`` float32 (re-normalised if asked)."""
        if self.mean_ is None or self.components_ is None:
            raise InputError("This PCAReducer is not fitted yet: call fit(embeddings) first.")
        x = _matrix(embeddings, "embeddings", allow_empty=True)
        if x.shape[1] != self.mean_.shape[0]:
            raise InputError(
                f"PCAReducer was fitted on {self.mean_.shape[0]}-dimensional embeddings; got shape {x.shape}."
            )
        y = (x - self.mean_) @ self.components_.T
        if self.renormalize:
            norms = np.linalg.norm(y, axis=1, keepdims=True)
            y = np.divide(y, norms, out=np.zeros_like(y), where=norms > 0)
        return y.astype(np.float32)

    def fit_transform(self, embeddings: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """:meth:`fit` then :meth:`transform` the same matrix."""
        return self.fit(embeddings).transform(embeddings)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the fitted reducer to ``path`` (``.npz``: abrec's file header + arrays), atomically."""
        if self.mean_ is None or self.components_ is None or self.explained_variance_ratio_ is None:
            raise InputError("Fit the PCAReducer before saving it.")
        params = {"n_components": self.n_components, "renormalize": self.renormalize}
        header = FileHeader(KIND, FORMAT_VERSION, {"params": params})
        path = os.fspath(path)
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                __header__=np.array(header.encode()),
                mean=self.mean_,
                components=self.components_,
                explained_variance_ratio=self.explained_variance_ratio_,
            )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PCAReducer:
        """Read a reducer written by :meth:`save` (``allow_pickle=False``); problems raise :class:`StateError`."""
        path = os.fspath(path)
        try:
            with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
                data: dict[str, Any] = {key: z[key] for key in z.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise StateError(f"{path} is not a readable abrec reducer file ({exc}).") from exc
        raw = data.pop("__header__", None)
        header = FileHeader.decode(
            None if raw is None else str(raw), path=path, kind=KIND, version=FORMAT_VERSION, error=StateError
        )
        params = header.fields.get("params")
        if not isinstance(params, dict) or set(params) != {"n_components", "renormalize"}:
            raise StateError(f"{path} is corrupt: its header holds the parameters {params!r}.")
        try:
            reducer = cls(**params)
        except ParameterError as exc:
            raise StateError(f"{path} is corrupt: {exc}") from exc
        try:
            mean, components, ratio = (
                np.asarray(data[k], dtype=np.float64) for k in ("mean", "components", "explained_variance_ratio")
            )
        except KeyError as exc:
            raise StateError(f"{path} is corrupt: the array {exc} is missing.") from exc
        if (
            mean.ndim != 1
            or components.shape != (reducer.n_components, mean.shape[0])
            or ratio.shape != (reducer.n_components,)
        ):
            raise StateError(
                f"{path} is corrupt: arrays of shapes {mean.shape}, {components.shape}, {ratio.shape} "
                f"for n_components={reducer.n_components}."
            )
        reducer.mean_, reducer.components_, reducer.explained_variance_ratio_ = mean, components, ratio
        return reducer

    def __repr__(self) -> str:
        return f"PCAReducer(n_components={self.n_components}, renormalize={self.renormalize})"


def _matrix(value: npt.ArrayLike, name: str, *, allow_empty: bool = False) -> FloatArray:
    x = np.asarray(value, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] == 0 or (x.shape[0] == 0 and not allow_empty):
        raise InputError(f"{name} must be a non-empty (n, d) matrix. Got shape {x.shape}.")
    if not np.isfinite(x).all():
        raise InputError(f"{name} contain NaN or infinite values.")
    return x
