"""The policy protocol: batch-first ``decide`` and ``update``, shared by every abrec policy.

A policy decides for ``n`` requests at once. Each request has its own candidate items (ids that
may be new: cold start) and, for contextual policies, its own context vector; the policy returns a
:class:`~abrec.policies.records.Decision` with a slate of ``k`` items per request and the marginal
propensity of each chosen item at its position. It learns from :class:`~abrec.policies.records.Feedback`.

Subclasses implement ``_choose`` (or just ``_scores`` for deterministic rankers), ``_update``, and
declare their per-item learned state in ``_item_state``; the base class validates inputs, maps item
ids to rows of that state, grows it as new items appear, and saves/loads it.

Code that needs something of a policy asks it through the protocol, never by its class:
``policy.action_distribution(...)`` (where it would put each candidate, exact or counted),
``policy.clone(...)`` (a fresh or state-keeping copy with its own generator) and ``policy.learns``.
A subclass whose slates follow a known law says so in ``_exact_distribution`` (the default is the
greedy law of the default ``_choose``); one with a fast sampler may override ``_sampled_distribution``.
Either hook is trusted only when it was written by the class that decides (see ``_decides_as``).
"""

from __future__ import annotations

import copy
import difflib
import enum
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal, Self

import numpy as np
import numpy.typing as npt

from .._params import Constraint, Interval, validate_params
from .._random import Seed, as_generator
from ..errors import InputError, ParameterError
from . import _slates
from ._items import ItemIndex
from .distribution import ActionDistribution
from .records import Decision, Feedback

