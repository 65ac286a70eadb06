"""The action distribution of an abrec policy on logged rows: what off-policy estimators weigh with.

:func:`policy_action_dist` asks a :class:`~abrec.policies.Policy` (frozen: it does not learn
during evaluation) for slates of ``k = n_positions`` items over all ``n_actions`` logged actions,
given each row's context, and returns ``pi(a | x_i, position_i)``: the probability that the policy
puts action ``a`` at the row's logged position, shape ``(n_rows, n_actions)``, ready for
:func:`~abrec.ope.feedback.at_logged_positions` and every estimator.

Two ways to get it:

* **exact**, for policies whose slate is fixed by the context up to random tie-breaking (those that
  rank by deterministic scores: :class:`~abrec.policies.UCB1`, :class:`~abrec.policies.LinUCB`,
  :class:`~abrec.policies.LogisticUCB`, :class:`~abrec.policies.HybridLinUCB`), and for
  :class:`~abrec.policies.EpsilonGreedy` and :class:`~abrec.policies.UniformRandom`: one ``decide``
  per row gives every candidate's score; a candidate with ``above`` strictly better candidates and
  ``g`` candidates of its score (itself included) lands on each of the positions
  ``above .. above + g - 1`` with probability ``1/g``, as ``Decision.propensities`` says.
* **Monte Carlo**, for the others (Thompson sampling, softmax): ``n_draws`` slates per row, from
  repeated requests in one batched ``decide``, counting where each action lands. Each entry is then a
  binomial proportion of ``n_draws`` draws, with standard error ``sqrt(p (1 - p) / n_draws)``, at most
  ``0.5 / sqrt(n_draws)`` (0.016 at the default 1000 draws). An estimate that averages the entries
  over many rows (IPW, DM, DR) averages that error down with them: the draws of different rows are
  independent.

A policy that ignores contexts (``policy.contextual`` is False, e.g. Bernoulli TS) gets one
``(n_actions, n_positions)`` table, computed once from ``n_draws`` slates and read at each row's
position.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from .._params import Interval, validate_params
from .._random import Seed, as_generator
from ..errors import InputError, ParameterError
from ..policies import EpsilonGreedy, LinUCB, Policy, UniformRandom

if TYPE_CHECKING:
    from .feedback import LoggedFeedback

__all__ = ["policy_action_dist"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

METHODS = ("auto", "exact", "monte_carlo")


def evaluation_copy(policy: Policy, seed: Seed) -> Policy:
    """A private copy of ``policy`` with its own generator, for evaluation (the original is never touched).

    The copy estimates its own decisions' propensities from a single draw: evaluation reads the
    slates, not ``Decision.propensities``, so the policy's ``propensity_draws`` would only cost time.
    """
    work = copy.deepcopy(policy)
    work._rng = as_generator(seed)
    if isinstance(getattr(work, "propensity_draws", None), int):
        work.propensity_draws = 1  # type: ignore[attr-defined]
    return work


def request_contexts(policy: Policy, feedback: LoggedFeedback, rows: IntArray) -> FloatArray:
    """The contexts of ``rows`` for ``decide``; a zero column for a context-free policy on a log without context.

    ``decide`` makes one request per context row, so a context-free policy still gets ``len(rows)`` requests.
    """
    check_contexts(policy, feedback)
    if feedback.context is not None:
        ctx: FloatArray = feedback.context[rows]
        return ctx
    return np.zeros((rows.shape[0], 1))


def check_contexts(policy: Policy, feedback: LoggedFeedback) -> None:
    """Raise InputError when a contextual policy meets feedback without contexts."""
    if policy.contextual and feedback.context is None:
        raise InputError(
            f"{type(policy).__name__} is contextual but the logged feedback has no context; build the "
            "LoggedFeedback with context= (one row per logged row)."
        )


def action_features(policy: Policy, feedback: LoggedFeedback) -> FloatArray | None:
    """``feedback.action_context`` when the policy reads item features (an error when there are none)."""
    if not policy.uses_item_features:
        return None
    if feedback.action_context is None:
        raise InputError(
            f"{type(policy).__name__} reads item features but the logged feedback has no action_context; "
            "build the LoggedFeedback with action_context= (one row per action)."
        )
    return feedback.action_context


def _exact_rule(policy: Policy) -> str | None:
    """How to compute the policy's action distribution exactly, or None when only Monte Carlo can."""
    choose = type(policy)._choose
    if isinstance(policy, UniformRandom) and choose is UniformRandom._choose:
        return "uniform"
    if isinstance(policy, EpsilonGreedy) and choose is EpsilonGreedy._choose:
        return "epsilon_greedy"
    if choose is Policy._choose or (isinstance(policy, LinUCB) and choose is LinUCB._choose):
        return "greedy"
    return None


