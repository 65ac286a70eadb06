"""The model behind every simulator: items with text, users with latent tastes, clicks and purchases.

A :class:`World` is what the two Gymnasium views (the bandit view and the session view) simulate.
It fixes, for a population of items (some of which arrive later: cold start):

- what an outsider can see: item ids, their texts (what an encoder reads), prices, arrival steps,
  and for each user an observable context vector;
- what only the simulator knows: each user's latent taste and each item's latent vector, from which
  the **attraction** ``P(click | examined)`` and ``P(purchase | click)`` follow;
- a position-based click model: position ``j`` of a slate is examined with probability
  ``examination[j]``, independently of the item, and a shown item is clicked with probability
  ``examination[j] * attraction``.

Everything is vectorised over a batch of users and a batch of slates. The expected clicks of a
slate (:meth:`World.expected_clicks`) and its expected revenue (:meth:`World.expected_revenue`) are
exact, so a simulator's regret is exact too.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

__all__ = ["Users", "World"]


@dataclass(frozen=True, slots=True, eq=False)
class Users:
    """A batch of ``n`` users: observable ``context`` (n, d) and simulator-only ``taste`` (n, k)."""

    context: FloatArray
    taste: FloatArray

    def __len__(self) -> int:
        return int(self.context.shape[0])

    def take(self, rows: IntArray) -> Users:
        """The users at ``rows``."""
        return Users(self.context[rows], self.taste[rows])


class World(ABC):
    """Items, users and the click / purchase model of one simulated market (see the module docstring).

    Items are addressed by *row* ``0 .. n_items - 1`` (``item_ids[row]`` is the public id).
    Subclasses fill the attributes in ``__init__`` and implement :meth:`sample_users`,
    :meth:`attraction` and :meth:`purchase`.

    Attributes
    ----------
    item_ids : (n_items,) public item ids (what policies see).
    item_vectors : (n_items, k) latent item vectors (simulator-only; similar items have similar vectors).
    price : (n_items,) float prices (revenue of a purchase).
    arrival : (n_items,) int, the step from which each item can be recommended (0 = from the start).
    examination : (n_positions,) probability that each slate position is looked at.
    """

    item_ids: npt.NDArray[np.generic]
    item_vectors: FloatArray
    price: FloatArray
    arrival: IntArray
    examination: FloatArray

    @property
    def n_items(self) -> int:
        return int(self.item_ids.shape[0])

    @property
    def ids(self) -> npt.NDArray[np.generic]:
        """The public item ids (with :meth:`texts`, a world is a catalog for ``abrec.embeddings.item_features``)."""
        return self.item_ids

    def texts(self) -> list[str]:
        """The item descriptions, in the order of :attr:`ids`."""
        return self.item_texts()

    @property
    def n_positions(self) -> int:
        return int(self.examination.shape[0])

    @property
    @abstractmethod
    def context_dim(self) -> int:
        """Dimension of a user's observable context."""

    @abstractmethod
    def item_texts(self) -> list[str]:
        """One natural-language description per item row (what a text encoder reads)."""

    @abstractmethod
    def sample_users(self, n: int, rng: np.random.Generator) -> Users:
        """Draw ``n`` arriving users."""

    @abstractmethod
    def attraction(self, users: Users, items: IntArray) -> FloatArray:
        """``P(click | examined)`` of item rows ``items`` (n, m) for each of the ``n`` users, in [0, 1]."""

    @abstractmethod
    def purchase(self, users: Users, items: IntArray) -> FloatArray:
        """``P(purchase | click)`` of item rows ``items`` (n, m) for each user, in [0, 1]."""

    def available(self, step: int) -> IntArray:
        """Rows of the items that can be recommended at ``step`` (arrived by then)."""
        return np.flatnonzero(self.arrival <= step).astype(np.int64)

    def expected_clicks(self, users: Users, slates: IntArray) -> FloatArray:
        """Exact expected clicks of each user's slate (n, k) of item rows: ``sum_j exam_j * attraction``."""
        k = slates.shape[1]
        result: FloatArray = self.attraction(users, slates) @ self.examination[:k]
        return result

    def expected_revenue(self, users: Users, slates: IntArray) -> FloatArray:
        """Exact expected revenue of each slate: ``sum_j exam_j * attraction * P(purchase | click) * price``."""
        k = slates.shape[1]
        value = self.attraction(users, slates) * self.purchase(users, slates) * self.price[slates]
        result: FloatArray = value @ self.examination[:k]
        return result

    def best_slates(self, users: Users, candidates: IntArray, k: int) -> IntArray:
        """The oracle: for each user, the k candidate rows (n, m) of highest attraction, best first.

        With examination decreasing in position, sorting by attraction maximises expected clicks.
        """
        attraction = self.attraction(users, candidates)
        order = np.argsort(-attraction, axis=1, kind="stable")[:, :k]
        best: IntArray = np.take_along_axis(candidates, order, axis=1)
        return best
