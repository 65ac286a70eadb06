"""UCB1 (Auer et al. 2002): optimism in the face of uncertainty, context-free."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .._params import Constraint, Interval
from .._random import Seed
from ._counts import CountingPolicy
from .base import FloatArray, Request
from .registry import register

__all__ = ["UCB1"]


@register
class UCB1(CountingPolicy):
    """Rank items by ``mean + c * sqrt(ln(N) / n_item)``; items never observed rank first.

    ``N`` is the total number of observations. Deterministic up to random tie-breaking, so
    propensities are exact (``1 / ties``).

    Examples
    --------
    >>> import numpy as np
    >>> d = UCB1(seed=0).decide(np.array(["a", "b"]))
    >>> d.propensities.tolist()
    [[0.5]]
    """

    name: ClassVar[str] = "ucb1"
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {"c": Interval("float", 0.0, 1e308)}

    def __init__(self, c: float = 1.0, *, seed: Seed = None) -> None:
        self.c = c
        super().__init__(seed=seed)

    def _scores(self, req: Request) -> FloatArray:
        count, total = self._stats(req.rows)
        n_total = float(self._state["count"].sum())
        with np.errstate(divide="ignore", invalid="ignore"):
            bonus = self.c * np.sqrt(np.log(max(n_total, 1.0)) / count)
            return np.where(count > 0, total / np.maximum(count, 1.0) + bonus, np.inf)
