"""Typed records at the policy boundary: what a policy decided, and what was observed."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from ..errors import InputError

__all__ = ["Decision", "Feedback"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Decision(NamedTuple):
    """The slates a policy chose for a batch of ``n`` requests, ``k`` positions each.

    An immutable record (a named tuple: cheap to build on the one-request hot path).

    Attributes
    ----------
    items : (n, k) array of item ids, the chosen slate of each request, position 0 first.
    slots : (n, k) int array, the column of each chosen item in that request's candidate list.
    propensities : (n, k) float array in (0, 1]: the marginal probability that the policy puts
        that item in that position, given the request (what off-policy evaluation needs).
    scores : (n, m) float array, the policy's score of every candidate (NaN where masked out).
    policy, version : the policy's name and the version of its algorithm.
    propensity_draws : 0 where the propensities are exact, else the number of Monte Carlo draws
        behind them (Thompson sampling, Plackett-Luce slates).
    """

    items: npt.NDArray[np.generic]
    slots: IntArray
    propensities: FloatArray
    scores: FloatArray
    policy: str
    version: str
    propensity_draws: int = 0

    @property
    def n(self) -> int:
        """Number of requests."""
        return int(self.slots.shape[0])

    @property
    def k(self) -> int:
        """Slate size."""
        return int(self.slots.shape[1])

    def feedback(
        self,
        rewards: npt.ArrayLike,
        contexts: npt.ArrayLike | None = None,
        item_features: npt.ArrayLike | None = None,
    ) -> Feedback:
        """Feedback for this decision from an ``(n, k)`` (or ``(n,)`` when k == 1) reward array.

        ``contexts`` are the ``(n, d)`` request contexts given to ``decide``; ``item_features`` the
        candidates' features as given to ``decide`` (``(m, p)`` shared or ``(n, m, p)``).
        """
        n, k = self.slots.shape
        r = np.asarray(rewards, dtype=np.float64)
        if r.shape == (n,) and k == 1:
            r = r[:, None]
        if r.shape != (n, k):
            raise InputError(f"rewards must have shape ({n}, {k}) to match the decision. Got {r.shape}.")
        x = None
        if contexts is not None:
            x = np.atleast_2d(np.asarray(contexts, dtype=np.float64))
            if k > 1:
                x = np.repeat(x, k, axis=0)
        f = None
        if item_features is not None:
            feats = np.asarray(item_features, dtype=np.float64)
            if feats.ndim == 2:
                f = feats[self.slots.ravel()]
            else:
                f = feats[np.repeat(np.arange(n), k), self.slots.ravel()]
        return Feedback(
            items=self.items.reshape(-1),
            rewards=r.reshape(-1),
            contexts=x,
            positions=np.tile(np.arange(k, dtype=np.int64), n),
            propensities=self.propensities.reshape(-1),
            item_features=f,
        )


class Feedback(NamedTuple):
    """A batch of ``N`` logged events, one per (request, shown item, position).

    An immutable record (a named tuple).

    Attributes
    ----------
    items : (N,) item ids that were shown.
    rewards : (N,) float rewards (click = 1.0, purchase value, ...).
    contexts : (N, d) float contexts of the requests, or None for context-free policies.
    positions : (N,) int positions in the slate (0 = top), or None (all 0).
    propensities : (N,) logging propensities, or None when unknown.
    item_features : (N, p) features of the shown items, or None.
    """

    items: npt.NDArray[np.generic]
    rewards: FloatArray
    contexts: FloatArray | None = None
    positions: IntArray | None = None
    propensities: FloatArray | None = None
    item_features: FloatArray | None = None

    @property
    def size(self) -> int:
        """Number of events."""
        return int(self.rewards.shape[0])
