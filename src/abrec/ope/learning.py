"""Replay of a learning policy on a randomised log (Li, Chu, Langford and Wang, WSDM 2011).

The log's rows are read in order (time order). At each row the policy decides a slate for the
row's context; when the item it puts at the row's logged position is the logged item, the row is
*accepted*: its reward counts and the policy learns from it, as if it had shown that item itself.
Other rows are skipped and teach the policy nothing. When the log was collected by a uniformly
random policy, the accepted rows are distributed exactly as the policy's own first ``n_accepted``
online rounds would be (Li et al. 2011, Theorem 1), so the mean accepted reward estimates the
policy's online per-round reward, learning included, and the running mean over accepted rows is
its learning curve.

Logging policies other than uniform are handled by rejection sampling (Li et al. 2011, Sec. 3.2):
given ``min_propensity = c``, a lower bound of the logging probability of *every* action at every
row (``c = 1/M`` with ``M`` bounding ``1 / mu(a | x)``), a matching row is accepted with probability
``c / mu(a_i | x_i)``. The accepted actions then follow the policy's distribution again; the price is
fewer accepted rows. For a uniform log ``c = 1 / n_actions`` and every matching row is accepted.

The exact replay (``batch_size=1``) is vectorised without changing it: the policy's state only changes
at accepted rows, so the policy decides ahead for a window of rows at once (independent requests with one
state) and the decisions after the window's first accepted row are thrown away.

``batch_size > 1`` is an approximation that trades fidelity for speed: the policy decides for
``batch_size`` consecutive rows with its state frozen, then learns from that batch's accepted rows at
once (a policy that updates in batches online). It is exact for a policy that does not learn.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from .._params import Constraint, Interval, validate_params
from .._random import Seed, as_generator
from ..errors import InputError
from ..policies import Feedback, Policy
from .feedback import LoggedFeedback
from .target import action_features, check_contexts, evaluation_copy, request_contexts

__all__ = ["ReplayResult", "replay_learning", "replay_slates"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_MAX_WINDOW = 4096
"""Most rows decided ahead at once by the exact (``batch_size=1``) replay."""


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
    ci : tuple of float
        Normal-approximation confidence interval at ``level``.
    n_accepted, n_rows : int
        Accepted rows and rows read.
    curve : numpy.ndarray
        ``(n_accepted,)``: the mean reward of the first ``t`` accepted rows, ``t = 1 .. n_accepted``
        (the learning curve to plot).
    accepted : numpy.ndarray
        ``(n_accepted,)`` indices of the accepted rows in the log.
    policy : str
        The policy's registered name.
    level : float
        Confidence level of ``ci``.

    Examples
    --------
    >>> r = ReplayResult.from_rewards(np.array([1.0, 0.0, 1.0, 1.0]), np.array([0, 3, 5, 9]), n_rows=10, policy="ucb1")
    >>> r.value, r.n_accepted, r.acceptance_rate, r.curve.tolist()
    (0.75, 4, 0.4, [1.0, 0.5, 0.6666666666666666, 0.75])
    >>> round(r.standard_error, 4), tuple(round(v, 3) for v in r.ci)
    (0.25, (0.26, 1.24))
    """

    value: float
    standard_error: float
    ci: tuple[float, float]
    n_accepted: int
    n_rows: int
    curve: FloatArray
    accepted: IntArray
    policy: str
    level: float = 0.95

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
        curve.setflags(write=False)
        rows = np.asarray(accepted, dtype=np.int64).copy()
        rows.setflags(write=False)
        return cls(value, se, _interval(value, se, level), n, int(n_rows), curve, rows, policy, level)

    @property
    def acceptance_rate(self) -> float:
        """Share of the log's rows that were accepted (``1 / n_actions`` on average for a uniform log)."""
        return self.n_accepted / self.n_rows

    def confidence_interval(self, level: float = 0.95) -> tuple[float, float]:
        """Normal-approximation interval ``value -/+ z * standard_error`` at ``level``."""
        validate_params("ReplayResult.confidence_interval", {"level": _LEVEL}, {"level": level})
        return _interval(self.value, self.standard_error, level)


_LEVEL = Interval("float", 0.0, 1.0, closed="neither")


def _interval(value: float, se: float, level: float) -> tuple[float, float]:
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    return (value - z * se, value + z * se)


