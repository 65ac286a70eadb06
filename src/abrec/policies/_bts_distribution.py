"""Where Thompson sampling puts each item in its slate, by vectorised Monte Carlo (private).

A Thompson policy with independent posteriors fills a slate of ``k`` positions by drawing one
value per item and showing the items of the ``k`` largest draws, in descending order. The
probability that item ``i`` lands at position ``p`` has no closed form; :func:`top_counts` counts
it over a chunk of draws (a compiled loop, or ``numpy.argpartition`` as the reference), and
:func:`beta_top_counts` does so for Beta posteriors over many draws, in fixed blocks of
:data:`BLOCK_DRAWS` slates: block ``b`` reads its own generator, the ``b``-th child spawned from
the given one, so that the counts depend only on that generator and ``n_draws``, never on the
thread count (``n_jobs``) or the chunk size (which bounds memory). numpy's samplers and the
compiled loop release the GIL, so threads share the blocks.

Where each request has its own candidates and its own chosen slate, only whether each chosen candidate
lands at its position counts: :func:`slate_match_counts` (one draw per distinct item, shared by the
requests) and :func:`rank_match_counts` (one draw per request and candidate, for
:func:`abrec.policies._slates.sampled`) build no slate. Candidate ``c`` is at position ``j`` exactly when
``j`` candidates rank ahead of it, so their compiled loops read each candidate once per chosen position.

:meth:`abrec.policies.BernoulliThompson.action_distribution` and
:func:`abrec.ope.bts_action_distribution` both count with :func:`beta_top_counts`.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

CHUNK_BYTES = 16 * 2**20
"""Memory budget of one chunk of posterior draws (float64) per thread, when ``chunk`` is not given."""

BLOCK_DRAWS = 4096
"""Slates per block: each block has its own child generator (fixed, so results never depend on threads)."""

MAX_JOBS = 8
"""Default thread count: ``min(os.cpu_count(), MAX_JOBS)``."""

try:  # pragma: no cover - numba is a core dependency
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False


def top_counts_numpy(draws: FloatArray, counts: IntArray) -> None:
    """Add to ``counts[i, j]`` the rows of ``draws`` whose ``j``-th largest value is item ``i`` (numpy reference)."""
    n_items, k = counts.shape
    if k < n_items:
        top = np.argpartition(draws, n_items - k, axis=1)[:, n_items - k :]
    else:
        top = np.broadcast_to(np.arange(n_items), draws.shape).copy()
    order = np.argsort(-np.take_along_axis(draws, top, axis=1), axis=1, kind="stable")
    ranked = np.take_along_axis(top, order, axis=1)
    for j in range(k):
        counts[:, j] += np.bincount(ranked[:, j], minlength=n_items)


if HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True, inline="always")
    def _push(best: Any, idx: Any, filled: int, v: float, i: int) -> int:  # pragma: no cover - compiled
        """Insert value ``v`` of column ``i`` into the running top-k (``best`` descending, ``idx`` its columns,
        ``filled`` of them set so far); a tie keeps the earlier column first. Returns the new ``filled``."""
        k = best.shape[0]
        if filled < k:
            pos = filled
            filled += 1
        elif v > best[k - 1]:
            pos = k - 1
        else:
            return filled
        while pos > 0 and best[pos - 1] < v:
            best[pos] = best[pos - 1]
            idx[pos] = idx[pos - 1]
            pos -= 1
        best[pos] = v
        idx[pos] = i
        return filled

    @numba.njit(cache=True, nogil=True)
    def _top_counts_nb(draws: Any, counts: Any) -> None:  # pragma: no cover - compiled
        n_rows, n_items = draws.shape
        k = counts.shape[1]
        best = np.empty(k)
        idx = np.empty(k, dtype=np.int64)
        for r in range(n_rows):
            filled = 0
            for i in range(n_items):
                filled = _push(best, idx, filled, draws[r, i], i)
            for j in range(k):
                counts[idx[j], j] += 1


def top_counts(draws: FloatArray, counts: IntArray, use_numba: bool = True) -> None:
    """Add to ``counts[i, j]`` (items x positions) the rows of ``draws`` (rows x items) that put item ``i`` at ``j``.

    Ties (probability 0 for continuous posteriors) go to the lower item index.
    """
    if use_numba and HAVE_NUMBA:
        _top_counts_nb(np.ascontiguousarray(draws), counts)
    else:
        top_counts_numpy(draws, counts)


def beta_top_counts(
    alpha: FloatArray,
    beta: FloatArray,
    n_positions: int,
    n_draws: int,
    rng: np.random.Generator,
    *,
    chunk: int | None = None,
    use_numba: bool = True,
    n_jobs: int | None = None,
) -> IntArray:
    """``counts[i, j]``: in how many of ``n_draws`` slates of Beta Thompson sampling item ``i`` is at position ``j``.

    Each slate draws ``theta_i ~ Beta(alpha_i, beta_i)`` for every item and shows the ``n_positions``
    items of largest ``theta`` in descending order. ``alpha`` and ``beta`` must be valid (positive,
    finite, same length); the counts depend only on ``rng`` (its children) and ``n_draws``.
    """
    n_items = alpha.shape[0]
    rows = min(BLOCK_DRAWS, chunk if chunk is not None else max(1, CHUNK_BYTES // (8 * n_items)))
    n_blocks = -(-n_draws // BLOCK_DRAWS)
    generators = rng.spawn(n_blocks)
    jobs = min(n_blocks, n_jobs if n_jobs is not None else min(os.cpu_count() or 1, MAX_JOBS))

    def run(first: int) -> IntArray:
        """Counts of the blocks ``first, first + jobs, ...`` (one thread's share)."""
        counts = np.zeros((n_items, n_positions), dtype=np.int64)
        for block in range(first, n_blocks, jobs):
            child, todo = generators[block], min(BLOCK_DRAWS, n_draws - block * BLOCK_DRAWS)
            while todo > 0:
                size = min(rows, todo)
                top_counts(child.beta(alpha, beta, size=(size, n_items)), counts, use_numba)
                todo -= size
        return counts

    if jobs == 1:
        return run(0)
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="abrec-bts") as pool:
        total: IntArray = sum(pool.map(run, range(jobs)), np.zeros((n_items, n_positions), dtype=np.int64))
    return total


