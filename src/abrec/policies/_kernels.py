"""Compiled (numba) kernels for the per-item linear models, and their numpy references.

The numpy functions are the reference implementation; the numba ones must agree with them to
floating-point rounding (tests check this). ``backend="auto"`` in the linear policies takes numba
when it imports, for the small batches (one request at a time) where numpy's per-call overhead
dominates; large shared-candidate batches go through BLAS in numpy either way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

try:  # pragma: no cover - exercised whenever numba is installed (a core dependency)
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    numba = None
    HAVE_NUMBA = False


# ---------------------------------------------------------------------------- numpy reference
def mean_width_numpy(
    x: FloatArray, rows: IntArray, a_inv: FloatArray, theta: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Mean ``x . theta_a`` and squared width ``x' A_a^-1 x`` of every (request, candidate)."""
    n, d = x.shape
    if rows.ndim == 1:
        m = rows.shape[0]
        th = theta[rows]
        ai = a_inv[rows]
        mean = x @ th.T
        # (n, d) @ (d, m*d): one BLAS call for all candidates' quadratic forms.
        z = (x @ ai.transpose(1, 0, 2).reshape(d, m * d)).reshape(n, m, d)
        q = np.einsum("nmd,nd->nm", z, x)
    else:
        th = theta[rows]
        mean = np.einsum("nmd,nd->nm", th, x)
        z = np.einsum("nmde,ne->nmd", a_inv[rows], x)
        q = np.einsum("nmd,nd->nm", z, x)
    return mean, np.maximum(q, 0.0)


def sherman_morrison_numpy(
    a_inv: FloatArray, b: FloatArray, theta: FloatArray, rows: IntArray, x: FloatArray, r: FloatArray
) -> None:
    """Rank-one updates of ``A^-1``, ``b`` and ``theta = A^-1 b``, one observation after another."""
    for i in range(rows.shape[0]):
        a = rows[i]
        v = a_inv[a] @ x[i]
        a_inv[a] -= np.outer(v, v) / (1.0 + x[i] @ v)
        b[a] += r[i] * x[i]
        theta[a] = a_inv[a] @ b[a]


# ---------------------------------------------------------------------------- numba
if HAVE_NUMBA:

    @numba.njit(cache=True, fastmath=False)
    def _mean_width_nb(x: Any, rows: Any, a_inv: Any, theta: Any) -> Any:  # pragma: no cover - compiled
        n, d = x.shape
        m = rows.shape[1]
        mean = np.empty((n, m))
        q = np.empty((n, m))
        for i in range(n):
            for j in range(m):
                a = rows[i, j]
                s = 0.0
                w = 0.0
                for u in range(d):
                    s += x[i, u] * theta[a, u]
                    t = 0.0
                    for v in range(d):
                        t += a_inv[a, u, v] * x[i, v]
                    w += t * x[i, u]
                mean[i, j] = s
                q[i, j] = w if w > 0.0 else 0.0
        return mean, q

    @numba.njit(cache=True, fastmath=False)
    def _sherman_morrison_nb(a_inv: Any, b: Any, theta: Any, rows: Any, x: Any, r: Any) -> None:  # pragma: no cover
        d = x.shape[1]
        v = np.empty(d)
        for i in range(rows.shape[0]):
            a = rows[i]
            denom = 1.0
            for u in range(d):
                t = 0.0
                for w in range(d):
                    t += a_inv[a, u, w] * x[i, w]
                v[u] = t
                denom += x[i, u] * t
            for u in range(d):
                cu = v[u] / denom
                for w in range(d):
                    a_inv[a, u, w] -= cu * v[w]
            for u in range(d):
                b[a, u] += r[i] * x[i, u]
            for u in range(d):
                t = 0.0
                for w in range(d):
                    t += a_inv[a, u, w] * b[a, w]
                theta[a, u] = t


def mean_width(
    x: FloatArray, rows: IntArray, a_inv: FloatArray, theta: FloatArray, use_numba: bool
) -> tuple[FloatArray, FloatArray]:
    """Dispatch: numba for small batches or per-request candidates, BLAS-backed numpy otherwise."""
    if use_numba and HAVE_NUMBA and (x.shape[0] <= 32 or rows.ndim == 2):
        rows2 = rows if rows.ndim == 2 else np.broadcast_to(rows, (x.shape[0], rows.shape[0]))
        result: tuple[FloatArray, FloatArray] = _mean_width_nb(x, rows2, a_inv, theta)
        return result
    return mean_width_numpy(x, rows, a_inv, theta)


def sherman_morrison(
    a_inv: FloatArray, b: FloatArray, theta: FloatArray, rows: IntArray, x: FloatArray, r: FloatArray,
    use_numba: bool,
) -> None:
    if use_numba and HAVE_NUMBA:
        _sherman_morrison_nb(a_inv, b, theta, rows, x, r)
    else:
        sherman_morrison_numpy(a_inv, b, theta, rows, x, r)