def _acceptance(feedback: LoggedFeedback, min_propensity: float | None) -> FloatArray | None:
    """Per-row acceptance probability of a matching row (None: every matching row is accepted)."""
    p = feedback.propensity
    if min_propensity is None:
        uniform = 1.0 / feedback.n_actions
        off = ~np.isclose(p, uniform, rtol=1e-6, atol=0.0)
        if off.any():
            bad = int(np.flatnonzero(off)[0])
            raise InputError(
                f"replay_learning needs a log from a uniformly random policy: propensity 1/n_actions = "
                f"{uniform:.6g} at every position. Row {bad} (position {int(feedback.position[bad])}) has "
                f"{p[bad]:.6g}. For another logging policy pass min_propensity, a lower bound of its "
                "probability of every action (rejection sampling)."
            )
        return None
    low = p < min_propensity * (1 - 1e-9)
    if low.any():
        bad = int(np.flatnonzero(low)[0])
        raise InputError(
            f"min_propensity must bound every logging propensity from below; row {bad} has {p[bad]:.6g} "
            f"< {min_propensity:.6g}."
        )
    accept: FloatArray = np.minimum(min_propensity / p, 1.0)
    return accept


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
        The log, in time order, from a uniformly random logging policy (every propensity
        ``1 / n_actions``), unless ``min_propensity`` is given.
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
        {
            "batch_size": Interval("int", 1),
            "min_propensity": Constraint("float", 0.0, 1.0, low_open=True, optional=True),
            "level": _LEVEL,
        },
        {"batch_size": batch_size, "min_propensity": min_propensity, "level": level},
    )
    acceptance = _acceptance(feedback, min_propensity)
    rng = as_generator(seed)
    work = evaluation_copy(policy, rng)
    feats = action_features(work, feedback)
    check_contexts(work, feedback)
    n, k, ids = feedback.n_rows, feedback.n_positions, feedback.item_ids
    # Exact replay (batch_size 1) decides ahead for a window of rows with the current state and keeps the
    # decisions up to the first accepted row only: the state does not change before it, and the requests of a
    # batch are independent draws, so this is the row-by-row replay, vectorised. The window is about the
    # expected gap between accepted rows, 1 / (acceptance probability of a row).
    exact = batch_size == 1
    rate = 1.0 / feedback.n_actions if min_propensity is None else min_propensity
    window = batch_size if not exact else int(min(_MAX_WINDOW, max(1.0, np.ceil(1.0 / rate))))
    taken: list[IntArray] = []
    start = 0
    while start < n:
        rows = np.arange(start, min(n, start + window), dtype=np.int64)
        ctx = request_contexts(work, feedback, rows)
        slots = work.decide(ids, ctx, k=k, item_features=feats).slots
        hit = rows[slots[np.arange(rows.shape[0]), feedback.position[rows]] == feedback.action[rows]]
        if acceptance is not None and hit.shape[0]:
            hit = hit[rng.random(hit.shape[0]) < acceptance[hit]]
        if exact and hit.shape[0]:
            hit = hit[:1]
            start = int(hit[0]) + 1
        else:
            start = int(rows[-1]) + 1
        if not hit.shape[0]:
            continue
        taken.append(hit)
        action = feedback.action[hit]
        work.update(
            Feedback(
                items=ids[action],
                rewards=feedback.reward[hit],
                contexts=None if feedback.context is None else feedback.context[hit],
                positions=feedback.position[hit],
                propensities=feedback.propensity[hit],
                item_features=None if feats is None else feats[action],
            )
        )
    accepted = np.concatenate(taken) if taken else np.zeros(0, dtype=np.int64)
    return ReplayResult.from_rewards(feedback.reward[accepted], accepted, n_rows=n, policy=policy.name, level=level)