def greedy_position_probability(scores: FloatArray, positions: IntArray) -> FloatArray:
    """P(greedy ranking with random tie-breaking puts each candidate at ``positions[i]``), shape (n, m).

    A candidate with ``above`` strictly higher scores and ``g`` candidates sharing its score occupies
    each position ``above .. above + g - 1`` with probability ``1/g``.

    Examples
    --------
    >>> greedy_position_probability(np.array([[0.1, 0.5, 0.5, 0.2]]), np.array([0])).tolist()
    [[0.0, 0.5, 0.5, 0.0]]
    >>> greedy_position_probability(np.array([[0.1, 0.5, 0.5, 0.2]]), np.array([2])).tolist()
    [[0.0, 0.0, 0.0, 1.0]]
    """
    n, m = scores.shape
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=1)
    rank = np.arange(m)
    first = np.ones((n, m), dtype=bool)
    first[:, 1:] = ranked[:, 1:] != ranked[:, :-1]
    last = np.ones((n, m), dtype=bool)
    last[:, :-1] = ranked[:, :-1] != ranked[:, 1:]
    start = np.maximum.accumulate(np.where(first, rank, 0), axis=1)
    stop = np.minimum.accumulate(np.where(last, rank, m - 1)[:, ::-1], axis=1)[:, ::-1]
    pos = positions[:, None]
    inside = (start <= pos) & (pos <= stop)
    prob_ranked = np.where(inside, 1.0 / (stop - start + 1), 0.0)
    out = np.empty((n, m))
    np.put_along_axis(out, order, prob_ranked, axis=1)
    return out


def _exact_rows(rule: str, policy: Policy, scores: FloatArray, positions: IntArray) -> FloatArray:
    n, m = scores.shape
    if rule == "uniform":
        return np.full((n, m), 1.0 / m)
    greedy = greedy_position_probability(np.asarray(scores, dtype=np.float64), positions)
    if rule == "epsilon_greedy":
        eps = float(policy.epsilon)  # type: ignore[attr-defined]
        out: FloatArray = (1.0 - eps) * greedy + eps / m
        return out
    return greedy


def policy_action_dist(
    policy: Policy,
    feedback: LoggedFeedback,
    *,
    n_draws: int = 1000,
    batch_size: int = 8192,
    method: str = "auto",
    seed: Seed = 0,
) -> FloatArray:
    """The probability that ``policy`` puts each action at each row's logged position.

    The policy decides slates of ``k = feedback.n_positions`` items over the candidates
    ``feedback.item_ids`` (all actions), for each row's context ``feedback.context`` and, when it reads
    item features, with ``feedback.action_context`` as ``item_features``. It is evaluated as it stands:
    a private copy decides, so the policy itself (state and generator) is left untouched, and it does
    not learn.

    Parameters
    ----------
    policy : abrec.policies.Policy
        The target policy.
    feedback : LoggedFeedback
        The logged rows (their contexts and positions; rewards are not read).
    n_draws : int, default 1000
        Monte Carlo slates per row (per table for a context-free policy). Each entry's standard error
        is ``sqrt(p (1 - p) / n_draws)``. Unused where the distribution is exact.
    batch_size : int, default 8192
        Requests per ``decide`` call (rows times draws); bounds memory. Monte Carlo results depend on the
        seed and on ``batch_size`` (which splits the random stream), exact ones on neither.
    method : {"auto", "exact", "monte_carlo"}, default "auto"
        ``"auto"``: exact for deterministic rankers (UCB1, LinUCB, LogisticUCB, HybridLinUCB, ...),
        epsilon-greedy and uniform policies, Monte Carlo otherwise; ``"exact"`` raises for the others;
        ``"monte_carlo"`` always counts ``n_draws`` slates.
    seed : int, numpy.random.Generator or None, default 0
        Seeds the evaluation copy's generator (the policy's own generator is not used).

    Returns
    -------
    numpy.ndarray
        ``(n_rows, n_actions)``: ``pi(a | x_i, position_i)``; every row sums to 1.

    Raises
    ------
    abrec.errors.InputError
        A contextual policy on feedback without context, an item-feature policy without
        ``action_context``, or contexts of another dimension than the policy's.
    abrec.errors.ParameterError
        ``method="exact"`` for a policy that samples its slates, or an out-of-range count.

    Examples
    --------
    >>> from abrec.ope.feedback import LoggedFeedback
    >>> from abrec.policies import BernoulliThompson, Feedback, UCB1
    >>> fb = LoggedFeedback.from_arrays(action=[0, 1, 2, 0], reward=[1, 0, 0, 1], propensity=1 / 3, n_actions=3)
    >>> ucb = UCB1(seed=0)
    >>> ucb.update(Feedback(items=np.array([0, 1, 2]), rewards=np.array([1.0, 0.0, 0.0])))
    >>> policy_action_dist(ucb, fb)[0].round(3).tolist()  # exact: one decision
    [1.0, 0.0, 0.0]
    >>> ts = BernoulliThompson(priors={0: (9.0, 1.0)})
    >>> dist = policy_action_dist(ts, fb, n_draws=2000, seed=1)  # Monte Carlo: one table for all rows
    >>> dist.shape, bool(dist[0, 0] > 0.8), np.allclose(dist.sum(axis=1), 1.0)
    ((4, 3), True, True)
    """
    validate_params(
        "policy_action_dist",
        {"n_draws": Interval("int", 1), "batch_size": Interval("int", 1)},
        {"n_draws": n_draws, "batch_size": batch_size},
    )
    if method not in METHODS:
        raise ParameterError(
            f"The 'method' parameter of policy_action_dist must be one of {METHODS}. Got {method!r} instead."
        )
    rule = None if method == "monte_carlo" else _exact_rule(policy)
    if method == "exact" and rule is None:
        raise ParameterError(
            f"The 'method' parameter of policy_action_dist must be 'auto' or 'monte_carlo' for "
            f"{type(policy).__name__}, which samples its slates. Got 'exact' instead."
        )
    work = evaluation_copy(policy, seed)
    feats = action_features(work, feedback)
    if not work.contextual:
        table = _context_free_table(work, feedback, feats, rule, n_draws, batch_size)
        return np.ascontiguousarray(table.T[feedback.position])
    check_contexts(work, feedback)
    if rule is not None:
        return _exact_contextual(work, feedback, feats, rule, batch_size)
    return _monte_carlo_contextual(work, feedback, feats, n_draws, batch_size)


