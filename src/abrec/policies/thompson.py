"""Context-free Thompson sampling: Bernoulli (Beta posteriors) and Gaussian (Normal-Gamma posteriors)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from .._params import Constraint, Interval
from .._random import Seed
from ..errors import ParameterError
from . import _bts_distribution, _slates
from ._counts import CountingPolicy, add_per_item
from .base import FloatArray, IntArray, Request, require_unit_rewards
from .records import Feedback
from .registry import register

__all__ = ["BernoulliThompson", "GaussianThompson"]


class _SampledRanking(CountingPolicy):
    """Rank by one posterior sample per candidate; propensities by Monte Carlo over fresh samples.

    A context-free posterior is the same for every request that shares the candidate list, so
    for 1-D candidates one table of ``propensity_draws`` slates serves the whole batch; per-request
    candidates (2-D or masked) get their own draws.
    """

    propensity_draws: int

    def _sample(self, req: Request, size: int) -> FloatArray:
        """``size`` posterior draws of every candidate's score: shape (size, n, m) or (size, 1, m)."""
        raise NotImplementedError

    def _choose(self, req: Request, k: int) -> tuple[IntArray, FloatArray, FloatArray, int]:
        def draw(s: int) -> FloatArray:
            return self._masked(self._sample(req, s), req) if req.mask is not None else self._sample(req, s)

        first = draw(1)[0]
        if first.shape[0] != req.n:
            # Shared candidates: the decisions need one draw per request, the propensities one table.
            first = self._sample(req, req.n)[:, 0, :]
            slots = _slates.topk_of(first, k)
            props = _slates.sampled_shared(draw, slots, self.propensity_draws, req.m)
        elif req.mask is None and req.rows.ndim == 2 and type(self)._item_sampler is not _SampledRanking._item_sampler:
            # Per-request candidates from one posterior per item: one draw per distinct item serves them all.
            slots = _slates.topk_of(first, k)
            items, index = np.unique(req.rows, return_inverse=True)
            props = _slates.sampled_items(
                self._item_sampler(items), index.reshape(req.rows.shape), slots, self.propensity_draws
            )
        else:
            slots = _slates.topk_of(first, k)
            props = _slates.sampled(draw, slots, self.propensity_draws)
        return slots, props, self._posterior_mean(req), self.propensity_draws

    def _item_sampler(self, items: IntArray) -> Callable[[int], FloatArray]:
        """``draw(s)``: ``s`` posterior draws of each of ``items`` (rows), shape (s, len(items)); a subclass whose
        posterior is one per item (not per request) overrides it, and its propensities come from one draw per
        distinct item (see ``_slates.sampled_items``)."""
        raise NotImplementedError

    def _posterior_mean(self, req: Request) -> FloatArray:
        raise NotImplementedError

    def _sampled_distribution(self, req: Request, k: int, n_draws: int) -> FloatArray:
        """Candidates shared by the requests: one table from ``n_draws`` posterior draws (top-k counted, compiled).

        Otherwise (masks, per-request candidates or features) decisions are counted per request.
        """
        if req.mask is not None or self._sample(req, 1).shape[1] != 1:
            return self._counted(req, k, n_draws)
        counts = np.zeros((req.m, k), dtype=np.int64)
        per_chunk = max(1, _slates._CHUNK_FLOATS // req.m)
        done = 0
        while done < n_draws:
            size = min(per_chunk, n_draws - done)
            _bts_distribution.top_counts(self._sample(req, size)[:, 0, :], counts)
            done += size
        return _table(counts, n_draws, req.n)


def _table(counts: IntArray, n_draws: int, n: int) -> FloatArray:
    """``(n, m, k)``: one ``(m, k)`` table of counts out of ``n_draws``, shared by ``n`` requests."""
    table = counts / float(n_draws)
    out: FloatArray = np.broadcast_to(table[None], (n, *table.shape))
    return out


@register
class BernoulliThompson(_SampledRanking):
    """Beta-Bernoulli Thompson sampling for rewards in [0, 1] (clicks).

    Item ``i`` has prior ``Beta(a_i, b_i)``: ``priors[i] = (a_i, b_i)`` where given, else
    ``(prior_alpha, prior_beta)``. A reward r counts as r successes and 1 - r failures. The slate is
    the top-k of one posterior draw per candidate; the propensity of each chosen item at its position
    is estimated from ``propensity_draws`` further draws (see ``_slates.sampled``; requests with their own
    candidates share one draw per distinct item, ``_slates.sampled_items``), so
    ``Decision.propensity_draws`` records that number.

    Examples
    --------
    >>> import numpy as np
    >>> p = BernoulliThompson(priors={7: (30.0, 1.0)}, seed=0)
    >>> p.decide(np.array([7, 8])).items.tolist()
    [[7]]
    """

    name: ClassVar[str] = "bernoulli_ts"
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "prior_alpha": Interval("float", 0.0, 1e308, closed="neither"),
        "prior_beta": Interval("float", 0.0, 1e308, closed="neither"),
        "propensity_draws": Interval("int", 1, 10_000_000),
    }

    def __init__(
        self,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        priors: Mapping[Any, tuple[float, float]] | None = None,
        propensity_draws: int = 1000,
        *,
        seed: Seed = None,
    ) -> None:
        self.prior_alpha = prior_alpha
        self.prior_beta = prior_beta
        if priors is not None and not isinstance(priors, Mapping):
            raise ParameterError(
                "The 'priors' parameter of BernoulliThompson must be a mapping of item ids to (alpha, beta) pairs "
                f"or None. Got {priors!r} instead."
            )
        self.priors = dict(priors) if priors is not None else None
        self.propensity_draws = propensity_draws
        super().__init__(seed=seed)
        for item, pair in (self.priors or {}).items():
            if (
                not isinstance(pair, Sequence)
                or len(pair) != 2
                or not all(isinstance(v, int | float) and v > 0 for v in pair)
            ):
                raise ParameterError(
                    "The 'priors' parameter of BernoulliThompson must map item ids to (alpha, beta) pairs of "
                    f"positive floats. Got {pair!r} for item {item!r} instead."
                )
        if self.priors is not None:
            self.priors = {item: (float(a), float(b)) for item, (a, b) in self.priors.items()}

    def _extra_params(self) -> tuple[str, ...]:
        return ("priors",)

    def _item_state(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        return {**super()._item_state(), "alpha0": ((), self.prior_alpha), "beta0": ((), self.prior_beta)}

    def _on_new_items(self, start: int, stop: int) -> None:
        if not self.priors:
            return
        ids = self._items.ids[start:stop].tolist()
        for offset, item in enumerate(ids):
            pair = self.priors.get(item)
            if pair is not None:
                self._state["alpha0"][start + offset], self._state["beta0"][start + offset] = pair

    def _update(
        self,
        rows: IntArray,
        rewards: FloatArray,
        contexts: FloatArray | None,
        item_features: FloatArray | None,
        feedback: Feedback,
    ) -> None:
        require_unit_rewards(rewards, "BernoulliThompson", "use GaussianThompson for other rewards.")
        super()._update(rows, rewards, contexts, item_features, feedback)

    def _posterior(self, rows: IntArray) -> tuple[FloatArray, FloatArray]:
        count, total = self._stats(rows)
        return self._state["alpha0"][rows] + total, self._state["beta0"][rows] + count - total

    def _sample(self, req: Request, size: int) -> FloatArray:
        a, b = self._posterior(req.rows)
        return self._rng.beta(a, b, size=(size, *a.shape)) if a.ndim == 2 else self._rng.beta(a, b, (size, 1, req.m))

    def _item_sampler(self, items: IntArray) -> Callable[[int], FloatArray]:
        a, b = self._posterior(items)
        rng, flat = self._rng, (a == 1.0) & (b == 1.0)  # Beta(1, 1) is uniform: 30x cheaper than numpy's Johnk
        if not flat.any():
            return lambda size: rng.beta(a, b, size=(size, a.shape[0]))
        rest = ~flat
        a_rest, b_rest = a[rest], b[rest]

        def draw(size: int) -> FloatArray:
            out = np.empty((size, a.shape[0]))
            out[:, flat] = rng.random((size, int(flat.sum())))
            if a_rest.shape[0]:
                out[:, rest] = rng.beta(a_rest, b_rest, size=(size, a_rest.shape[0]))
            return out

        return draw

    def _posterior_mean(self, req: Request) -> FloatArray:
        a, b = self._posterior(req.rows)
        return np.broadcast_to(a / (a + b), (req.n, req.m))

    def _sampled_distribution(self, req: Request, k: int, n_draws: int) -> FloatArray:
        """Shared candidates: the blocked, threaded Beta top-k count of :func:`abrec.ope.bts_action_distribution`.

        With the same posteriors, seed and ``n_draws`` both give the same numbers.
        """
        if req.mask is not None or req.rows.ndim != 1:
            return super()._sampled_distribution(req, k, n_draws)
        a, b = self._posterior(req.rows)
        counts = _bts_distribution.beta_top_counts(a, b, k, n_draws, self._rng)
        return _table(counts, n_draws, req.n)


@register
class GaussianThompson(_SampledRanking):
    """Thompson sampling for real-valued rewards with a Normal-Gamma posterior per item.

    Prior: precision ``~ Gamma(prior_shape, prior_rate)``, mean ``~ N(prior_mean, 1 / (prior_count *
    precision))``. The posterior of the mean is a Student t with ``2 * shape`` degrees of freedom,
    sampled directly. Sufficient statistics per item: count, sum and sum of squares.

    Examples
    --------
    >>> import numpy as np
    >>> d = GaussianThompson(seed=0).decide(np.arange(5), k=2)
    >>> d.items.shape
    (1, 2)
    """

    name: ClassVar[str] = "gaussian_ts"
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "prior_mean": Interval("float", -1e308, 1e308),
        "prior_count": Interval("float", 0.0, 1e308, closed="neither"),
        "prior_shape": Interval("float", 0.0, 1e308, closed="neither"),
        "prior_rate": Interval("float", 0.0, 1e308, closed="neither"),
        "propensity_draws": Interval("int", 1, 10_000_000),
    }

    def __init__(
        self,
        prior_mean: float = 0.0,
        prior_count: float = 1.0,
        prior_shape: float = 1.0,
        prior_rate: float = 1.0,
        propensity_draws: int = 1000,
        *,
        seed: Seed = None,
    ) -> None:
        self.prior_mean = prior_mean
        self.prior_count = prior_count
        self.prior_shape = prior_shape
        self.prior_rate = prior_rate
        self.propensity_draws = propensity_draws
        super().__init__(seed=seed)

    def _item_state(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        return {**super()._item_state(), "total_sq": ((), 0.0)}

    def _update(
        self,
        rows: IntArray,
        rewards: FloatArray,
        contexts: FloatArray | None,
        item_features: FloatArray | None,
        feedback: Feedback,
    ) -> None:
        super()._update(rows, rewards, contexts, item_features, feedback)
        add_per_item(self._state["total_sq"], rows, rewards * rewards)

    def _posterior(self, rows: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Location, scale and degrees of freedom of the Student-t posterior of each item's mean."""
        n, s = self._stats(rows)
        ss = self._state["total_sq"][rows]
        kappa = self.prior_count + n
        mean = (self.prior_count * self.prior_mean + s) / kappa
        xbar = s / np.maximum(n, 1.0)
        within = np.maximum(ss - n * xbar * xbar, 0.0)
        rate = self.prior_rate + 0.5 * within + 0.5 * self.prior_count * n * (xbar - self.prior_mean) ** 2 / kappa
        shape = self.prior_shape + 0.5 * n
        return mean, np.sqrt(rate / (shape * kappa)), 2.0 * shape

    def _sample(self, req: Request, size: int) -> FloatArray:
        loc, scale, df = self._posterior(req.rows)
        shape = (size, *loc.shape) if loc.ndim == 2 else (size, 1, req.m)
        return loc + scale * self._rng.standard_t(df, size=shape)

    def _item_sampler(self, items: IntArray) -> Callable[[int], FloatArray]:
        loc, scale, df = self._posterior(items)
        return lambda size: loc + scale * self._rng.standard_t(df, size=(size, loc.shape[0]))

    def _posterior_mean(self, req: Request) -> FloatArray:
        return np.broadcast_to(self._posterior(req.rows)[0], (req.n, req.m)).copy()
