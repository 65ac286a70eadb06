"""Compiled (numba) kernels for the per-item linear models, and their numpy references.

The numpy functions are the reference implementation; the numba ones must agree with them to
floating-point rounding (tests check this). ``backend="auto"`` in the linear policies takes numba
when it imports, for the small batches (one request at a time) where numpy's per-call overhead
dominates; large shared-candidate batches go through BLAS in numpy either way.

Symmetric matrices (each item's ``A^-1``) are stored *packed*: the upper triangle, row by row,
``d (d + 1) / 2`` numbers (:func:`pack` / :func:`unpack`). That halves the memory that scoring
streams through, which is what bounds one-request decisions: ``x' A^-1 x`` is the dot product of
the packed matrix with the packed outer product ``x x'`` (off-diagonal terms counted twice).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .._params import StrOptions, validate_params
from .._threads import single_blas
from ..errors import InputError, ParameterError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

try:  # pragma: no cover - exercised whenever numba is installed (a core dependency)
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False


_INT64 = np.dtype(np.int64)
#: Largest batch scoring product (requests x items x packed size, multiply-adds) run on one BLAS thread: about
#: 5 ms of one core; 1,000 requests x 50 items at d = 32 are 26 million.
_ONE_THREAD_MACS = 1 << 27
_NO_TABLE = np.empty(0, dtype=np.int64)  # sherman_morrison's rows are rows already, not ids to look up

BACKENDS = ("auto", "numba", "numpy")
_BACKEND = {"backend": StrOptions(BACKENDS)}


def check_backend(owner: str, backend: str) -> None:
    """Validate a policy's ``backend`` parameter ('auto', 'numba' or 'numpy')."""
    validate_params(owner, _BACKEND, {"backend": backend})
    if backend == "numba" and not HAVE_NUMBA:
        raise ParameterError("backend='numba' needs the numba package: pip install numba, or use backend='numpy'.")


# ---------------------------------------------------------------------------- packed symmetric matrices
_TRIU: dict[int, tuple[IntArray, IntArray]] = {}


def triu(d: int) -> tuple[IntArray, IntArray]:
    """Row and column indices of the upper triangle of a d x d matrix, in packed order."""
    if d not in _TRIU:
        iu, ju = np.triu_indices(d)
        _TRIU[d] = (iu.astype(np.int64), ju.astype(np.int64))
    return _TRIU[d]


def packed_dim(d: int) -> int:
    """Length of a packed symmetric d x d matrix."""
    return d * (d + 1) // 2


def pack(full: FloatArray) -> FloatArray:
    """(..., d, d) symmetric -> (..., d (d + 1) / 2) upper triangles."""
    iu, ju = triu(full.shape[-1])
    packed: FloatArray = np.ascontiguousarray(full[..., iu, ju])
    return packed


def unpack(packed: FloatArray, d: int) -> FloatArray:
    """(..., d (d + 1) / 2) upper triangles -> (..., d, d) symmetric matrices."""
    iu, ju = triu(d)
    full = np.empty((*packed.shape[:-1], d, d))
    full[..., iu, ju] = packed
    full[..., ju, iu] = packed
    return full


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


