"""Disjoint linear models per item (Li et al. 2010): LinUCB and linear Thompson sampling."""

from __future__ import annotations

from typing import Any, ClassVar, cast

import numpy as np

from .._params import Constraint, Interval
from .._random import Seed
from . import _gaussian_race, _kernels, _slates
from .base import FloatArray, IntArray, Policy, Request
from .records import Decision, Feedback
from .registry import register

__all__ = ["LinUCB", "LinearThompson"]

_F64 = np.dtype(np.float64)
_I64 = np.dtype(np.int64)

# What the lean one-request paths stand in for: a subclass that overrides any of these keeps the full path.
_UPDATE_PATH = ("_update", "_ensure_rows", "_set_dim", "_on_new_items", "_item_state")
_DECIDE_PATH = (*_UPDATE_PATH[1:], "_request", "_choose", "_scores", "_full_scores", "_masked", "_mean_width")


def _unchanged(cls: type, owner: type, names: tuple[str, ...]) -> bool:
    """Whether ``cls`` inherits every one of ``names`` from ``owner`` unchanged."""
    return all(getattr(cls, name) is getattr(owner, name) for name in names)


def _plain(a: object, dtype: np.dtype[Any], ndim: int) -> bool:
    """An ndarray (not a subclass) of this dtype and dimension."""
    return type(a) is np.ndarray and a.dtype is dtype and a.ndim == ndim


