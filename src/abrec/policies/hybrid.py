"""Hybrid LinUCB (Li et al. 2010, Algorithm 2): a shared model on user x item features plus per-item models.

The shared features of candidate ``a`` for a request with context ``x`` are
``z = [f_a, vec(x f_a')]`` (``interactions=True``) or ``z = f_a``, where ``f_a`` are the item's
features, e.g. its text embedding reduced to a few dimensions. The shared coefficients ``beta``
are learned from every item's feedback, so a never-shown item gets a sensible score from its
features alone; each item's own ``theta_a`` on ``x`` adds what is specific to it as feedback
accrues.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .._params import Constraint, Interval
from .._random import Seed
from .base import FloatArray, IntArray, Policy, Request
from .records import Feedback
from .registry import register

__all__ = ["HybridLinUCB"]


@register
class HybridLinUCB(Policy):
    """Hybrid LinUCB: score ``z' beta + x' theta_a + alpha * sqrt(s)`` with Li et al.'s variance ``s``.

    Requires ``contexts`` (n, d) and ``item_features`` ((m, p) or (n, m, p)) in ``decide`` and the
    shown items' features in ``Feedback.item_features``. Memory per item is ``d * (d + dim(z))``
    floats: reduce text embeddings to a few dozen dimensions first. Deterministic up to random
    tie-breaking; propensities are exact.

    Examples
    --------
    >>> import numpy as np
    >>> from abrec.policies import Feedback
    >>> p = HybridLinUCB(alpha=0.0, seed=0)
    >>> x, f = np.array([[1.0, 0.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])
    >>> p.update(Feedback(items=np.array(["a"]), rewards=np.array([1.0]), contexts=x, item_features=f[:1]))
    >>> p.decide(np.array(["new-like-a", "new-other"]), x, item_features=f).items.tolist()
    [['new-like-a']]
    """

    name: ClassVar[str] = "hybrid_linucb"
    contextual: ClassVar[bool] = True
    uses_item_features: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "alpha": Interval("float", 0.0, 1e308),
        "ridge": Interval("float", 0.0, 1e308, closed="neither"),
        "interactions": Constraint("bool"),
    }

    def __init__(self, alpha: float = 1.0, ridge: float = 1.0, interactions: bool = True, *, seed: Seed = None) -> None:
        self.alpha = alpha
        self.ridge = ridge
        self.interactions = interactions
        super().__init__(seed=seed)
        self.a0: FloatArray | None = None
        self.b0: FloatArray | None = None

    @property
    def _zdim(self) -> int:
        p, d = self._feature_dim or 0, self._dim or 0
        return p + d * p if self.interactions else p

    def _shared(self) -> tuple[FloatArray, FloatArray]:
        k = self._zdim
        if self.a0 is None or self.a0.shape != (k, k):
            self.a0 = self.ridge * np.eye(k)
            self.b0 = np.zeros(k)
        assert self.b0 is not None
        return self.a0, self.b0

    def _item_state(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        d, k = self._dim or 0, self._zdim
        if d == 0 or (self._feature_dim or 0) == 0:
            return {}
        return {
            "a_inv": ((d, d), np.eye(d) / self.ridge),
            "bmat": ((d, k), 0.0),
            "b": ((d,), 0.0),
        }

    def _z(self, x: FloatArray, f: FloatArray) -> FloatArray:
        """Shared features for (..., d) contexts and (..., p) item features, broadcast together."""
        if not self.interactions:
            return f
        x_b, f_b = np.broadcast_arrays(x[..., :, None], f[..., None, :])
        outer = (x_b * f_b).reshape(*x_b.shape[:-2], -1)
        return np.concatenate([np.broadcast_to(f, (*outer.shape[:-1], f.shape[-1])), outer], axis=-1)

    def _scores(self, req: Request) -> FloatArray:
        assert req.contexts is not None and req.item_features is not None
        x = req.contexts  # (n, d)
        f = req.item_features if req.item_features.ndim == 3 else req.item_features[None]  # (n|1, m, p)
        rows = req.rows if req.rows.ndim == 2 else req.rows[None]  # (n|1, m)
        a0, b0 = self._shared()
        a0_inv = np.linalg.inv(a0)
        beta = a0_inv @ b0
        st = self._state
        a_inv, bmat, b = st["a_inv"][rows], st["bmat"][rows], st["b"][rows]  # (., m, d, d) (., m, d, k) (., m, d)
        theta = np.einsum("nmde,nme->nmd", a_inv, b - bmat @ beta)
        z = self._z(x[:, None, :], f)  # (n, m, k)
        ax = np.einsum("nmde,ne->nmd", a_inv, x)  # A_a^-1 x
        bax = np.einsum("nmdk,nmd->nmk", bmat, ax)  # B_a' A_a^-1 x
        za = z @ a0_inv
        s = (
            np.einsum("nmk,nmk->nm", za, z)
            - 2.0 * np.einsum("nmk,nmk->nm", za, bax)
            + np.einsum("nmd,nd->nm", ax, x)
            + np.einsum("nmk,kl,nml->nm", bax, a0_inv, bax)
        )
        mean = z @ beta + np.einsum("nmd,nd->nm", theta, x)
        scores: FloatArray = mean + self.alpha * np.sqrt(np.maximum(s, 0.0))
        return np.broadcast_to(scores, (req.n, req.m))

    def _schur(self, touched: IntArray) -> tuple[FloatArray, FloatArray]:
        """Sum over items of ``B_a' A_a^-1 B_a`` and ``B_a' A_a^-1 b_a``."""
        st = self._state
        bm, ai, bv = st["bmat"][touched], st["a_inv"][touched], st["b"][touched]
        t = np.einsum("adk,ade->aek", bm, ai)
        return np.einsum("aek,ael->kl", t, bm), np.einsum("aek,ae->k", t, bv)

    def _update(
        self,
        rows: IntArray,
        rewards: FloatArray,
        contexts: FloatArray | None,
        item_features: FloatArray | None,
        feedback: Feedback,
    ) -> None:
        assert contexts is not None and item_features is not None
        a0, b0 = self._shared()
        z = self._z(contexts, item_features)
        order = np.argsort(rows, kind="stable")
        r_s, x_s, z_s, y_s = rows[order], contexts[order], z[order], rewards[order]
        touched, starts = np.unique(r_s, return_index=True)
        old_a, old_b = self._schur(touched)
        st = self._state
        a = np.linalg.inv(st["a_inv"][touched]) + np.add.reduceat(x_s[:, :, None] * x_s[:, None, :], starts, axis=0)
        st["a_inv"][touched] = np.linalg.inv(0.5 * (a + a.transpose(0, 2, 1)))
        st["bmat"][touched] += np.add.reduceat(x_s[:, :, None] * z_s[:, None, :], starts, axis=0)
        st["b"][touched] += np.add.reduceat(x_s * y_s[:, None], starts, axis=0)
        new_a, new_b = self._schur(touched)
        self.a0 = a0 + old_a + z_s.T @ z_s - new_a
        self.b0 = b0 + old_b + z_s.T @ y_s - new_b

    def _extra_state(self) -> dict[str, Any]:
        a0, b0 = self._shared() if self._dim and self._feature_dim else (np.zeros((0, 0)), np.zeros(0))
        return {"a0": a0, "b0": b0}

    def _load_extra_state(self, arrays: dict[str, Any]) -> None:
        if arrays.get("a0") is not None and arrays["a0"].size:
            self.a0, self.b0 = arrays["a0"], arrays["b0"]
