"""Typed records at the policy boundary: what a policy decided, and what was observed."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import numpy.typing as npt

from ..errors import InputError

if TYPE_CHECKING:
    from ..data.interactions import InteractionLog

__all__ = ["Decision", "Feedback"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Decision(NamedTuple):
    """The slates a policy chose for a batch of ``n`` requests, ``k`` positions each.

    An immutable record (a named tuple: cheap to build on the one-request hot path).

    Attributes
    ----------
    items : (n, k) array of item ids, the chosen slate of each request, position 0 first.
    slots : (n, k) int array, the column of each chosen item in that request's candidate list.
    propensities : (n, k) float array in (0, 1]: the marginal probability that the policy puts
        that item in that position, given the request (what off-policy evaluation needs).
    scores : (n, m) float array, the policy's score of every candidate (NaN where masked out).
    policy, version : the policy's name and the version of its algorithm.
    propensity_draws : 0 where the propensities are exact, else the number of Monte Carlo draws
        behind them (Thompson sampling, Plackett-Luce slates).
    """

    items: npt.NDArray[np.generic]
    slots: IntArray
    propensities: FloatArray
    scores: FloatArray
    policy: str
    version: str
    propensity_draws: int = 0

    @property
    def n(self) -> int:
        """Number of requests."""
        return int(self.slots.shape[0])

    @property
    def k(self) -> int:
        """Slate size."""
        return int(self.slots.shape[1])

    def feedback(
        self,
        rewards: npt.ArrayLike,
        contexts: npt.ArrayLike | None = None,
        item_features: npt.ArrayLike | None = None,
    ) -> Feedback:
        """Feedback for this decision from an ``(n, k)`` (or ``(n,)`` when k == 1) reward array.

        ``contexts`` are the ``(n, d)`` request contexts given to ``decide``; ``item_features`` the
        candidates' features as given to ``decide`` (``(m, p)`` shared or ``(n, m, p)``).
        """
        n, k = self.slots.shape
        r = np.asarray(rewards, dtype=np.float64)
        if r.shape == (n,) and k == 1:
            r = r[:, None]
        if r.shape != (n, k):
            raise InputError(f"rewards must have shape ({n}, {k}) to match the decision. Got {r.shape}.")
        x = None
        if contexts is not None:
            x = np.atleast_2d(np.asarray(contexts, dtype=np.float64))
            if k > 1:
                x = np.repeat(x, k, axis=0)
        f = None
        if item_features is not None:
            feats = np.asarray(item_features, dtype=np.float64)
            if feats.ndim == 2:
                f = feats[self.slots.ravel()]
            else:
                f = feats[np.repeat(np.arange(n), k), self.slots.ravel()]
        return Feedback(
            items=self.items.reshape(-1),
            rewards=r.reshape(-1),
            contexts=x,
            positions=np.tile(np.arange(k, dtype=np.int64), n),
            propensities=self.propensities.reshape(-1),
            item_features=f,
        )

    def to_log(
        self,
        rewards: npt.ArrayLike,
        *,
        units: npt.ArrayLike,
        timestamp: Any,
        request_ids: npt.ArrayLike | None = None,
        contexts: npt.ArrayLike | None = None,
        extra_rewards: Mapping[str, npt.ArrayLike] | None = None,
        experiment: str = "",
        variant: str = "",
        assignment_p: float = math.nan,
        period: int = 0,
        session_ids: npt.ArrayLike | str = "",
        steps: npt.ArrayLike | int = 0,
    ) -> InteractionLog:
        """The decision's event records: one row per shown item (request x position), in request order.

        Every field the downstream needs comes from the decision itself (item ids, positions, propensities and
        how they were computed, the policy's name and version) or from the arguments: ``rewards`` ``(n, k)``
        (or ``(n,)`` when k == 1), ``units`` and ``request_ids`` ``(n,)`` (request ids default to the units),
        ``timestamp`` one time or ``(n,)`` times, ``contexts`` ``(n, d)`` (stored with every row),
        ``extra_rewards`` name -> ``(n, k)``, the experiment, variant, assignment probability (the variant's
        weight in force) and allocation period, and for agents ``session_ids`` and ``steps``. Event ids are
        ``"<request id>/<position>"``.

        Examples
        --------
        >>> import numpy as np
        >>> from abrec.policies import UniformRandom
        >>> d = UniformRandom(seed=0).decide(np.array(["a", "b", "c"]), np.zeros((2, 1)), k=2)
        >>> log = d.to_log(np.array([[1, 0], [0, 0]]), units=["u1", "u2"], timestamp=0, variant="A")
        >>> log.frame[["unit", "position", "propensity", "event_id", "policy"]].values.tolist()[:2]
        [['u1', 0, 0.3333333333333333, 'u1/0', 'uniform'], ['u1', 1, 0.3333333333333333, 'u1/1', 'uniform']]
        """
        from ..data.interactions import InteractionLog

        n, k = self.slots.shape

        def per_slot(name: str, value: npt.ArrayLike) -> npt.NDArray[Any]:
            a = np.asarray(value)
            if a.shape == (n,) and k == 1:
                a = a[:, None]
            if a.shape != (n, k):
                raise InputError(f"{name} must have shape ({n}, {k}) to match the decision. Got {a.shape}.")
            return a.reshape(-1)

        def per_request(name: str, value: Any) -> Any:
            a = np.asarray(value)
            if a.ndim == 0:
                return value
            if a.shape != (n,):
                raise InputError(f"{name} must be one value or {n} values (one per request). Got shape {a.shape}.")
            return np.repeat(a, k)

        unit = per_request("units", units)
        request = unit if request_ids is None else per_request("request_ids", request_ids)
        position = np.tile(np.arange(k, dtype=np.int64), n)
        columns: dict[str, Any] = {
            "position": position,
            "propensity": self.propensities.reshape(-1),
            "policy": self.policy,
            "experiment": experiment,
            "variant": variant,
            "event_id": np.char.add(np.char.add(np.asarray(request, dtype=str), "/"), position.astype(str)),
            "request_id": np.asarray(request, dtype=str),
            "policy_version": self.version,
            "propensity_draws": self.propensity_draws,
            "assignment_p": assignment_p,
            "period": period,
            "session_id": per_request("session_ids", session_ids),
            "step": per_request("steps", steps),
        }
        if contexts is not None:
            x = np.atleast_2d(np.asarray(contexts, dtype=np.float64))
            if x.shape[0] != n:
                raise InputError(f"contexts must have shape ({n}, d), one row per request. Got {x.shape}.")
            columns["context"] = np.repeat(x, k, axis=0)
        extra = {name: per_slot(name, value) for name, value in (extra_rewards or {}).items()}
        return InteractionLog.from_arrays(
            unit=unit,
            item=self.items.reshape(-1),
            timestamp=per_request("timestamp", timestamp),
            reward=per_slot("rewards", rewards).astype(np.float64),
            extra_rewards=extra,
            **columns,
        )


class Feedback(NamedTuple):
    """A batch of ``N`` logged events, one per (request, shown item, position).

    An immutable record (a named tuple).

    Attributes
    ----------
    items : (N,) item ids that were shown.
    rewards : (N,) float rewards (click = 1.0, purchase value, ...).
    contexts : (N, d) float contexts of the requests, or None for context-free policies.
    positions : (N,) int positions in the slate (0 = top), or None (all 0).
    propensities : (N,) logging propensities, or None when unknown.
    item_features : (N, p) features of the shown items, or None.
    """

    items: npt.NDArray[np.generic]
    rewards: FloatArray
    contexts: FloatArray | None = None
    positions: IntArray | None = None
    propensities: FloatArray | None = None
    item_features: FloatArray | None = None

    @property
    def size(self) -> int:
        """Number of events."""
        return int(self.rewards.shape[0])
