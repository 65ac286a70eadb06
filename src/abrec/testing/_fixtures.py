"""Small seeded synthetic problems that the policy checks feed to a policy (private).

A :class:`Problem` knows whether the policy under test reads contexts and item features, and
builds requests (keyword arguments of ``decide``) and :class:`~abrec.policies.records.Feedback`
that fit it. Every call returns fresh arrays, so a policy that mutates its inputs cannot leak
the damage into a later call; :func:`fresh` and :func:`copy_feedback` copy what must be reused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..policies.records import Feedback

__all__ = [
    "CATALOGUE_SIZE",
    "CONTEXT_DIM",
    "FEATURE_DIM",
    "FEEDBACK_FIELDS",
    "Problem",
    "copy_feedback",
    "events",
    "fields_of",
    "fresh",
]

FloatArray = npt.NDArray[np.float64]
Ids = npt.NDArray[Any]
Request = dict[str, Any]

#: Dimension of the synthetic request contexts.
CONTEXT_DIM = 4
#: Dimension of the synthetic item features (text embeddings reduced to a few dimensions).
FEATURE_DIM = 3
#: Number of items in the catalogue the policies are trained on.
CATALOGUE_SIZE = 6
#: Number of items in the whole pool; the ones past the catalogue are never seen in training.
POOL_SIZE = 10
#: The fields of :class:`~abrec.policies.records.Feedback`, by name.
FEEDBACK_FIELDS = ("items", "rewards", "contexts", "positions", "propensities", "item_features")


class Problem:
    """A seeded synthetic recommendation problem shaped for one policy.

    Parameters
    ----------
    contextual : whether requests and feedback carry contexts ``(n, d)``.
    uses_item_features : whether requests and feedback carry item features.
    string_ids : use string item ids (``"item-00"``, ...) instead of integers (``101``, ...).
    seed : seed of the problem's own generator (never the policy's).

    Examples
    --------
    >>> problem = Problem(contextual=True, uses_item_features=False, seed=0)
    >>> request = problem.shared(3)
    >>> request["candidates"].tolist(), request["contexts"].shape
    ([101, 102, 103, 104, 105, 106], (3, 4))
    """

    def __init__(self, *, contextual: bool, uses_item_features: bool, string_ids: bool = False, seed: int = 0) -> None:
        self.contextual = contextual
        self.uses_item_features = uses_item_features
        self._rng = np.random.default_rng(seed)
        if string_ids:
            self.pool: Ids = np.array([f"item-{i:02d}" for i in range(POOL_SIZE)])
        else:
            self.pool = np.arange(101, 101 + POOL_SIZE, dtype=np.int64)
        self._features = self._rng.normal(size=(POOL_SIZE, FEATURE_DIM))
        self._weights = self._rng.normal(size=(POOL_SIZE, CONTEXT_DIM))
        self._bias = self._rng.normal(size=POOL_SIZE)

    # ------------------------------------------------------------------ items
    def catalogue(self) -> Ids:
        """The ids the policies are trained on (a fresh copy)."""
        return self.pool[:CATALOGUE_SIZE].copy()

    def unseen(self) -> Ids:
        """Ids that no training feedback ever mentions (a fresh copy)."""
        return self.pool[CATALOGUE_SIZE:].copy()

    def features(self, ids: Ids) -> FloatArray:
        """Features of ``ids`` (any shape), shape ``ids.shape + (p,)``."""
        out: FloatArray = self._features[np.searchsorted(self.pool, ids)]
        return out

    def contexts(self, n: int) -> FloatArray:
        """``n`` fresh random contexts."""
        out: FloatArray = self._rng.normal(size=(n, CONTEXT_DIM))
        return out

    # ------------------------------------------------------------------ requests
    def shared(self, n: int, ids: Ids | None = None, *, full: bool = False) -> Request:
        """``n`` requests sharing the candidates ``ids`` (default: the catalogue).

        With ``full``, contexts and item features are passed even to a policy that ignores them.
        Contexts are always passed when ``n > 1`` so that the batch has ``n`` requests.
        """
        cand = self.catalogue() if ids is None else np.array(ids)
        request: Request = {"candidates": cand}
        if self.contextual or full or n > 1:
            request["contexts"] = self.contexts(n)
        if self.uses_item_features or full:
            request["item_features"] = self.features(cand)
        return request

    def tiled(self, n: int, ids: Ids | None = None) -> Request:
        """One request repeated ``n`` times in a batch (one context row tiled ``n`` times)."""
        cand = self.catalogue() if ids is None else np.array(ids)
        request: Request = {"candidates": cand, "contexts": np.repeat(self.contexts(1), n, axis=0)}
        if self.uses_item_features:
            request["item_features"] = self.features(cand)
        return request

    def ragged(self, n: int, ids: Ids | None = None, *, min_valid: int = 3, full: bool = False) -> Request:
        """``n`` requests with their own candidates: a shuffled row of ``ids`` and a mask per request.

        Every request keeps at least ``min_valid`` valid candidates.
        """
        pool = self.catalogue() if ids is None else np.array(ids)
        m = pool.shape[0]
        order = np.argsort(self._rng.random((n, m)), axis=1)
        cand = pool[order]
        valid = self._rng.integers(min_valid, m + 1, size=n)
        rank = np.argsort(np.argsort(self._rng.random((n, m)), axis=1), axis=1)
        mask = rank < valid[:, None]
        request: Request = {"candidates": cand, "mask": mask}
        if self.contextual or full:
            request["contexts"] = self.contexts(n)
        if self.uses_item_features or full:
            request["item_features"] = self.features(cand)
        return request

    # ------------------------------------------------------------------ feedback
    def feedback(self, size: int, ids: Ids | None = None, *, favourite: Any = None, full: bool = False) -> Feedback:
        """``size`` logged events on items drawn uniformly from ``ids`` (default: the catalogue).

        Rewards are clicks (0.0 or 1.0) from a logistic model of context and item; with
        ``favourite`` that item is always clicked and every other one never.
        """
        pool = self.catalogue() if ids is None else np.array(ids)
        picks = self._rng.integers(pool.shape[0], size=size)
        items = pool[picks]
        index = np.searchsorted(self.pool, items)
        x = self.contexts(size)
        logit = self._bias[index] + (np.einsum("nd,nd->n", x, self._weights[index]) if self.contextual else 0.0)
        rewards = (self._rng.random(size) < 1.0 / (1.0 + np.exp(-logit))).astype(np.float64)
        if favourite is not None:
            rewards = (items == favourite).astype(np.float64)
        return Feedback(
            items=items,
            rewards=rewards,
            contexts=x if self.contextual or full else None,
            positions=self._rng.integers(2, size=size),
            propensities=np.full(size, 1.0 / pool.shape[0]),
            item_features=self.features(items) if self.uses_item_features or full else None,
        )

    def empty_feedback(self) -> Feedback:
        """A feedback batch of zero events with every array shaped for the policy."""
        return Feedback(
            items=self.catalogue()[:0],
            rewards=np.zeros(0),
            contexts=np.zeros((0, CONTEXT_DIM)) if self.contextual else None,
            positions=np.zeros(0, dtype=np.int64),
            propensities=np.zeros(0),
            item_features=np.zeros((0, FEATURE_DIM)) if self.uses_item_features else None,
        )


def fresh(request: Request) -> Request:
    """A copy of ``request`` with every array copied."""
    return {key: value.copy() if isinstance(value, np.ndarray) else value for key, value in request.items()}


def fields_of(feedback: Feedback) -> dict[str, Any]:
    """The fields of a feedback record by name (its arrays themselves, not copies)."""
    return {name: getattr(feedback, name) for name in FEEDBACK_FIELDS}


def copy_feedback(feedback: Feedback) -> Feedback:
    """A copy of ``feedback`` with every array copied."""
    return Feedback(
        **{
            name: value.copy() if isinstance(value, np.ndarray) else value
            for name, value in fields_of(feedback).items()
        }
    )


def events(feedback: Feedback) -> int:
    """Number of events in ``feedback``."""
    return int(np.shape(feedback.rewards)[0])
