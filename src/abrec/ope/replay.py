"""Replay (Li, Chu, Langford and Wang, WSDM 2011): a policy's value from the logged rows where it agrees with the log.

One method, three entry points:

* :class:`Replay`, the estimator (``make_estimator("replay")``): a *fixed* target given by its action
  distribution, in the expected form (each row kept with the target's probability of its logged action).
* :func:`replay_learning`: a policy, learning included, on a :class:`~abrec.ope.LoggedFeedback` (one
  logged action per row; the policy chooses among all of the log's actions).
* :func:`replay_slates`: a policy, learning included, on logged slates, each request with its own
  candidate list (a widget, :class:`~abrec.envs.RecBanditEnv`).

The last two share one accept-and-learn loop. Requests are read in order (time order). For each, a
private copy of the policy decides a slate; a logged (item, position) where the copy puts the logged
item is *accepted*: its reward counts and the copy learns from it, as if it had shown that item itself.
Other rows are skipped and teach the copy nothing. When the logging policy was uniform at each position
(:func:`~abrec.ope._support.is_uniform_log`), the accepted rows are distributed exactly as the policy's
own first ``n_accepted`` online rounds would be (Li et al. 2011, Theorem 1), so the mean accepted reward
estimates the policy's online per-round reward, learning included, and the running mean over accepted
rows is its learning curve.

Other logging policies are handled by rejection sampling (Li et al. 2011, Sec. 3.2): with ``c`` a lower
bound of the logging probability of *every* candidate at every position (``min_propensity``), a
matching row with logged propensity ``p`` is accepted with probability ``c / p``. The accepted items
then follow the policy's own distribution again; the price is fewer accepted rows. On a uniform log no
row is thinned (``c = p``) and no random draw is made.

Speed: the policy's state only changes at accepted rows, so the exact replay of
:func:`replay_learning` (``batch_size=1``) decides ahead for a window of rows at once (independent
requests, one state) and throws away the decisions after the window's first accepted row. Batches
(``batch_size > 1``, or ``batches`` of :func:`replay_slates`) freeze the state over a batch, then learn
from its accepted rows at once: a policy updated in batches online, and exact for one that does not learn.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .._interval import ConfidenceInterval
from .._params import Constraint, Interval, validate_params
from .._random import Seed, as_generator
from ..errors import InputError
from ..policies import Feedback, Policy
from ._support import UNIFORM_RTOL, is_uniform_log, uniform_candidates
from .base import Estimator, Rewards, Rows, register_estimator
from .feedback import LoggedFeedback
from .target import action_features, check_contexts, evaluation_copy

__all__ = ["Replay", "ReplayResult", "replay_learning", "replay_slates"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_MAX_WINDOW = 4096
"""Most rows decided ahead at once by the exact (``batch_size=1``) replay of :func:`replay_learning`."""

_LEVEL = Interval("float", 0.0, 1.0, closed="neither")
_MIN_PROPENSITY = Constraint("float", 0.0, 1.0, low_open=True, optional=True)


# ---------------------------------------------------------------------------------------- the estimator
@register_estimator
class Replay(Estimator):
    """Replay: keep the rows where the target would have taken the logged action, average their rewards.

    Li, Chu, Langford and Wang (2011). In its expected (rejection-sampling) form each row is kept with
    the target's probability of its logged action, ``pi_i = pi(a_i | x_i, pos_i)``::

        V = sum(pi_i r_i) / sum(pi_i)

    which is unbiased up to O(1/n) only when the logging policy is uniform, so the log must be uniform
    (:func:`~abrec.ope._support.is_uniform_log`: at each position one propensity ``1 / m``; else
    InputError). Where ``m`` differs between positions, rows are weighted by ``pi_i / p_i`` so that each
    position counts by its rows (with one propensity everywhere this is the formula above; on such logs
    replay equals SNIPW). A deterministic target gives OBP's ``ReplayMethod``. Standard error by the
    delta method. For a policy that learns while it is replayed, see :func:`replay_learning`.

    Examples
    --------
    >>> from abrec.ope import LoggedFeedback
    >>> fb = LoggedFeedback.from_arrays(action=[0, 1, 0, 1], reward=[1, 0, 0, 1], propensity=0.5)
    >>> Replay().value(fb, [[1.0], [0.0]])  # keeps rows 0 and 2
    0.5
    """

    name: ClassVar[str] = "replay"
    requires_support: ClassVar[bool] = True

    @classmethod
    def applies(cls, feedback: LoggedFeedback, estimated_rewards: Rewards | None = None) -> bool:
        return is_uniform_log(feedback)

    def _check_inputs(self, feedback: LoggedFeedback, pi: FloatArray) -> None:
        if not is_uniform_log(feedback):
            raise InputError(
                "replay needs a uniform logging policy: at each position one logged propensity 1/m (a uniform choice "
                "among m candidates); this log's propensities vary within a position or are not 1/m. Use ipw, snipw "
                "or dr for non-uniform logs."
            )

    def _terms(self, rows: Rows) -> FloatArray:
        keep = rows.weight / rows.weight.max() if rows.weight.max() > 0 else rows.weight  # pi_i up to a constant
        return np.column_stack([keep * rows.reward, keep])

    def _combine(self, means: FloatArray, n_rows: int) -> FloatArray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out: FloatArray = means[:, 0] / means[:, 1]
        return out

    def _gradient(self, means: FloatArray) -> FloatArray | None:
        a, b = means
        return None if b == 0 else np.array([1.0 / b, -a / b**2])


# ---------------------------------------------------------------------------------------- the result
@dataclass(frozen=True, eq=False)
class ReplayResult:
    """What the replay of a policy on a log found.

    Attributes
    ----------
    value : float
        Mean reward over the accepted rows (NaN when none was accepted): the estimate of the
        policy's per-round online reward over its first ``n_accepted`` rounds.
    standard_error : float
        ``std(accepted rewards, ddof=1) / sqrt(n_accepted)`` (NaN below two accepted rows). For a
        learning policy the accepted rewards are not identically distributed; this is the usual
        approximation, exact for a policy that does not learn.
    ci : ConfidenceInterval
        The confidence interval (its ``level``, 0.95 by default, is :attr:`level`): Wilson's score
        interval when every accepted reward is 0 or 1 (clicks: it stays inside [0, 1] and is not
        falsely narrow with few clicks, where ``value -/+ z * standard_error`` gives [0, 0] for no click
        at all), else the normal approximation ``value -/+ z * standard_error``. Undefined (NaN) with
        no accepted row.
    n_accepted, n_rows : int
        Accepted rows and rows read.
    curve : numpy.ndarray
        ``(n_accepted,)``: the mean reward of the first ``t`` accepted rows, ``t = 1 .. n_accepted``
        (the learning curve to plot).
    accepted : numpy.ndarray
        ``(n_accepted,)`` indices of the accepted rows in the log.
    policy : str
        The policy's registered name.
    binary : bool
        Whether every accepted reward is 0 or 1 (then the intervals are Wilson's).
    level : float
        Confidence level of ``ci`` (``ci.level``).

    Examples
    --------
    >>> r = ReplayResult.from_rewards(np.array([1.0, 0.0, 1.0, 1.0]), np.array([0, 3, 5, 9]), n_rows=10, policy="ucb1")
    >>> r.value, r.n_accepted, r.acceptance_rate, r.curve.tolist()
    (0.75, 4, 0.4, [1.0, 0.5, 0.6666666666666666, 0.75])
    >>> round(r.standard_error, 4), tuple(round(v, 3) for v in r.ci)  # clicks: Wilson's interval
    (0.25, (0.301, 0.954))
    >>> none = ReplayResult.from_rewards(np.zeros(137), np.arange(137), n_rows=1000, policy="ucb1")
    >>> none.value, none.standard_error, tuple(round(v, 4) for v in none.ci)  # no click: not "0 [0, 0]"
    (0.0, 0.0, (0.0, 0.0273))
    """

    value: float
    standard_error: float
    ci: ConfidenceInterval
    n_accepted: int
    n_rows: int
    curve: FloatArray
    accepted: IntArray
    policy: str
    binary: bool = False

    @property
    def level(self) -> float:
        """Confidence level of ``ci``."""
        return self.ci.level

    @classmethod
    def from_rewards(
        cls, rewards: FloatArray, accepted: IntArray, *, n_rows: int, policy: str, level: float = 0.95
    ) -> ReplayResult:
        """The result for accepted ``rewards`` (in acceptance order) at log rows ``accepted``."""
        r = np.asarray(rewards, dtype=np.float64)
        n = int(r.shape[0])
        curve = np.cumsum(r) / np.arange(1, n + 1) if n else np.zeros(0)
        value = float(curve[-1]) if n else float("nan")
        se = float(r.std(ddof=1) / np.sqrt(n)) if n >= 2 else float("nan")
        binary = bool(n) and bool(np.isin(r, (0.0, 1.0)).all())
        curve.setflags(write=False)
        rows = np.asarray(accepted, dtype=np.int64).copy()
        rows.setflags(write=False)
        low, high = _bounds(np.array([value]), np.array([se]), np.array([float(n)]), level, binary)
        ci = ConfidenceInterval(float(low[0]), float(high[0]), level)
        return cls(value, se, ci, n, int(n_rows), curve, rows, policy, binary)

    @property
    def acceptance_rate(self) -> float:
        """Share of the log's rows that were accepted (``1 / m`` on average for a uniform log over ``m``)."""
        return self.n_accepted / self.n_rows

    def confidence_interval(self, level: float | None = None) -> ConfidenceInterval:
        """The interval of ``value`` at ``level`` (default: ``ci``'s), computed as :attr:`ci` is."""
        if level is None:
            return self.ci
        validate_params("ReplayResult.confidence_interval", {"level": _LEVEL}, {"level": level})
        low, high = _bounds(np.array([self.value]), np.array([self.standard_error]), np.array([1.0 * self.n_accepted]),
                            level, self.binary)  # fmt: skip
        return ConfidenceInterval(float(low[0]), float(high[0]), level)

    def curve_interval(self, level: float | None = None) -> tuple[FloatArray, FloatArray]:
        """``(low, high)``, each ``(n_accepted,)``: the interval of :attr:`curve` after each accepted row.

        The band of the learning curve: at ``t`` the interval of the mean of the first ``t`` accepted
        rewards, computed as :attr:`ci` is (Wilson's for 0/1 rewards, else the normal approximation with
        the running standard error, NaN at ``t = 1``). Default level: ``ci``'s.

        Examples
        --------
        >>> r = ReplayResult.from_rewards(np.array([0.0, 0.0, 1.0, 0.0]), np.arange(4), n_rows=4, policy="x")
        >>> low, high = r.curve_interval()
        >>> bool((low <= r.curve).all() and (r.curve <= high).all()), float(low[0]), round(float(high[-1]), 3)
        (True, 0.0, 0.699)
        """
        level = self.level if level is None else level
        validate_params("ReplayResult.curve_interval", {"level": _LEVEL}, {"level": level})
        t = np.arange(1.0, self.n_accepted + 1)
        rewards = np.diff(self.curve * t, prepend=0.0)  # the accepted rewards, in order
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = np.maximum(np.cumsum(rewards**2) / t - self.curve**2, 0.0) * t / (t - 1)
            se = np.where(t >= 2, np.sqrt(variance / t), np.nan)
        return _bounds(np.asarray(self.curve, dtype=np.float64), se, t, level, self.binary)


def _bounds(
    value: FloatArray, se: FloatArray, n: FloatArray, level: float, binary: bool
) -> tuple[FloatArray, FloatArray]:
    """Interval bounds of means ``value`` of ``n`` rewards: Wilson's score interval for 0/1 rewards, else normal."""
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    if not binary:
        return value - z * se, value + z * se
    with np.errstate(invalid="ignore", divide="ignore"):
        shrink = 1.0 + z * z / n
        centre = (value + z * z / (2 * n)) / shrink
        half = z / shrink * np.sqrt(np.maximum(value * (1 - value), 0.0) / n + z * z / (4 * n * n))
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


# ---------------------------------------------------------------------------------------- the shared core
@dataclass(frozen=True, eq=False)
class _ReplayLog:
    """A log as the accept-and-learn loop reads it: ``R`` requests, and ``N`` logged (item, position) rows.

    Rows are sorted by request (a request may have several rows, one per logged position, or none).
    ``candidates`` is ``(m,)`` (shared by every request; ``features`` then ``(m, p)`` aligned with it) or
    ``(R, m)`` item ids that are also row numbers of ``features``. ``feature_row`` locates each logged
    item's features in ``features``. ``acceptance`` is each row's acceptance probability when it matches
    (None: every matching row is accepted).
    """

    contexts: FloatArray
    learn_contexts: bool
    candidates: npt.NDArray[Any]
    features: FloatArray | None
    k: int
    request: IntArray
    position: IntArray
    item: npt.NDArray[Any]
    feature_row: IntArray
    reward: FloatArray
    propensity: FloatArray
    acceptance: FloatArray | None

    def decide_inputs(self, start: int, end: int) -> tuple[npt.NDArray[Any], FloatArray | None]:
        """The candidates and item features of requests ``start .. end - 1``, as ``Policy.decide`` takes them."""
        if self.candidates.ndim == 1:
            return self.candidates, self.features
        cands = self.candidates[start:end]
        return cands, None if self.features is None else self.features[cands]


def _accept_and_learn(
    work: Policy, log: _ReplayLog, next_end: Callable[[int], int], *, first_only: bool, rng: np.random.Generator
) -> IntArray:
    """Replay ``work`` (changed in place) on ``log``; the accepted rows, in order.

    Requests ``start .. next_end(start) - 1`` are decided with one state; the matching rows among them are
    accepted (each with its ``acceptance`` probability), and ``work`` learns from them. ``first_only``
    keeps the accepted rows of the first request that has any and starts again after it (the exact replay,
    decided ahead by windows).
    """
    n_requests = log.contexts.shape[0]
    bounds = np.searchsorted(log.request, np.arange(n_requests + 1))
    taken: list[IntArray] = []
    start = 0
    while start < n_requests:
        end = next_end(start)
        rows = np.arange(bounds[start], bounds[end], dtype=np.int64)
        cands, feats = log.decide_inputs(start, end)
        items = work.decide(cands, log.contexts[start:end], k=log.k, item_features=feats).items
        hit = rows[items[log.request[rows] - start, log.position[rows]] == log.item[rows]]
        if log.acceptance is not None and hit.shape[0]:
            hit = hit[rng.random(hit.shape[0]) < log.acceptance[hit]]
        if first_only and hit.shape[0]:
            first = int(log.request[hit[0]])
            hit = hit[log.request[hit] == first]
            start = first + 1
        else:
            start = end
        if not hit.shape[0]:
            continue
        taken.append(hit)
        req = log.request[hit]
        work.update(
            Feedback(
                items=log.item[hit],
                rewards=log.reward[hit],
                contexts=log.contexts[req] if log.learn_contexts else None,
                positions=log.position[hit],
                propensities=log.propensity[hit],
                item_features=None if log.features is None else log.features[log.feature_row[hit]],
            )
        )
    return np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)


