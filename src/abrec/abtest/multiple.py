"""Multiple-testing corrections across variants x metrics: Holm (FWER) and Benjamini-Hochberg (FDR).

Both take p-values of any shape (e.g. ``(n_variants, n_metrics)``), treat them as one family, and
return adjusted p-values of the same shape: reject where ``adjusted <= alpha``. They equal
statsmodels' ``multipletests(p, method="holm")`` and ``multipletests(p, method="fdr_bh")``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..errors import InputError

__all__ = ["benjamini_hochberg", "holm"]


def _p_values(owner: str, p_values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    p = np.asarray(p_values, dtype=np.float64)
    if p.size == 0:
        raise InputError(f"{owner} needs at least one p-value.")
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise InputError(
            f"{owner} needs p-values in [0, 1]; drop the NaN ones (tests that could not run) before adjusting."
        )
    return p


def holm(p_values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Holm's step-down adjusted p-values (controls the family-wise error rate).

    Parameters
    ----------
    p_values : array_like of float in [0, 1], any shape
        One family of p-values.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values, same shape.

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03, 0.5]).tolist()
    [0.04, 0.09, 0.09, 0.5]
    """
    p = _p_values("holm", p_values)
    flat = p.ravel()
    m = flat.size
    order = np.argsort(flat, kind="stable")
    stepped = np.maximum.accumulate(np.minimum((m - np.arange(m)) * flat[order], 1.0))
    out = np.empty(m)
    out[order] = stepped
    return out.reshape(p.shape)


def benjamini_hochberg(p_values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Benjamini-Hochberg step-up adjusted p-values (controls the false discovery rate, independent tests).

    Parameters
    ----------
    p_values : array_like of float in [0, 1], any shape
        One family of p-values.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values (q-values), same shape.

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03, 0.5]).tolist()
    [0.04, 0.05333333333333333, 0.05333333333333333, 0.5]
    """
    p = _p_values("benjamini_hochberg", p_values)
    flat = p.ravel()
    m = flat.size
    order = np.argsort(flat, kind="stable")[::-1]
    stepped = np.minimum.accumulate(np.minimum(m / np.arange(m, 0, -1) * flat[order], 1.0))
    out = np.empty(m)
    out[order] = stepped
    return out.reshape(p.shape)