__all__ = ["Policy", "Request"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(slots=True, eq=False)
class Request:
    """A validated batch of requests, as policies see it internally.

    ``candidates`` are the ids as given ((m,) or (n, m)); ``rows`` (same shape) are the rows of
    each candidate in the policy's item state; ``mask`` (n, m) marks valid candidates (None: all
    valid); ``contexts`` (n, d) or None; ``item_features`` (m, p) or (n, m, p) or None;
    ``counts`` (n,) the number of valid candidates per request where a mask was given.
    """

    candidates: npt.NDArray[Any]
    rows: IntArray
    mask: npt.NDArray[np.bool_] | None
    contexts: FloatArray | None
    item_features: FloatArray | None
    counts: IntArray | None
    n: int
    m: int

    @property
    def valid(self) -> IntArray:
        """Number of valid candidates of each request, shape (n,)."""
        return self.counts if self.counts is not None else np.full(self.n, self.m, dtype=np.int64)


_INT_TYPES = (int, np.integer)


def require_unit_rewards(rewards: FloatArray, owner: str, hint: str) -> None:
    """Raise InputError unless every reward lies in [0, 1] (clicks, or fractional soft labels)."""
    if rewards.min() < 0.0 or rewards.max() > 1.0:
        raise InputError(f"{owner} needs rewards in [0, 1]; {hint}")


class _Keep(enum.Enum):
    """The default of ``Policy.clone(seed=...)``: keep the original's seed."""

    KEEP = "keep"


#: Largest number of requests x candidates one ``decide`` call of a Monte Carlo count may hold.
_COUNT_CHUNK = 1 << 21


def _finite(a: FloatArray) -> bool:
    """True when no element is NaN or infinite (fast for the one-request case)."""
    if a.size <= 64:
        return all(map(math.isfinite, a.ravel().tolist()))
    # A sum is finite only if every element is (NaN and inf propagate); overflow falls back to a full check.
    return math.isfinite(a.sum()) or bool(np.isfinite(a).all())


class Policy(ABC):
    """Base class of every abrec policy.

    Parameters are stored as given by the constructor (``get_params`` returns them); learned state
    lives apart in ``_state`` (one array per name, first axis = item row) and a few scalars.

    Class attributes: ``name`` and ``version`` (stamped on decisions), ``contextual`` (reads request
    contexts), ``uses_item_features`` (reads candidates' features) and ``learns`` (False for a policy
    that never changes with feedback, such as :class:`~abrec.policies.UniformRandom`).
    """

    name: ClassVar[str] = "policy"
    version: ClassVar[str] = "1"
    contextual: ClassVar[bool] = False
    uses_item_features: ClassVar[bool] = False
    learns: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {}
    #: Whether ``_decide_one`` / ``_update_one`` (lean one-request paths) may answer for this class.
    _lean_decide: ClassVar[bool] = False
    _lean_update: ClassVar[bool] = False

    def __init__(self, *, seed: Seed = None) -> None:
        self.seed = seed
        self._validate()
        self._rng = as_generator(seed)
        self._items = ItemIndex()
        self._state: dict[str, npt.NDArray[Any]] = {}
        self._dim: int | None = None
        self._feature_dim: int | None = None
        self._initialised_rows = 0
        self._last_lookup: tuple[npt.NDArray[Any], IntArray, bytes] | None = None

    # ----------------------------------------------------------------- parameters
    def get_params(self) -> dict[str, Any]:
        """Hyperparameters as given to the constructor."""
        names = [*self._parameter_constraints, *self._extra_params()]
        return {name: getattr(self, name) for name in names}

    def _extra_params(self) -> tuple[str, ...]:
        return ()

    def _validate(self) -> None:
        validate_params(
            type(self).__name__,
            self._parameter_constraints,
            {name: getattr(self, name) for name in self._parameter_constraints},
        )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if k != "seed")
        return f"{type(self).__name__}({args})"

    def clone(self, *, keep_state: bool = False, seed: Seed | Literal[_Keep.KEEP] = _Keep.KEEP, **params: Any) -> Self:
        """A new policy of the same class and hyperparameters, fresh or with a copy of the learned state.

        The original is never touched: the clone shares no array, no item index and no random
        generator with it.

        Parameters
        ----------
        keep_state : bool, default False
            False: a fresh policy, as if just built from ``get_params()`` (like scikit-learn's
            ``clone``). True: a deep copy of the learned state too (items, arrays, scalars), so that it
            decides and learns as the original would from here on, except for its random draws.
        seed : int, numpy.random.Generator or None, optional
            The clone's generator is built from it as in the constructor (a Generator is used as it
            is, unless it is the original's own, which is copied). By default the original's seed
            value: an int or None is passed on, a Generator is copied in its current state; either
            way the clone never shares the original's generator.
        **params
            Hyperparameters to change, validated as in the constructor.

        Returns
        -------
        Policy
            A policy of the same class.

        Raises
        ------
        abrec.errors.ParameterError
            An unknown hyperparameter (with a "did you mean" hint) or a value out of its range.

        Examples
        --------
        >>> import numpy as np
        >>> from abrec.policies import EpsilonGreedy, Feedback
        >>> policy = EpsilonGreedy(epsilon=0.2, seed=0)
        >>> policy.update(Feedback(items=np.array([1, 2]), rewards=np.array([1.0, 0.0])))
        >>> policy.clone().n_items, policy.clone(keep_state=True).n_items
        (0, 2)
        >>> policy.clone(epsilon=0.5).get_params()
        {'epsilon': 0.5, 'initial_value': 1.0}
        >>> policy.clone(epsilom=0.5)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        abrec.errors.ParameterError: EpsilonGreedy has no parameter 'epsilom'. Did you mean 'epsilon'? ...
        """
        current = {key: value for key, value in self.get_params().items() if key != "seed"}
        for key in params:
            if key not in current:
                close = difflib.get_close_matches(key, list(current), n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                known = ", ".join(sorted(current)) or "none"
                raise ParameterError(f"{type(self).__name__} has no parameter {key!r}.{hint} Its parameters: {known}.")
        merged = {key: copy.deepcopy(value) for key, value in current.items() if key not in params}
        merged.update(params)
        own_seed: Seed = seed if not isinstance(seed, _Keep) else self.seed
        if isinstance(own_seed, np.random.Generator) and own_seed is self.seed:
            own_seed = copy.deepcopy(own_seed)  # the same state, never the same object
        new = type(self)(**merged, seed=own_seed)
        if keep_state:
            # Everything the instance holds besides its hyperparameters, seed and generator is learned
            # state; one memo keeps shared references shared, and maps the generator to the clone's own.
            memo: dict[int, Any] = {id(self._rng): new._rng}
            own = {"seed", "_rng", *merged}
            for key, value in self.__dict__.items():
                if key not in own:
                    new.__dict__[key] = copy.deepcopy(value, memo)
        return new

    # ----------------------------------------------------------------- learned state
    def _item_state(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        """Per-item arrays: name -> (shape after the item axis, initial value or array)."""
        return {}

    @property
    def n_items(self) -> int:
        """Number of items the policy has seen (in a request or in feedback)."""
        return len(self._items)

    @property
    def item_ids(self) -> npt.NDArray[Any]:
        """Ids of the items the policy has seen, in the order of its state rows."""
        return self._items.ids

    def _on_new_items(self, start: int, stop: int) -> None:  # noqa: B027 - an optional hook
        """Hook: rows ``start:stop`` were just created for new items (e.g. to set per-item priors)."""

    def _ensure_rows(self) -> None:
        """Grow the per-item arrays to cover every known item (new items get their prior)."""
        n_items = self._items.size
        if n_items == self._initialised_rows:
            return
        spec = self._item_state()
        if not spec:
            return
        first = next(iter(spec))
        have = self._state[first].shape[0] if first in self._state else 0
        if have < n_items:
            capacity = max(n_items, 2 * have, 16)
            for key, (tail, init) in spec.items():
                old = self._state.get(key)
                new = np.empty((capacity, *tail), dtype=np.float64)
                new[...] = init
                if old is not None:
                    new[: old.shape[0]] = old
                self._state[key] = new
        self._on_new_items(self._initialised_rows, n_items)
        self._initialised_rows = n_items

    def _set_dim(self, d: int, attr: str = "_dim", what: str = "contexts") -> None:
        current = getattr(self, attr)
        if current is None:
            setattr(self, attr, d)
            self._state.clear()
            self._initialised_rows = 0
            self._ensure_rows()
        elif current != d:
            raise InputError(
                f"{type(self).__name__} was trained on {what} of dimension {current}; got dimension {d}. "
                "Use one feature space per policy (or a new policy for a new one)."
            )

    # ----------------------------------------------------------------- decide
    def decide(
        self,
        candidates: npt.ArrayLike,
        contexts: npt.ArrayLike | None = None,
        *,
        k: int = 1,
        mask: npt.ArrayLike | None = None,
        item_features: npt.ArrayLike | None = None,
    ) -> Decision:
        """Choose a slate of ``k`` items for each of ``n`` requests.

        Parameters
        ----------
        candidates : item ids, ``(m,)`` shared by all requests or ``(n, m)`` per request.
        contexts : ``(n, d)`` float context of each request (contextual policies; ``(d,)`` = one
            request). Context-free policies accept and ignore it.
        k : slate size (positions), 1 <= k <= number of valid candidates of every request.
        mask : ``(n, m)`` bool, True where a per-request candidate is valid (ragged candidate sets).
        item_features : ``(m, p)`` or ``(n, m, p)`` float features of the candidates (text
            embeddings); used by policies that read item features.

        Returns
        -------
        Decision
            Slates, positions' propensities, scores, and the policy's name and version.

        Examples
        --------
        >>> import numpy as np
        >>> from abrec.policies import LinUCB
        >>> policy = LinUCB(seed=0)
        >>> d = policy.decide(np.array([10, 11, 12]), np.ones((2, 4)), k=2)
        >>> d.items.shape, bool((d.propensities > 0).all())
        ((2, 2), True)
        """
        if self._lean_decide and mask is None and item_features is None and type(k) is int and k == 1:
            decision = self._decide_one(candidates, contexts)
            if decision is not None:
                return decision
        req = self._request(candidates, contexts, k, mask, item_features)
        slots, props, scores, draws = self._choose(req, k)
        if req.mask is not None:
            scores = np.where(req.mask, scores, np.nan)
        cand = req.candidates
        items = cand[slots] if cand.ndim == 1 else np.take_along_axis(cand, slots, axis=1)
        return Decision(items, slots, props, scores, self.name, self.version, draws)

    def _decide_one(self, candidates: npt.ArrayLike, contexts: npt.ArrayLike | None) -> Decision | None:
        """Hook (used where ``_lean_decide``): decide one request with ``k = 1``, no mask, no item features.

        Returns the very Decision the full path would (same arrays, same generator draws), or None, having
        changed nothing, whenever it cannot vouch for that; the full path (validation included) then runs.
        """
        return None

    def _update_one(self, feedback: Feedback) -> bool:
        """Hook (used where ``_lean_update``): learn from ``feedback`` as :meth:`update` would and return True,
        or return False, having changed nothing, to leave it to the full path."""
        return False

    def _request(
        self,
        candidates: npt.ArrayLike,
        contexts: npt.ArrayLike | None,
        k: int,
        mask: npt.ArrayLike | None,
        item_features: npt.ArrayLike | None,
    ) -> Request:
        cand = np.asarray(candidates)
        x: FloatArray | None = None
        if contexts is not None:
            x = np.asarray(contexts, dtype=np.float64)
            if x.ndim == 1:
                x = x[None, :]
            if x.ndim != 2 or x.shape[1] == 0:
                raise InputError(f"contexts must have shape (n, d) with d >= 1. Got shape {x.shape}.")
            if not _finite(x):
                raise InputError("contexts contain NaN or infinite values; clean or impute them first.")
        if cand.ndim == 1:
            n = x.shape[0] if x is not None else 1
        elif cand.ndim == 2:
            n = cand.shape[0]
            if x is not None and x.shape[0] != n:
                raise InputError(f"candidates has {n} rows (requests) but contexts has {x.shape[0]}.")
        else:
            raise InputError(f"candidates must have shape (m,) or (n, m). Got shape {cand.shape}.")
        m = cand.shape[-1]
        if m == 0 or n == 0:
            raise InputError(f"every request needs at least one candidate item. Got candidates of shape {cand.shape}.")
        if self.contextual and x is None:
            raise InputError(f"{type(self).__name__} is contextual: pass contexts of shape (n, d).")
        valid_mask: npt.NDArray[np.bool_] | None = None
        if mask is not None:
            valid_mask = np.asarray(mask, dtype=bool)
            if valid_mask.shape != (n, m):
                raise InputError(f"mask must have shape ({n}, {m}) like the candidates. Got {valid_mask.shape}.")
            valid: IntArray | None = valid_mask.sum(axis=1).astype(np.int64)
            assert valid is not None
            fewest = int(valid.min())
            if valid_mask.all():
                valid_mask, valid = None, None
            elif cand.ndim == 1:
                cand = np.broadcast_to(cand, (n, m))
        else:
            valid = None
            fewest = m
        if not isinstance(k, _INT_TYPES) or isinstance(k, bool) or k < 1 or k > fewest:
            raise InputError(
                f"k (slate size) must be an int in [1, {fewest}] (the fewest valid candidates of a request). Got {k!r}."
            )
        feats: FloatArray | None = None
        if item_features is not None:
            feats = np.asarray(item_features, dtype=np.float64)
            if not ((feats.ndim == 2 and feats.shape[0] == m) or (feats.ndim == 3 and feats.shape[:2] == (n, m))):
                raise InputError(
                    f"item_features must have shape (m, p) = ({m}, p) or (n, m, p) = ({n}, {m}, p). Got {feats.shape}."
                )
            if not _finite(feats):
                raise InputError("item_features contain NaN or infinite values.")
            if self.uses_item_features:
                self._set_dim(feats.shape[-1], "_feature_dim", "item features")
        elif self.uses_item_features:
            raise InputError(f"{type(self).__name__} reads item features: pass item_features of shape (m, p).")
        if x is not None and self.contextual and self._dim != x.shape[1]:
            self._set_dim(x.shape[1])
        last = self._last_lookup
        if (
            valid_mask is None
            and last is not None
            and last[0].shape == cand.shape
            and last[0].dtype == cand.dtype
            and last[2] == cand.tobytes()
        ):
            # The same candidate list as last time (the common case): rows are already known and unique.
            if self._items.size != self._initialised_rows:
                self._ensure_rows()
            return Request(cand, last[1], None, x, feats, valid, n, m)
        known = len(self._items)
        if valid_mask is None:
            rows = self._items.lookup(cand, add=True)
            check = rows
        else:
            rows = np.zeros(cand.shape, dtype=np.int64)
            rows[valid_mask] = self._items.lookup(cand[valid_mask], add=True)
            check = np.where(valid_mask, rows, -1 - np.arange(m))
        if m > 1:
            ordered = np.sort(check, axis=-1)
            if (ordered[..., 1:] == ordered[..., :-1]).any():
                self._items.truncate(known)
                raise InputError("candidates contain duplicate item ids in a request; each candidate must appear once.")
        self._ensure_rows()
        if valid_mask is None and cand.size <= 4096:
            self._last_lookup = (cand.copy(), rows, cand.tobytes())
        return Request(cand, rows, valid_mask, x, feats, valid, n, m)

    def _choose(self, req: Request, k: int) -> tuple[IntArray, FloatArray, FloatArray, int]:
        """Default: rank by deterministic scores, random tie-break, exact propensities."""
        scores = self._full_scores(req)
        slots, props = _slates.greedy(self._masked(scores, req), k, self._rng)
        return slots, props, scores, 0

    def _full_scores(self, req: Request) -> FloatArray:
        scores = self._scores(req)
        if scores.ndim == 1:
            scores = np.broadcast_to(scores, (req.n, req.m))
        return scores

    def _scores(self, req: Request) -> FloatArray:
        """(n, m) or (m,) scores of the candidates; higher is better."""
        raise NotImplementedError(f"{type(self).__name__} must implement _scores or _choose.")

    @staticmethod
    def _masked(scores: FloatArray, req: Request) -> FloatArray:
        return scores if req.mask is None else np.where(req.mask, scores, -np.inf)

    # ----------------------------------------------------------------- action distribution
    def action_distribution(
        self,
        candidates: npt.ArrayLike,
        contexts: npt.ArrayLike | None = None,
        *,
        k: int = 1,
        mask: npt.ArrayLike | None = None,
        item_features: npt.ArrayLike | None = None,
        n_draws: int = 1000,
        seed: Seed = 0,
        exact: bool | None = None,
    ) -> ActionDistribution:
        """Where the policy would put each candidate: ``P(candidate j at position p | request i)``.

        What off-policy evaluation needs of a target policy. Requests are given as to :meth:`decide`
        (same shapes, same validation). The policy is not changed (neither its state nor its
        generator): the work is done on ``self.clone(keep_state=True, seed=seed)``.

        The distribution is exact where the policy knows its law: the greedy rankers (ties split
        evenly), epsilon-greedy, uniform, softmax for ``k = 1``. Otherwise (Thompson sampling,
        Plackett-Luce slates, a subclass that changed how it decides) it is counted over ``n_draws``
        decisions per request, each probability then carrying the binomial standard error
        ``sqrt(p (1 - p) / n_draws)``. A context-free policy with candidates shared by every request
        gets one table, computed once and shared by the requests.

        Parameters
        ----------
        candidates, contexts, k, mask, item_features
            As in :meth:`decide`.
        n_draws : int, default 1000
            Monte Carlo decisions per request (per table for a context-free policy); unused when exact.
        seed : int, numpy.random.Generator or None, default 0
            Seeds the working copy's generator (Monte Carlo results depend on it).
        exact : bool or None, default None
            None: exact where possible, else Monte Carlo. True: exact or a ParameterError. False:
            always Monte Carlo (to check an exact law against the decisions, say).

        Returns
        -------
        ActionDistribution
            ``probabilities`` and ``standard_error`` of shape ``(n, m, k)``, ``exact`` and ``draws``.

        Raises
        ------
        abrec.errors.InputError
            Requests that :meth:`decide` would refuse.
        abrec.errors.ParameterError
            ``exact=True`` for a policy whose distribution here is not exact, or a bad ``n_draws``.

        Examples
        --------
        >>> import numpy as np
        >>> from abrec.policies import BernoulliThompson, Feedback, UCB1
        >>> ucb = UCB1(seed=0)
        >>> ucb.update(Feedback(items=np.array([1, 2]), rewards=np.array([1.0, 0.0])))
        >>> dist = ucb.action_distribution(np.array([1, 2, 3]), k=2)  # item 3 untried: ranked first
        >>> dist.exact, dist.probabilities[0].tolist()
        (True, [[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
        >>> ts = BernoulliThompson(priors={1: (50.0, 1.0)}, seed=0)
        >>> dist = ts.action_distribution(np.array([1, 2, 3]), n_draws=2000, seed=1)
        >>> dist.exact, dist.draws, bool(dist.probabilities[0, 0, 0] > 0.9)
        (False, 2000, True)
        """
        owner = f"{type(self).__name__}.action_distribution"
        validate_params(owner, {"n_draws": Interval("int", 1)}, {"n_draws": n_draws})
        if exact is not None and not isinstance(exact, bool):
            raise ParameterError(
                f"The 'exact' parameter of {owner} must be None, True or False. Got {exact!r} instead."
            )
        # Decisions of the working copy are only counted: its own propensity estimates would cost time.
        cheap = {"propensity_draws": 1} if "propensity_draws" in self.get_params() else {}
        work = self.clone(keep_state=True, seed=seed, **cheap)
        req = work._request(candidates, contexts, k, mask, item_features)
        shared = (
            not work.contextual
            and req.candidates.ndim == 1
            and req.mask is None
            and (req.item_features is None or req.item_features.ndim == 2)
        )
        # A context-free policy treats requests with the same candidates alike: one table serves them all.
        one = replace(req, n=1, contexts=None if req.contexts is None else req.contexts[:1]) if shared else req
        probabilities = None
        if exact is not False and work._decides_as("_exact_distribution"):
            probabilities = work._exact_distribution(one, k)
        if probabilities is not None:
            standard_error = np.zeros_like(probabilities)
            draws = 0
        elif exact:
            raise ParameterError(
                f"The 'exact' parameter of {owner} must be None or False here: {type(self).__name__} samples its "
                f"slates (k={k}), so its distribution is counted over draws. Got True instead."
            )
        else:
            sampler = work._sampled_distribution if work._decides_as("_sampled_distribution") else work._counted
            probabilities = sampler(one, k, n_draws)
            standard_error = np.sqrt(probabilities * (1.0 - probabilities) / n_draws)
            draws = n_draws
        if one is not req:
            probabilities = np.broadcast_to(probabilities, (req.n, req.m, k))
            standard_error = np.broadcast_to(standard_error, (req.n, req.m, k))
        return ActionDistribution(probabilities, standard_error, draws == 0, draws)

    def _decides_as(self, hook: str) -> bool:
        """Whether ``hook`` was written by a class that also wrote (or left unchanged) how this policy decides.

        A subclass that overrides ``_choose`` or ``decide`` below the class that wrote an exact law or
        a fast sampler may decide differently from it, so that hook no longer speaks for the policy
        and the distribution is counted from its decisions instead.
        """
        mro = type(self).__mro__

        def depth(name: str) -> int:
            return next(i for i, cls in enumerate(mro) if name in vars(cls))

        return depth(hook) <= min(depth("_choose"), depth("decide"))

    def _exact_distribution(self, req: Request, k: int) -> FloatArray | None:
        """Hook: the exact ``(n, m, k)`` distribution of the slates ``_choose`` draws, or None when unknown.

        The default is the law of the default ``_choose``: greedy by ``_scores``, ties split evenly.
        """
        scores = np.asarray(self._full_scores(req), dtype=np.float64)
        return _slates.greedy_distribution(scores, k, req.mask)

    def _sampled_distribution(self, req: Request, k: int, n_draws: int) -> FloatArray:
        """Hook: the ``(n, m, k)`` shares of ``n_draws`` slates per request (a faster sampler may override it)."""
        return self._counted(req, k, n_draws)

    def _counted(self, req: Request, k: int, n_draws: int) -> FloatArray:
        """Count where ``n_draws`` decisions per request put each candidate (each request repeated in ``decide``)."""
        n, m = req.n, req.m
        counts = np.zeros((n, m, k), dtype=np.int64)
        total = n * n_draws
        size = max(1, min(total, _COUNT_CHUNK // m))
        positions = np.arange(k, dtype=np.int64)
        for start in range(0, total, size):
            rows = np.arange(start, min(total, start + size), dtype=np.int64) // n_draws
            lo, hi = int(rows[0]), int(rows[-1]) + 1
            cand = req.candidates if req.candidates.ndim == 1 else req.candidates[rows]
            x = req.contexts[rows] if req.contexts is not None else np.zeros((rows.shape[0], 1))
            feats = req.item_features
            if feats is not None and feats.ndim == 3:
                feats = feats[rows]
            slots = self.decide(
                cand, x, k=k, mask=None if req.mask is None else req.mask[rows], item_features=feats
            ).slots
            flat = ((rows[:, None] - lo) * m + slots) * k + positions[None, :]
            counts[lo:hi] += np.bincount(flat.ravel(), minlength=(hi - lo) * m * k).reshape(hi - lo, m, k)
        out: FloatArray = counts / float(n_draws)
        return out

    # ----------------------------------------------------------------- update
    def update(self, feedback: Feedback) -> None:
        """Learn from a batch of logged feedback (any policy's decisions, with their rewards)."""
        if self._lean_update and self._update_one(feedback):
            return
        items = np.asarray(feedback.items)
        rewards = np.asarray(feedback.rewards, dtype=np.float64)
        if items.ndim != 1 or rewards.shape != items.shape:
            raise InputError(
                "feedback.items and feedback.rewards must be 1-D of equal length. "
                f"Got {items.shape} and {rewards.shape}."
            )
        if not _finite(rewards):
            raise InputError("feedback.rewards contain NaN or infinite values.")
        x: FloatArray | None = None
        if feedback.contexts is not None:
            x = np.asarray(feedback.contexts, dtype=np.float64)
            if x.ndim == 1 and items.shape[0] == 1:
                x = x[None, :]
            if x.ndim != 2 or x.shape[0] != items.shape[0]:
                raise InputError(f"feedback.contexts must have shape ({items.shape[0]}, d). Got {x.shape}.")
            if not _finite(x):
                raise InputError("feedback.contexts contain NaN or infinite values.")
        elif self.contextual:
            raise InputError(f"{type(self).__name__} is contextual: feedback needs contexts of shape (N, d).")
        f: FloatArray | None = None
        if self.uses_item_features:
            if feedback.item_features is None:
                raise InputError(f"{type(self).__name__} reads item features: feedback needs item_features (N, p).")
            f = np.asarray(feedback.item_features, dtype=np.float64)
            if f.ndim != 2 or f.shape[0] != items.shape[0]:
                raise InputError(f"feedback.item_features must have shape ({items.shape[0]}, p). Got {f.shape}.")
            if not _finite(f):
                raise InputError("feedback.item_features contain NaN or infinite values.")
            self._set_dim(f.shape[1], "_feature_dim", "item features")
        if x is not None and self.contextual and self._dim != x.shape[1]:
            self._set_dim(x.shape[1])
        if items.shape[0] == 0:
            return
        rows = self._items.lookup(items, add=True)
        if self._items.size != self._initialised_rows:
            self._ensure_rows()
        self._update(rows, rewards, x, f, feedback)

    @abstractmethod
    def _update(
        self,
        rows: IntArray,
        rewards: FloatArray,
        contexts: FloatArray | None,
        item_features: FloatArray | None,
        feedback: Feedback,
    ) -> None:
        """Fold validated feedback into the learned state (rows index the per-item arrays)."""

    # ----------------------------------------------------------------- persistence
    def save(self, path: str) -> None:
        """Save hyperparameters and learned state to a versioned, pickle-free ``.npz`` file."""
        from .state import save_policy

        save_policy(self, path)

    @classmethod
    def load(cls, path: str) -> Policy:
        """Load a policy saved by :meth:`save` (any registered class; checked against ``cls``)."""
        from .state import load_policy

        policy = load_policy(path)
        if not isinstance(policy, cls):
            from ..errors import StateError

            raise StateError(f"{path} holds a {type(policy).__name__}, not a {cls.__name__}.")
        return policy

    def _extra_state(self) -> dict[str, npt.NDArray[Any]]:
        """Learned arrays that are not per item (shared models); saved and loaded with the rest."""
        return {}

    def _load_extra_state(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        for key, value in arrays.items():
            setattr(self, key, value)