def _rejection(propensity: FloatArray, min_propensity: float | None) -> FloatArray:
    """Acceptance probability ``c / p`` of each matching row, ``c`` = ``min_propensity`` or the smallest ``p``."""
    c = float(propensity.min()) if min_propensity is None else min_propensity
    low = propensity < c * (1 - 1e-9)
    if low.any():
        bad = int(np.flatnonzero(low)[0])
        raise InputError(
            f"min_propensity must bound every logging propensity from below; row {bad} has "
            f"{propensity[bad]:.6g} < {c:.6g}."
        )
    accept: FloatArray = np.minimum(c / propensity, 1.0)
    return accept


# ---------------------------------------------------------------------------------------- the two replays
def replay_learning(
    policy: Policy,
    feedback: LoggedFeedback,
    *,
    batch_size: int = 1,
    min_propensity: float | None = None,
    level: float = 0.95,
    seed: Seed = 0,
) -> ReplayResult:
    """Replay a (learning) policy on a log collected by a uniformly random policy (Li et al. 2011).

    Rows are read in the log's order. At each row a private copy of ``policy`` decides a slate of
    ``feedback.n_positions`` items among all actions (``feedback.item_ids``) for the row's context; if
    its item at the row's position is the logged action, the row is accepted, its reward counts, and the
    copy learns from it (``update`` with the row's item, reward, context, position, logging propensity
    and, for policies that read them, the action's features). ``policy`` itself is not changed.

    Parameters
    ----------
    policy : abrec.policies.Policy
        The policy to evaluate, in the state it should start from.
    feedback : LoggedFeedback
        The log, in time order, from a policy uniform over all actions at every position (every
        propensity ``1 / n_actions``: ``is_uniform_log(feedback, feedback.n_actions)``), unless
        ``min_propensity`` is given.
    batch_size : int, default 1
        Rows decided with the state frozen before the copy learns from that batch's accepted rows.
        1 is the exact replay (learning after every accepted row); larger batches are faster and model a
        policy updated in batches online.
    min_propensity : float, optional
        For a non-uniform logging policy: a lower bound ``c`` of its probability of every action at
        every row; matching rows are then accepted with probability ``c / propensity`` (rejection
        sampling). Wrong bounds bias the result; only the logged actions' propensities are checked.
    level : float, default 0.95
        Confidence level of ``ReplayResult.ci``.
    seed : int, numpy.random.Generator or None, default 0
        Seeds the copy's generator and the rejection draws.

    Returns
    -------
    ReplayResult

    Raises
    ------
    abrec.errors.InputError
        A log that is not uniformly random (without ``min_propensity``), a propensity below
        ``min_propensity``, or contexts/features the policy needs but the log lacks.

    Examples
    --------
    >>> from abrec.policies import BernoulliThompson, UniformRandom
    >>> rng = np.random.default_rng(0)
    >>> action = rng.integers(0, 4, size=4000)
    >>> reward = (rng.random(4000) < np.array([0.1, 0.1, 0.1, 0.7])[action]).astype(float)
    >>> log = LoggedFeedback.from_arrays(action=action, reward=reward, propensity=0.25, n_actions=4)
    >>> ts = replay_learning(BernoulliThompson(), log, seed=1)
    >>> ts.n_accepted > 500, ts.value > 0.5, ts.curve.shape == (ts.n_accepted,)
    (True, True, True)
    >>> uniform = replay_learning(UniformRandom(), log, batch_size=4000, seed=1)
    >>> abs(uniform.value - 0.25) < 4 * uniform.standard_error
    True
    """
    validate_params(
        "replay_learning",
        {"batch_size": Interval("int", 1), "min_propensity": _MIN_PROPENSITY, "level": _LEVEL},
        {"batch_size": batch_size, "min_propensity": min_propensity, "level": level},
    )
    p = feedback.propensity
    if min_propensity is not None:
        acceptance: FloatArray | None = _rejection(p, min_propensity)
    elif is_uniform_log(feedback, feedback.n_actions):
        acceptance = None
    else:
        uniform = 1.0 / feedback.n_actions
        bad = int(np.flatnonzero(np.abs(p * feedback.n_actions - 1.0) > UNIFORM_RTOL)[0])
        raise InputError(
            f"replay_learning needs a log from a uniformly random policy: propensity 1/n_actions = "
            f"{uniform:.6g} at every position. Row {bad} (position {int(feedback.position[bad])}) has "
            f"{p[bad]:.6g}. For another logging policy pass min_propensity, a lower bound of its "
            "probability of every action (rejection sampling)."
        )
    rng = as_generator(seed)
    work = evaluation_copy(policy, rng)
    feats = action_features(work, feedback)
    check_contexts(work, feedback)
    n, ids = feedback.n_rows, feedback.item_ids
    log = _ReplayLog(
        contexts=np.zeros((n, 1)) if feedback.context is None else feedback.context,
        learn_contexts=feedback.context is not None,
        candidates=ids,
        features=feats,
        k=feedback.n_positions,
        request=np.arange(n, dtype=np.int64),
        position=feedback.position,
        item=ids[feedback.action],
        feature_row=feedback.action,
        reward=feedback.reward,
        propensity=p,
        acceptance=acceptance,
    )
    # The exact replay's window is about the expected gap between accepted rows, 1 / (acceptance rate of a row).
    exact = batch_size == 1
    rate = 1.0 / feedback.n_actions if min_propensity is None else min_propensity
    window = batch_size if not exact else int(min(_MAX_WINDOW, max(1.0, np.ceil(1.0 / rate))))
    accepted = _accept_and_learn(work, log, lambda start: min(n, start + window), first_only=exact, rng=rng)
    return ReplayResult.from_rewards(feedback.reward[accepted], accepted, n_rows=n, policy=policy.name, level=level)


