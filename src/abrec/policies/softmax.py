"""Softmax (Boltzmann) exploration: slates sampled from a Plackett-Luce model on mean rewards."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._params import Constraint, Interval
from .._random import Seed
from . import _slates
from ._counts import CountingPolicy
from .base import FloatArray, IntArray, Request
from .registry import register

__all__ = ["Softmax"]


@register
class Softmax(CountingPolicy):
    """Sample a slate without replacement with weights ``exp(mean / temperature)``.

    Means count ``initial_value`` as one pseudo-observation. The first position's propensity is
    the exact softmax probability; for k > 1 the marginal probability of an item at a lower
    position has no closed form and is estimated from ``propensity_draws`` Monte Carlo slates
    (Gumbel top-k sampling, which is exactly Plackett-Luce sampling).

    Examples
    --------
    >>> import numpy as np
    >>> d = Softmax(temperature=0.5, seed=0).decide(np.arange(3))
    >>> round(float(d.propensities[0, 0]), 6)
    0.333333
    """

    name: ClassVar[str] = "softmax"
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "temperature": Interval("float", 0.0, closed="neither"),
        "initial_value": Interval("float", -1e308, 1e308),
        "propensity_draws": Interval("int", 1, 10_000_000),
    }

    def __init__(
        self,
        temperature: float = 0.1,
        initial_value: float = 1.0,
        propensity_draws: int = 1000,
        *,
        seed: Seed = None,
    ) -> None:
        self.temperature = temperature
        self.initial_value = initial_value
        self.propensity_draws = propensity_draws
        super().__init__(seed=seed)

    def _scores(self, req: Request) -> FloatArray:
        count, total = self._stats(req.rows)
        return (total + self.initial_value) / (count + 1.0)

    def _choose(self, req: Request, k: int) -> tuple[IntArray, FloatArray, FloatArray, int]:
        scores = self._full_scores(req)
        logits = self._masked(scores / self.temperature, req)
        logits = logits - logits.max(axis=1, keepdims=True)

        def draw(s: int) -> FloatArray:
            sample: FloatArray = logits[None] + self._rng.gumbel(size=(s, req.n, req.m))
            return sample

        slots = _slates.topk_of(draw(1)[0], k)
        if k == 1:
            weights = np.exp(logits)
            props = np.take_along_axis(weights, slots, axis=1) / weights.sum(axis=1, keepdims=True)
            return slots, props, scores, 0
        return slots, _slates.sampled(draw, slots, self.propensity_draws), scores, self.propensity_draws

    def _exact_distribution(self, req: Request, k: int) -> FloatArray | None:
        """The softmax itself for the first position; slates of k > 1 have no closed form (None: counted)."""
        if k > 1:
            return None
        logits = self._masked(self._full_scores(req) / self.temperature, req)
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        out: FloatArray = (weights / weights.sum(axis=1, keepdims=True))[:, :, None]
        return out
