"""Exploration over Q-values with exact propensities: epsilon-greedy and Boltzmann slates (private).

Both take Q-values ``(n, m)`` of every candidate (masked-out candidates never chosen) and return the
chosen columns ``(n, k)`` with the marginal probability of each chosen item at its position, and the whole
``(n, m, k)`` law that :meth:`abrec.policies.Policy.action_distribution` reports.

- **epsilon-greedy**: the greedy slate (ties broken uniformly at random) with probability ``1 - epsilon``,
  else a uniformly random slate: ``P(j at p) = (1 - epsilon) P_greedy(j at p) + epsilon / m_i``.
- **Boltzmann**: a Plackett-Luce slate on weights ``w_j = exp(Q_j / temperature)``: position 0 takes item
  ``j`` with probability ``w_j / W``, each next position draws from the items left, in proportion to their
  weights. The marginal ``P(j at p) = sum_S P(S fills positions 0..p-1) w_j / (W - w(S))`` is computed
  exactly by summing over the *sets* ``S`` of ``p`` items (their orders merged), so its cost grows as
  ``C(m, k - 1)``; past :data:`MAX_SETS` sets it refuses and points to epsilon-greedy.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ..errors import InputError
from ..policies import _slates

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

__all__ = ["MAX_SETS", "boltzmann", "boltzmann_distribution", "epsilon_greedy", "epsilon_greedy_distribution"]

#: Largest number of item sets the exact Boltzmann slate law may enumerate at one position.
MAX_SETS = 50_000


def _valid(q: FloatArray, mask: BoolArray | None) -> BoolArray:
    return np.ones(q.shape, dtype=bool) if mask is None else mask


def epsilon_greedy(
    q: FloatArray, k: int, epsilon: float, mask: BoolArray | None, valid: IntArray, rng: np.random.Generator
) -> tuple[IntArray, FloatArray]:
    """Slates and exact propensities of epsilon-greedy over ``q``."""
    n, m = q.shape
    masked = q if mask is None else np.where(mask, q, -np.inf)
    slots = _slates.ranked(masked, k, rng)
    random_slots, _ = _slates.uniform(valid, mask, n, m, k, rng)
    explore = rng.random(n) < epsilon
    slots[explore] = random_slots[explore]
    props = (1.0 - epsilon) * _slates.rank_probability(masked, slots) + epsilon / valid[:, None]
    return slots, props


def epsilon_greedy_distribution(
    q: FloatArray, k: int, epsilon: float, mask: BoolArray | None, valid: IntArray
) -> FloatArray:
    """The ``(n, m, k)`` law of :func:`epsilon_greedy`."""
    n, m = q.shape
    greedy = _slates.greedy_distribution(q, k, mask)
    uniform = _slates.uniform_distribution(valid, mask, n, m, k)
    out: FloatArray = (1.0 - epsilon) * greedy + epsilon * uniform
    return out


def _weights(q: FloatArray, temperature: float, mask: BoolArray | None) -> FloatArray:
    valid = _valid(q, mask)
    logits = np.where(valid, q / temperature, -np.inf)
    top = logits.max(axis=1, keepdims=True)
    w: FloatArray = np.where(valid, np.exp(logits - top), 0.0)
    return w


def boltzmann_distribution(q: FloatArray, k: int, temperature: float, mask: BoolArray | None) -> FloatArray:
    """The exact ``(n, m, k)`` Plackett-Luce law of Boltzmann slates on ``q / temperature``."""
    n, m = q.shape
    for p in range(1, k):
        if math.comb(m, p) > MAX_SETS:
            raise InputError(
                f"Boltzmann exploration computes exact slate propensities over the sets of earlier items; "
                f"{m} candidates and slates of {k} need C({m}, {p}) = {math.comb(m, p)} sets, more than "
                f"{MAX_SETS}. Use exploration='epsilon' (exact at any size) or smaller slates."
            )
    w = _weights(q, temperature, mask)
    total = w.sum(axis=1)
    out = np.zeros((n, m, k))
    sets = np.zeros((1, m), dtype=bool)  # the sets S of items already placed, one row each
    prob = np.ones((n, 1))  # P(S fills the positions before this one), per request
    for p in range(k):
        rem = total[:, None] - w @ sets.T.astype(np.float64)  # (n, S)
        share = np.divide(prob, rem, out=np.zeros_like(prob), where=rem > 0)  # (n, S)
        out[:, :, p] = w * (share @ (~sets).astype(np.float64))
        if p + 1 == k:
            break
        # Next sets: S + {j} for every j outside S, merged by set (their probabilities add up).
        s_idx, j_idx = np.nonzero(~sets)
        grown = sets[s_idx].copy()
        grown[np.arange(s_idx.shape[0]), j_idx] = True
        grown_prob = share[:, s_idx] * w[:, j_idx]
        keys = np.packbits(grown, axis=1)
        _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
        merged = np.zeros((n, first.shape[0]))
        np.add.at(merged.T, inverse.ravel(), grown_prob.T)
        sets, prob = grown[first], merged
    return out


def boltzmann(
    q: FloatArray, k: int, temperature: float, mask: BoolArray | None, rng: np.random.Generator
) -> tuple[IntArray, FloatArray]:
    """Plackett-Luce slates on ``q / temperature`` (drawn position by position) and their exact propensities."""
    n, m = q.shape
    law = boltzmann_distribution(q, k, temperature, mask) if k > 1 else None
    w = _weights(q, temperature, mask)
    slots = np.empty((n, k), dtype=np.int64)
    left = w.copy()
    rows = np.arange(n)
    for p in range(k):
        cdf = np.cumsum(left, axis=1)
        u = rng.random(n) * cdf[:, -1]
        pick = np.minimum((cdf <= u[:, None]).sum(axis=1), m - 1)
        # Never a zero-weight column (a rounding edge at the top of the cdf): step back to a live one.
        dead = left[rows, pick] <= 0
        if dead.any():
            pick[dead] = np.argmax(np.where(left[dead] > 0, np.arange(m)[None, :], -1), axis=1)
        slots[:, p] = pick
        left[rows, pick] = 0.0
    if law is None:
        props = (np.take_along_axis(w, slots, axis=1) / w.sum(axis=1, keepdims=True)).astype(np.float64)
    else:
        props = law[rows[:, None], slots, np.arange(k)[None, :]]
    return slots, props
