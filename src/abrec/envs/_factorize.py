"""Low-rank factorisation of implicit feedback: PureSVD of the binary "liked" matrix.

PureSVD (Cremonesi, Koren and Turrin, RecSys 2010) treats every unobserved (user, item) pair as a
zero and takes the truncated SVD of the user x item matrix; on top-N ranking it is as good as far
more elaborate models, and it is deterministic (ARPACK from a fixed start vector), fast and needs
only scipy. :func:`implicit_svd` splits the singular values evenly between the two sides, fixes the
sign of each component and rescales both so that the scores ``U @ V.T`` have unit standard
deviation over all pairs: a coefficient on the score then reads "per standard deviation of affinity".
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.sparse.linalg import svds

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

__all__ = ["implicit_svd", "score_moments"]


def implicit_svd(
    user_rows: IntArray, item_rows: IntArray, shape: tuple[int, int], rank: int
) -> tuple[FloatArray, FloatArray]:
    """User factors ``U`` (n_users, rank) and item factors ``V`` (n_items, rank) of the binary matrix.

    Parameters
    ----------
    user_rows, item_rows : (n,) int arrays
        The positive (user, item) pairs; duplicates count once.
    shape : (n_users, n_items)
    rank : int
        Number of components, ``1 <= rank < min(shape)``.

    Returns
    -------
    U, V : float arrays
        ``U @ V.T`` is the best rank-``rank`` approximation of the 0/1 matrix, rescaled to unit
        standard deviation over all ``n_users * n_items`` pairs. Components are sorted by decreasing
        singular value; each item column's entry of largest magnitude is positive.

    Examples
    --------
    >>> import numpy as np
    >>> U, V = implicit_svd(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 3]), (3, 4), rank=2)
    >>> U.shape, V.shape, round(float((U @ V.T).std()), 6)
    ((3, 2), (4, 2), 1.0)
    """
    matrix = sp.csr_matrix(
        (np.ones(len(user_rows)), (np.asarray(user_rows), np.asarray(item_rows))), shape=shape, dtype=np.float64
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    v0 = np.full(min(shape), 1.0 / np.sqrt(min(shape)))
    left, values, right_t = svds(matrix, k=rank, v0=v0, solver="arpack")
    order = np.argsort(-values, kind="stable")
    root = np.sqrt(np.maximum(values[order], 0.0))
    U = np.ascontiguousarray(left[:, order] * root, dtype=np.float64)
    V = np.ascontiguousarray(right_t[order].T * root, dtype=np.float64)
    flip = np.sign(V[np.argmax(np.abs(V), axis=0), np.arange(rank)])
    flip[flip == 0] = 1.0
    U *= flip
    V *= flip
    _, std = score_moments(U, V)
    if std > 0:
        U /= np.sqrt(std)
        V /= np.sqrt(std)
    return U, V


def score_moments(U: FloatArray, V: FloatArray) -> tuple[float, float]:
    """Mean and standard deviation of ``U @ V.T`` over all pairs, without forming the matrix."""
    pairs = U.shape[0] * V.shape[0]
    mean = float(U.sum(axis=0) @ V.sum(axis=0)) / pairs
    second = float(np.sum((U.T @ U) * (V.T @ V))) / pairs
    return mean, float(np.sqrt(max(second - mean * mean, 0.0)))
