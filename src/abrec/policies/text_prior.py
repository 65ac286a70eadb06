"""Bernoulli Thompson sampling with per-item Beta priors predicted from item features (text embeddings).

A ridge regression shared by all items maps an item's features ``f`` to its click rate: it is fit,
in closed form, to every feedback row (features of the shown item -> reward), as an offset from
the running click rate of all items. Item ``i``'s prior is ``Beta(s * m_i, s * (1 - m_i))`` with
``m_i = clip(ybar + f_i' theta, 0.001, 0.999)`` and ``s = prior_strength`` pseudo-observations; its
posterior adds the item's own successes and failures. A never-shown item thus starts near what
items with similar features earned, and an item with many impressions follows its own data.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .._params import Constraint, Interval
from .._random import Seed
from .base import FloatArray, IntArray, Request, require_unit_rewards
from .records import Feedback
from .registry import register
from .thompson import _SampledRanking

__all__ = ["TextPriorThompson"]

_LOW, _HIGH = 0.001, 0.999


@register
class TextPriorThompson(_SampledRanking):
    """Beta-Bernoulli Thompson sampling whose per-item prior mean is predicted from item features.

    Rewards must lie in [0, 1] (clicks); a reward r counts as r successes and 1 - r failures.
    Requires ``item_features`` ((m, p) or (n, m, p)) in ``decide`` and the shown items' features
    in ``Feedback.item_features``; contexts are accepted and ignored. The shared ridge model keeps a
    ``p x p`` matrix, so reduce text embeddings to a few dozen dimensions first (e.g. with PCA) and
    add a constant column. Propensities are Monte Carlo estimates from ``propensity_draws``
    posterior draws, as in :class:`BernoulliThompson`.

    Parameters
    ----------
    prior_strength : pseudo-observations ``s`` of each item's feature-based prior.
    ridge : L2 penalty of the shared regression from features to click rate.
    propensity_draws : posterior draws used to estimate each decision's propensities.

    Examples
    --------
    >>> import numpy as np
    >>> from abrec.policies import Feedback
    >>> p = TextPriorThompson(seed=0)
    >>> f = np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> for _ in range(50):
    ...     p.update(Feedback(items=np.array(["a", "b"]), rewards=np.array([1.0, 0.0]), item_features=f))
    >>> p.decide(np.array(["new-like-a", "new-like-b"]), item_features=f).scores.round(2).tolist()
    [[0.99, 0.01]]
    """

    name: ClassVar[str] = "text_prior_ts"
    uses_item_features: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "prior_strength": Interval("float", 0.0, 1e308, closed="neither"),
        "ridge": Interval("float", 0.0, 1e308, closed="neither"),
        "propensity_draws": Interval("int", 1, 10_000_000),
    }

    def __init__(
        self,
        prior_strength: float = 10.0,
        ridge: float = 1.0,
        propensity_draws: int = 1000,
        *,
        seed: Seed = None,
    ) -> None:
        self.prior_strength = prior_strength
        self.ridge = ridge
        self.propensity_draws = propensity_draws
        super().__init__(seed=seed)
        self.gram: FloatArray | None = None  # sum of f f' over feedback rows
        self.f_reward: FloatArray | None = None  # sum of f r
        self.f_sum: FloatArray | None = None  # sum of f
        self.totals: FloatArray = np.zeros(2)  # (rows, reward sum)
        self._theta: tuple[float, FloatArray] | None = None

    # ----------------------------------------------------------------- shared ridge model
    def _shared(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        p = self._feature_dim or 0
        if self.gram is None or self.gram.shape != (p, p) or self.f_reward is None or self.f_sum is None:
            self.gram, self.f_reward, self.f_sum = np.zeros((p, p)), np.zeros(p), np.zeros(p)
            self.totals = np.zeros(2)
            self._theta = None
        return self.gram, self.f_reward, self.f_sum

    def _model(self) -> tuple[float, FloatArray]:
        """``(ybar, theta)``: the offset (smoothed click rate of all rows) and the ridge coefficients."""
        if self._theta is not None:
            return self._theta
        gram, f_reward, f_sum = self._shared()
        n, total = float(self.totals[0]), float(self.totals[1])
        ybar = (total + 1.0) / (n + 2.0)
        a = gram + self.ridge * np.eye(gram.shape[0])
        theta: FloatArray = (
            np.asarray(np.linalg.solve(a, f_reward - ybar * f_sum), dtype=np.float64) if gram.size else np.zeros(0)
        )
        self._theta = (ybar, theta)
        return ybar, theta

    def _prior(self, req: Request) -> tuple[FloatArray, FloatArray]:
        """Prior ``(alpha, beta)`` of each candidate: shape (m,) or (n, m) like the features."""
        assert req.item_features is not None
        ybar, theta = self._model()
        mean = np.clip(ybar + req.item_features @ theta, _LOW, _HIGH)
        return self.prior_strength * mean, self.prior_strength * (1.0 - mean)

    # ----------------------------------------------------------------- posterior
    def _posterior(self, req: Request) -> tuple[FloatArray, FloatArray]:
        a0, b0 = self._prior(req)
        count, total = self._stats(req.rows)
        return a0 + total, b0 + count - total

    def _sample(self, req: Request, size: int) -> FloatArray:
        a, b = self._posterior(req)
        if a.ndim == 2:
            return self._rng.beta(a, b, size=(size, *a.shape))
        return self._rng.beta(a, b, (size, 1, req.m))

    def _posterior_mean(self, req: Request) -> FloatArray:
        a, b = self._posterior(req)
        return np.broadcast_to(a / (a + b), (req.n, req.m)).copy()

    # ----------------------------------------------------------------- learning
    def _update(
        self,
        rows: IntArray,
        rewards: FloatArray,
        contexts: FloatArray | None,
        item_features: FloatArray | None,
        feedback: Feedback,
    ) -> None:
        assert item_features is not None
        require_unit_rewards(rewards, "TextPriorThompson", "it models click rates.")
        super()._update(rows, rewards, contexts, item_features, feedback)
        gram, f_reward, f_sum = self._shared()
        gram += item_features.T @ item_features
        f_reward += item_features.T @ rewards
        f_sum += item_features.sum(axis=0)
        self.totals = self.totals + np.array([float(rewards.shape[0]), float(rewards.sum())])
        self._theta = None

    # ----------------------------------------------------------------- persistence
    def _extra_state(self) -> dict[str, Any]:
        if not self._feature_dim:
            return {"gram": np.zeros((0, 0)), "f_reward": np.zeros(0), "f_sum": np.zeros(0), "totals": np.zeros(2)}
        gram, f_reward, f_sum = self._shared()
        return {"gram": gram, "f_reward": f_reward, "f_sum": f_sum, "totals": self.totals}

    def _load_extra_state(self, arrays: dict[str, Any]) -> None:
        gram = arrays.get("gram")
        if gram is not None and gram.size:
            p = gram.shape[0]
            if gram.shape != (p, p) or arrays["f_reward"].shape != (p,) or arrays["f_sum"].shape != (p,):
                from ..errors import StateError

                raise StateError("TextPriorThompson state is corrupt: inconsistent ridge statistics.")
            self.gram = np.array(gram, dtype=np.float64)
            self.f_reward = np.array(arrays["f_reward"], dtype=np.float64)
            self.f_sum = np.array(arrays["f_sum"], dtype=np.float64)
            self.totals = np.array(arrays["totals"], dtype=np.float64)
            self._theta = None
