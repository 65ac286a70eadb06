"""Sequential off-policy evaluation: a session policy's value from another policy's session logs.

An agent's choice changes the user's next state, so its value is a whole session's (discounted) return,
``V(pi) = E[sum_t gamma^t r_t]``, and a one-step estimator, which reweights each row by that row's own
propensity ratio, is biased for it. These estimators reweight each step by the product of the ratios up to it,
``rho_t = prod_{u <= t} pi(a_u | s_u) / mu(a_u | s_u)`` (``mu`` the logging policy, whose propensity every row
carries):

- ``pdis``, per-decision importance sampling (Precup et al. 2000): ``mean_i sum_t gamma^t rho_it r_it``;
  unbiased;
- ``wpdis``, weighted PDIS: ``sum_t gamma^t sum_i rho_it r_it / sum_i rho_it``; consistent, biased in small
  samples, much smaller variance;
- ``seq_dr``, doubly robust for trajectories (Jiang & Li 2016):
  ``mean_i sum_t gamma^t [rho_it (r_it - Q-hat_it) + rho_i,t-1 V-hat_it]`` (``rho_i,-1 = 1``); unbiased
  whatever the Q model (given the right propensities and a Q-hat fitted without the session itself), low
  variance when the model is good;
- ``seq_wdr``, weighted doubly robust (Thomas & Brunskill 2016): the same with ``rho_it / sum_j rho_jt`` in place
  of ``rho_it / n``.

A session that ended (the user left, or the horizon) contributes nothing more, and its weight is carried on
unchanged, so the weighted estimators keep it in their denominators. Sessions may have any lengths.

**Protocol.** The one-step :class:`~abrec.ope.Estimator` reads rows that are independent draws and a target
distribution per row; a trajectory estimator needs the rows grouped into sessions in step order, products of
ratios along them, a Q model for the *target* (V-hat at each state needs the target's whole distribution over
that step's candidates, which the log does not hold) and a bootstrap that resamples whole sessions. So these
estimators share a protocol of the same style beside it, :class:`SessionEstimator`:
``estimate(log, target, q_model=None)`` answers the same :class:`~abrec.ope.EstimateResult` (value per
session, standard error, percentile bootstrap interval over resampled sessions, effective sample size of
the trajectory weights), with the same parameters (``alpha``, ``n_bootstrap``, ``seed``) plus ``gamma``.

The target comes from the policy itself: :func:`~abrec.ope.session_target` asks its
``action_distribution`` at every logged request (:class:`~abrec.ope.SessionRequests`: the candidates,
state and features the logging policy was given). Slates: one item per step (``slate_size`` 1) only; a slate's
joint propensity, which the product of ratios needs, is not in the log.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .._params import Constraint, Interval, validate_params
from .._random import Seed
from ..data.interactions import InteractionLog
from ..errors import ExtremeWeightsWarning, InputError, ParameterError, UnknownNameError
from .base import interval_of, resample_counts
from .result import EstimateResult
from .sequential_models import (
    FittedQEvaluation,
    QEstimates,
    SessionQModel,
    SessionTarget,
    reward_of,
    session_index,
)

__all__ = [
    "PDIS",
    "WPDIS",
    "SessionEstimator",
    "TrajectoryDoublyRobust",
    "WeightedTrajectoryDoublyRobust",
    "estimate_sessions",
    "session_estimators",
    "session_returns",
]

FloatArray = npt.NDArray[np.float64]
Target = SessionTarget | npt.ArrayLike
QModel = SessionQModel | QEstimates

_COMMON: dict[str, Constraint] = {
    "gamma": Interval("float", 0.0, 1.0),
    "alpha": Interval("float", 0.0, 1.0, closed="neither"),
    "n_bootstrap": Interval("int", 0),
    "ess_threshold": Interval("float", 0.0, 1.0),
}


@dataclass(frozen=True, eq=False)
class Trajectories:
    """A session log as ``(n_sessions, horizon)`` matrices (zeros after a session ends; ratio 1 there).

    ``reward``, ``q`` (Q-hat of the logged item, or None), ``v`` (V-hat of the state, or None), ``rho``
    (``rho_t``, the product of the ratios up to step ``t``) and ``rho_prev`` (``rho_{t-1}``, 1 at ``t = 0``).
    """

    reward: FloatArray
    rho: FloatArray
    rho_prev: FloatArray
    q: FloatArray | None
    v: FloatArray | None
    lengths: npt.NDArray[np.int64]

    @property
    def n_sessions(self) -> int:
        return int(self.reward.shape[0])

    def model(self, name: str) -> tuple[FloatArray, FloatArray]:
        if self.q is None or self.v is None:
            raise InputError(f"{name} needs Q-hat and V-hat of the target (q_model).")
        return self.q, self.v


def _target_prob(target: Target, n_rows: int) -> FloatArray:
    prob = np.asarray(target.prob if isinstance(target, SessionTarget) else target, dtype=np.float64)
    if prob.shape != (n_rows,):
        raise InputError(
            f"The target's probabilities must have shape (n_rows,) = ({n_rows},), one per log row (pi(a_t | s_t) "
            f"of the logged item); got {prob.shape}. Build them with session_target."
        )
    if not (np.isfinite(prob).all() and (prob >= 0).all() and (prob <= 1).all()):
        raise InputError("The target's probabilities must lie in [0, 1].")
    return prob


def _propensity(log: InteractionLog) -> FloatArray:
    p: FloatArray = log.frame["propensity"].to_numpy(dtype=np.float64)
    if np.isnan(p).any():
        row = int(np.flatnonzero(np.isnan(p))[0])
        raise InputError(
            f"Row {row + 1} of the log has no propensity; importance weights need the logging policy's "
            "probability of every logged item (log Decision.propensities)."
        )
    return p


def session_returns(log: InteractionLog, *, gamma: float = 1.0, reward: str = "reward") -> FloatArray:
    """Each session's discounted return ``sum_t gamma^t r_t`` (sessions in order of first appearance).

    The on-policy value of the policy that logged ``log`` is their mean.

    Examples
    --------
    >>> log = InteractionLog.from_arrays(unit=["a", "a", "b"], item=[1, 2, 1], timestamp=[0, 60, 0],
    ...                                  reward=[1.0, 1.0, 0.0], session_id=["a", "a", "b"], step=[0, 1, 0])
    >>> session_returns(log, gamma=0.5).tolist()
    [1.5, 0.0]
    """
    index = session_index(log)
    r = index.padded(reward_of(log, reward), 0.0)
    out: FloatArray = r @ gamma ** np.arange(index.horizon)
    return out


class SessionEstimator(ABC):
    """Base class of the sequential (trajectory) estimators; see :mod:`abrec.ope.sequential` for why it is not
    an :class:`~abrec.ope.Estimator`.

    A subclass gives ``_parts(traj)``, a ``(k, n_sessions, horizon)`` array of per-session, per-step
    quantities whose sums over sessions are all it needs, and ``_combine(sums, n, discount)``, the estimate
    from ``(B, k, horizon)`` such sums (one row per bootstrap resample of the sessions).

    Parameters
    ----------
    gamma : float in [0, 1], default 1.0
        Discount of step ``t``'s reward, ``gamma^t`` (1: the session's total).
    alpha : float, default 0.05
        The confidence interval's level is ``1 - alpha``.
    n_bootstrap : int, default 200
        Bootstrap resamples of whole sessions for the percentile interval (0: normal interval from the
        standard error, where there is one).
    seed : int, numpy.random.Generator or None, default 0
        Seed of the bootstrap.
    reward : str, default "reward"
        The reward column (``reward`` or one of the log's extra reward columns, e.g. ``"purchase"``).
    ess_threshold : float, default 0.01
        Warn with :class:`~abrec.errors.ExtremeWeightsWarning` when the effective sample size of the sessions'
        whole-trajectory weights is below this fraction of the sessions.

    Class attributes
    ----------------
    name : the name in :func:`session_estimators`.
    needs_q_model : whether it reads Q-hat and V-hat.
    linear : whether the estimate is a mean over sessions (then its standard error is the sample one).
    """

    name: ClassVar[str]
    needs_q_model: ClassVar[bool] = False
    linear: ClassVar[bool] = True

    def __init__(
        self,
        *,
        gamma: float = 1.0,
        alpha: float = 0.05,
        n_bootstrap: int = 200,
        seed: Seed = 0,
        reward: str = "reward",
        ess_threshold: float = 0.01,
    ) -> None:
        self.gamma = gamma
        self.alpha = alpha
        self.n_bootstrap = n_bootstrap
        self.seed = seed
        self.reward = reward
        self.ess_threshold = ess_threshold
        owner = type(self).__name__
        validate_params(
            owner,
            _COMMON,
            {"gamma": gamma, "alpha": alpha, "n_bootstrap": n_bootstrap, "ess_threshold": ess_threshold},
        )
        if not (seed is None or isinstance(seed, np.random.Generator) or type(seed) is int):
            raise ParameterError(
                f"The 'seed' parameter of {owner} must be an int, a numpy.random.Generator or None. "
                f"Got {seed!r} instead."
            )
        if not isinstance(reward, str):
            raise ParameterError(f"The 'reward' parameter of {owner} must be a str. Got {reward!r} instead.")

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as given."""
        return {k: getattr(self, k) for k in ("gamma", "alpha", "n_bootstrap", "seed", "reward", "ess_threshold")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ the estimator's formula
    @abstractmethod
    def _parts(self, traj: Trajectories) -> FloatArray:
        """``(k, n_sessions, horizon)`` per-session quantities whose sums over sessions determine the estimate."""

    @abstractmethod
    def _combine(self, sums: FloatArray, n: int, discount: FloatArray) -> FloatArray:
        """The estimate of each sample from its ``(B, k, horizon)`` sums over sessions (``n`` sessions each)."""

    # ------------------------------------------------------------------ inputs
    def trajectories(self, log: InteractionLog, target: Target, q_model: QModel | None = None) -> Trajectories:
        """Validate the inputs and lay them out as sessions x steps (fitting the Q model where one is needed)."""
        index = session_index(log)
        n_rows = len(log)
        prob = _target_prob(target, n_rows)
        ratio = index.padded(prob / _propensity(log), 1.0)
        rho: FloatArray = np.cumprod(ratio, axis=1, dtype=np.float64)
        rho_prev = np.hstack([np.ones((index.n_sessions, 1)), rho[:, :-1]])
        q = v = None
        if self.needs_q_model:
            estimates = self._q_estimates(log, target, q_model, n_rows)
            q, v = index.padded(estimates.q, 0.0), index.padded(estimates.v, 0.0)
        return Trajectories(
            reward=index.padded(reward_of(log, self.reward), 0.0),
            rho=rho,
            rho_prev=rho_prev,
            q=q,
            v=v,
            lengths=index.lengths,
        )

    def _q_estimates(self, log: InteractionLog, target: Target, q_model: QModel | None, n_rows: int) -> QEstimates:
        if isinstance(q_model, QEstimates):
            estimates = q_model
        else:
            model = FittedQEvaluation() if q_model is None else q_model
            if not isinstance(model, SessionQModel):
                raise InputError(
                    f"q_model must be QEstimates or have fit_predict(log, target, gamma=, reward=) "
                    f"(a SessionQModel such as FittedQEvaluation); got {type(model).__name__}."
                )
            if not isinstance(target, SessionTarget):
                raise InputError(
                    f"{self.name} fits its Q model on the target's distribution over each request's candidates: pass "
                    "a SessionTarget (session_target(policy, log, requests)), or QEstimates as q_model."
                )
            estimates = model.fit_predict(log, target, gamma=self.gamma, reward=self.reward)
            if not isinstance(estimates, QEstimates):
                raise InputError(f"{type(model).__name__}.fit_predict must return QEstimates.")
        if estimates.q.shape != (n_rows,):
            raise InputError(f"QEstimates must have one value per log row ({n_rows}); got {estimates.q.shape[0]}.")
        return estimates

    # ------------------------------------------------------------------ public API
    def value(self, log: InteractionLog, target: Target, q_model: QModel | None = None) -> float:
        """The point estimate only (parameters as in :meth:`estimate`)."""
        traj = self.trajectories(log, target, q_model)
        self._effective_size(traj)
        parts = self._parts(traj)
        return float(self._combine(parts.sum(axis=1)[None], traj.n_sessions, self._discount(traj))[0])

    def _effective_size(self, traj: Trajectories) -> float:
        """ESS of the whole-trajectory weights; warns (ExtremeWeightsWarning) below ``ess_threshold`` of sessions."""
        n = traj.n_sessions
        final = traj.rho[np.arange(n), traj.lengths - 1]
        total = float(np.sum(final**2))
        ess = float(np.sum(final) ** 2 / total) if total > 0 else 0.0
        if ess < self.ess_threshold * n:
            warnings.warn(
                f"{self.name}: the trajectory weights' effective sample size is {ess:.1f} of {n} sessions "
                f"({ess / n:.2%}, below {self.ess_threshold:.2%}); the largest weight is {float(final.max()):.4g}. "
                "The estimate rests on a few sessions: log with more exploration around the target, or shorten "
                "the horizon (gamma < 1 weighs the long products less).",
                ExtremeWeightsWarning,
                stacklevel=3,
            )
        return ess

    def _discount(self, traj: Trajectories) -> FloatArray:
        out: FloatArray = self.gamma ** np.arange(traj.reward.shape[1], dtype=np.float64)
        return out

    def estimate(self, log: InteractionLog, target: Target, q_model: QModel | None = None) -> EstimateResult:
        """Estimate the target's value per session, with a standard error and a bootstrap interval over sessions.

        Parameters
        ----------
        log : InteractionLog
            A session log: ``session_id`` and ``step`` on every row, one row per step (steps 0, 1, ... of each
            session), the logging policy's ``propensity`` of each logged item.
        target : SessionTarget or array_like (n_rows,)
            The target at each log row: :func:`~abrec.ope.session_target`'s record, or only ``pi(a_t | s_t)``
            of the logged items (enough for ``pdis`` and ``wpdis``, and for the doubly robust ones given
            :class:`~abrec.ope.QEstimates`).
        q_model : SessionQModel or QEstimates, optional
            The doubly robust estimators' Q-hat and V-hat of the target: a model fitted here (default: a
            :class:`~abrec.ope.FittedQEvaluation`, cross-fitted), or the values per log row. Ignored by the others.

        Returns
        -------
        EstimateResult
            ``value`` is the estimated (discounted) return per session; ``n_rows`` the number of sessions;
            ``effective_sample_size`` ``(sum w)^2 / sum w^2`` of the sessions' whole-trajectory weights;
            ``params`` the discount, the number of steps and the longest session. The interval takes the Q model
            as fixed.

        Raises
        ------
        abrec.errors.InputError
            A log that is not a session log of one item per step, rows without propensities, target
            probabilities of the wrong shape or outside [0, 1], a Q model that does not fit.
        """
        traj = self.trajectories(log, target, q_model)
        n = traj.n_sessions
        ess = self._effective_size(traj)
        discount = self._discount(traj)
        parts = self._parts(traj)
        value = float(self._combine(parts.sum(axis=1)[None], n, discount)[0])
        se = math.nan
        if self.linear and n > 1:
            per_session = parts[0] @ discount
            se = float(per_session.std(ddof=1) / math.sqrt(n))
        boot = self._bootstrap(parts, discount) if self.n_bootstrap > 0 else None
        se, low, high = interval_of(value, se, boot, self.alpha)
        return EstimateResult(
            estimator=self.name,
            value=value,
            standard_error=se,
            ci_low=low,
            ci_high=high,
            alpha=self.alpha,
            n_bootstrap=self.n_bootstrap,
            seed=self.seed if isinstance(self.seed, int) else None,
            n_rows=n,
            effective_sample_size=ess,
            params={"gamma": self.gamma, "n_steps": int(traj.lengths.sum()), "horizon": int(traj.reward.shape[1])},
        )

    def _bootstrap(self, parts: FloatArray, discount: FloatArray) -> FloatArray:
        """``n_bootstrap`` estimates on resamples of whole sessions (one matrix product per chunk)."""
        n = parts.shape[1]
        out = np.empty(self.n_bootstrap)
        start = 0
        for counts in resample_counts(self.seed, n, self.n_bootstrap):
            b = counts.shape[0]
            sums = np.einsum("bn,knt->bkt", counts, parts)
            with np.errstate(divide="ignore", invalid="ignore"):
                out[start : start + b] = self._combine(sums, n, discount)
            start += b
        return out


def _ratio(num: FloatArray, den: FloatArray) -> FloatArray:
    """``num / den`` where ``den > 0``, else 0 (no weight at that step: nothing to add)."""
    out: FloatArray = np.divide(num, den, out=np.zeros(num.shape), where=den > 0)
    return out


class PDIS(SessionEstimator):
    """Per-decision importance sampling: ``mean_i sum_t gamma^t rho_it r_it``.

    Unbiased when the logging policy gives every item the target may show a positive probability; its
    variance grows with the products of ratios along long sessions. Standard error: sample mean over sessions.

    Examples
    --------
    >>> log = InteractionLog.from_arrays(unit="u", item=[1, 2, 1, 1], timestamp=0, reward=[1.0, 1.0, 0.0, 1.0],
    ...                                  propensity=0.5, session_id=["a", "a", "b", "b"], step=[0, 1, 0, 1])
    >>> PDIS().value(log, [1.0, 1.0, 0.0, 1.0])  # session a: 2 + 4; session b: 0
    3.0
    """

    name: ClassVar[str] = "pdis"

    def _parts(self, traj: Trajectories) -> FloatArray:
        return (traj.rho * traj.reward)[None]

    def _combine(self, sums: FloatArray, n: int, discount: FloatArray) -> FloatArray:
        out: FloatArray = sums[:, 0] @ discount / n
        return out


class WPDIS(SessionEstimator):
    """Weighted PDIS: ``sum_t gamma^t sum_i rho_it r_it / sum_i rho_it``.

    Each step's reward is averaged with the trajectory weights normalised over sessions (an ended session keeps
    its last weight and adds 0): bounded by the rewards, consistent, biased in small samples. Standard error:
    bootstrap.

    Examples
    --------
    >>> log = InteractionLog.from_arrays(unit="u", item=[1, 2, 1, 1], timestamp=0, reward=[1.0, 1.0, 0.0, 1.0],
    ...                                  propensity=0.5, session_id=["a", "a", "b", "b"], step=[0, 1, 0, 1])
    >>> WPDIS().value(log, [1.0, 1.0, 0.0, 1.0])  # session b has weight 0 from step 0 on
    2.0
    """

    name: ClassVar[str] = "wpdis"
    linear: ClassVar[bool] = False

    def _parts(self, traj: Trajectories) -> FloatArray:
        return np.stack([traj.rho * traj.reward, traj.rho])

    def _combine(self, sums: FloatArray, n: int, discount: FloatArray) -> FloatArray:
        out: FloatArray = _ratio(sums[:, 0], sums[:, 1]) @ discount
        return out


class TrajectoryDoublyRobust(SessionEstimator):
    """Doubly robust for trajectories (Jiang & Li 2016):
    ``mean_i sum_t gamma^t [rho_it (r_it - Q-hat_it) + rho_i,t-1 V-hat_it]``.

    Unbiased when the propensities are right, whatever Q-hat (fitted without the session it corrects: the
    default :class:`~abrec.ope.FittedQEvaluation` is cross-fitted); with a perfect Q-hat only the randomness of
    the logged actions is left. Standard error: sample mean over sessions.

    Examples
    --------
    >>> from abrec.ope import QEstimates
    >>> log = InteractionLog.from_arrays(unit="u", item=[1, 2], timestamp=0, reward=[1.0, 0.0], propensity=0.5,
    ...                                  session_id=["a", "b"], step=0)
    >>> TrajectoryDoublyRobust().value(log, [1.0, 0.0], q_model=QEstimates(q=[1.0, 0.0], v=[1.0, 1.0]))
    1.0
    """

    name: ClassVar[str] = "seq_dr"
    needs_q_model: ClassVar[bool] = True

    def _parts(self, traj: Trajectories) -> FloatArray:
        q, v = traj.model(self.name)
        return (traj.rho * (traj.reward - q) + traj.rho_prev * v)[None]

    def _combine(self, sums: FloatArray, n: int, discount: FloatArray) -> FloatArray:
        out: FloatArray = sums[:, 0] @ discount / n
        return out


class WeightedTrajectoryDoublyRobust(SessionEstimator):
    """Weighted doubly robust (Thomas & Brunskill 2016): DR with each step's weights normalised over sessions,
    ``sum_t gamma^t [sum_i rho_it (r_it - Q-hat_it) / sum_i rho_it + sum_i rho_i,t-1 V-hat_it / sum_i rho_i,t-1]``.

    Consistent, biased in small samples, often the lowest error of the four. Standard error: bootstrap.
    """

    name: ClassVar[str] = "seq_wdr"
    needs_q_model: ClassVar[bool] = True
    linear: ClassVar[bool] = False

    def _parts(self, traj: Trajectories) -> FloatArray:
        q, v = traj.model(self.name)
        return np.stack([traj.rho * (traj.reward - q), traj.rho, traj.rho_prev * v, traj.rho_prev])

    def _combine(self, sums: FloatArray, n: int, discount: FloatArray) -> FloatArray:
        out: FloatArray = (_ratio(sums[:, 0], sums[:, 1]) + _ratio(sums[:, 2], sums[:, 3])) @ discount
        return out


_ESTIMATORS: dict[str, type[SessionEstimator]] = {
    cls.name: cls for cls in (PDIS, WPDIS, TrajectoryDoublyRobust, WeightedTrajectoryDoublyRobust)
}


def session_estimators() -> dict[str, type[SessionEstimator]]:
    """The sequential estimators by name (sorted).

    Examples
    --------
    >>> sorted(session_estimators())
    ['pdis', 'seq_dr', 'seq_wdr', 'wpdis']
    """
    return {name: _ESTIMATORS[name] for name in sorted(_ESTIMATORS)}


def estimate_sessions(
    log: InteractionLog,
    target: Target,
    q_model: QModel | None = None,
    names: Iterable[str] | None = None,
    **common: Any,
) -> list[EstimateResult]:
    """Run several sequential estimators on one session log with shared settings (``gamma``, ``seed``, ...).

    With ``names=None``: all four when ``target`` is a :class:`~abrec.ope.SessionTarget` or ``q_model`` is
    given, else ``pdis`` and ``wpdis``. A Q model is fitted once and shared by ``seq_dr`` and ``seq_wdr``.

    Examples
    --------
    >>> log = InteractionLog.from_arrays(unit="u", item=[1, 2], timestamp=0, reward=[1.0, 0.0], propensity=0.5,
    ...                                  session_id=["a", "b"], step=0)
    >>> [(r.estimator, r.value) for r in estimate_sessions(log, [1.0, 0.0], n_bootstrap=0)]
    [('pdis', 1.0), ('wpdis', 1.0)]
    """
    if names is None:
        with_model = isinstance(target, SessionTarget) or q_model is not None
        chosen = [cls for cls in _ESTIMATORS.values() if with_model or not cls.needs_q_model]
    else:
        chosen = []
        for name in names:
            if name not in _ESTIMATORS:
                raise UnknownNameError("sequential estimator", name, _ESTIMATORS)
            chosen.append(_ESTIMATORS[name])
    estimators = [cls(**common) for cls in chosen]
    if any(e.needs_q_model for e in estimators) and not isinstance(q_model, QEstimates):
        first = next(e for e in estimators if e.needs_q_model)
        q_model = first._q_estimates(log, target, q_model, len(log))
    return [e.estimate(log, target, q_model) for e in estimators]
