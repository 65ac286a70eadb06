"""Compiled (numba) kernels of the simulators, each with the numpy reference it must agree with.

Randomness comes in as raw 64-bit words drawn by the caller's ``numpy.random.Generator``
(:func:`random_bits`), cut into 16- or 32-bit uniform fields: one word feeds two candidate draws
or four user attributes, which halves to quarters the time spent drawing random numbers.

- :func:`attraction`: ``sigmoid(offset[c] + scale * taste[i] . v_c)`` for a batch of users and
  their candidate rows, where each item vector ``v_c`` is *sparse*: a few (column, value) pairs.
  That is what makes the built-in world fast: ``G`` gathers per (user, item) pair instead of a
  dense dot product.
- :func:`draw_users`: tastes (liked / disliked attribute values, price sensitivity) and contexts.
- :func:`sample_rows`: for each user, ``m`` distinct rows of a pool in uniformly random order
  (a partial Fisher-Yates shuffle, undone after each user so it costs O(m), not O(pool)).
- :func:`show`: the items of each user's slate and their click probabilities (repeats count 0).
- :func:`top_k_sum`: ``sum_j weights[j] * (j-th largest value of a row)``: the oracle's expected clicks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BitArray = npt.NDArray[np.uint64]

try:  # pragma: no cover - numba is a core dependency; the numpy references run without it
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False

_U64_MAX = np.iinfo(np.uint64).max


def random_bits(rng: np.random.Generator, shape: tuple[int, ...]) -> BitArray:
    """Uniform 64-bit words from ``rng`` (any bit generator)."""
    bits: BitArray = rng.integers(0, _U64_MAX, shape, dtype=np.uint64, endpoint=True)
    return bits


def fields16(bits: BitArray, count: int) -> FloatArray:
    """The first ``count`` 16-bit fields of each row of ``bits`` as uniforms in (0, 1): ``(f + 0.5) / 2**16``."""
    shifts = np.array([0, 16, 32, 48], dtype=np.uint64)
    f = (bits[:, :, None] >> shifts) & np.uint64(0xFFFF)
    out: FloatArray = (f.reshape(bits.shape[0], -1)[:, :count].astype(np.float64) + 0.5) / 65536.0
    return out


# ---------------------------------------------------------------------------- numpy references
def logits_numpy(
    taste: FloatArray, items: IntArray, cols: IntArray, vals: FloatArray, offset: FloatArray, scale: float
) -> FloatArray:
    """Reference of the logits inside :func:`attraction` (n, m)."""
    gathered = np.take_along_axis(taste[:, None, :], cols[items], axis=2)  # (n, m, G)
    out: FloatArray = offset[items] + scale * (gathered * vals[items]).sum(axis=2)
    return out


def draw_users_numpy(
    bits: BitArray,
    like_offset: IntArray,
    like_cdf: FloatArray,
    dislike_offset: IntArray,
    dislike_size: IntArray,
    price_col: int,
    projection: FloatArray,
    context_offset: FloatArray,
    noise_scale: float,
) -> tuple[FloatArray, FloatArray]:
    """Reference of :func:`draw_users`.

    ``like_cdf`` (n_likes, width) holds, for each like slot, the cumulative popularity of its
    group's values (padded with values > 1); ``like_offset`` the group's first column.
    """
    n = bits.shape[0]
    n_like, n_dislike, d = like_offset.shape[0], dislike_offset.shape[0], projection.shape[1]
    q = n_like + n_dislike
    u = fields16(bits, 2 * q + 1 + d)
    likes = like_offset + (u[:, :n_like, None] >= like_cdf[None]).sum(axis=2)
    dislikes = dislike_offset + np.floor(u[:, n_like:q] * dislike_size).astype(np.int64)
    values = np.concatenate([likes, dislikes], axis=1)
    strengths = 0.5 + u[:, q : 2 * q]
    strengths[:, n_like:] *= -1.0
    taste = np.zeros((n, projection.shape[0]))
    np.add.at(taste, (np.arange(n)[:, None], values), strengths)
    taste[:, price_col] = -u[:, 2 * q]
    context = context_offset + taste @ projection + noise_scale * (u[:, 2 * q + 1 :] - 0.5)
    return taste, context


def sample_rows_numpy(pool: IntArray, bits: BitArray, m: int) -> IntArray:
    """Reference of :func:`sample_rows`: the same partial Fisher-Yates shuffle, one user at a time."""
    n = bits.shape[0]
    out = np.empty((n, m), dtype=np.int64)
    for i in range(n):
        perm = pool.copy()
        for j in range(m):
            field = (int(bits[i, j // 2]) >> (32 * (j % 2))) & 0xFFFFFFFF
            r = j + ((field * (pool.shape[0] - j)) >> 32)
            perm[j], perm[r] = perm[r], perm[j]
        out[i] = perm[:m]
    return out


def top_k_sum_numpy(values: FloatArray, weights: FloatArray) -> FloatArray:
    """Reference of :func:`top_k_sum`."""
    k = weights.shape[0]
    top = -np.sort(-values, axis=1)[:, :k]
    out: FloatArray = top @ weights
    return out


# ---------------------------------------------------------------------------- compiled kernels
if HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True, fastmath=True)
    def _logits(
        taste: Any, items: Any, cols: Any, vals: Any, offset: Any, scale: float, out: Any
    ) -> bool:  # pragma: no cover - compiled
        n, m = items.shape
        n_items, g = cols.shape
        for i in range(n):
            row = taste[i]
            for j in range(m):
                c = items[i, j]
                if c < 0 or c >= n_items:
                    return False
                s = 0.0
                for h in range(g):
                    s += row[cols[c, h]] * vals[c, h]
                out[i, j] = -(offset[c] + scale * s)  # negated: the sigmoid exponentiates it
        return True

    @numba.njit(cache=True, nogil=True, inline="always")
    def _field16(bits: Any, i: int, t: int) -> float:  # pragma: no cover - compiled
        word = bits[i, t >> 2] >> np.uint64(16 * (t & 3))
        return (np.float64(word & np.uint64(0xFFFF)) + 0.5) / 65536.0

    @numba.njit(cache=True, nogil=True, fastmath=True)
    def _draw_users(
        bits: Any,
        like_offset: Any,
        like_cdf: Any,
        dislike_offset: Any,
        dislike_size: Any,
        price_col: int,
        projection: Any,
        context_offset: Any,
        noise_scale: float,
        taste: Any,
        context: Any,
    ) -> None:  # pragma: no cover - compiled
        n = bits.shape[0]
        n_like, width = like_cdf.shape
        q = n_like + dislike_offset.shape[0]
        d = projection.shape[1]
        values = np.empty(q, dtype=np.int64)
        acc = np.empty(d)
        for i in range(n):
            for t in range(n_like):
                u = _field16(bits, i, t)
                idx = 0
                for v in range(width - 1):  # branch-free inverse CDF (the last value is 1 > u)
                    idx += u >= like_cdf[t, v]
                values[t] = like_offset[t] + idx
            for h in range(q - n_like):
                u = _field16(bits, i, n_like + h)
                values[n_like + h] = dislike_offset[h] + np.int64(u * dislike_size[h])
            for e in range(d):
                acc[e] = context_offset[e]
            for h in range(q):
                strength = 0.5 + _field16(bits, i, q + h)
                if h >= n_like:
                    strength = -strength
                col = values[h]
                taste[i, col] += strength
                for e in range(d):
                    acc[e] += strength * projection[col, e]
            s = _field16(bits, i, 2 * q)
            taste[i, price_col] = -s
            for e in range(d):
                context[i, e] = (
                    acc[e] - s * projection[price_col, e] + noise_scale * (_field16(bits, i, 2 * q + 1 + e) - 0.5)
                )

    @numba.njit(cache=True, nogil=True)
    def _sample_rows(pool: Any, bits: Any, out: Any) -> None:  # pragma: no cover - compiled
        n, m = out.shape
        size = pool.shape[0]
        perm = pool.copy()
        swaps = np.empty(m, dtype=np.int64)
        mask = np.uint64(0xFFFFFFFF)
        for i in range(n):
            for j in range(m):
                field = (bits[i, j >> 1] >> np.uint64(32 * (j & 1))) & mask
                r = j + np.int64((field * np.uint64(size - j)) >> np.uint64(32))
                swaps[j] = r
                tmp = perm[j]
                perm[j] = perm[r]
                perm[r] = tmp
                out[i, j] = perm[j]
            for j in range(m - 1, -1, -1):  # undo, so that perm is the pool again
                r = swaps[j]
                tmp = perm[j]
                perm[j] = perm[r]
                perm[r] = tmp

    @numba.njit(cache=True, nogil=True)
    def _top_k_sum(values: Any, weights: Any, out: Any) -> None:  # pragma: no cover - compiled
        n, m = values.shape
        k = weights.shape[0]
        if k <= 4:  # the common case, in registers: a branch-free insertion of each value
            w = np.zeros(4)
            w[:k] = weights
            for i in range(n):
                t0 = t1 = t2 = t3 = -np.inf
                for j in range(m):
                    v = values[i, j]
                    t0, v = max(t0, v), min(t0, v)
                    t1, v = max(t1, v), min(t1, v)
                    t2, v = max(t2, v), min(t2, v)
                    t3 = max(t3, v)
                s = w[0] * t0
                if k > 1:
                    s += w[1] * t1
                if k > 2:
                    s += w[2] * t2
                if k > 3:
                    s += w[3] * t3
                out[i] = s
            return
        top = np.empty(k)
        for i in range(n):
            top[:] = -np.inf
            for j in range(m):
                v = values[i, j]
                for p in range(k):
                    t = top[p]
                    top[p] = max(t, v)
                    v = min(t, v)
            s = 0.0
            for j in range(k):
                s += weights[j] * top[j]
            out[i] = s

    @numba.njit(cache=True, nogil=True)
    def _show(
        cols: Any, candidates: Any, attraction: Any, exam: Any, items: Any, p_click: Any, expected: Any
    ) -> bool:  # pragma: no cover - compiled
        n, k = cols.shape
        m = candidates.shape[1]
        for i in range(n):
            total = 0.0
            for j in range(k):
                c = cols[i, j]
                if c < 0 or c >= m:
                    return False
                p = exam[j] * attraction[i, c]
                for h in range(j):
                    if cols[i, h] == c:
                        p = 0.0
                items[i, j] = candidates[i, c]
                p_click[i, j] = p
                total += p
            expected[i] = total
        return True


def show_numpy(
    cols: IntArray, candidates: IntArray, attraction: FloatArray, exam: FloatArray
) -> tuple[IntArray, FloatArray, FloatArray] | None:
    """Reference of :func:`show`."""
    if cols.size and (cols.min() < 0 or cols.max() >= candidates.shape[1]):
        return None
    items = np.take_along_axis(candidates, cols, axis=1)
    p_click = np.take_along_axis(attraction, cols, axis=1) * exam
    for j in range(1, cols.shape[1]):
        p_click[(cols[:, j : j + 1] == cols[:, :j]).any(axis=1), j] = 0.0
    return items, p_click, p_click.sum(axis=1)


def show(
    cols: IntArray, candidates: IntArray, attraction: FloatArray, exam: FloatArray
) -> tuple[IntArray, FloatArray, FloatArray] | None:
    """Items shown, ``P(click)`` per position and its sum, for candidate columns ``cols`` (n, k).

    ``P(click) = exam[j] * attraction`` of the chosen column, 0 where the column already appeared
    earlier in the slate. None when a column is out of ``[0, m)``.
    """
    if not HAVE_NUMBA:  # pragma: no cover
        return show_numpy(cols, candidates, attraction, exam)
    items = np.empty(cols.shape, dtype=np.int64)
    p_click = np.empty(cols.shape, dtype=np.float64)
    expected = np.empty(cols.shape[0], dtype=np.float64)
    if not _show(cols, candidates, attraction, exam, items, p_click, expected):
        return None
    return items, p_click, expected


def sigmoid_(x: FloatArray, negated: bool = False) -> FloatArray:
    """``1 / (1 + exp(-x))`` in place (numpy's vectorised exp), returned; ``negated``: ``x`` holds ``-x``."""
    if not negated:
        np.negative(x, out=x)
    np.exp(x, out=x)
    x += 1.0
    np.reciprocal(x, out=x)
    return x


def attraction(
    taste: FloatArray, items: IntArray, cols: IntArray, vals: FloatArray, offset: FloatArray, scale: float
) -> FloatArray | None:
    """``sigmoid(offset[c] + scale * sum_h taste[i, cols[c, h]] * vals[c, h])`` for ``c = items[i, j]``.

    Returns None when a row of ``items`` is out of ``[0, len(cols))`` (the caller raises).
    """
    if not HAVE_NUMBA:  # pragma: no cover
        if items.size and (items.min() < 0 or items.max() >= cols.shape[0]):
            return None
        return sigmoid_(logits_numpy(taste, items, cols, vals, offset, scale))
    out = np.empty(items.shape, dtype=np.float64)
    return sigmoid_(out, negated=True) if _logits(taste, items, cols, vals, offset, float(scale), out) else None


def draw_users(
    bits: BitArray,
    like_offset: IntArray,
    like_cdf: FloatArray,
    dislike_offset: IntArray,
    dislike_size: IntArray,
    price_col: int,
    projection: FloatArray,
    context_offset: FloatArray,
    noise_scale: float,
) -> tuple[FloatArray, FloatArray]:
    """Tastes (n, width) and contexts (n, d) of ``n`` users from ``bits`` (n, words); see the reference."""
    args = (bits, like_offset, like_cdf, dislike_offset, dislike_size, price_col, projection, context_offset)
    if not HAVE_NUMBA:  # pragma: no cover
        return draw_users_numpy(*args, noise_scale)
    taste = np.zeros((bits.shape[0], projection.shape[0]))
    context = np.zeros((bits.shape[0], projection.shape[1]))
    _draw_users(*args, float(noise_scale), taste, context)
    return taste, context


def sample_rows(pool: IntArray, bits: BitArray, m: int) -> IntArray:
    """For each row of ``bits`` (n, ceil(m / 2)), ``m`` distinct elements of ``pool`` in uniformly random order.

    Draw ``j`` takes a 32-bit field ``f`` and picks position ``j + floor(f (len - j) / 2**32)`` among
    the ``len(pool) - j`` not yet taken (bias below ``len(pool) / 2**32``).
    """
    if not HAVE_NUMBA:  # pragma: no cover
        return sample_rows_numpy(pool, bits, m)
    out = np.empty((bits.shape[0], m), dtype=np.int64)
    _sample_rows(pool, bits, out)
    return out


def top_k_sum(values: FloatArray, weights: FloatArray) -> FloatArray:
    """``sum_j weights[j] * v_(j)`` per row, with ``v_(0) >= v_(1) >= ...`` the row's largest values."""
    if not HAVE_NUMBA:  # pragma: no cover
        return top_k_sum_numpy(values, weights)
    out = np.empty(values.shape[0], dtype=np.float64)
    _top_k_sum(np.ascontiguousarray(values), np.ascontiguousarray(weights, dtype=np.float64), out)
    return out
