"""The action distribution of an abrec policy on logged rows: what off-policy estimators weigh with.

:func:`policy_action_dist` asks a :class:`~abrec.policies.Policy` (frozen: it does not learn
during evaluation) where it would put each of the ``n_actions`` logged actions in a slate of
``k = n_positions`` items, given each row's context, and returns ``pi(a | x_i, position_i)``: the
probability that the policy puts action ``a`` at the row's logged position, shape
``(n_rows, n_actions)``, ready for :func:`~abrec.ope.feedback.at_logged_positions` and every estimator.

It reads the policy's own answer, :meth:`~abrec.policies.Policy.action_distribution`, and never
inspects the policy's class: a new policy (an RL agent, say) is evaluated by what it says of itself.
That answer is

* **exact** where the policy knows its law: those that rank by deterministic scores
  (:class:`~abrec.policies.UCB1`, :class:`~abrec.policies.LinUCB`, :class:`~abrec.policies.LogisticUCB`,
  :class:`~abrec.policies.HybridLinUCB`; a candidate with ``above`` strictly better candidates and ``g``
  candidates of its score lands on each of the positions ``above .. above + g - 1`` with probability
  ``1/g``), :class:`~abrec.policies.EpsilonGreedy`, :class:`~abrec.policies.UniformRandom` and
  :class:`~abrec.policies.Softmax` for one position;
* **Monte Carlo** for the others (Thompson sampling, softmax slates): ``n_draws`` slates per row,
  counting where each action lands. Each entry is then a binomial proportion of ``n_draws`` draws, with
  standard error ``sqrt(p (1 - p) / n_draws)``, at most ``0.5 / sqrt(n_draws)`` (0.016 at the default
  1000 draws). An estimate that averages the entries over many rows (IPW, DM, DR) averages that error
  down with them: the draws of different rows are independent.

A policy that ignores contexts (``policy.contextual`` is False, e.g. Bernoulli TS) gets one
``(n_actions, n_positions)`` table, computed once and read at each row's position; for Bernoulli TS
that table is the fast blocked count of :func:`~abrec.ope.bts_action_distribution`, and both answer
with the same :class:`~abrec.policies.ActionDistribution` record (one request, read at each row's position by
:func:`~abrec.ope.at_logged_positions`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from .._params import Interval, StrOptions, validate_params
from .._random import Seed, as_generator
from ..errors import InputError, ParameterError
from ..policies import ActionDistribution, Policy
from .feedback import LoggedFeedback, at_logged_positions

__all__ = ["policy_action_dist"]

FloatArray = npt.NDArray[np.float64]

METHODS = ("auto", "exact", "monte_carlo")


def evaluation_copy(policy: Policy, seed: Seed) -> Policy:
    """A private copy of ``policy`` with its own generator, for evaluation (the original is never touched).

    ``policy.clone(keep_state=True, seed=seed)``; the copy estimates its own decisions' propensities
    from a single draw (``propensity_draws=1`` where the policy has that parameter): evaluation reads
    the slates, not ``Decision.propensities``, so more draws would only cost time.
    """
    cheap = {"propensity_draws": 1} if "propensity_draws" in policy.get_params() else {}
    return policy.clone(keep_state=True, seed=seed, **cheap)


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

    Asks ``policy.action_distribution`` for slates of ``k = feedback.n_positions`` items over the
    candidates ``feedback.item_ids`` (all actions), for each row's context ``feedback.context`` (rows in
    batches) and, when it reads item features, with ``feedback.action_context`` as ``item_features``,
    and reads each row's logged position. The policy is evaluated as it stands: it works on a private
    copy, so the policy itself (state and generator) is left untouched, and it does not learn.

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
        Rows per ``action_distribution`` call (each call holds ``(rows, n_actions, n_positions)``
        probabilities); bounds memory. Monte Carlo results depend on the seed and on ``batch_size``
        (each batch draws from its own child of the seed), exact ones on neither.
    method : {"auto", "exact", "monte_carlo"}, default "auto"
        ``"auto"``: whatever the policy gives (exact where it knows its law, Monte Carlo otherwise);
        ``"exact"`` raises for a policy whose distribution is not exact; ``"monte_carlo"`` always counts
        ``n_draws`` slates.
    seed : int, numpy.random.Generator or None, default 0
        Seeds the evaluation copies' generators (the policy's own generator is not used).

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
        {"n_draws": Interval("int", 1), "batch_size": Interval("int", 1), "method": StrOptions(METHODS)},
        {"n_draws": n_draws, "batch_size": batch_size, "method": method},
    )
    exact = {"auto": None, "exact": True, "monte_carlo": False}[method]
    feats = action_features(policy, feedback)
    ids, k = feedback.item_ids, feedback.n_positions
    if not policy.contextual:
        return at_logged_positions(_ask(policy, ids, None, k, feats, n_draws, seed, exact), feedback)  # one table
    check_contexts(policy, feedback)
    assert feedback.context is not None
    n = feedback.n_rows
    out = np.empty((n, feedback.n_actions))
    starts = range(0, n, batch_size)
    # Each batch of rows draws from its own child generator: the rows' Monte Carlo errors are independent.
    children = as_generator(seed).spawn(len(starts))
    for start, child in zip(starts, children, strict=True):
        stop = min(n, start + batch_size)
        dist = _ask(policy, ids, feedback.context[start:stop], k, feats, n_draws, child, exact)
        out[start:stop] = dist.probabilities[np.arange(stop - start), :, feedback.position[start:stop]]
    return out


def _ask(
    policy: Policy,
    candidates: npt.NDArray[np.generic],
    contexts: FloatArray | None,
    k: int,
    feats: FloatArray | None,
    n_draws: int,
    seed: Seed,
    exact: bool | None,
) -> ActionDistribution:
    """``policy.action_distribution`` of the rows, with ``method="exact"`` refused for a policy that samples."""
    refusal = ParameterError(
        f"The 'method' parameter of policy_action_dist must be 'auto' or 'monte_carlo' for "
        f"{type(policy).__name__}, which samples its slates. Got 'exact' instead."
    )
    try:
        dist = policy.action_distribution(
            candidates, contexts, k=k, item_features=feats, n_draws=n_draws, seed=seed, exact=exact
        )
    except ParameterError as exc:
        if exact:
            raise refusal from exc
        raise
    if exact and not dist.exact:
        raise refusal
    return dist
