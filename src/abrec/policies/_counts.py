"""Per-item reward counts shared by the context-free policies."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .base import Policy
from .records import Feedback

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def add_per_item(target: FloatArray, rows: IntArray, values: FloatArray | None) -> None:
    """``target[rows] += values`` (1 where None), repeated rows accumulating; O(len(rows)) for small batches."""
    if rows.shape[0] < 256:
        np.add.at(target, rows, 1.0 if values is None else values)
    else:
        target += np.bincount(rows, weights=values, minlength=target.shape[0])


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
        add_per_item(self._state["count"], rows, None)
        add_per_item(self._state["total"], rows, rewards)

    def _stats(self, rows: IntArray) -> tuple[FloatArray, FloatArray]:
        return self._state["count"][rows], self._state["total"][rows]
