"""What the sequential estimators read besides the session log: the target policy and a model of its Q-function.

A session log (an :class:`~abrec.data.InteractionLog` with ``session_id`` and ``step``, one row per step and
session) says what the logging policy showed and what happened. Two things it cannot say:

- **where the target policy would have put each candidate** of each logged request. The log does not hold the
  request's candidates, nor (for agents) every input the policy reads, so the caller keeps them as
  :class:`SessionRequests` (one row per log row: the candidates' ids, the state given to the policy, the
  candidates' features), and :func:`session_target` asks the target policy itself, through
  :meth:`~abrec.policies.Policy.action_distribution`, giving a :class:`SessionTarget`;
- **Q-hat and V-hat of the target policy**, which the doubly robust estimators subtract and add back. They take
  them as :class:`QEstimates` (``q`` = Q-hat(s_t, a_t) and ``v`` = V-hat(s_t) = sum_a pi(a | s_t) Q-hat(s_t, a)
  per log row), from any :class:`SessionQModel`; :class:`FittedQEvaluation` is the one shipped.

:class:`FittedQEvaluation` is finite-horizon fitted-Q evaluation (Le et al. 2019) with a linear model per step:
``Q_t(s, a) = w_t . phi(s, a)``, ``phi(s, a) = [1, state, f_a]`` (``f_a`` the item's features; optionally
``state x f_a`` too), fitted backwards from the last step by ridge regression on ``r_t + gamma V_{t+1}(s_{t+1})``
(0 where the session ended), where ``V_t(s) = sum_a pi(a | s) Q_t(s, a) = w_t . phi(s, f-bar)`` with
``f-bar = sum_a pi(a | s) f_a`` (``phi`` is linear in ``f_a``, so V-hat costs one product). It is cross-fitted
over sessions: the Q-hat of a session comes from a model fitted on the other folds' sessions, so no session's
own rewards enter the model that corrects it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._params import Constraint, Interval, validate_params
from .._random import Seed, as_generator
from .._threads import single_blas
from ..data.interactions import InteractionLog
from ..errors import InputError, ParameterError
from ..policies import Policy

__all__ = [
    "FittedQEvaluation",
    "QEstimates",
    "SessionQModel",
    "SessionRequests",
    "SessionTarget",
    "session_target",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# ---------------------------------------------------------------------- the log as sessions
@dataclass(frozen=True, eq=False)
class SessionIndex:
    """The rows of a session log laid out as sessions x steps (private to :mod:`abrec.ope`).

    ``rows[i, t]`` is the log row of session ``i`` at step ``t`` (-1 after the session ended), ``lengths[i]``
    its number of steps, ``ids`` the session ids (order of first appearance).
    """

    rows: IntArray
    lengths: IntArray
    ids: npt.NDArray[Any]

    @property
    def n_sessions(self) -> int:
        return int(self.rows.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.rows.shape[1])

    def padded(self, values: FloatArray, fill: float) -> FloatArray:
        """Per-row ``values`` as an ``(n_sessions, horizon)`` matrix, ``fill`` after each session's end."""
        out: FloatArray = np.where(self.rows >= 0, values[np.maximum(self.rows, 0)], fill)
        return out

    def next_rows(self, n_rows: int) -> IntArray:
        """For each log row, the row of the same session's next step (-1 at its last step)."""
        out = np.full(n_rows, -1, dtype=np.int64)
        live = self.rows[:, :-1] >= 0
        out[self.rows[:, :-1][live]] = self.rows[:, 1:][live]
        return out


