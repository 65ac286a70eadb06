"""Per-item reward counts shared by the context-free policies."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .base import Policy
from .records import Feedback

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class CountingPolicy(Policy):
    """A context-free policy whose state is, per item, the number of observations and their reward sum.

    Every shown item's reward counts as one observation of that item, whatever its position
    (position bias is not modelled by the context-free policies).
    """

    def _item_state(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        return {"count": ((), 0.0), "total": ((), 0.0)}

    def _update(
        self,
        rows: IntArray,
        rewards: FloatArray,
        contexts: FloatArray | None,
        item_features: FloatArray | None,
        feedback: Feedback,
    ) -> None:
        size = self._state["count"].shape[0]
        self._state["count"] += np.bincount(rows, minlength=size)
        self._state["total"] += np.bincount(rows, weights=rewards, minlength=size)

    def _stats(self, rows: IntArray) -> tuple[FloatArray, FloatArray]:
        return self._state["count"][rows], self._state["total"][rows]
