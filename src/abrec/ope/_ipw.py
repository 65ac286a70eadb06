"""Slate-position-wise inverse propensity weighting (IPW) and its self-normalised form (SNIPW).

Each logged row is one (item, position) action with its reward and the logging policy's
propensity of that item at that position. Assuming the reward depends only on the item and its
position (OBP's simplification for the Open Bandit Dataset), the target policy's value is
estimated with the weights ``w = pi_target(item, position) / propensity``::

    IPW   = mean(w * reward)
    SNIPW = sum(w * reward) / sum(w)

which is what OBP 0.5.7's ``InverseProbabilityWeighting`` and ``SelfNormalizedInverseProbabilityWeighting``
compute with ``action_dist[round, item, position]`` (checked against OBP's numbers on the Open Bandit
Dataset in the tests).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..data.interactions import InteractionLog
from ..errors import InputError
from .bts import ActionDistribution

__all__ = ["importance_weights", "ipw", "snipw"]

FloatArray = npt.NDArray[np.float64]
Log = InteractionLog | pd.DataFrame | Mapping[str, npt.ArrayLike]
"""A logged-feedback source: an InteractionLog, its frame, or a mapping of column arrays."""

_COLUMNS = ("item", "position", "reward", "propensity")


def _columns(log: Log) -> tuple[npt.NDArray[Any], npt.NDArray[Any], FloatArray, FloatArray]:
    frame: Any = log.frame if isinstance(log, InteractionLog) else log
    missing = [c for c in _COLUMNS if c not in frame]
    if missing:
        raise InputError(f"The log needs the columns {list(_COLUMNS)}; missing {missing}.")
    item, position = (np.asarray(frame[c]) for c in _COLUMNS[:2])
    reward, propensity = (np.asarray(frame[c], dtype=np.float64) for c in _COLUMNS[2:])
    n = item.shape
    if len(n) != 1 or n[0] == 0 or any(a.shape != n for a in (position, reward, propensity)):
        shapes = [np.shape(a) for a in (item, position, reward, propensity)]
        raise InputError(f"item, position, reward and propensity must be non-empty 1-D of one length; got {shapes}.")
    for name, values in (("item", item), ("position", position)):
        if not np.issubdtype(values.dtype, np.integer):
            raise InputError(f"The log's {name!r} column must hold integers; got dtype {values.dtype}.")
    if not np.isfinite(reward).all():
        raise InputError("The log's 'reward' column must be finite (no NaN or infinity).")
    if not ((propensity > 0) & (propensity <= 1)).all():
        raise InputError(
            f"The log's 'propensity' column must be in (0, 1]; got min {propensity.min()!r}, max {propensity.max()!r}."
        )
    return item, position, reward, propensity


def importance_weights(log: Log, action_dist: npt.ArrayLike | ActionDistribution) -> FloatArray:
    """Per-row importance weights ``pi_target(item, position) / propensity``.

    Parameters
    ----------
    log : InteractionLog, pandas.DataFrame or mapping of arrays
        Columns ``item`` and ``position`` (0-based integers), ``reward`` and the logged
        ``propensity`` (in (0, 1]) of each row.
    action_dist : array_like of shape (n_items, n_positions), or ActionDistribution
        The target policy's probability of showing each item at each position (the same for
        every round).

    Returns
    -------
    numpy.ndarray
        One weight per row.

    Raises
    ------
    abrec.errors.InputError
        Missing columns, mismatched lengths, propensities outside (0, 1], or an item or
        position outside ``action_dist``.

    Examples
    --------
    >>> log = {"item": [0, 1], "position": [0, 0], "reward": [1.0, 0.0], "propensity": [0.5, 0.5]}
    >>> importance_weights(log, [[0.9], [0.1]]).tolist()
    [1.8, 0.2]
    """
    return _weighted(log, action_dist)[0]


def _weighted(log: Log, action_dist: npt.ArrayLike | ActionDistribution) -> tuple[FloatArray, FloatArray]:
    item, position, reward, propensity = _columns(log)
    dist = np.asarray(action_dist.probability if isinstance(action_dist, ActionDistribution) else action_dist)
    dist = dist.astype(np.float64, copy=False)
    if dist.ndim != 2:
        raise InputError(f"action_dist must have shape (n_items, n_positions); got shape {dist.shape}.")
    if not (np.isfinite(dist).all() and (dist >= 0).all() and (dist <= 1).all()):
        raise InputError("action_dist must hold probabilities in [0, 1].")
    for name, values, size in (("item", item, dist.shape[0]), ("position", position, dist.shape[1])):
        if values.min() < 0 or values.max() >= size:
            raise InputError(
                f"The log's {name!r} values must be in [0, {size - 1}] to index action_dist of shape "
                f"{dist.shape}; got [{values.min()}, {values.max()}]."
            )
    weights: FloatArray = dist[item, position] / propensity
    return weights, reward


def ipw(log: Log, action_dist: npt.ArrayLike | ActionDistribution) -> float:
    """Inverse propensity weighting estimate of the target policy's value per (item, position) action.

    ``mean(w * reward)`` with ``w = action_dist[item, position] / propensity``; unbiased when the
    logging policy gives every action the target may take a positive propensity.

    Parameters
    ----------
    log : InteractionLog, pandas.DataFrame or mapping of arrays
        Columns ``item``, ``position`` (0-based), ``reward`` and ``propensity``.
    action_dist : array_like of shape (n_items, n_positions), or ActionDistribution
        The target policy's action distribution.

    Returns
    -------
    float

    Examples
    --------
    >>> log = {"item": [0, 1, 0], "position": [0, 0, 0], "reward": [1.0, 0.0, 0.0], "propensity": [0.5] * 3}
    >>> ipw(log, [[1.0], [0.0]])  # always show item 0: weights 2, 0, 2
    0.6666666666666666
    """
    weights, reward = _weighted(log, action_dist)
    return float(np.mean(weights * reward))


def snipw(log: Log, action_dist: npt.ArrayLike | ActionDistribution) -> float:
    """Self-normalised IPW: ``sum(w * reward) / sum(w)``.

    Bounded by the observed rewards and of lower variance than :func:`ipw`, at a small bias.

    Parameters
    ----------
    log : InteractionLog, pandas.DataFrame or mapping of arrays
        Columns ``item``, ``position`` (0-based), ``reward`` and ``propensity``.
    action_dist : array_like of shape (n_items, n_positions), or ActionDistribution
        The target policy's action distribution.

    Returns
    -------
    float

    Raises
    ------
    abrec.errors.InputError
        As :func:`importance_weights`, or when every weight is zero (the target never takes a
        logged action, so the ratio is undefined).

    Examples
    --------
    >>> log = {"item": [0, 1, 0], "position": [0, 0, 0], "reward": [1.0, 0.0, 0.0], "propensity": [0.5] * 3}
    >>> snipw(log, [[1.0], [0.0]])
    0.5
    """
    weights, reward = _weighted(log, action_dist)
    total = float(np.sum(weights))
    if total == 0.0:
        raise InputError("snipw is undefined: the target policy gives zero probability to every logged action.")
    return float(np.sum(weights * reward)) / total
