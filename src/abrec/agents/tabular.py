"""Tabular Q-learning over a k-means codebook of session states and one of item features."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .._params import Constraint, Interval
from .._random import Seed
from ..policies.base import FloatArray, IntArray
from ..policies.registry import register
from ._kmeans import kmeans, nearest
from .base import _COMMON, Agent
from .transitions import Transitions

__all__ = ["TabularQAgent"]


@register
class TabularQAgent(Agent):
    """Q-learning on a table ``Q[state cell, item cell]``: the simplest honest form of the Q-function.

    The state cells are a k-means codebook of the session states (the embedding state), the item cells a
    k-means codebook of the item features (text embeddings), so a never-seen item takes the Q-values of
    the items whose text it resembles. Until ``warmup`` transitions have arrived there is one cell of
    each (every candidate scores alike); then both codebooks are fitted on the states and item features
    seen so far (with the learning generator), every cell starts from the single cell's value, and the
    codebooks stay fixed. Each learning batch moves every visited cell towards the mean of its targets
    ``G + discount * max_a' Q[s', a']`` (targets from the table before the batch), with step size
    ``learning_rate``, or ``b / (N + b)`` (a running mean over the ``N`` earlier and ``b`` new targets) when
    it is None.

    Parameters
    ----------
    n_state_cells, n_item_cells : int, default 16 and 16
    warmup : int, default 256
        Transitions collected before the codebooks are fitted.
    learning_rate : float in (0, 1] or None, default None
    initial_q : float, default 0.0
    exploration, epsilon, temperature, gamma, n_step, reward_weights, train_seed, seed
        See :class:`~abrec.agents.Agent`.

    Examples
    --------
    >>> import numpy as np
    >>> from abrec.policies import Feedback
    >>> agent = TabularQAgent(warmup=4, n_item_cells=2, seed=0)
    >>> states, feats = np.eye(4), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.1], [0.1, 1.0]])
    >>> feedback = Feedback(items=np.arange(4), rewards=np.array([1.0, 0.0, 1.0, 0.0]),
    ...                     contexts=states, item_features=feats)
    >>> agent.update(feedback)  # 4 transitions: the codebooks are fitted, every cell starts at 0.5
    >>> agent.q_values(states[:1], feats).round(2).tolist()
    [[0.5, 0.5, 0.5, 0.5]]
    >>> for _ in range(3):
    ...     agent.update(feedback)
    >>> agent.q_values(states[:2], feats).round(2).tolist()  # items that read like 0 and 2 are worth more
    [[0.88, 0.5, 0.88, 0.5], [0.5, 0.12, 0.5, 0.12]]
    >>> agent.q_values(states[:1], np.array([[0.9, 0.0]])).round(2).tolist()  # a never-seen item, from its text
    [[0.88]]
    """

    name: ClassVar[str] = "tabular_q"
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        **_COMMON,
        "n_state_cells": Interval("int", 1, 100_000),
        "n_item_cells": Interval("int", 1, 100_000),
        "warmup": Interval("int", 1, 10_000_000),
        "initial_q": Interval("float", -1e12, 1e12),
        "learning_rate": Constraint("float", 0.0, 1.0, low_open=True, optional=True),
    }

    def __init__(
        self,
        n_state_cells: int = 16,
        n_item_cells: int = 16,
        warmup: int = 256,
        learning_rate: float | None = None,
        initial_q: float = 0.0,
        *,
        exploration: str = "epsilon",
        epsilon: float = 0.1,
        temperature: float = 0.1,
        gamma: float = 0.9,
        n_step: int = 1,
        reward_weights: Mapping[str, float] | None = None,
        train_seed: int = 0,
        seed: Seed = None,
    ) -> None:
        self.n_state_cells = n_state_cells
        self.n_item_cells = n_item_cells
        self.warmup = warmup
        self.learning_rate = learning_rate
        self.initial_q = initial_q
        super().__init__(
            exploration=exploration,
            epsilon=epsilon,
            temperature=temperature,
            gamma=gamma,
            n_step=n_step,
            reward_weights=reward_weights,
            train_seed=train_seed,
            seed=seed,
        )
        self.table = np.full((1, 1), float(initial_q))
        self.visits = np.zeros((1, 1))
        self.state_codebook: FloatArray | None = None
        self.item_codebook: FloatArray | None = None
        self._warm_states: list[FloatArray] = []
        self._warm_items: list[FloatArray] = []
        self._warm_count = 0

    # ----------------------------------------------------------------- cells
    def _state_cells(self, states: FloatArray) -> npt.NDArray[np.int64]:
        if self.state_codebook is None:
            return np.zeros(states.shape[:-1], dtype=np.int64)
        return nearest(states, self.state_codebook)

    def _item_cells(self, features: FloatArray) -> npt.NDArray[np.int64]:
        if self.item_codebook is None:
            return np.zeros(features.shape[:-1], dtype=np.int64)
        return nearest(features, self.item_codebook)

    def _q(self, states: FloatArray, features: FloatArray, rows: IntArray | None = None) -> FloatArray:
        s = self._state_cells(states)
        a = self._item_cells(features)
        out: FloatArray = self.table[s[:, None], a]
        return out

    # ----------------------------------------------------------------- learning
    def _learn(self, t: Transitions, rows: IntArray | None = None, next_rows: IntArray | None = None) -> None:
        if self.state_codebook is None:
            self._warm_states.append(t.states)
            self._warm_items.append(t.item_features.reshape(-1, t.item_features.shape[2]))
            self._warm_count += t.size
        k = t.item_features.shape[1]
        s = np.repeat(self._state_cells(t.states), k)
        a = self._item_cells(t.item_features).reshape(-1)
        nxt = np.where(t.next_mask, self._q(t.next_states, t.next_item_features), -np.inf)
        best = np.where(t.next_mask.any(axis=1), nxt.max(axis=1), 0.0)
        target = t.rewards.reshape(-1) + np.repeat(t.discounts * best, k)
        cells = s * self.table.shape[1] + a
        size = self.table.size
        count = np.bincount(cells, minlength=size).astype(np.float64)
        total = np.bincount(cells, weights=target, minlength=size)
        seen = count > 0
        flat_q, flat_n = self.table.reshape(-1), self.visits.reshape(-1)
        mean = np.divide(total, count, out=np.zeros(size), where=seen)
        step = count / (flat_n + count) if self.learning_rate is None else np.where(seen, self.learning_rate, 0.0)
        flat_q[seen] += step[seen] * (mean[seen] - flat_q[seen])
        flat_n += count
        if self.state_codebook is None and self._warm_count >= self.warmup:
            self._fit_codebooks()

    def _fit_codebooks(self) -> None:
        states = np.concatenate(self._warm_states)
        items = np.concatenate(self._warm_items)
        self.state_codebook = kmeans(states, self.n_state_cells, self._train_rng)
        self.item_codebook = kmeans(items, self.n_item_cells, self._train_rng)
        value, visits = float(self.table[0, 0]), float(self.visits[0, 0])
        shape = (self.state_codebook.shape[0], self.item_codebook.shape[0])
        self.table = np.full(shape, value)
        # Every cell inherits the single cell's value as a prior worth one visit (or none before any).
        self.visits = np.full(shape, min(visits, 1.0))
        self._warm_states, self._warm_items, self._warm_count = [], [], 0

    # ----------------------------------------------------------------- state
    def _model_state(self) -> dict[str, npt.NDArray[Any]]:
        out: dict[str, npt.NDArray[Any]] = {"table": self.table, "visits": self.visits}
        if self.state_codebook is not None and self.item_codebook is not None:
            out["state_codebook"] = self.state_codebook
            out["item_codebook"] = self.item_codebook
        else:
            out["warm_states"] = (
                np.concatenate(self._warm_states) if self._warm_states else np.zeros((0, self._dim or 0))
            )
            out["warm_items"] = (
                np.concatenate(self._warm_items) if self._warm_items else np.zeros((0, self._feature_dim or 0))
            )
            out["warm_count"] = np.array(self._warm_count, dtype=np.int64)
        return out

    def _load_model_state(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.table = np.array(arrays["table"], dtype=np.float64)
        self.visits = np.array(arrays["visits"], dtype=np.float64)
        if "state_codebook" in arrays:
            self.state_codebook = np.array(arrays["state_codebook"], dtype=np.float64)
            self.item_codebook = np.array(arrays["item_codebook"], dtype=np.float64)
        else:
            warm_states, warm_items = arrays["warm_states"], arrays["warm_items"]
            self._warm_states = [np.array(warm_states)] if warm_states.shape[0] else []
            self._warm_items = [np.array(warm_items)] if warm_items.shape[0] else []
            self._warm_count = int(arrays["warm_count"])