def session_index(log: InteractionLog) -> SessionIndex:
    """Validate ``log`` as a session log (one item per step, steps 0, 1, ... of each session) and index it.

    Raises
    ------
    abrec.errors.InputError
        An empty log, rows without a ``session_id``, a session with two rows at one step (a slate, or a
        duplicate), or a session whose steps do not run 0, 1, ..., L-1.
    """
    if not isinstance(log, InteractionLog):
        raise InputError(f"A session log must be an abrec InteractionLog; got {type(log).__name__}.")
    if len(log) == 0:
        raise InputError("The session log is empty; sequential estimators need at least one session.")
    frame = log.frame
    session = frame["session_id"].to_numpy()
    if (session == "").any():
        row = int(np.flatnonzero(session == "")[0])
        raise InputError(
            f"Row {row + 1} of the log has no session_id; sequential estimators read sessions (log them with "
            "session_id and step, as abrec.agents.run_sessions does)."
        )
    step = frame["step"].to_numpy().astype(np.int64)
    codes, ids = pd.factorize(session)
    codes = codes.astype(np.int64)
    n = ids.shape[0]
    lengths = np.bincount(codes, minlength=n).astype(np.int64)
    horizon = int(lengths.max())
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, codes, step)
    bad = np.flatnonzero(last + 1 != lengths)
    rows = np.full((n, horizon), -1, dtype=np.int64)
    if bad.size == 0:
        rows[codes, step] = np.arange(step.shape[0])
        bad = np.flatnonzero((rows >= 0).sum(axis=1) != lengths)
    if bad.size:
        i = int(bad[0])
        steps = np.sort(step[codes == i]).tolist()
        raise InputError(
            f"Session {ids[i]!r} has rows at steps {steps[:10]}; a session must have exactly one row per step, "
            "at steps 0, 1, ..., L-1. Sequential estimators support one item per step (slate_size 1): a slate "
            "has no per-step joint propensity in the log. Drop partial sessions first."
        )
    return SessionIndex(rows=rows, lengths=lengths, ids=np.asarray(ids))


def reward_of(log: InteractionLog, reward: str) -> FloatArray:
    """The reward column ``reward`` (``"reward"`` or one of the log's extra reward columns)."""
    names = ("reward", *log.reward_columns)
    if reward not in names:
        raise InputError(f"The log has no reward column {reward!r}; its reward columns are {list(names)}.")
    out: FloatArray = log.frame[reward].to_numpy(dtype=np.float64)
    return out


# ---------------------------------------------------------------------- the target policy
@dataclass(frozen=True, eq=False)
class SessionRequests:
    """The logged requests of a session log, one row per log row, as the policies were asked them.

    Attributes
    ----------
    candidates : (n_rows, m) array of item ids
        The candidates of each request (the logged item among them).
    contexts : (n_rows, d) float array or None
        What a policy was given as the request's context: for agents, the session state.
    item_features : (n_rows, m, p) float array or None
        The candidates' features (text embeddings).
    pair_features : (n_rows, m, q) float array or None
        Per (request, candidate) features (what an agent with ``uses_pair_features`` reads).
    """

    candidates: npt.NDArray[Any]
    contexts: FloatArray | None = None
    item_features: FloatArray | None = None
    pair_features: FloatArray | None = None

    def __post_init__(self) -> None:
        cand = np.asarray(self.candidates)
        if cand.ndim != 2 or cand.shape[1] == 0:
            raise InputError(f"candidates must have shape (n_rows, m) with m >= 1; got {cand.shape}.")
        n, m = cand.shape
        object.__setattr__(self, "candidates", cand)
        for name, ndim in (("contexts", 2), ("item_features", 3), ("pair_features", 3)):
            value = getattr(self, name)
            if value is None:
                continue
            a = np.asarray(value, dtype=np.float64)
            want = f"({n}, d)" if ndim == 2 else f"({n}, {m}, p)"
            if a.ndim != ndim or a.shape[: ndim - 1] != cand.shape[: ndim - 1]:
                raise InputError(f"{name} must have shape {want} for {n} requests of {m} candidates; got {a.shape}.")
            if not np.isfinite(a).all():
                raise InputError(f"{name} must be finite (no NaN or infinity).")
            object.__setattr__(self, name, a)

    @property
    def n_rows(self) -> int:
        return int(self.candidates.shape[0])

    @staticmethod
    def concat(parts: list[SessionRequests]) -> SessionRequests:
        """Stack requests (e.g. one batch per step of a rollout), in order."""
        if not parts:
            raise InputError("SessionRequests.concat needs at least one part.")

        def stacked(name: str) -> Any:
            values = [getattr(p, name) for p in parts]
            if all(v is None for v in values):
                return None
            if any(v is None for v in values):
                raise InputError(f"SessionRequests.concat: some parts have {name} and some do not.")
            return np.concatenate(values)

        return SessionRequests(
            candidates=np.concatenate([p.candidates for p in parts]),
            contexts=stacked("contexts"),
            item_features=stacked("item_features"),
            pair_features=stacked("pair_features"),
        )