def mean_width_packed_numpy(
    x: FloatArray, rows: IntArray, packed: FloatArray, theta: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """:func:`mean_width_numpy` on packed ``A^-1``.

    Shared candidates: ``x' A^-1 x`` for every (request, item) is one matrix product of the packed
    outer products ``x x'`` (n, d (d + 1) / 2) with the items' packed matrices. Per-request
    candidates: the candidates' matrices are unpacked and contracted.
    """
    d = x.shape[1]
    if rows.ndim == 1:
        return _mean_width_shared(x, rows, packed, theta, packed_weights_numpy(x))
    used, local = np.unique(rows, return_inverse=True)
    return mean_width_numpy(x, local.reshape(rows.shape), unpack(packed[used], d), theta[used])


def packed_weights_numpy(x: FloatArray) -> FloatArray:
    """(n, d (d + 1) / 2) packed outer products of the rows of ``x``: ``x_u x_v``, times 2 off the diagonal."""
    iu, ju = triu(x.shape[1])
    weights: FloatArray = x[:, iu] * x[:, ju]
    weights[:, iu != ju] *= 2.0
    return weights


def _mean_width_shared(
    x: FloatArray, rows: IntArray, packed: FloatArray, theta: FloatArray, weights: FloatArray
) -> tuple[FloatArray, FloatArray]:
    # Candidates shared by every request: one BLAS product for every (request, item) quadratic form, on one
    # BLAS thread up to _ONE_THREAD_MACS (thread wake-ups cost more than they save on products this small,
    # and the numbers then do not depend on the machine's thread count); BLAS's own threads above it.
    if weights.shape[0] * weights.shape[1] * rows.shape[0] <= _ONE_THREAD_MACS:
        with single_blas():
            q = weights @ packed[rows].T
            mean = x @ theta[rows].T
    else:
        q = weights @ packed[rows].T
        mean = x @ theta[rows].T
    return mean, np.maximum(q, 0.0)


def sherman_morrison_numpy(
    packed: FloatArray, b: FloatArray, theta: FloatArray, rows: IntArray, x: FloatArray, r: FloatArray
) -> None:
    """Rank-one updates of packed ``A^-1``, ``b`` and ``theta = A^-1 b``, one observation after another."""
    d = x.shape[1]
    for i in range(rows.shape[0]):
        a = rows[i]
        a_inv = unpack(packed[a], d)
        v = a_inv @ x[i]
        a_inv -= np.outer(v, v) / (1.0 + x[i] @ v)
        packed[a] = pack(a_inv)
        b[a] += r[i] * x[i]
        theta[a] = a_inv @ b[a]


# ---------------------------------------------------------------------------- numba
if HAVE_NUMBA:

    @numba.njit(cache=True, fastmath={"reassoc", "contract"})
    def _mean_width_nb(x: Any, rows: Any, a_inv: Any, theta: Any) -> Any:  # pragma: no cover - compiled
        # rows is (n, m), or (1, m) shared by every request. x' A^-1 x is computed as the dot product
        # of the flattened A^-1 with the flattened outer product x x': one long SIMD reduction per item.
        n, d = x.shape
        m = rows.shape[1]
        shared = rows.shape[0] == 1
        dd = d * d
        flat = a_inv.reshape(a_inv.shape[0], dd)
        outer = np.empty(dd)
        mean = np.empty((n, m))
        q = np.empty((n, m))
        for i in range(n):
            for u in range(d):
                for v in range(d):
                    outer[u * d + v] = x[i, u] * x[i, v]
            r = 0 if shared else i
            for j in range(m):
                a = rows[r, j]
                s = 0.0
                for u in range(d):
                    s += x[i, u] * theta[a, u]
                w = 0.0
                for e in range(dd):
                    w += flat[a, e] * outer[e]
                mean[i, j] = s
                q[i, j] = w if w > 0.0 else 0.0
        return mean, q

    @numba.njit(cache=True)  # no fastmath: the same products, in the same order, as packed_weights_numpy
    def _packed_weights_nb(x: Any) -> Any:  # pragma: no cover - compiled
        n, d = x.shape
        weights = np.empty((n, d * (d + 1) // 2))
        for i in range(n):
            e = 0
            for u in range(d):
                xu = x[i, u]
                weights[i, e] = xu * xu
                e += 1
                for v in range(u + 1, d):
                    weights[i, e] = (xu * x[i, v]) * 2.0
                    e += 1
        return weights

    @numba.njit(cache=True, fastmath={"reassoc", "contract"})
    def _mean_width_packed_nb(x: Any, rows: Any, packed: Any, theta: Any) -> Any:  # pragma: no cover
        # Packed twin of _mean_width_nb: weights hold x_u x_v, doubled off the diagonal.
        n, d = x.shape
        m = rows.shape[1]
        shared = rows.shape[0] == 1
        size = packed.shape[1]
        weights = np.empty(size)
        mean = np.empty((n, m))
        q = np.empty((n, m))
        for i in range(n):
            e = 0
            for u in range(d):
                weights[e] = x[i, u] * x[i, u]
                e += 1
                for v in range(u + 1, d):
                    weights[e] = 2.0 * x[i, u] * x[i, v]
                    e += 1
            r = 0 if shared else i
            for j in range(m):
                a = rows[r, j]
                s = 0.0
                for u in range(d):
                    s += x[i, u] * theta[a, u]
                w = 0.0
                for e in range(size):
                    w += packed[a, e] * weights[e]
                mean[i, j] = s
                q[i, j] = w if w > 0.0 else 0.0
        return mean, q

    @numba.njit(cache=True, fastmath={"reassoc", "contract"})
    def _ucb_scores_nb(
        x: Any, rows: Any, packed: Any, theta: Any, alpha: float, scores: Any, slots: Any, props: Any
    ) -> int:  # pragma: no cover
        # LinUCB scores (k = 1, no mask) into `scores`; each request whose best score is unique gets its
        # slot and propensity 1 here. Returns how many requests have tied (or no) best scores, left to
        # _top1_nb with the tie-breaking uniforms; -1 (nothing written) when a context is not finite.
        n, d = x.shape
        for i in range(n):
            for u in range(d):
                if not np.isfinite(x[i, u]):
                    return -1
        mean, q = _mean_width_packed_nb(x, rows, packed, theta)
        s = mean + alpha * np.sqrt(q)
        m = s.shape[1]
        ties = 0
        for i in range(n):
            best = -np.inf
            g = 0
            arg = 0
            for j in range(m):
                v = s[i, j]
                scores[i, j] = v
                if v > best:
                    best = v
                    g = 1
                    arg = j
                elif v == best:
                    if g == 0:
                        arg = j
                    g += 1
            if g == 1:
                slots[i, 0] = arg
                props[i, 0] = 1.0
            else:
                ties += 1
        return ties

    @numba.njit(cache=True, fastmath={"reassoc", "contract"})
    def _sherman_morrison_nb(
        packed: Any, b: Any, theta: Any, table: Any, ids: Any, x: Any, r: Any
    ) -> int:  # pragma: no cover
        # Rows are table[ids] (ids themselves when the table is empty). Returns -1, with nothing
        # changed, when an id has no row or a context or reward is not finite; else 0.
        # Observations are taken item by item (in their original order within an item): each
        # item's A^-1 is unpacked once into a full scratch matrix (so the loops vectorise), gets
        # all its rank-one updates there, and is packed back with theta = A^-1 b recomputed once.
        n, d = x.shape
        size = table.shape[0]
        rows = np.empty(n, dtype=np.int64)
        for i in range(n):
            a = ids[i]
            if size > 0:
                if a < 0 or a >= size or table[a] < 0:
                    return -1
                a = table[a]
            rows[i] = a
            if not np.isfinite(r[i]):
                return -1
            for u in range(d):
                if not np.isfinite(x[i, u]):
                    return -1
        order = np.argsort(rows, kind="mergesort")
        full = np.empty((d, d))
        v = np.empty(d)
        start = 0
        while start < n:
            a = rows[order[start]]
            stop = start
            while stop < n and rows[order[stop]] == a:
                stop += 1
            e = 0
            for u in range(d):
                for w in range(u, d):
                    full[u, w] = packed[a, e]
                    full[w, u] = packed[a, e]
                    e += 1
            for o in range(start, stop):
                i = order[o]
                denom = 1.0
                for u in range(d):
                    t = 0.0
                    for w in range(d):
                        t += full[u, w] * x[i, w]
                    v[u] = t
                    denom += x[i, u] * t
                for u in range(d):
                    b[a, u] += r[i] * x[i, u]
                    cu = v[u] / denom
                    for w in range(d):
                        full[u, w] -= cu * v[w]
            e = 0
            for u in range(d):
                for w in range(u, d):
                    packed[a, e] = full[u, w]
                    e += 1
                t = 0.0
                for w in range(d):
                    t += full[u, w] * b[a, w]
                theta[a, u] = t
            start = stop
        return 0


def top1_numpy(scores: FloatArray, u: FloatArray) -> tuple[IntArray, FloatArray]:
    """Best column per row; among ``g`` tied best, the ``floor(u * g)``-th; propensity ``1 / g``."""
    tied = scores == scores.max(axis=1, keepdims=True)
    g = tied.sum(axis=1)
    pick = np.minimum((u * g).astype(np.int64), g - 1)
    # Column of the pick-th True in each row.
    slots = (np.cumsum(tied, axis=1) > pick[:, None]).argmax(axis=1)
    return slots[:, None].astype(np.int64), (1.0 / g)[:, None]


if HAVE_NUMBA:

    @numba.njit(cache=True)
    def _top1_nb(scores: Any, u: Any) -> Any:  # pragma: no cover - compiled
        n, m = scores.shape
        slots = np.empty((n, 1), dtype=np.int64)
        props = np.empty((n, 1))
        for i in range(n):
            best = -np.inf
            g = 0
            for j in range(m):
                s = scores[i, j]
                if s > best:
                    best = s
                    g = 1
                elif s == best:
                    g += 1
            pick = min(int(u[i] * g), g - 1)
            for j in range(m):
                if scores[i, j] == best:
                    if pick == 0:
                        slots[i, 0] = j
                        break
                    pick -= 1
            props[i, 0] = 1.0 / g
        return slots, props


def top1(scores: FloatArray, u: FloatArray) -> tuple[IntArray, FloatArray]:
    """Greedy choice with uniform random tie-breaking and its exact propensity (numba if available)."""
    if HAVE_NUMBA:
        result: tuple[IntArray, FloatArray] = _top1_nb(scores, u)
        return result
    return top1_numpy(scores, u)


def ucb_top1(
    x: FloatArray, rows: IntArray, packed: FloatArray, theta: FloatArray, alpha: float, rng: np.random.Generator
) -> tuple[IntArray, FloatArray, FloatArray] | None:
    """Compiled LinUCB choice for k = 1 without a mask: slots, exact propensities, scores.

    ``rows`` is ``(m,)`` shared or ``(n, m)`` per request (``(1, m)`` = shared). The tie-breaking uniforms
    (``rng.random(n)``) are drawn after the scores; None, with nothing drawn, when a context is not finite.
    """
    n = x.shape[0]
    scores = np.empty((n, rows.shape[-1]))
    slots = np.empty((n, 1), _INT64)
    props = np.empty((n, 1))
    ties = _ucb_scores_nb(
        x, rows if rows.ndim == 2 else rows.reshape(1, -1), packed, theta, alpha, scores, slots, props
    )
    if ties < 0:
        return None
    if n == 1:  # rng.random() draws the same number as rng.random(1), for half the cost
        u1 = rng.random()
        if ties:
            slots, props = _top1_nb(scores, np.array([u1]))
    else:
        u = rng.random(n)
        if ties:
            slots, props = _top1_nb(scores, u)
    return slots, props, scores


def mean_width(
    x: FloatArray, rows: IntArray, a_inv: FloatArray, theta: FloatArray, use_numba: bool
) -> tuple[FloatArray, FloatArray]:
    """Dispatch: numba for small batches or per-request candidates, BLAS-backed numpy otherwise."""
    result: tuple[FloatArray, FloatArray]
    if use_numba and HAVE_NUMBA:
        if rows.ndim == 2 or x.shape[0] <= 32:
            result = _mean_width_nb(x, rows if rows.ndim == 2 else rows.reshape(1, -1), a_inv, theta)
            return result
    return mean_width_numpy(x, rows, a_inv, theta)


def mean_width_packed(
    x: FloatArray, rows: IntArray, packed: FloatArray, theta: FloatArray, use_numba: bool
) -> tuple[FloatArray, FloatArray]:
    """:func:`mean_width` for packed ``A^-1``.

    Large batches with shared candidates take the BLAS product of the numpy reference either way; the
    compiled backend only builds its packed outer products (the same numbers) without numpy's temporaries.
    """
    result: tuple[FloatArray, FloatArray]
    if use_numba and HAVE_NUMBA:
        if rows.ndim == 2 or x.shape[0] <= 32:
            result = _mean_width_packed_nb(x, rows if rows.ndim == 2 else rows.reshape(1, -1), packed, theta)
            return result
        return _mean_width_shared(x, rows, packed, theta, _packed_weights_nb(x))
    return mean_width_packed_numpy(x, rows, packed, theta)


def sherman_morrison(
    packed: FloatArray,
    b: FloatArray,
    theta: FloatArray,
    rows: IntArray,
    x: FloatArray,
    r: FloatArray,
    use_numba: bool,
) -> None:
    """Rank-one updates of packed ``A^-1``, ``b`` and ``theta`` (compiled or numpy reference)."""
    if use_numba and HAVE_NUMBA:
        if _sherman_morrison_nb(packed, b, theta, _NO_TABLE, rows, x, r) < 0:
            raise InputError("sherman_morrison: contexts and rewards must be finite. Validate them before updating.")
    else:
        sherman_morrison_numpy(packed, b, theta, rows, x, r)


def sherman_morrison_ids(
    packed: FloatArray, b: FloatArray, theta: FloatArray, table: IntArray, ids: IntArray, x: FloatArray, r: FloatArray
) -> bool:
    """:func:`sherman_morrison` (compiled) on the rows ``table[ids]`` of non-negative integer item ids.

    The same compiled kernel as :func:`sherman_morrison`, with the look-up and the finiteness checks done
    inside it. False, with nothing changed, when an id has no row in ``table`` (negative, beyond it, or
    mapped to -1) or a context or reward is not finite.
    """
    if table.shape[0] == 0:  # no id has a row (the kernel would read an empty table as "ids are rows")
        return False
    return bool(_sherman_morrison_nb(packed, b, theta, table, ids, x, r) == 0)
