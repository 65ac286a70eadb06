"""Uniform random slates: the logging policy of a randomised experiment."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .._params import Constraint
from .._random import Seed
from . import _slates
from .base import FloatArray, IntArray, Policy, Request
from .records import Feedback
from .registry import register

__all__ = ["UniformRandom"]


@register
class UniformRandom(Policy):
    """Each request gets k distinct candidates uniformly at random.

    The propensity of each chosen item at each position is exactly ``1 / m`` (m = the request's
    number of valid candidates). It learns nothing (``learns`` is False), and its
    :meth:`~abrec.policies.Policy.action_distribution` is exact.

    Examples
    --------
    >>> import numpy as np
    >>> d = UniformRandom(seed=0).decide(np.arange(4), k=2)
    >>> d.propensities.tolist()
    [[0.25, 0.25]]
    """

    name: ClassVar[str] = "uniform"
    learns: ClassVar[bool] = False
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {}

    def __init__(self, *, seed: Seed = None) -> None:
        super().__init__(seed=seed)

    def _choose(self, req: Request, k: int) -> tuple[IntArray, FloatArray, FloatArray, int]:
        slots, props = _slates.uniform(req.valid, req.mask, req.n, req.m, k, self._rng)
        return slots, props, np.zeros((req.n, req.m)), 0

    def _exact_distribution(self, req: Request, k: int) -> FloatArray | None:
        return _slates.uniform_distribution(req.valid, req.mask, req.n, req.m, k)

    def _item_state(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        return {}

    def _update(
        self,
        rows: IntArray,
        rewards: FloatArray,
        contexts: FloatArray | None,
        item_features: FloatArray | None,
        feedback: Feedback,
    ) -> None:
        return None
