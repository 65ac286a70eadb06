"""User vectors from histories: a recency-weighted mean of the item embeddings a user interacted with.

Event ``i`` of a user's history gets the weight ``0.5 ** (age_i / half_life)``, times its rating
when ``use_ratings=True``; the user's vector is the weighted sum of the item vectors, L2-normalised
(the normalisation makes it the direction of the weighted mean). Age is measured

- in **events** (``age="events"``, the default): the newest event has age 0, the one before it
  age 1, ...; with ``half_life=10`` the 10th most recent event counts half as much as the newest;
- in **time** (``age="time"``): ``age_i = max(times) - times_i``, in the unit of ``times`` (give
  ``half_life`` in the same unit). Measuring from the user's newest event instead of "now" changes
  every weight of a user by the same factor, which the normalisation removes.

Histories are ordered by ``times`` when given (oldest first), else taken in the order given. A
user with no history (or whose weights are all zero) gets the fallback ``empty``: ``"zeros"`` (a
zero vector: "nothing known", which linear policies score as the prior) or ``"mean"`` (the
L2-normalised mean of all item vectors: "a typical user").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from .._params import Constraint, Interval, StrOptions, validate_params
from ..errors import InputError
from .features import ItemFeatures

__all__ = ["History", "recency_weights", "user_contexts"]

_CONSTRAINTS = {
    "half_life": Interval("float", 0, closed="right"),
    "use_ratings": Constraint("bool"),
    "age": StrOptions(("events", "time")),
    "empty": StrOptions(("zeros", "mean")),
    "unknown_items": StrOptions(("error", "ignore")),
}


@dataclass(frozen=True, slots=True)
class History:
    """One user's interactions: item ids, and optionally their times and ratings (same length).

    Examples
    --------
    >>> History(items=[3, 1, 2], times=[5.0, 1.0, 9.0]).ordered()[0].tolist()
    [1, 3, 2]
    """

    items: npt.ArrayLike
    times: npt.ArrayLike | None = None
    ratings: npt.ArrayLike | None = None

    def ordered(self) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64] | None, npt.NDArray[np.float64] | None]:
        """``(items, times, ratings)`` as arrays, oldest first (sorted by time when times are given)."""
        items = np.asarray(self.items)
        if items.ndim != 1:
            raise InputError(f"History.items must be 1-D. Got shape {items.shape}.")
        extra: list[npt.NDArray[np.float64] | None] = []
        for name in ("times", "ratings"):
            value = getattr(self, name)
            if value is None:
                extra.append(None)
                continue
            array = np.asarray(value, dtype=np.float64)
            if array.shape != items.shape or not np.isfinite(array).all():
                raise InputError(
                    f"History.{name} must be finite and have one value per item ({items.shape[0]}). "
                    f"Got shape {array.shape}."
                )
            extra.append(array)
        times, ratings = extra
        if times is not None:
            order = np.argsort(times, kind="stable")
            items, times = items[order], times[order]
            ratings = ratings[order] if ratings is not None else None
        return items, times, ratings


def recency_weights(ages: npt.ArrayLike, half_life: float) -> npt.NDArray[np.float64]:
    """``0.5 ** (ages / half_life)``: weight 1 at age 0, 1/2 at one half-life (``inf``: all 1).

    Examples
    --------
    >>> recency_weights([0, 1, 2, 4], half_life=2).tolist()
    [1.0, 0.7071067811865476, 0.5, 0.25]
    """
    validate_params("recency_weights", {"half_life": Interval("float", 0, closed="right")}, {"half_life": half_life})
    a = np.asarray(ages, dtype=np.float64)
    if math.isinf(half_life):
        return np.ones_like(a)
    weights: npt.NDArray[np.float64] = 0.5 ** (a / half_life)
    return weights


def user_contexts(
    histories: Sequence[History],
    item_vectors: ItemFeatures | tuple[npt.ArrayLike, npt.ArrayLike],
    *,
    half_life: float = 10.0,
    age: Literal["events", "time"] = "events",
    use_ratings: bool = False,
    empty: Literal["zeros", "mean"] = "zeros",
    unknown_items: Literal["error", "ignore"] = "error",
) -> npt.NDArray[np.float32]:
    """Context vectors ``(n_users, d)`` (float32) of a batch of users, from their histories.

    Parameters
    ----------
    histories : one :class:`History` per user.
    item_vectors : ``(ids, vectors)``, e.g. the result of :func:`~abrec.embeddings.item_features`.
    half_life : in events (``age="events"``) or in the unit of ``History.times`` (``age="time"``); ``inf``
        weighs every event alike.
    age : ``"events"`` or ``"time"`` (see the module docstring); ``"time"`` needs ``History.times``.
    use_ratings : multiply each event's weight by its rating (``History.ratings``, non-negative).
    empty : fallback for a user with no history: ``"zeros"`` or ``"mean"`` (normalised mean item vector).
    unknown_items : ``"error"`` raises on an item id that is not in ``item_vectors``; ``"ignore"`` drops it.

    Returns
    -------
    numpy.ndarray
        float32 ``(len(histories), d)``; unit rows, except ``"zeros"`` fallbacks.

    Examples
    --------
    Two events, the newest weighs 1 and the older one (age 1, half-life 1) weighs 1/2:

    >>> import numpy as np
    >>> items = (np.array(["a", "b"]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    >>> user_contexts([History(["a", "b"]), History([])], items, half_life=1.0).round(4)
    array([[0.4472, 0.8944],
           [0.    , 0.    ]], dtype=float32)
    """
    validate_params(
        "user_contexts",
        _CONSTRAINTS,
        {
            "half_life": half_life,
            "use_ratings": use_ratings,
            "age": age,
            "empty": empty,
            "unknown_items": unknown_items,
        },
    )
    features = item_vectors if isinstance(item_vectors, ItemFeatures) else ItemFeatures(*map(np.asarray, item_vectors))
    vectors = np.asarray(features.vectors, dtype=np.float64)
    if vectors.ndim != 2 or vectors.shape[0] != np.asarray(features.ids).shape[0]:
        raise InputError(f"item_vectors must be (ids (m,), vectors (m, d)). Got vectors of shape {vectors.shape}.")
    n, d = len(histories), vectors.shape[1]
    users, rows, weights = [], [], []
    for u, history in enumerate(histories):
        items, times, ratings = history.ordered()
        if age == "time":
            if times is None:
                raise InputError(f"age='time' needs History.times; user {u} has none. Use age='events' instead.")
            ages = times.max() - times if times.size else times
        else:
            ages = np.arange(items.shape[0] - 1, -1, -1, dtype=np.float64)
        w = recency_weights(ages, half_life)
        if use_ratings:
            if ratings is None:
                raise InputError(f"use_ratings=True needs History.ratings; user {u} has none.")
            if (ratings < 0).any():
                raise InputError(f"ratings must be non-negative weights; user {u} has {ratings.min()}.")
            w = w * ratings
        r = features.rows(items)
        if (r < 0).any():
            if unknown_items == "error":
                raise InputError(
                    f"user {u}'s history has item ids {items[r < 0][:5].tolist()} that are not in item_vectors; "
                    "encode them or pass unknown_items='ignore'."
                )
            w, r = w[r >= 0], r[r >= 0]
        users.append(np.full(r.shape[0], u, dtype=np.int64))
        rows.append(r)
        weights.append(w)
    out = np.zeros((n, d), dtype=np.float64)
    if n and d:
        user_of = np.concatenate(users) if users else np.zeros(0, dtype=np.int64)
        weighted = np.concatenate(weights)[:, None] * vectors[np.concatenate(rows)]
        np.add.at(out, user_of, weighted)
    norms = np.linalg.norm(out, axis=1)
    has = norms > 0
    out[has] /= norms[has, None]
    if empty == "mean" and (~has).any() and vectors.shape[0]:
        mean = vectors.mean(axis=0)
        size = np.linalg.norm(mean)
        out[~has] = mean / size if size > 0 else 0.0
    return out.astype(np.float32)