@dataclass(frozen=True, eq=False)
class SessionTarget:
    """The target policy at every logged request: what the sequential estimators weigh with.

    Attributes
    ----------
    prob : (n_rows,) float array
        ``pi(a_t | s_t)``: the target's probability of the logged item at each log row.
    distribution : (n_rows, m) float array
        ``pi(. | s_t)`` over the request's candidates.
    logged : (n_rows,) int array
        The column of the logged item among the candidates.
    states : (n_rows, d) float array or None
        The state (context) the target was given; what :class:`FittedQEvaluation` reads.
    features : (n_rows, m, p) float array or None
        The candidates' item features, followed by their pair features where the requests have them.
    exact : bool
        Whether the policy's distribution was exact (else counted over Monte Carlo draws).
    """

    prob: FloatArray
    distribution: FloatArray
    logged: IntArray
    states: FloatArray | None
    features: FloatArray | None
    exact: bool

    @property
    def n_rows(self) -> int:
        return int(self.prob.shape[0])


def session_target(
    policy: Policy,
    log: InteractionLog,
    requests: SessionRequests,
    *,
    n_draws: int = 1000,
    seed: Seed = 0,
    exact: bool | None = None,
) -> SessionTarget:
    """Ask ``policy`` where it would put each candidate of each logged request (slates of one item).

    The policy answers through its protocol, :meth:`~abrec.policies.Policy.action_distribution` (on a frozen
    copy: it neither learns nor draws from its own generator), given each request's candidates, context, item
    features and, for a policy whose ``uses_pair_features`` is True, pair features.

    Parameters
    ----------
    policy : Policy
        The target (an agent, a bandit, any abrec policy).
    log : InteractionLog
        The session log; its ``item`` column says which candidate was logged.
    requests : SessionRequests
        One row per log row, in the log's order.
    n_draws, seed, exact
        As in :meth:`~abrec.policies.Policy.action_distribution`.

    Raises
    ------
    abrec.errors.InputError
        Requests that do not match the log's rows, or a logged item that is not among its candidates.
    """
    if requests.n_rows != len(log):
        raise InputError(f"requests has {requests.n_rows} rows but the log has {len(log)}; pass one request per row.")
    extra: dict[str, Any] = {}
    if requests.pair_features is not None and getattr(policy, "uses_pair_features", False):
        extra["pair_features"] = requests.pair_features
    dist = policy.action_distribution(
        requests.candidates,
        requests.contexts,
        k=1,
        item_features=requests.item_features if policy.uses_item_features else None,
        n_draws=n_draws,
        seed=seed,
        exact=exact,
        **extra,
    )
    probs = np.asarray(dist.probabilities, dtype=np.float64)[:, :, 0]
    item = log.frame["item"].to_numpy()
    hit = requests.candidates == item[:, None]
    found = hit.any(axis=1)
    if not found.all():
        row = int(np.flatnonzero(~found)[0])
        raise InputError(
            f"Row {row + 1} of the log shows item {item[row].item()!r}, which is not among its request's candidates."
        )
    logged = np.argmax(hit, axis=1).astype(np.int64)
    features = requests.item_features
    if requests.pair_features is not None:
        features = (
            requests.pair_features if features is None else np.concatenate([features, requests.pair_features], axis=2)
        )
    return SessionTarget(
        prob=probs[np.arange(probs.shape[0]), logged],
        distribution=probs,
        logged=logged,
        states=requests.contexts,
        features=features,
        exact=bool(dist.exact),
    )


# ---------------------------------------------------------------------- Q models
@dataclass(frozen=True, eq=False)
class QEstimates:
    """A model's Q-hat and V-hat for the target policy at every log row.

    Attributes
    ----------
    q : (n_rows,) float array
        ``Q-hat(s_t, a_t)``: the expected discounted return from step ``t`` on, having shown the logged item,
        then following the target.
    v : (n_rows,) float array
        ``V-hat(s_t) = sum_a pi(a | s_t) Q-hat(s_t, a)``.
    """

    q: FloatArray
    v: FloatArray

    def __post_init__(self) -> None:
        q = np.asarray(self.q, dtype=np.float64)
        v = np.asarray(self.v, dtype=np.float64)
        if q.ndim != 1 or q.shape != v.shape:
            raise InputError(f"QEstimates needs q and v of one shape (n_rows,); got {q.shape} and {v.shape}.")
        if not (np.isfinite(q).all() and np.isfinite(v).all()):
            raise InputError("QEstimates must be finite (no NaN or infinity).")
        object.__setattr__(self, "q", q)
        object.__setattr__(self, "v", v)