def replay_slates(
    policy: Policy,
    contexts: npt.ArrayLike,
    candidates: npt.ArrayLike,
    shown: npt.ArrayLike,
    rewards: npt.ArrayLike,
    *,
    batches: npt.ArrayLike | None = None,
    item_features: npt.ArrayLike | None = None,
    level: float = 0.95,
    seed: Seed = 0,
) -> ReplayResult:
    """Replay a learning policy on logged slates shown uniformly at random from per-request candidates.

    The position-wise replay of Li et al. (2011) for logs where each request had its own candidate
    list (as in :class:`~abrec.envs.RecBanditEnv` or a real widget): for every logged request the policy
    decides a slate over the same candidates; each position where it would have put the logged item is
    accepted, its reward counts and the policy learns from it. Under uniformly random logging (every
    candidate equally likely at each position, whatever the context) the item logged at a position is
    independent of the policy's choice, so accepted positions are an unbiased sample of the policy's
    own (position, reward) pairs when the reward at a position depends on the item there only (the
    position-based click model).

    Parameters
    ----------
    policy : abrec.policies.Policy
        Evaluated on a private copy (``policy`` is not changed).
    contexts : (n, d) array
    candidates : (n, m) array of item ids
    shown : (n, k) array of item ids, the logged slates (uniformly random over the candidates)
    rewards : (n, k) array, the logged reward of each shown position
    batches : (n,) int array, optional
        Requests of one batch (e.g. one step of the simulator, ascending) are decided with the
        policy's state frozen, then it learns from their accepted positions, as a policy updated
        per batch online would. Default: one batch per request (exact, slower).
    item_features : (n_items, p) array, optional
        Features of every item id (ids must then be rows ``0 .. n_items - 1``), for policies that read them.
    level : float, default 0.95
    seed : int, numpy.random.Generator or None, default 0
        The private copy's random generator.

    Returns
    -------
    ReplayResult
        ``value`` is the mean reward per accepted position (clicks per shown item), ``accepted`` the
        flat indices ``request * k + position`` of the accepted positions.

    Examples
    --------
    >>> from abrec.policies import UniformRandom
    >>> rng = np.random.default_rng(0)
    >>> cands = np.tile(np.arange(5), (400, 1))
    >>> shown = np.array([rng.permutation(5)[:2] for _ in range(400)])
    >>> r = replay_slates(UniformRandom(seed=0), np.zeros((400, 1)), cands, shown, (shown == 4).astype(float))
    >>> 0.1 < r.value < 0.3 and r.n_rows == 800
    True
    """
    x = np.asarray(contexts, dtype=np.float64)
    cands = np.asarray(candidates)
    logged = np.asarray(shown)
    r = np.asarray(rewards, dtype=np.float64)
    n = cands.shape[0]
    if x.ndim != 2 or x.shape[0] != n or logged.ndim != 2 or logged.shape[0] != n or r.shape != logged.shape:
        raise InputError(
            f"replay_slates needs contexts (n, d), candidates (n, m), shown and rewards (n, k) for the same n; got "
            f"{x.shape}, {cands.shape}, {logged.shape}, {r.shape}."
        )
    k = logged.shape[1]
    if k > cands.shape[1]:
        raise InputError(f"Slates of {k} items cannot come from {cands.shape[1]} candidates.")
    b = np.arange(n) if batches is None else np.asarray(batches, dtype=np.int64)
    if b.shape != (n,) or (np.diff(b) < 0).any():
        raise InputError("batches must be one non-decreasing integer per request.")
    feats = None if item_features is None else np.asarray(item_features, dtype=np.float64)
    copy = evaluation_copy(policy, seed)
    bounds = np.flatnonzero(np.diff(b)) + 1
    rewards_out: list[FloatArray] = []
    accepted_out: list[IntArray] = []
    for rows in np.split(np.arange(n), bounds):
        if rows.size == 0:
            continue
        c = cands[rows]
        f = feats[c] if feats is not None and copy.uses_item_features else None
        decision = copy.decide(c, x[rows], k=k, item_features=f)
        hit = decision.items == logged[rows]
        if not hit.any():
            continue
        req, pos = np.nonzero(hit)
        item = logged[rows][req, pos]
        reward = r[rows][req, pos]
        copy.update(
            Feedback(
                items=item,
                rewards=reward,
                contexts=x[rows][req],
                positions=pos.astype(np.int64),
                propensities=np.full(req.shape, 1.0 / c.shape[1]),
                item_features=None if f is None else f[req, decision.slots[req, pos]],
            )
        )
        rewards_out.append(reward)
        accepted_out.append(rows[req] * k + pos)
    got = np.concatenate(rewards_out) if rewards_out else np.zeros(0)
    idx = np.concatenate(accepted_out) if accepted_out else np.zeros(0, dtype=np.int64)
    return ReplayResult.from_rewards(got, idx, n_rows=n * k, policy=policy.name, level=level)