class _DisjointLinear(Policy):
    """Ridge regression of reward on context, one model per item: ``A_a = l I + sum x x'``, ``b_a = sum r x``.
    ``A_a^-1`` is kept packed (its upper triangle; see ``_kernels.pack``).

    The compiled backend updates ``A_a^-1`` by Sherman-Morrison rank-one steps, one row after
    another (``N d^2`` work for N rows). The numpy reference does the same for batches of fewer
    rows than the context dimension, and otherwise adds ``X'X`` per item and re-inverts the items
    touched. Both give the ridge solution to rounding.
    """

    contextual: ClassVar[bool] = True
    ridge: float
    backend: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._lean_update = _kernels.HAVE_NUMBA and _unchanged(cls, _DisjointLinear, _UPDATE_PATH)

    def _extra_params(self) -> tuple[str, ...]:
        return ("backend",)

    @property
    def _use_numba(self) -> bool:
        return self.backend != "numpy"

    def _item_state(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        d = self._dim or 0
        if d == 0:
            return {}
        return {
            "a_inv": ((_kernels.packed_dim(d),), _kernels.pack(np.eye(d) / self.ridge)),
            "b": ((d,), 0.0),
            "theta": ((d,), 0.0),
        }

    def _mean_width(self, req: Request) -> tuple[FloatArray, FloatArray]:
        assert req.contexts is not None
        st = self._state
        return _kernels.mean_width_packed(req.contexts, req.rows, st["a_inv"], st["theta"], self._use_numba)

    def _update_one(self, feedback: Feedback) -> bool:
        # Lean path of `update` for int64 item ids the policy knows, float64 rewards and contexts of its
        # dimension. The compiled kernel the full path ends in (`_kernels.sherman_morrison`) does the item
        # look-up and the finiteness checks here, and changes nothing when one fails. The full path hands
        # it the rewards and contexts themselves, and fresh (C-contiguous, writeable) rows: item ids of
        # that kind too, so that the same compiled specialisation runs.
        if self.backend == "numpy" or self._items.size != self._initialised_rows:
            return False
        items, rewards, x = feedback.items, feedback.rewards, feedback.contexts
        if x is None or not (_plain(items, _I64, 1) and _plain(rewards, _F64, 1) and _plain(x, _F64, 2)):
            return False
        n = items.shape[0]
        if n == 0 or not items.flags.carray or rewards.shape[0] != n or x.shape[0] != n or x.shape[1] != self._dim:
            return False
        st = self._state
        table = self._items._table  # the ItemIndex's dense id -> row table (-1: unknown)
        ids = cast(IntArray, items)
        return _kernels.sherman_morrison_ids(st["a_inv"], st["b"], st["theta"], table, ids, x, rewards)

    def _update(
        self,
        rows: IntArray,
        rewards: FloatArray,
        contexts: FloatArray | None,
        item_features: FloatArray | None,
        feedback: Feedback,
    ) -> None:
        assert contexts is not None
        st = self._state
        d = contexts.shape[1]
        if rows.shape[0] < d or (self._use_numba and _kernels.HAVE_NUMBA):
            _kernels.sherman_morrison(st["a_inv"], st["b"], st["theta"], rows, contexts, rewards, self._use_numba)
            return
        order = np.argsort(rows, kind="stable")
        r_sorted, x_sorted = rows[order], contexts[order]
        touched, starts = np.unique(r_sorted, return_index=True)
        xx = np.add.reduceat(x_sorted[:, :, None] * x_sorted[:, None, :], starts, axis=0)
        xr = np.add.reduceat(x_sorted * rewards[order][:, None], starts, axis=0)
        a = np.linalg.inv(_kernels.unpack(st["a_inv"][touched], d)) + xx
        a_inv = np.linalg.inv(a)
        st["a_inv"][touched] = _kernels.pack(a_inv)
        st["b"][touched] += xr
        st["theta"][touched] = np.einsum("kde,ke->kd", a_inv, st["b"][touched])


@register
class LinUCB(_DisjointLinear):
    """Disjoint LinUCB: rank by ``x . theta_a + alpha * sqrt(x' A_a^-1 x)``.

    Deterministic up to random tie-breaking, so propensities are exact (``1 / ties``). A new item
    starts from the ridge prior (``theta = 0``, ``A^-1 = I / ridge``), i.e. with the widest bound.

    Parameters
    ----------
    alpha : width of the confidence bound (exploration).
    ridge : L2 regularisation, the prior precision of each item's coefficients.
    backend : 'auto' (numba where it helps), 'numba' or 'numpy' (the reference implementation).

    Examples
    --------
    >>> import numpy as np
    >>> from abrec.policies import Feedback
    >>> p = LinUCB(alpha=0.5, seed=0)
    >>> x = np.array([[1.0, 0.0]])
    >>> p.update(Feedback(items=np.array([3]), rewards=np.array([1.0]), contexts=x))
    >>> p.decide(np.array([3, 4]), x).items.tolist()
    [[3]]
    """

    name: ClassVar[str] = "linucb"
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "alpha": Interval("float", 0.0, 1e308),
        "ridge": Interval("float", 0.0, 1e308, closed="neither"),
    }
    _lean_decide: ClassVar[bool] = _kernels.HAVE_NUMBA
    # The candidate rows cached by `_request`, and the same as a (1, m) view, for `_decide_one` (set there).
    _lean_rows: tuple[IntArray, IntArray] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._lean_decide = _kernels.HAVE_NUMBA and _unchanged(cls, LinUCB, _DECIDE_PATH)

    def __init__(self, alpha: float = 1.0, ridge: float = 1.0, backend: str = "auto", *, seed: Seed = None) -> None:
        self.alpha = alpha
        self.ridge = ridge
        self.backend = backend
        _kernels.check_backend(type(self).__name__, backend)
        super().__init__(seed=seed)

    def _scores(self, req: Request) -> FloatArray:
        mean, q = self._mean_width(req)
        return mean + self.alpha * np.sqrt(q)

    def _choose(self, req: Request, k: int) -> tuple[IntArray, FloatArray, FloatArray, int]:
        if k == 1 and req.mask is None and self._use_numba and _kernels.HAVE_NUMBA and req.n <= 32:
            assert req.contexts is not None
            st = self._state
            chosen = _kernels.ucb_top1(req.contexts, req.rows, st["a_inv"], st["theta"], self.alpha, self._rng)
            assert chosen is not None  # contexts were validated
            slots, props, scores = chosen
            return slots, props, scores, 0
        return super()._choose(req, k)

    def _decide_one(self, candidates: Any, contexts: Any) -> Decision | None:
        # Lean path of `decide` for one request whose candidates are those of the previous call (their rows
        # are cached by `_request`) and a float64 context of the policy's dimension: the same call as
        # `_choose` above on the same arrays, which checks that the context is finite before it draws.
        last = self._last_lookup
        if (
            last is None
            or type(candidates) is not np.ndarray
            or type(contexts) is not np.ndarray
            or contexts.dtype is not _F64
            or self.backend == "numpy"
            or self._items.size != self._initialised_rows
        ):
            return None
        cached, rows, raw = last
        if candidates.shape != cached.shape or candidates.dtype is not cached.dtype or candidates.ndim != 1:
            return None
        if candidates.tobytes() != raw:
            return None
        if contexts.ndim == 2:
            if contexts.shape[0] != 1 or contexts.shape[1] != self._dim:
                return None
            x = contexts
        elif contexts.ndim == 1 and contexts.shape[0] == self._dim:
            x = contexts[None, :]
        else:
            return None
        shared = self._lean_rows
        if shared is None or shared[0] is not rows:
            shared = self._lean_rows = (rows, rows.reshape(1, -1))
        st = self._state
        chosen = _kernels.ucb_top1(x, shared[1], st["a_inv"], st["theta"], self.alpha, self._rng)
        if chosen is None:
            return None  # a context is not finite: the full path says so
        slots, props, scores = chosen
        return Decision._make((candidates[slots], slots, props, scores, self.name, self.version, 0))

    def _exact_distribution(self, req: Request, k: int) -> FloatArray | None:
        # The compiled k = 1 path above is the same greedy choice (ties split evenly) on the same scores.
        return super()._exact_distribution(req, k)