@runtime_checkable
class SessionQModel(Protocol):
    """Anything that gives :class:`QEstimates` of the target policy on a session log."""

    def fit_predict(self, log: InteractionLog, target: SessionTarget, *, gamma: float, reward: str) -> QEstimates:
        """Q-hat and V-hat of the target at every row of ``log`` (discount ``gamma``, reward column ``reward``)."""
        ...


_FQE_CONSTRAINTS: dict[str, Constraint] = {
    "ridge": Interval("float", 0.0, closed="neither"),
    "n_folds": Interval("int", 1),
    "interactions": Constraint("bool"),
}


class FittedQEvaluation:
    """Finite-horizon fitted-Q evaluation of the target, linear per step, cross-fitted over sessions.

    ``Q_t(s, a) = w_t . phi(s, a)`` with ``phi(s, a) = [1, state, f_a]`` (the state and the item's features
    ``f_a`` of the :class:`SessionTarget`; with ``interactions``, also their outer product, which lets an item's
    value depend on the user; columns standardised on the training sessions), fitted for ``t = T-1, ..., 0``
    by ridge regression of ``r_t + gamma V_{t+1}(s_{t+1})`` on the rows at step ``t`` (``V = 0`` after a
    session ends, by leaving or at the horizon). A step without training rows gets ``Q = 0`` (the doubly
    robust estimate stays unbiased, it only loses the variance reduction there).

    Parameters
    ----------
    ridge : float > 0, default 1.0
        L2 penalty of every weight but the intercept.
    interactions : bool, default False
        Whether ``phi`` has the ``state x f_a`` products. They pay off with many sessions per fold; with a few
        hundred, the larger model is noisier and the doubly robust estimate loses to PDIS (measured on the
        ``seq_ope`` benchmark's env: per-seed standard deviation 0.118 with them, 0.072 without, PDIS 0.082).
    n_folds : int >= 1, default 2
        Sessions are split into this many folds at random; each fold's Q-hat is fitted on the others (1: fitted
        and predicted on all sessions, which lets a session's own noise into its correction).
    seed : int, Generator or None, default 0
        Draws the folds.

    Examples
    --------
    >>> FittedQEvaluation(ridge=0.5, n_folds=5)
    FittedQEvaluation(ridge=0.5, interactions=False, n_folds=5, seed=0)
    """

    _parameter_constraints: ClassVar[dict[str, Constraint]] = _FQE_CONSTRAINTS

    def __init__(self, *, ridge: float = 1.0, interactions: bool = False, n_folds: int = 2, seed: Seed = 0) -> None:
        self.ridge = ridge
        self.interactions = interactions
        self.n_folds = n_folds
        self.seed = seed
        validate_params(
            "FittedQEvaluation",
            self._parameter_constraints,
            {"ridge": ridge, "interactions": interactions, "n_folds": n_folds},
        )
        if not (seed is None or isinstance(seed, np.random.Generator) or type(seed) is int):
            raise ParameterError(
                f"The 'seed' parameter of FittedQEvaluation must be an int, a numpy.random.Generator or None. "
                f"Got {seed!r} instead."
            )

    def get_params(self) -> Mapping[str, Any]:
        """The constructor arguments, as given."""
        return {"ridge": self.ridge, "interactions": self.interactions, "n_folds": self.n_folds, "seed": self.seed}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"FittedQEvaluation({args})"

    def fit_predict(self, log: InteractionLog, target: SessionTarget, *, gamma: float, reward: str) -> QEstimates:
        """Cross-fitted Q-hat and V-hat of the target at every row of ``log``."""
        index = session_index(log)
        n = len(log)
        if target.n_rows != n:
            raise InputError(f"The target has {target.n_rows} rows but the log has {n}.")
        logged, mean = _design(target, self.interactions)
        r = reward_of(log, reward)
        step = log.frame["step"].to_numpy().astype(np.int64)
        nxt = index.next_rows(n)
        folds = as_generator(self.seed).permutation(index.n_sessions) % self.n_folds
        fold_of_row = np.empty(n, dtype=np.int64)
        live = index.rows >= 0
        fold_of_row[index.rows[live]] = np.broadcast_to(folds[:, None], index.rows.shape)[live]
        q = np.zeros(n)
        v = np.zeros(n)
        for fold in range(self.n_folds):
            test = fold_of_row == fold
            train = ~test if self.n_folds > 1 else test
            with single_blas():  # small products: BLAS threads cost more than they save
                weights = self._fit(logged, mean, r, step, nxt, train, index.horizon, gamma)
            rows = np.flatnonzero(test)
            w = weights[step[rows]]
            q[rows] = np.einsum("ij,ij->i", logged[rows], w)
            v[rows] = np.einsum("ij,ij->i", mean[rows], w)
        return QEstimates(q=q, v=v)

    def _fit(
        self,
        logged: FloatArray,
        mean: FloatArray,
        r: FloatArray,
        step: IntArray,
        nxt: IntArray,
        train: npt.NDArray[np.bool_],
        horizon: int,
        gamma: float,
    ) -> FloatArray:
        """Per-step weights ``(horizon, dim)`` fitted backwards on the ``train`` rows (standardisation folded in)."""
        dim = logged.shape[1]
        centre = logged[train].mean(axis=0) if train.any() else np.zeros(dim)
        scale = logged[train].std(axis=0) if train.any() else np.ones(dim)
        centre[0], scale[0] = 0.0, 1.0
        scale = np.where(scale > 0, scale, 1.0)
        weights = np.zeros((horizon, dim))
        value_next = np.zeros(logged.shape[0])  # V_{t+1}(s_{t+1}) of each row, filled as steps are fitted
        penalty = self.ridge * np.eye(dim)
        penalty[0, 0] = 0.0
        for t in range(horizon - 1, -1, -1):
            rows = np.flatnonzero(train & (step == t))
            if rows.size == 0:
                continue
            x = (logged[rows] - centre) / scale
            y = r[rows] + gamma * value_next[rows]
            gram = x.T @ x + penalty
            try:
                beta = np.linalg.solve(gram, x.T @ y)
            except np.linalg.LinAlgError:  # singular only through the unpenalised intercept: no rows' variance
                beta = np.linalg.lstsq(gram, x.T @ y, rcond=None)[0]
            # Back to raw features: w . phi = beta . (phi - centre) / scale.
            w = beta / scale
            w[0] -= float(np.dot(beta[1:], centre[1:] / scale[1:]))
            weights[t] = w
            # The rows at step t-1 whose session goes on to step t: their next state's value under the target.
            here = np.flatnonzero(train & (step == t - 1) & (nxt >= 0)) if t > 0 else np.zeros(0, dtype=np.int64)
            value_next[here] = mean[nxt[here]] @ w
        return weights


