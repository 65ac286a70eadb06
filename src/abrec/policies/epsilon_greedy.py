"""Epsilon-greedy: the best empirical mean, or a uniformly random slate with probability epsilon."""

from __future__ import annotations

from typing import ClassVar

from .._params import Constraint, Interval
from .._random import Seed
from . import _slates
from ._counts import CountingPolicy
from .base import FloatArray, IntArray, Request
from .registry import register

__all__ = ["EpsilonGreedy"]


@register
class EpsilonGreedy(CountingPolicy):
    """With probability ``1 - epsilon`` rank items by mean reward, else show a uniform random slate.

    The mean of an item counts ``initial_value`` as one pseudo-observation, so new items start
    optimistic (with the default 1.0) and get tried. Propensities are exact:
    ``(1 - epsilon) * P(greedy puts the item there) + epsilon / m``, where ties in the greedy
    ranking are broken uniformly at random.

    Examples
    --------
    >>> import numpy as np
    >>> from abrec.policies import Feedback
    >>> p = EpsilonGreedy(epsilon=0.2, seed=1)
    >>> p.update(Feedback(items=np.array([0, 1]), rewards=np.array([1.0, 0.0])))
    >>> d = p.decide(np.array([0, 1]))
    >>> float(d.propensities[0, 0]) in (0.9, 0.1)
    True
    """

    name: ClassVar[str] = "epsilon_greedy"
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "epsilon": Interval("float", 0.0, 1.0),
        "initial_value": Interval("float", -1e308, 1e308),
    }

    def __init__(self, epsilon: float = 0.1, initial_value: float = 1.0, *, seed: Seed = None) -> None:
        self.epsilon = epsilon
        self.initial_value = initial_value
        super().__init__(seed=seed)

    def _scores(self, req: Request) -> FloatArray:
        count, total = self._stats(req.rows)
        return (total + self.initial_value) / (count + 1.0)

    def _choose(self, req: Request, k: int) -> tuple[IntArray, FloatArray, FloatArray, int]:
        scores = self._full_scores(req)
        masked = self._masked(scores, req)
        greedy_slots = _slates.ranked(masked, k, self._rng)
        random_slots, _ = _slates.uniform(req.valid, req.mask, req.n, req.m, k, self._rng)
        explore = self._rng.random(req.n) < self.epsilon
        slots = greedy_slots.copy()
        slots[explore] = random_slots[explore]
        # P(item at position j) = (1 - eps) * P_greedy(item at j) + eps / m.
        greedy_props = _slates.rank_probability(masked, slots)
        props = (1.0 - self.epsilon) * greedy_props + self.epsilon / req.valid[:, None]
        return slots, props, scores, 0

    def _exact_distribution(self, req: Request, k: int) -> FloatArray | None:
        greedy = _slates.greedy_distribution(self._full_scores(req), k, req.mask)
        uniform = _slates.uniform_distribution(req.valid, req.mask, req.n, req.m, k)
        out: FloatArray = (1.0 - self.epsilon) * greedy + self.epsilon * uniform
        return out