@register
class LinearThompson(_DisjointLinear):
    """Linear Thompson sampling per item (Agrawal & Goyal 2013).

    Item ``a``'s coefficients have posterior ``N(theta_a, v^2 A_a^-1)``, so its score for context
    ``x`` is Gaussian with mean ``x . theta_a`` and variance ``v^2 x' A_a^-1 x``, independent
    across items: the policy samples those scores directly. Propensities are Monte Carlo estimates
    from ``propensity_draws`` further samples (``Decision.propensity_draws`` records the number):
    for k = 1 Rao-Blackwellised (each draw of the other items' best score contributes the exact
    Gaussian tail probability of the chosen item; see ``_gaussian_race``), for slates by counting.

    Examples
    --------
    >>> import numpy as np
    >>> d = LinearThompson(seed=0).decide(np.arange(3), np.eye(3), k=2)
    >>> d.items.shape, d.propensity_draws
    ((3, 2), 1000)
    """

    name: ClassVar[str] = "lin_ts"
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "v": Interval("float", 0.0, 1e308),
        "ridge": Interval("float", 0.0, 1e308, closed="neither"),
        "propensity_draws": Interval("int", 1, 10_000_000),
    }

    def __init__(
        self,
        v: float = 0.3,
        ridge: float = 1.0,
        propensity_draws: int = 1000,
        backend: str = "auto",
        *,
        seed: Seed = None,
    ) -> None:
        self.v = v
        self.ridge = ridge
        self.propensity_draws = propensity_draws
        self.backend = backend
        _kernels.check_backend(type(self).__name__, backend)
        super().__init__(seed=seed)

    def _choose(self, req: Request, k: int) -> tuple[IntArray, FloatArray, FloatArray, int]:
        mean, q = self._mean_width(req)
        scale = self.v * np.sqrt(q)
        if k == 1:
            slots, props = _gaussian_race.race(self._rng, mean, scale, req.mask, self.propensity_draws, self._use_numba)
            return slots, props, mean, self.propensity_draws

        def draw(s: int) -> FloatArray:
            sample = mean + scale * self._rng.standard_normal((s, req.n, req.m))
            return self._masked(sample, req) if req.mask is not None else sample

        slots = _slates.topk_of(draw(1)[0], k)
        props = _slates.sampled(draw, slots, self.propensity_draws)
        return slots, props, mean, self.propensity_draws