# ------------------------------------------------------------- per-request slates from per-item draws
def slate_match_counts_numpy(samples: FloatArray, index: IntArray, slots: IntArray, counts: FloatArray) -> None:
    """Add to ``counts[r, j]`` the draws ``s`` whose top-k over request ``r``'s candidates puts ``slots[r, j]`` at
    position ``j`` (numpy reference of :func:`slate_match_counts`).

    ``samples`` (S, U) holds S draws of every distinct item; ``index`` (n, m) says which item (column of
    ``samples``) each request's candidate is; ``slots`` (n, k) are candidate columns, position 0 first.
    """
    k = slots.shape[1]
    gathered = samples[:, index]  # (S, n, m)
    if k == 1:
        top = gathered.argmax(axis=-1)[..., None]
    else:
        top = np.argsort(-gathered, axis=-1, kind="stable")[..., :k]
    counts += (top == slots[None]).sum(axis=0)


if HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True, inline="always")
    def _ahead(vals: Any, c: int, limit: int) -> int:  # pragma: no cover - compiled
        """How many candidates are ahead of column ``c`` of ``vals``: a larger value, or an equal one at a lower
        column. Once more than ``limit`` are (``c`` cannot be at position ``limit``), it may stop counting early;
        a column outside ``vals`` is at no position (``limit + 1``)."""
        if c < 0 or c >= vals.shape[0]:
            return limit + 1
        vc = vals[c]
        ahead = 0
        for i in range(c):
            ahead += vals[i] >= vc
        if ahead > limit:
            return ahead
        for i in range(c + 1, vals.shape[0]):
            ahead += vals[i] > vc
        return ahead

    @numba.njit(cache=True, nogil=True, inline="always")
    def _above_tied(vals: Any, c: int, limit: int) -> tuple[int, int]:  # pragma: no cover - compiled
        """How many candidates have a larger value than column ``c`` of ``vals``, and how many others an equal one.
        Once more than ``limit`` are larger, it may stop counting early (the tied count is then incomplete); a
        column outside ``vals`` is at no position (``limit + 1`` larger, none tied)."""
        if c < 0 or c >= vals.shape[0]:
            return limit + 1, 0
        vc = vals[c]
        above = 0
        tied = 0
        for i in range(c):
            above += vals[i] > vc
            tied += vals[i] == vc
        if above > limit:
            return above, tied
        for i in range(c + 1, vals.shape[0]):
            above += vals[i] > vc
            tied += vals[i] == vc
        return above, tied

    @numba.njit(cache=True, nogil=True)
    def _slate_match_nb(samples: Any, index: Any, slots: Any, counts: Any) -> None:  # pragma: no cover - compiled
        n_draws = samples.shape[0]
        n, m = index.shape
        k = slots.shape[1]
        vals = np.empty(m)
        for s in range(n_draws):
            row = samples[s]
            for r in range(n):
                for i in range(m):
                    vals[i] = row[index[r, i]]
                for j in range(k):
                    if _ahead(vals, slots[r, j], j) == j:
                        counts[r, j] += 1.0

    @numba.njit(cache=True, nogil=True)
    def _rank_match_nb(
        samples: Any, slots: Any, counts: Any, unsure: Any, defer_ties: bool
    ) -> int:  # pragma: no cover - compiled
        n_draws, n, _ = samples.shape
        k = slots.shape[1]
        hits = np.zeros(k, dtype=np.bool_)
        n_unsure = 0
        for s in range(n_draws):
            for r in range(n):
                vals = samples[s, r]
                tie_decides = False
                for j in range(k):
                    if defer_ties:
                        above, tied = _above_tied(vals, slots[r, j], j)
                        hits[j] = above == j  # a tied slot with ``above == j`` is a deciding tie: deferred
                        tie_decides |= tied > 0 and above <= j <= above + tied
                    else:
                        hits[j] = _ahead(vals, slots[r, j], j) == j
                if tie_decides:
                    unsure[n_unsure] = s * n + r
                    n_unsure += 1
                    continue
                for j in range(k):
                    if hits[j]:
                        counts[r, j] += 1.0
        return n_unsure