def _design(target: SessionTarget, interactions: bool) -> tuple[FloatArray, FloatArray]:
    """``phi(s_t, a_t)`` and ``sum_a pi(a | s_t) phi(s_t, a)`` per row: ``[1, state, f (, state x f)]``."""
    if target.features is None and target.states is None:
        raise InputError(
            "FittedQEvaluation reads the states and candidates' features of the SessionTarget; this one has "
            "neither (build it with session_target from SessionRequests with contexts and item_features)."
        )
    n = target.n_rows
    ones = np.ones((n, 1))
    state = target.states if target.states is not None else np.zeros((n, 0))
    if target.features is not None:
        f = target.features
        f_logged = f[np.arange(n), target.logged]
        pi = target.distribution / target.distribution.sum(axis=1, keepdims=True)
        f_mean = np.einsum("nm,nmp->np", pi, f)
    else:
        f_logged = f_mean = np.zeros((n, 0))
    logged, mean = [ones, state, f_logged], [ones, state, f_mean]
    if interactions and state.shape[1] and f_logged.shape[1]:
        logged.append(np.einsum("nd,np->ndp", state, f_logged).reshape(n, -1))
        mean.append(np.einsum("nd,np->ndp", state, f_mean).reshape(n, -1))
    return np.hstack(logged), np.hstack(mean)