def replay_slates(
    policy: Policy,
    contexts: npt.ArrayLike,
    candidates: npt.ArrayLike,
    shown: npt.ArrayLike,
    rewards: npt.ArrayLike,
    propensities: npt.ArrayLike,
    *,
    batches: npt.ArrayLike | None = None,
    item_features: npt.ArrayLike | None = None,
    min_propensity: float | None = None,
    level: float = 0.95,
    seed: Seed = 0,
) -> ReplayResult:
    """Replay a learning policy on logged slates, each request with its own candidate list (Li et al. 2011).

    The position-wise replay for logs where each request had its own candidate list (as in
    :class:`~abrec.envs.RecBanditEnv` or a real widget): for every logged request a private copy of
    ``policy`` decides a slate over the same candidates; each position where it would have put the
    logged item is accepted, its reward counts and the copy learns from it (with the logged propensity).
    Under uniformly random logging (every candidate equally likely at each position, propensity ``1 / m``)
    the item logged at a position is independent of the policy's choice, so accepted positions are an
    unbiased sample of the policy's own (position, reward) pairs when the reward at a position depends on
    the item there only (the position-based click model). Any other logging policy is corrected by
    rejection sampling (Li et al. 2011, Sec. 3.2): a matching position with logged propensity ``p`` is
    accepted with probability ``c / p``, ``c`` the smallest logging probability of any candidate at any
    position (``min_propensity``; default the smallest logged propensity).

    Parameters
    ----------
    policy : abrec.policies.Policy
        Evaluated on a private copy (``policy`` is not changed).
    contexts : (n, d) array
    candidates : (n, m) array of item ids
    shown : (n, k) array of item ids, the logged slates
    rewards : (n, k) array, the logged reward of each shown position
    propensities : (n, k) array
        The logging policy's probability of each shown item at its position (``Decision.propensities``
        of the logging policy's decisions); all ``1 / m`` for a uniformly random logger.
    batches : (n,) int array, optional
        Requests of one batch (e.g. one step of the simulator, ascending) are decided with the
        policy's state frozen, then it learns from their accepted positions, as a policy updated
        per batch online would. Default: one batch per request (exact, slower).
    item_features : (n_items, p) array, optional
        Features of every item id (ids must then be rows ``0 .. n_items - 1``), for policies that read them.
    min_propensity : float, optional
        ``c``: a lower bound of the logging policy's probability of every candidate at every position.
        Default: the smallest of ``propensities``, which is right when the log is large enough to show
        the least likely candidates; a log that is uniform (every propensity ``1 / m``) is not thinned.
    level : float, default 0.95
    seed : int, numpy.random.Generator or None, default 0
        The private copy's random generator, which also draws the rejections.

    Returns
    -------
    ReplayResult
        ``value`` is the mean reward per accepted position (clicks per shown item), ``accepted`` the
        flat indices ``request * k + position`` of the accepted positions.

    Raises
    ------
    abrec.errors.InputError
        Mismatched shapes, propensities outside (0, 1] or below ``min_propensity``, or batches that
        are not one non-decreasing integer per request.

    Examples
    --------
    >>> from abrec.policies import UniformRandom
    >>> rng = np.random.default_rng(0)
    >>> cands = np.tile(np.arange(5), (400, 1))
    >>> shown = np.array([rng.permutation(5)[:2] for _ in range(400)])
    >>> clicks, uniform = (shown == 4).astype(float), np.full((400, 2), 1 / 5)
    >>> r = replay_slates(UniformRandom(seed=0), np.zeros((400, 1)), cands, shown, clicks, uniform)
    >>> 0.1 < r.value < 0.3 and r.n_rows == 800
    True
    """
    validate_params(
        "replay_slates",
        {"min_propensity": _MIN_PROPENSITY, "level": _LEVEL},
        {"min_propensity": min_propensity, "level": level},
    )
    x = np.asarray(contexts, dtype=np.float64)
    cands = np.asarray(candidates)
    logged = np.asarray(shown)
    r = np.asarray(rewards, dtype=np.float64)
    p = np.asarray(propensities, dtype=np.float64)
    n = cands.shape[0]
    if (
        x.ndim != 2
        or x.shape[0] != n
        or cands.ndim != 2
        or logged.ndim != 2
        or logged.shape[0] != n
        or r.shape != logged.shape
        or p.shape != logged.shape
    ):
        raise InputError(
            "replay_slates needs contexts (n, d), candidates (n, m), shown, rewards and propensities (n, k) for the "
            f"same n; got {x.shape}, {cands.shape}, {logged.shape}, {r.shape}, {p.shape}."
        )
    n_cands, k = cands.shape[1], logged.shape[1]
    if k > n_cands:
        raise InputError(f"Slates of {k} items cannot come from {n_cands} candidates.")
    if not ((p > 0) & (p <= 1)).all():
        raise InputError(
            "Logged propensities must be in (0, 1]: the logging policy's probability of each shown item at its "
            "position (Decision.propensities)."
        )
    b = np.arange(n) if batches is None else np.asarray(batches, dtype=np.int64)
    if b.shape != (n,) or (np.diff(b) < 0).any():
        raise InputError("batches must be one non-decreasing integer per request.")
    flat = p.ravel()
    uniform = min_propensity is None and uniform_candidates(flat, n_cands) is not None
    acceptance = None if uniform else _rejection(flat, min_propensity)
    rng = as_generator(seed)
    work = evaluation_copy(policy, rng)
    feats = None if item_features is None or not work.uses_item_features else np.asarray(item_features, np.float64)
    log = _ReplayLog(
        contexts=x,
        learn_contexts=True,
        candidates=cands,
        features=feats,
        k=k,
        request=np.repeat(np.arange(n, dtype=np.int64), k),
        position=np.tile(np.arange(k, dtype=np.int64), n),
        item=logged.ravel(),
        feature_row=logged.ravel(),
        reward=r.ravel(),
        propensity=flat,
        acceptance=acceptance,
    )
    ends = np.append(np.flatnonzero(np.diff(b)) + 1, n)  # first request of the next batch, per batch
    accepted = _accept_and_learn(
        work, log, lambda start: int(ends[np.searchsorted(ends, start, side="right")]), first_only=False, rng=rng
    )
    return ReplayResult.from_rewards(log.reward[accepted], accepted, n_rows=n * k, policy=policy.name, level=level)
