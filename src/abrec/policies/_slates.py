"""Slate construction and the propensities that go with it (vectorised over requests).

Every helper takes scores of shape (n, m) where masked-out candidates hold -inf, and returns
``slots`` (n, k), the chosen candidate columns, position 0 first, and ``propensities`` (n, k),
the marginal probability of each chosen item at its position.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Largest number of floats one chunk of Monte Carlo draws may hold (keeps memory near 16 MB).
_CHUNK_FLOATS = 2_000_000


def ranked(scores: FloatArray, k: int, rng: np.random.Generator) -> IntArray:
    """Columns of the k highest scores per row, ties broken uniformly at random."""
    n, m = scores.shape
    if k == 1:
        best = scores.max(axis=1, keepdims=True)
        tied = scores == best
        if n == 1:
            cols = np.flatnonzero(tied[0])
            pick = cols[0] if cols.shape[0] == 1 else cols[rng.integers(cols.shape[0])]
            return np.array([[pick]], dtype=np.int64)
        keys = np.where(tied, rng.random((n, m)), -1.0)
        best_cols: IntArray = keys.argmax(axis=1)[:, None].astype(np.int64)
        return best_cols
    order = np.lexsort((rng.random((n, m)), -scores), axis=-1)
    return order[:, :k].astype(np.int64)


def greedy(scores: FloatArray, k: int, rng: np.random.Generator) -> tuple[IntArray, FloatArray]:
    """Top-k by score with random tie-breaking, and exact propensities.

    An item whose score is shared by ``g`` candidates occupies a block of ``g`` consecutive ranks;
    random tie-breaking puts it at each rank of that block with probability exactly ``1/g``.
    """
    if k == 1:
        from ._kernels import top1

        return top1(scores, rng.random((scores.shape[0],)))
    slots = ranked(scores, k, rng)
    return slots, rank_probability(scores, slots)


def rank_probability(scores: FloatArray, slots: IntArray) -> FloatArray:
    """P(greedy ranking with random tie-breaking puts candidate ``slots[i, j]`` at position j).

    With ``above`` candidates scoring strictly higher and ``g`` sharing its score, the item lands
    on each of the positions ``above .. above + g - 1`` with probability ``1/g``, elsewhere never.
    """
    chosen = np.take_along_axis(scores, slots, axis=1)[:, :, None]
    above = (scores[:, None, :] > chosen).sum(axis=2)
    ties = (scores[:, None, :] == chosen).sum(axis=2)
    position = np.arange(slots.shape[1])[None, :]
    inside = (position >= above) & (position < above + ties)
    return np.where(inside, 1.0 / ties, 0.0)


def uniform(
    valid_counts: IntArray, mask: npt.NDArray[np.bool_] | None, n: int, m: int, k: int, rng: np.random.Generator
) -> tuple[IntArray, FloatArray]:
    """A uniformly random slate of k distinct valid candidates; each item at each slot has 1/m_i."""
    keys = rng.random((n, m))
    if mask is not None:
        keys = np.where(mask, keys, -1.0)
    if k == 1:
        slots = keys.argmax(axis=1)[:, None].astype(np.int64)
    else:
        slots = np.argsort(-keys, axis=1)[:, :k].astype(np.int64)
    props = np.broadcast_to((1.0 / valid_counts)[:, None], (n, k)).copy()
    return slots, props


def topk_of(samples: FloatArray, k: int) -> IntArray:
    """Top-k columns (ordered) along the last axis of ``samples`` (..., m)."""
    if k == 1:
        best: IntArray = samples.argmax(axis=-1)[..., None]
        return best
    part = np.argpartition(-samples, k - 1, axis=-1)[..., :k]
    vals = np.take_along_axis(samples, part, axis=-1)
    return np.take_along_axis(part, np.argsort(-vals, axis=-1, kind="stable"), axis=-1)


def sampled(draw: Callable[[int], FloatArray], slots: IntArray, n_draws: int) -> FloatArray:
    """Monte Carlo propensities for policies that rank by random scores.

    ``draw(s)`` returns ``s`` fresh independent score samples of shape (s, n, m) (masked = -inf),
    from the same distribution as the one that produced ``slots``. The propensity of the chosen
    item at position j is (1 + #draws that put it at j) / (1 + n_draws): the decision's own draw is
    one of the samples, so the estimate is unbiased-in-the-limit and never 0. A draw puts an item at j
    when :func:`topk_of` does (the count, :func:`count_topk_matches`, builds no slate unless a tie decides).
    """
    n, k = slots.shape
    counts = np.zeros((n, k), dtype=np.float64)
    if n_draws > 0:
        probe = draw(1)
        per_chunk = max(1, _CHUNK_FLOATS // max(1, probe.shape[1] * probe.shape[2]))
        done = 0
        first: FloatArray | None = probe
        while done < n_draws:
            s = min(per_chunk, n_draws - done)
            if first is not None:
                samples, s, first = first, 1, None
            else:
                samples = draw(s)
            count_topk_matches(samples, slots, counts)
            done += s
    return (counts + 1.0) / (n_draws + 1.0)


def count_topk_matches(samples: FloatArray, slots: IntArray, counts: FloatArray) -> None:
    """Add to ``counts[r, j]`` the draws ``s`` for which ``topk_of(samples[s, r], k)`` puts ``slots[r, j]`` at j.

    ``samples`` is (s, n, m) (masked = -inf). The compiled rank test of
    :func:`abrec.policies._bts_distribution.rank_match_counts` builds no slate: ``slots[r, j]`` is at
    position ``j`` exactly when ``j`` candidates score higher and none ties it. For ``k = 1`` a tie goes to
    the lower column, as ``argmax`` (``topk_of``'s) gives it. For ``k > 1``, where a slot ties another
    candidate and the tie decides its position (probability 0 for continuous scores; -inf ties a slot only
    when a masked candidate is in it), that draw is ranked by :func:`topk_of` itself, whose order of exact
    ties (whatever ``argpartition`` leaves, not the column order) the count must match. Without numba every
    draw is ranked by :func:`topk_of`.
    """
    from . import _bts_distribution

    k = slots.shape[1]
    if not _bts_distribution.HAVE_NUMBA:
        counts += (topk_of(samples, k) == slots[None]).sum(axis=0)
        return
    # argmax (topk_of's k = 1) keeps the first of tied maxima: the lower column, as the rank test does.
    unsure = _bts_distribution.rank_match_counts(samples, slots, counts, defer_ties=k > 1)
    if unsure.shape[0]:
        draw_of, request = np.divmod(unsure, slots.shape[0])
        np.add.at(counts, request, topk_of(samples[draw_of, request], k) == slots[request])


def sampled_items(
    draw_items: Callable[[int], FloatArray], index: IntArray, slots: IntArray, n_draws: int
) -> FloatArray:
    """Like :func:`sampled` when each candidate's score is a draw of its item's own posterior.

    ``draw_items(s)`` returns (s, U) fresh draws of the U distinct items; ``index`` (n, m) maps each request's
    candidates to those columns. Every request's propensity is the same unbiased Monte Carlo estimate as
    :func:`sampled` gives (``n_draws`` independent draws of its candidates' scores, plus its own decision's
    draw), but one draw per distinct item serves all requests that show it, and the compiled count never
    builds the (s, n, m) array: on a batch of 100 requests of 20 candidates among 500 items, a quarter of
    the posterior samples. Requests of one call share those draws, so their estimates are correlated
    (each stays unbiased); the decisions themselves never share draws.
    """
    from ._bts_distribution import slate_match_counts

    n, k = slots.shape
    counts = np.zeros((n, k), dtype=np.float64)
    per_chunk = max(1, _CHUNK_FLOATS // max(1, int(index.max(initial=0)) + 1))
    done = 0
    while done < n_draws:
        s = min(per_chunk, n_draws - done)
        slate_match_counts(draw_items(s), index, slots, counts)
        done += s
    return (counts + 1.0) / (n_draws + 1.0)


def sampled_shared(draw: Callable[[int], FloatArray], slots: IntArray, n_draws: int, m: int) -> FloatArray:
    """Like :func:`sampled` when every request has the same score distribution.

    ``draw(s)`` returns (s, 1, m) samples. One table ``counts[item, position]`` from ``n_draws``
    draws serves all requests; request i's own draw adds the +1 as in :func:`sampled`.
    """
    k = slots.shape[1]
    counts = np.zeros((m, k), dtype=np.float64)
    done = 0
    per_chunk = max(1, _CHUNK_FLOATS // m)
    while done < n_draws:
        s = min(per_chunk, n_draws - done)
        top = topk_of(draw(s)[:, 0, :], k)  # (s, k)
        for j in range(k):
            counts[:, j] += np.bincount(top[:, j], minlength=m)
        done += s
    return (counts[slots, np.arange(k)[None, :]] + 1.0) / (n_draws + 1.0)


# ---------------------------------------------------------------------------- whole distributions
def greedy_distribution(scores: FloatArray, k: int, mask: npt.NDArray[np.bool_] | None = None) -> FloatArray:
    """P(greedy ranking with random tie-breaking puts candidate j at position p), shape (n, m, k).

    Candidates are ranked by score, highest first (masked-out ones never appear: probability 0). A
    candidate with ``above`` valid candidates scoring strictly higher and ``g`` valid candidates
    sharing its score (itself included) lands on each of the positions ``above .. above + g - 1``
    with probability ``1/g``, as :func:`greedy` and :func:`rank_probability` say.

    Examples
    --------
    >>> p = greedy_distribution(np.array([[0.1, 0.5, 0.5, 0.2]]), 3)
    >>> p[0].tolist()
    [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]]
    """
    n, m = scores.shape
    valid = np.ones((n, m), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    key = np.where(valid, scores, -np.inf)
    order = np.lexsort((-key, ~valid), axis=-1)  # valid first, then by score, highest first
    ranked = np.take_along_axis(key, order, axis=1)
    ranked_valid = np.take_along_axis(valid, order, axis=1)
    rank = np.arange(m)
    change = (ranked[:, 1:] != ranked[:, :-1]) | (ranked_valid[:, 1:] != ranked_valid[:, :-1])
    first = np.ones((n, m), dtype=bool)
    first[:, 1:] = change
    last = np.ones((n, m), dtype=bool)
    last[:, :-1] = change
    start = np.maximum.accumulate(np.where(first, rank, 0), axis=1)
    stop = np.minimum.accumulate(np.where(last, rank, m - 1)[:, ::-1], axis=1)[:, ::-1]
    position = np.arange(k)[None, None, :]
    inside = (start[:, :, None] <= position) & (position <= stop[:, :, None]) & ranked_valid[:, :, None]
    prob_ranked = np.where(inside, 1.0 / (stop - start + 1)[:, :, None], 0.0)
    out = np.empty((n, m, k))
    np.put_along_axis(out, order[:, :, None], prob_ranked, axis=1)
    return out


def uniform_distribution(
    valid_counts: IntArray, mask: npt.NDArray[np.bool_] | None, n: int, m: int, k: int
) -> FloatArray:
    """The distribution of :func:`uniform` slates: ``1 / m_i`` for every valid candidate at every position."""
    share = np.broadcast_to((1.0 / valid_counts)[:, None, None], (n, m, k))
    if mask is None:
        return share.copy()
    out: FloatArray = np.where(mask[:, :, None], share, 0.0)
    return out
