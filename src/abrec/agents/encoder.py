"""The session state an agent reads: the user, what the session showed and what it clicked, in text space.

:class:`StateEncoder` turns a session so far into one vector, using the item text embeddings of
:mod:`abrec.embeddings` (:class:`~abrec.embeddings.ItemFeatures`): the language model's output is what the
agent's Q-function reads. A session is a :class:`SessionState` (plain arrays, one row per session), which
the encoder starts from the users' context vectors and advances after each step with what was shown and
what the user did; it never changes a state in place, so whoever serves the sessions can keep them
(one row per unit) and log every transition.

The vector of a session, ``[context, clicked, shown, step / horizon, misses / horizon, 1]``:

- ``context`` (d): the user's context vector (as the request gives it);
- ``clicked`` (p): the decayed sum of the text features of the items the user clicked,
  ``c <- (1 - decay) c + sum_j click_j f_j`` after every step;
- ``shown`` (p): the same over every shown item (what tires the user);
- the step in the session and the number of steps since the last click, over ``horizon``; a constant 1.

:meth:`StateEncoder.pair_features` describes each (session, candidate) pair, what DRN calls user-item
features: ``[fatigue, cos(f, clicked), cos(f, shown)]``, the fatigue the environment observes for the
candidate (``phi_i(x)`` of :class:`~abrec.envs.RecSessionEnv`, 0 where it observes none) and the cosine
similarities of the candidate's text features to the session's clicked and shown profiles (0 for an empty
profile): what an agent needs to learn "do not show what this user is tired of".
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from .._params import Interval, validate_params
from ..embeddings.features import ItemFeatures
from ..errors import InputError

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

__all__ = ["SessionState", "StateEncoder"]


@dataclass(frozen=True, eq=False)
class SessionState:
    """``n`` sessions so far: context (n, d), decayed clicked and shown text profiles (n, p), steps and misses (n,)."""

    context: FloatArray
    clicked: FloatArray
    shown: FloatArray
    steps: IntArray
    misses: IntArray

    @property
    def n(self) -> int:
        return int(self.context.shape[0])

    def take(self, rows: npt.ArrayLike) -> SessionState:
        """The sessions at ``rows``."""
        r = np.asarray(rows)
        return SessionState(self.context[r], self.clicked[r], self.shown[r], self.steps[r], self.misses[r])


class StateEncoder:
    """Session states from item text features (see the module docstring).

    Parameters
    ----------
    features : ItemFeatures
        Text features of every item a session may show, by public id.
    decay : float in [0, 1], default 0.3
        Share of the clicked / shown profiles forgotten per step.
    horizon : int, default 50
        Scale of the step and miss counters.

    Examples
    --------
    >>> import numpy as np
    >>> from abrec.embeddings import ItemFeatures
    >>> enc = StateEncoder(ItemFeatures(np.array(["a", "b"]), np.eye(2, dtype=np.float32)), horizon=10)
    >>> s = enc.start(np.zeros((1, 3)))
    >>> s = enc.advance(s, np.array([["a"]]), np.array([[1.0]]))
    >>> enc.encode(s).round(2).tolist()  # context, clicked, shown, step, misses, 1
    [[0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.1, 0.0, 1.0]]
    >>> enc.dim(context_dim=3)
    10
    """

    def __init__(self, features: ItemFeatures, *, decay: float = 0.3, horizon: int = 50) -> None:
        validate_params(
            "StateEncoder",
            {"decay": Interval("float", 0.0, 1.0), "horizon": Interval("int", 1)},
            {"decay": decay, "horizon": horizon},
        )
        self.features = features
        self.decay = decay
        self.horizon = horizon

    @property
    def feature_dim(self) -> int:
        return int(self.features.vectors.shape[1])

    def dim(self, context_dim: int) -> int:
        """Length of a state vector for contexts of ``context_dim`` columns."""
        return context_dim + 2 * self.feature_dim + 3

    #: Columns of :meth:`pair_features`.
    PAIR_FEATURES = ("fatigue", "cos_clicked", "cos_shown")

    def pair_features(
        self,
        state: SessionState,
        candidates: npt.ArrayLike,
        fatigue: npt.ArrayLike | None = None,
        candidate_features: npt.ArrayLike | None = None,
    ) -> FloatArray:
        """Features ``(n, m, 3)`` of each session's ``candidates`` (n, m) item ids: :attr:`PAIR_FEATURES`.

        ``fatigue`` (n, m) is what the environment observes of each candidate (None: zeros);
        ``candidate_features`` (n, m, p) the candidates' text features when the caller has them already.

        Examples
        --------
        >>> import numpy as np
        >>> from abrec.embeddings import ItemFeatures
        >>> enc = StateEncoder(ItemFeatures(np.array(["a", "b"]), np.eye(2, dtype=np.float32)))
        >>> s = enc.advance(enc.start(np.zeros((1, 1))), np.array([["a"]]), np.array([[1.0]]))
        >>> enc.pair_features(s, np.array([["a", "b"]]), fatigue=np.array([[0.5, 0.0]])).tolist()
        [[[0.5, 1.0, 1.0], [0.0, 0.0, 0.0]]]
        """
        ids = np.asarray(candidates)
        if ids.ndim != 2 or ids.shape[0] != state.n:
            raise InputError(f"candidates must have shape ({state.n}, m), one row per session. Got {ids.shape}.")
        f = (
            self.features.lookup(ids).astype(np.float64)
            if candidate_features is None
            else np.asarray(candidate_features, dtype=np.float64)
        )
        out = np.zeros((*ids.shape, 3))
        if fatigue is not None:
            phi = np.asarray(fatigue, dtype=np.float64)
            if phi.shape != ids.shape:
                raise InputError(f"fatigue must have the candidates' shape {ids.shape}. Got {phi.shape}.")
            out[:, :, 0] = phi
        f_norm = np.sqrt(np.einsum("nmp,nmp->nm", f, f))
        for col, profile in ((1, state.clicked), (2, state.shown)):
            p_norm = np.sqrt(np.einsum("np,np->n", profile, profile))
            denom = f_norm * p_norm[:, None]
            dots = np.einsum("nmp,np->nm", f, profile)
            out[:, :, col] = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
        return out

    def start(self, contexts: npt.ArrayLike) -> SessionState:
        """New sessions for users with ``contexts`` (n, d)."""
        x = np.atleast_2d(np.asarray(contexts, dtype=np.float64))
        if x.ndim != 2 or not np.isfinite(x).all():
            raise InputError(f"StateEncoder.start needs finite contexts of shape (n, d). Got shape {x.shape}.")
        n, p = x.shape[0], self.feature_dim
        zeros = np.zeros(n, dtype=np.int64)
        return SessionState(x.copy(), np.zeros((n, p)), np.zeros((n, p)), zeros, zeros.copy())

    def with_context(self, state: SessionState, contexts: npt.ArrayLike) -> SessionState:
        """The same sessions with their users' contexts replaced (a context that drifts during the session)."""
        x = np.asarray(contexts, dtype=np.float64)
        if x.shape != state.context.shape:
            raise InputError(f"contexts must have shape {state.context.shape}. Got {x.shape}.")
        return replace(state, context=x.copy())

    def advance(
        self,
        state: SessionState,
        shown: npt.ArrayLike,
        clicks: npt.ArrayLike,
        active: npt.ArrayLike | None = None,
    ) -> SessionState:
        """The sessions after showing the slates ``shown`` (n, k) of item ids with ``clicks`` (n, k) in [0, 1].

        Sessions where ``active`` (n,) is False are left as they were.
        """
        ids = np.asarray(shown)
        c = np.asarray(clicks, dtype=np.float64)
        if ids.ndim == 1:
            ids, c = ids[:, None], c.reshape(-1, 1)
        if ids.shape[0] != state.n or c.shape != ids.shape:
            raise InputError(
                f"shown and clicks must have shape ({state.n}, k), one row per session. Got {ids.shape} and {c.shape}."
            )
        live = np.ones(state.n, dtype=bool) if active is None else np.asarray(active, dtype=bool)
        f = self.features.lookup(ids).astype(np.float64)  # (n, k, p)
        keep = 1.0 - self.decay
        clicked = np.where(live[:, None], keep * state.clicked + np.einsum("nk,nkp->np", c, f), state.clicked)
        shown_sum = np.where(live[:, None], keep * state.shown + f.sum(axis=1), state.shown)
        any_click = (c > 0).any(axis=1)
        misses = np.where(live, np.where(any_click, 0, state.misses + 1), state.misses)
        steps = state.steps + live
        return SessionState(state.context, clicked, shown_sum, steps.astype(np.int64), misses.astype(np.int64))

    def encode(self, state: SessionState) -> FloatArray:
        """The state vectors (n, dim) of the sessions."""
        n = state.n
        scale = float(self.horizon)
        return np.hstack(
            [
                state.context,
                state.clicked,
                state.shown,
                (state.steps / scale)[:, None],
                (state.misses / scale)[:, None],
                np.ones((n, 1)),
            ]
        )