def _context_free_table(
    work: Policy,
    feedback: LoggedFeedback,
    feats: FloatArray | None,
    rule: str | None,
    n_draws: int,
    batch_size: int,
) -> FloatArray:
    """``(n_actions, n_positions)``: where a policy that ignores contexts puts each action."""
    cand, k, m = feedback.item_ids, feedback.n_positions, feedback.n_actions
    if rule is not None:
        scores = work.decide(cand, k=k, item_features=feats).scores
        positions = np.arange(k, dtype=np.int64)
        exact: FloatArray = _exact_rows(rule, work, np.repeat(scores, k, axis=0), positions).T
        return exact
    counts = np.zeros((m, k), dtype=np.int64)
    done = 0
    while done < n_draws:
        size = min(batch_size, n_draws - done)
        slots = work.decide(cand, np.zeros((size, 1)), k=k, item_features=feats).slots
        for j in range(k):
            counts[:, j] += np.bincount(slots[:, j], minlength=m)
        done += size
    table: FloatArray = counts / float(n_draws)
    return table


def _exact_contextual(
    work: Policy, feedback: LoggedFeedback, feats: FloatArray | None, rule: str, batch_size: int
) -> FloatArray:
    n, m, k = feedback.n_rows, feedback.n_actions, feedback.n_positions
    out = np.empty((n, m))
    for start in range(0, n, batch_size):
        rows = np.arange(start, min(n, start + batch_size), dtype=np.int64)
        scores = work.decide(feedback.item_ids, request_contexts(work, feedback, rows), k=k, item_features=feats).scores
        out[rows] = _exact_rows(rule, work, scores, feedback.position[rows])
    return out


def _monte_carlo_contextual(
    work: Policy, feedback: LoggedFeedback, feats: FloatArray | None, n_draws: int, batch_size: int
) -> FloatArray:
    """Count, over ``n_draws`` requests per row (row-major, ``batch_size`` per decide), where each action lands."""
    n, m, k = feedback.n_rows, feedback.n_actions, feedback.n_positions
    counts = np.zeros((n, m), dtype=np.int64)
    total = n * n_draws
    for start in range(0, total, batch_size):
        rows = np.arange(start, min(total, start + batch_size), dtype=np.int64) // n_draws
        slots = work.decide(feedback.item_ids, request_contexts(work, feedback, rows), k=k, item_features=feats).slots
        landed = slots[np.arange(rows.shape[0]), feedback.position[rows]]
        lo, hi = int(rows[0]), int(rows[-1]) + 1
        counts[lo:hi] += np.bincount((rows - lo) * m + landed, minlength=(hi - lo) * m).reshape(hi - lo, m)
    out: FloatArray = counts / float(n_draws)
    return out
