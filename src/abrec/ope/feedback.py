"""Logged bandit feedback in the form every off-policy estimator reads.

One row per logged (impression, item, position) action, as in the Open Bandit Dataset: the action
index (0..n_actions-1), its slot (0..n_positions-1), the reward, the logging policy's propensity of
that action at that slot, and optionally the request's context vector. Item ids of the original log
are kept in ``item_ids`` (``item_ids[action]`` is the id).

A target policy is described by its action distribution: the record a policy answers with,
:class:`~abrec.policies.ActionDistribution` (one request's table ``(1, n_actions, n_positions)`` for every
row, e.g. a context-free policy such as OBD's Bernoulli TS, or one request per row), or an array, either one
table for every row (shape ``(n_actions, n_positions)``) or per row at the row's own position (shape
``(n_rows, n_actions)``: ``pi(a | x_i, position_i)``). :func:`at_logged_positions` turns each into the per-row
form.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..data.interactions import InteractionLog
from ..errors import InputError
from ..policies import ActionDistribution

if TYPE_CHECKING:
    from ..data.obd import OBDLog

__all__ = ["LoggedFeedback", "at_logged_positions"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class LoggedFeedback:
    """Validated, array-backed logged feedback (one row per logged action).

    Attributes
    ----------
    action : (n,) int64 array in [0, n_actions)
    position : (n,) int64 array in [0, n_positions)
    reward : (n,) float64 array, finite
    propensity : (n,) float64 array in (0, 1]: the logging policy's probability of ``action`` at ``position``
    context : (n, d) float64 array or None: the request context of each row
    action_context : (n_actions, p) float64 array or None: features of each action (item)
    n_actions, n_positions : int
    item_ids : (n_actions,) array: the original item id of each action index

    Examples
    --------
    >>> fb = LoggedFeedback.from_arrays(action=[0, 2, 1], reward=[1, 0, 0], propensity=1 / 3, n_actions=3)
    >>> len(fb), fb.n_actions, fb.n_positions, fb.position.tolist()
    (3, 3, 1, [0, 0, 0])
    >>> fb.take([2, 2]).action.tolist()
    [1, 1]
    """

    action: IntArray
    position: IntArray
    reward: FloatArray
    propensity: FloatArray
    context: FloatArray | None
    action_context: FloatArray | None
    n_actions: int
    n_positions: int
    item_ids: npt.NDArray[Any]

    def __post_init__(self) -> None:
        n = self.action.shape
        if len(n) != 1 or n[0] == 0:
            raise InputError(f"Logged feedback needs at least one row of 1-D arrays; got action shape {n}.")
        for name in ("position", "reward", "propensity"):
            if getattr(self, name).shape != n:
                raise InputError(
                    f"Logged feedback arrays must have one length; 'action' has {n[0]} rows, "
                    f"{name!r} has shape {getattr(self, name).shape}."
                )
        if self.n_actions < 1 or self.n_positions < 1:
            raise InputError(f"n_actions and n_positions must be >= 1; got {self.n_actions}, {self.n_positions}.")
        for name, values, size in (
            ("action", self.action, self.n_actions),
            ("position", self.position, self.n_positions),
        ):
            if values.min() < 0 or values.max() >= size:
                raise InputError(
                    f"Logged {name!r} values must be in [0, {size - 1}]; got [{values.min()}, {values.max()}]."
                )
        if not np.isfinite(self.reward).all():
            raise InputError("Logged rewards must be finite (no NaN or infinity); drop or fill those rows first.")
        p = self.propensity
        if not ((p > 0) & (p <= 1)).all():
            bad = int(np.flatnonzero(~((p > 0) & (p <= 1)))[0])
            raise InputError(
                f"Logged propensities must be in (0, 1]; row {bad} has {p[bad]!r}. Off-policy estimates need the "
                "logging policy's probability of every logged action (log Decision.propensities)."
            )
        if self.context is not None and (self.context.ndim != 2 or self.context.shape[0] != n[0]):
            raise InputError(f"context must have shape ({n[0]}, d); got {self.context.shape}.")
        if self.context is not None and not np.isfinite(self.context).all():
            raise InputError("context must be finite (no NaN or infinity).")
        if self.action_context is not None and (
            self.action_context.ndim != 2 or self.action_context.shape[0] != self.n_actions
        ):
            raise InputError(f"action_context must have shape ({self.n_actions}, p); got {self.action_context.shape}.")
        if self.item_ids.shape != (self.n_actions,):
            raise InputError(f"item_ids must have shape ({self.n_actions},); got {self.item_ids.shape}.")

    def __len__(self) -> int:
        return int(self.action.shape[0])

    @property
    def n_rows(self) -> int:
        """Number of logged rows."""
        return int(self.action.shape[0])

    def take(self, rows: npt.ArrayLike) -> LoggedFeedback:
        """The rows ``rows`` (e.g. a bootstrap resample or a cross-fitting fold), same actions and positions."""
        idx = np.asarray(rows, dtype=np.int64)
        return LoggedFeedback(
            action=self.action[idx],
            position=self.position[idx],
            reward=self.reward[idx],
            propensity=self.propensity[idx],
            context=None if self.context is None else self.context[idx],
            action_context=self.action_context,
            n_actions=self.n_actions,
            n_positions=self.n_positions,
            item_ids=self.item_ids,
        )

    @classmethod
    def from_arrays(
        cls,
        action: npt.ArrayLike,
        reward: npt.ArrayLike,
        propensity: npt.ArrayLike,
        *,
        position: npt.ArrayLike = 0,
        context: npt.ArrayLike | None = None,
        action_context: npt.ArrayLike | None = None,
        n_actions: int | None = None,
        n_positions: int | None = None,
        item_ids: npt.ArrayLike | None = None,
    ) -> LoggedFeedback:
        """Build feedback from arrays (scalars broadcast); counts default to ``max + 1`` of the indices."""
        a = np.asarray(action)
        if not np.issubdtype(a.dtype, np.integer):
            raise InputError(f"action must hold integer indices; got dtype {a.dtype}. Map item ids with from_log.")
        a = a.astype(np.int64).ravel()
        n = a.shape[0]
        pos = np.broadcast_to(np.asarray(position), (n,))
        if not np.issubdtype(pos.dtype, np.integer):
            raise InputError(f"position must hold integers; got dtype {pos.dtype}.")
        r = np.broadcast_to(np.asarray(reward, dtype=np.float64), (n,)).copy()
        p = np.broadcast_to(np.asarray(propensity, dtype=np.float64), (n,)).copy()
        na = int(a.max()) + 1 if n_actions is None and n else int(n_actions or 0)
        npos = int(pos.max()) + 1 if n_positions is None and n else int(n_positions or 0)
        ids = np.arange(na) if item_ids is None else np.asarray(item_ids)
        return cls(
            action=a,
            position=pos.astype(np.int64).copy(),
            reward=r,
            propensity=p,
            context=None if context is None else np.asarray(context, dtype=np.float64),
            action_context=None if action_context is None else np.asarray(action_context, dtype=np.float64),
            n_actions=na,
            n_positions=npos,
            item_ids=ids,
        )

    @classmethod
    def from_log(
        cls,
        log: InteractionLog,
        *,
        context: npt.ArrayLike | None = None,
        items: Sequence[Any] | npt.ArrayLike | None = None,
        action_context: npt.ArrayLike | None = None,
        n_positions: int | None = None,
        logging_policy: str | None = None,
        check: bool = True,
    ) -> LoggedFeedback:
        """Feedback from an :class:`~abrec.data.InteractionLog`: its item, position, reward and propensity.

        ``items`` fixes the action space and its order (default: the log's sorted distinct items);
        ``context`` gives one row per log row (default: the log's own ``context`` column, when it has one).
        Rows without a propensity cannot be used.

        Off-policy estimates reweight the rows of *one* logging policy, and compare targets that decide among
        all the log's actions; with ``check`` (default) a log that cannot support that is refused:

        * rows of several logging policies (an experiment's variants, or several ``policy`` names): pass
          ``logging_policy`` (a variant, ``experiment:variant`` when the log holds several experiments, or a
          policy name in a log without variants) to keep one logging policy's rows (``abrec evaluate --variant``);
        * rows logged from per-request candidate sets: a uniform logger whose propensity ``1 / m`` is larger
          than one over the number of distinct items it showed at a position (e.g. 20 candidates per request
          out of 500 items), or a logger of an experiment whose uniform variant shows that. The log does not
          hold each request's candidates, so a target over all items is not supported.

        ``check=False`` keeps every row as given (``logging_policy`` still selects), for a caller that
        knows what the propensities mean (e.g. per-row targets restricted to each request's candidates).

        Raises
        ------
        abrec.errors.InputError
            Rows without a propensity; several logging policies and no ``logging_policy``.
        abrec.errors.UnknownNameError
            ``logging_policy`` names no logging policy of the log (with a "did you mean").
        abrec.errors.SupportError
            Per-request candidate sets (the message says what would work instead).

        Examples
        --------
        >>> log = InteractionLog.from_arrays(unit=["a", "b", "c", "d"], item=["x", "y", "x", "z"], timestamp=0,
        ...                                  reward=[1, 0, 0, 1], propensity=0.5, variant=["A", "A", "B", "B"])
        >>> LoggedFeedback.from_log(log)
        Traceback (most recent call last):
        ...
        abrec.errors.InputError: The log mixes 2 logging policies (variant 'A', 'B'): off-policy estimates \
reweight the rows of one logging policy by its own propensities; 'A', 'B' logged uniformly at random (the best \
log to evaluate others on). To evaluate on one logging policy's rows, pass --variant A (abrec evaluate) or \
logging_policy='A' (Python).
        >>> LoggedFeedback.from_log(log, logging_policy="A").item_ids.tolist()
        ['x', 'y']
        """
        from ._loggers import check_candidates, one_logging_policy

        whole, label = log, ""
        if logging_policy is not None or check:
            log, context, label = one_logging_policy(log, logging_policy, context)
        if check:
            check_candidates(log, whole, label)
        if context is None:
            context = log.contexts()
        frame = log.frame
        if frame["propensity"].isna().any():
            bad = int(np.flatnonzero(frame["propensity"].isna().to_numpy())[0])
            raise InputError(
                f"Row {bad + 1} of the log has no propensity; off-policy evaluation needs the logging policy's "
                "probability of every logged action."
            )
        ids = np.asarray(sorted(frame["item"].unique()) if items is None else np.asarray(items))
        order = np.argsort(ids, kind="stable")
        where = np.searchsorted(ids[order], frame["item"].to_numpy())
        where = np.clip(where, 0, len(ids) - 1)
        action = order[where]
        unknown = ids[action] != frame["item"].to_numpy()
        if unknown.any():
            bad = int(np.flatnonzero(unknown)[0])
            raise InputError(f"Row {bad + 1} of the log shows item {frame['item'].iloc[bad]!r}, which is not in items.")
        position = frame["position"].to_numpy(dtype=np.int64)
        return cls(
            action=action.astype(np.int64),
            position=position,
            reward=frame["reward"].to_numpy(dtype=np.float64),
            propensity=frame["propensity"].to_numpy(dtype=np.float64),
            context=None if context is None else np.asarray(context, dtype=np.float64),
            action_context=None if action_context is None else np.asarray(action_context, dtype=np.float64),
            n_actions=len(ids),
            n_positions=int(position.max()) + 1 if n_positions is None else int(n_positions),
            item_ids=ids,
        )

    @classmethod
    def from_obd(cls, obd: OBDLog, *, context: bool = True) -> LoggedFeedback:
        """Feedback from an Open Bandit Dataset log: one-hot user features as context, item context as action context.

        The action context is OBP's: ``item_feature_0`` plus one-hot codes of the hashed item features.
        """
        import pandas as pd

        frame = obd.log.frame
        items = obd.item_context.sort_values("item_id")
        dummies = pd.get_dummies(items.drop(columns=["item_id"]).astype({"item_feature_0": float}), drop_first=True)
        return cls(
            action=frame["item"].to_numpy(dtype=np.int64),
            position=frame["position"].to_numpy(dtype=np.int64),
            reward=frame["reward"].to_numpy(dtype=np.float64),
            propensity=frame["propensity"].to_numpy(dtype=np.float64),
            context=obd.context() if context else None,
            action_context=dummies.to_numpy(dtype=np.float64),
            n_actions=obd.n_items,
            n_positions=obd.n_positions,
            item_ids=np.arange(obd.n_items),
        )


def at_logged_positions(action_dist: ActionDistribution | npt.ArrayLike, feedback: LoggedFeedback) -> FloatArray:
    """The target policy's ``pi(a | x_i, position_i)`` for every row and action: shape ``(n_rows, n_actions)``.

    Parameters
    ----------
    action_dist : abrec.policies.ActionDistribution or array_like
        The target policy's action distribution over the ``n_actions`` logged actions (in the order of
        ``feedback.item_ids``) and the ``n_positions`` slate positions, in one of these forms:

        * an :class:`~abrec.policies.ActionDistribution` (what ``policy.action_distribution`` and
          :func:`~abrec.ope.bts_action_distribution` answer) of one request, ``probabilities`` of
          shape ``(1, n_actions, n_positions)``: one table for every row, read at each row's logged
          position; or of one request per row, ``(n_rows, n_actions, n_positions)``;
        * an array: one table ``(n_actions, n_positions)`` for every row, or already per row at each
          row's position, ``(n_rows, n_actions)``.

        Each row must be a distribution over actions (sums to 1).
    feedback : LoggedFeedback
        The logged rows (their positions are read).

    Returns
    -------
    numpy.ndarray
        ``(n_rows, n_actions)``: ``pi(a | x_i, position_i)``.

    Raises
    ------
    abrec.errors.InputError
        A shape that fits neither form, or rows that are not distributions over the actions.

    Examples
    --------
    >>> fb = LoggedFeedback.from_arrays(action=[0, 1], reward=[1, 0], propensity=0.5, position=[0, 1])
    >>> at_logged_positions([[0.9, 0.2], [0.1, 0.8]], fb).tolist()
    [[0.9, 0.1], [0.2, 0.8]]
    >>> from abrec.policies import UniformRandom
    >>> record = UniformRandom().action_distribution(fb.item_ids, k=fb.n_positions)  # (1, 2, 2)
    >>> at_logged_positions(record, fb).tolist()
    [[0.5, 0.5], [0.5, 0.5]]
    """
    n, na, npos = feedback.n_rows, feedback.n_actions, feedback.n_positions
    if isinstance(action_dist, ActionDistribution):
        p = action_dist.probabilities
        if p.shape == (1, na, npos):  # one request: the same table for every row
            out = np.ascontiguousarray(p[0].T[feedback.position])
        elif p.shape == (n, na, npos):  # one request per row
            out = np.ascontiguousarray(p[np.arange(n), :, feedback.position])
        else:
            raise InputError(
                f"An ActionDistribution given as action_dist must have probabilities of shape (1, n_actions, "
                f"n_positions) = (1, {na}, {npos}) or (n_rows, n_actions, n_positions) = ({n}, {na}, {npos}); "
                f"got {p.shape}."
            )
    else:
        dist = np.asarray(action_dist, dtype=np.float64)
        if dist.shape == (na, npos):  # a table wins when both readings fit (n_rows == n_actions == n_positions)
            out = np.ascontiguousarray(dist.T[feedback.position])
        elif dist.shape == (n, na):
            out = dist
        else:
            raise InputError(
                f"action_dist must have shape (n_actions, n_positions) = ({na}, {npos}) or (n_rows, n_actions) = "
                f"({n}, {na}); got {dist.shape}."
            )
    if not (np.isfinite(out).all() and (out >= 0).all()):
        raise InputError("action_dist must hold probabilities (finite, >= 0).")
    sums = out.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        bad = int(np.flatnonzero(~np.isclose(sums, 1.0, atol=1e-6))[0])
        raise InputError(
            f"action_dist must sum to 1 over actions at each row's position; row {bad} sums to {sums[bad]!r}."
        )
    return out