def slate_match_counts(
    samples: FloatArray, index: IntArray, slots: IntArray, counts: FloatArray, use_numba: bool = True
) -> None:
    """Add to ``counts[r, j]`` how many of the draws in ``samples`` put candidate ``slots[r, j]`` of request ``r``
    at position ``j`` of its slate (the top-k of its candidates' draws, largest first).

    One draw of every distinct item (a row of ``samples``, shape (S, U)) serves every request whose
    candidates include it: ``index[r, i]`` is the column of request ``r``'s candidate ``i``. Each request's
    counts are those of S independent draws from its own candidates' posteriors; requests of one call share
    the draws of the items they share. Ties (probability 0 for continuous posteriors) go to the lower
    candidate column. The compiled loop never builds the (S, n, m) array the numpy reference gathers, nor
    the slate itself: ``slots[r, j]`` is at position ``j`` exactly when ``j`` candidates are ahead of it (a
    larger draw, or an equal one at a lower column), so each draw reads each candidate once per slot.
    """
    if use_numba and HAVE_NUMBA:
        _slate_match_nb(np.ascontiguousarray(samples), np.ascontiguousarray(index), slots, counts)
    else:
        slate_match_counts_numpy(samples, index, slots, counts)


def rank_match_counts(samples: FloatArray, slots: IntArray, counts: FloatArray, *, defer_ties: bool) -> IntArray:
    """Add to ``counts[r, j]`` the draws ``s`` whose scores ``samples[s, r, :]`` (shape (S, n, m)) rank candidate
    ``slots[r, j]`` at position ``j`` (largest first), by a compiled rank test; needs numba (:data:`HAVE_NUMBA`).

    Candidate ``c`` is at position ``j`` exactly when ``j`` candidates rank ahead of it, so no slate is built.
    With ``defer_ties=False`` an equal score ranks the lower column ahead (the first maximum ``argmax`` picks),
    and every draw is counted. With ``defer_ties=True`` a draw where a slot's score equals another
    candidate's and that tie decides the slot's position is left uncounted: the returned ``s * n + r`` of
    those draws (in increasing order) are for the caller to rank its own way. -inf (a masked candidate) is
    an ordinary score: below every finite one, equal to another -inf.
    """
    if not HAVE_NUMBA:  # pragma: no cover - numba is a core dependency
        raise RuntimeError("rank_match_counts needs numba")
    samples = np.ascontiguousarray(samples, dtype=np.float64)
    unsure = np.empty(samples.shape[0] * samples.shape[1] if defer_ties else 0, dtype=np.int64)
    n_unsure = _rank_match_nb(samples, np.ascontiguousarray(slots, dtype=np.int64), counts, unsure, defer_ties)
    return unsure[:n_unsure]
