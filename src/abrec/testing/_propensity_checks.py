"""The propensity checks: reported propensities and action distributions are the policy's real choice probabilities.

Without the logged propensity of each choice no off-policy evaluation is possible, so
:func:`check_propensities` compares them with how often the policy really chooses each item over
many identical requests; :func:`check_action_distribution` does the same for what the policy says
of itself when off-policy evaluation asks it (``Policy.action_distribution``). Private module.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ..policies.base import Policy
from ..policies.distribution import ActionDistribution
from ..policies.records import Decision
from ._fixtures import Problem, Request, fresh
from ._harness import Context, as_check, show, train, training

__all__ = ["check_action_distribution", "check_propensities"]

#: Repeats of one request used to compare choice frequencies with propensities.
REPEATS = 2000
#: Repeats of one request decided one call at a time (the one-request code path).
SINGLE_REPEATS = 1000
#: Tolerance of a frequency, in standard errors of a proportion.
Z_TOLERANCE = 4.5
#: Slack allowed above 1 for a propensity computed in floating point (e.g. ``0.9 + 0.1 / 1``).
_ROUNDING = 1e-12
#: Monte Carlo draws per request asked of ``action_distribution`` (where it counts rather than knows).
DISTRIBUTION_DRAWS = 4000
#: Seed of the clone whose decisions are counted against an action distribution.
_CLONE_SEED = 17


@as_check
def check_propensities(context: Context) -> None:
    """Propensities have shape (n, k), lie in (0, 1], and are the policy's real choice probabilities.

    In the prior state (all candidates tie) and after a few updates, one request is repeated
    ``REPEATS`` times in one batch for k = 1 and k = 2, and ``SINGLE_REPEATS`` times one call at a
    time for k = 1 (the one-request path may be a different code path): the frequency of each
    (item, position) must match its mean reported propensity within ``Z_TOLERANCE`` standard errors
    of a proportion (plus the Monte Carlo error of the estimate when ``Decision.propensity_draws > 0``).
    Exact propensities (``propensity_draws == 0``) must also be the same on identical requests and sum
    to 1 over the items of a position.
    """
    problem = context.problem(seed=2)
    catalogue = problem.catalogue()[:4]
    policy = context.new(3)
    # In the prior state every candidate ties: the delicate case for exact propensities.
    _check_repeated(context, policy, problem, catalogue, "in the prior state", ks=(1, 2), single_ks=(1,))
    train(context, [policy], training(problem))
    for k in (1, 2, 3):
        decision = context.decide(policy, problem.shared(5), k, f"deciding k={k} for 5 requests")
        _check_propensity_range(context, decision, 5, k, f"deciding k={k} for 5 requests")
    decision = context.decide(policy, problem.ragged(6), 2, "deciding k=2 for 6 ragged masked requests")
    _check_propensity_range(context, decision, 6, 2, "deciding k=2 for 6 ragged masked requests")
    _check_repeated(context, policy, problem, catalogue, "after updates", ks=(1, 2), single_ks=(1,))


def _check_repeated(
    context: Context,
    policy: Policy,
    problem: Problem,
    catalogue: npt.NDArray[Any],
    state: str,
    ks: tuple[int, ...],
    single_ks: tuple[int, ...],
) -> None:
    """Frequencies against propensities for one request repeated in a batch and one call at a time."""
    m = catalogue.shape[0]
    tiled = problem.tiled(REPEATS, catalogue)
    for k in ks:
        what = f"deciding k={k} {state} for one request over {m} candidates repeated {REPEATS} times in a batch"
        decision = context.decide(policy, tiled, k, what)
        _check_propensity_range(context, decision, REPEATS, k, what)
        _check_frequencies(context, decision, m, k, what)
    one: Request = {"candidates": catalogue}
    if context.cls.contextual:
        one["contexts"] = tiled["contexts"][:1]
    if context.cls.uses_item_features:
        one["item_features"] = tiled["item_features"]
    for k in single_ks:
        what = f"deciding k={k} {state} for one request over {m} candidates {SINGLE_REPEATS} times, one call each"
        decisions = [context.decide(policy, one, k, what) for _ in range(SINGLE_REPEATS)]
        for single in decisions:
            _check_propensity_range(context, single, 1, k, what)
        _check_frequencies(context, _stack(decisions), m, k, what)


def _stack(decisions: list[Decision]) -> Decision:
    """One Decision holding the requests of several (same policy, same candidates)."""
    first = decisions[0]
    return Decision(
        items=np.concatenate([np.asarray(d.items) for d in decisions]),
        slots=np.concatenate([np.asarray(d.slots) for d in decisions]),
        propensities=np.concatenate([np.asarray(d.propensities) for d in decisions]),
        scores=np.concatenate([np.asarray(d.scores) for d in decisions]),
        policy=first.policy,
        version=first.version,
        propensity_draws=max(int(d.propensity_draws) for d in decisions),
    )


def _check_propensity_range(context: Context, decision: Decision, n: int, k: int, what: str) -> None:
    props = np.asarray(decision.propensities)
    context.expect(props.shape == (n, k), f"{what}: propensities have shape {props.shape}, expected {(n, k)}.")
    context.expect(
        props.dtype.kind == "f" and bool(np.isfinite(props).all()),
        f"{what}: propensities must be finite floats. Got {props.ravel()[:8]!r}.",
    )
    bad = (props <= 0.0) | (props > 1.0 + _ROUNDING)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        context.fail(
            f"{what}: propensity {float(props[where])!r} at (request, position) {where} is outside (0, 1]; it must be "
            "the probability that the policy puts that item in that position."
        )


def _check_frequencies(context: Context, decision: Decision, m: int, k: int, what: str) -> None:
    """Compare the choice frequencies over identical requests (m candidates) with the reported propensities."""
    repeats = decision.n
    draws = int(decision.propensity_draws)
    for position in range(k):
        items, inverse = np.unique(np.asarray(decision.items)[:, position], return_inverse=True)
        inverse = inverse.ravel()
        counts = np.bincount(inverse, minlength=items.shape[0]).astype(np.float64)
        props = np.asarray(decision.propensities)[:, position]
        mean = np.bincount(inverse, weights=props, minlength=items.shape[0]) / counts
        if draws == 0:
            _check_exact(context, items, inverse, props, mean, m, position, repeats, what)
        frequency = counts / repeats
        variance = mean * (1.0 - mean) / repeats
        bias = np.zeros_like(mean)
        if draws > 0:
            # Each reported propensity is itself a Monte Carlo estimate (see abrec.policies._slates.sampled).
            variance = variance + mean * (1.0 - mean) / (draws + 1.0)
            bias = (1.0 - mean) / (draws + 1.0)
        # Slack of 2 / repeats: the normal approximation is poor for rare items (a Poisson tail).
        tolerance = Z_TOLERANCE * np.sqrt(variance) + bias + 2.0 / repeats
        excess = np.abs(frequency - mean) - tolerance
        if (excess > 0).any():
            i = int(np.argmax(excess))
            source = f"a Monte Carlo estimate from {draws} draws" if draws else "exact"
            context.fail(
                f"{what}: item {show(items[i])} was chosen at position {position} in {int(counts[i])} of {repeats} "
                f"identical requests (empirical frequency {frequency[i]:.4f}) but its reported propensity there "
                f"is {mean[i]:.4f} ({source}); they differ by more than the tolerance {tolerance[i]:.4f} "
                f"({Z_TOLERANCE} binomial standard errors). The propensities do not describe how the policy chooses."
            )


def _check_exact(
    context: Context,
    items: npt.NDArray[Any],
    inverse: npt.NDArray[np.intp],
    props: npt.NDArray[np.float64],
    mean: npt.NDArray[np.float64],
    m: int,
    position: int,
    repeats: int,
    what: str,
) -> None:
    """Exact propensities (``propensity_draws == 0``) are the choice distribution of the request.

    The same item gets the same propensity on identical requests, and the propensities of the items
    seen at a position sum to 1 when every candidate was seen there; otherwise they fall short of 1 by
    no more than the unseen candidates can plausibly hold.
    """
    for i in range(items.shape[0]):
        values = props[inverse == i]
        if float(values.max() - values.min()) > 1e-9:
            context.fail(
                f"{what}: propensity_draws is 0 (exact propensities) but item {show(items[i])} at position {position} "
                f"got different propensities on identical requests ({values.min():.6f} to {values.max():.6f})."
            )
    total = float(mean.sum())
    unseen = max(0, m - items.shape[0])
    # A candidate of probability q goes unseen in `repeats` requests with probability (1 - q)^repeats <=
    # exp(-q repeats); mass above unseen * ln(1e6) / repeats would have been seen with probability > 1 - 1e-6.
    missing = unseen * math.log(1e6) / repeats + 1e-9
    if total > 1.0 + 1e-9 or total < 1.0 - missing:
        seen = "every candidate" if unseen == 0 else f"{items.shape[0]} of the {m} candidates"
        context.fail(
            f"{what}: propensity_draws is 0 (exact propensities) but the propensities of the items chosen at "
            f"position {position} ({seen}) sum to {total:.6f}; exact choice probabilities over the candidates "
            "sum to 1."
        )


# ------------------------------------------------------------------ action distributions
@as_check
def check_action_distribution(context: Context) -> None:
    """``action_distribution`` gives valid probabilities that match the decisions, and asking changes nothing.

    In the prior state and after a few updates:

    * **valid**: ``probabilities`` and ``standard_error`` of shape (n, m, k); probabilities in [0, 1], 0 for
      masked-out candidates, each position's column summing to 1; ``exact`` with ``draws == 0`` and zero
      errors, or counted with ``draws >= 1`` and finite errors;
    * **calibrated**: one request (shared candidates, then a ragged masked one) is decided ``REPEATS``
      times in a batch by ``policy.clone(keep_state=True)`` (with ``propensity_draws=1`` where the policy
      has that parameter: only the slates are counted); the frequency of each (candidate, position)
      must match its probability within ``Z_TOLERANCE`` standard errors of the difference, plus
      ``2 / REPEATS``. That standard error is the binomial error of the frequency, ``p (1 - p) / REPEATS``,
      plus, for a Monte Carlo distribution, its own binomial error over its ``draws`` (with ``p`` pooled
      from both counts, so that a probability estimated as 0 still gets an error);
    * **side-effect free**: asking (over never-seen items too) adds no item to the policy and moves neither
      its state nor its generator: it then decides exactly like an untouched twin.
    """
    problem = context.problem(seed=4)
    catalogue = problem.catalogue()[:4]
    policy, twin = context.new(5), context.new(5)
    for k in (1, 2):
        _ask(context, policy, problem.shared(3, catalogue), k, f"asking k={k} in the prior state for 3 requests")
        _calibrated(context, policy, problem, catalogue, k, "in the prior state", ragged=False)
    mixed = np.concatenate([catalogue, problem.unseen()])
    _ask(context, policy, problem.shared(3, mixed), 2, "asking k=2 over never-seen items")
    context.expect(
        policy.n_items == 0,
        f"asking for the action distribution added items to the policy: it now knows {policy.item_ids.tolist()} "
        "(it must work on a clone, never on the policy itself).",
    )
    train(context, [policy, twin], training(problem))
    for k in (1, 2, 3):
        _ask(context, policy, problem.shared(5), k, f"asking k={k} after updates for 5 requests")
    _ask(context, policy, problem.ragged(6), 2, "asking k=2 after updates for 6 ragged masked requests")
    for k in (1, 2):
        _calibrated(context, policy, problem, catalogue, k, "after updates", ragged=False)
    _calibrated(context, policy, problem, catalogue, 2, "after updates", ragged=True)
    context.expect(
        policy.get_params() == twin.get_params(),
        f"asking for the action distribution changed get_params(): {twin.get_params()} became {policy.get_params()}.",
    )
    for name, request, k in (
        ("5 requests", problem.shared(5), 2),
        ("4 ragged requests", problem.ragged(4), 2),
        ("5 requests", problem.shared(5), 1),
    ):
        context.compare(
            context.decide(policy, request, k, f"deciding k={k} for {name} after asking for action distributions"),
            context.decide(twin, request, k, f"deciding k={k} for {name} with a twin that was never asked"),
            f"asking for the action distribution changed the policy (k={k} decisions for {name} differ from an "
            "untouched twin's); it must work on a clone with its own generator",
        )


def _ask(context: Context, policy: Policy, request: Request, k: int, what: str) -> ActionDistribution:
    """``policy.action_distribution`` of ``request``, checked to be a valid distribution."""
    context.step = what
    dist = policy.action_distribution(**fresh(request), k=k, n_draws=DISTRIBUTION_DRAWS, seed=3)
    context.expect(
        isinstance(dist, ActionDistribution), f"{what}: got a {type(dist).__name__}, not an ActionDistribution."
    )
    cand = np.asarray(request["candidates"])
    n = cand.shape[0] if cand.ndim == 2 else np.asarray(request.get("contexts", np.zeros((1, 1)))).shape[0]
    m = cand.shape[-1]
    p, se = np.asarray(dist.probabilities), np.asarray(dist.standard_error)
    context.expect(
        p.shape == (n, m, k), f"{what}: probabilities have shape {p.shape}, expected (n, m, k) = {(n, m, k)}."
    )
    context.expect(se.shape == p.shape, f"{what}: standard_error has shape {se.shape}, expected {p.shape}.")
    context.expect(bool(np.isfinite(p).all() and np.isfinite(se).all()), f"{what}: non-finite probabilities or errors.")
    context.expect(
        bool((p >= 0.0).all() and (p <= 1.0 + _ROUNDING).all() and (se >= 0.0).all()),
        f"{what}: probabilities must lie in [0, 1] and standard errors be >= 0. Got {p.min()!r} to {p.max()!r}.",
    )
    if "mask" in request:
        masked = ~np.asarray(request["mask"], dtype=bool)
        context.expect(
            not bool(p[masked].any()), f"{what}: a masked-out candidate has a positive probability of being shown."
        )
    sums = p.sum(axis=1)
    if not np.allclose(sums, 1.0, rtol=0.0, atol=1e-9):
        where = tuple(int(i) for i in np.argwhere(~np.isclose(sums, 1.0, rtol=0.0, atol=1e-9))[0])
        context.fail(
            f"{what}: the probabilities of position {where[1]} of request {where[0]} sum to {sums[where]:.6f} over "
            "the candidates; a position holds exactly one candidate, so they must sum to 1."
        )
    if dist.exact:
        context.expect(
            dist.draws == 0 and not bool(se.any()),
            f"{what}: an exact distribution must have draws == 0 and zero standard errors. Got draws={dist.draws}.",
        )
    else:
        context.expect(dist.draws >= 1, f"{what}: a counted distribution must report its draws >= 1. Got {dist.draws}.")
    return dist


def _calibrated(
    context: Context, policy: Policy, problem: Problem, catalogue: npt.NDArray[Any], k: int, state: str, *, ragged: bool
) -> None:
    """One request's action distribution against the frequencies of ``REPEATS`` decisions of a clone."""
    if ragged:
        one = problem.ragged(1, catalogue, min_valid=max(3, k))
        tiled: Request = {key: np.repeat(value, REPEATS, axis=0) for key, value in one.items()}
        kind = "one ragged masked request"
    else:
        tiled = problem.tiled(REPEATS, catalogue)
        one = {key: value[:1] if key == "contexts" else value for key, value in tiled.items()}
        kind = "one request"
    what = f"asking k={k} {state} for {kind} over {catalogue.shape[0]} candidates"
    dist = _ask(context, policy, one, k, what)
    context.step = f"cloning the policy with clone(keep_state=True, seed={_CLONE_SEED})"
    # Only the slates are counted: the clone's own propensity estimates (if any) would only cost time.
    cheap = {"propensity_draws": 1} if "propensity_draws" in policy.get_params() else {}
    clone = policy.clone(keep_state=True, seed=_CLONE_SEED, **cheap)
    decision = context.decide(clone, tiled, k, f"deciding k={k} {state} for {kind} repeated {REPEATS} times (a clone)")
    slots = np.asarray(decision.slots)
    m = dist.m
    p = np.asarray(dist.probabilities)[0]  # (m, k)
    frequency = np.stack([np.bincount(slots[:, j], minlength=m) for j in range(k)], axis=1) / REPEATS
    if dist.exact:
        variance = p * (1.0 - p) / REPEATS
    else:
        pooled = (frequency * REPEATS + p * dist.draws) / (REPEATS + dist.draws)
        variance = pooled * (1.0 - pooled) * (1.0 / REPEATS + 1.0 / dist.draws)
    # Slack of 2 / REPEATS: the normal approximation is poor for rare candidates (a Poisson tail).
    tolerance = Z_TOLERANCE * np.sqrt(variance) + 2.0 / REPEATS
    excess = np.abs(frequency - p) - tolerance
    if (excess > 0).any():
        j, position = (int(i) for i in np.unravel_index(int(np.argmax(excess)), excess.shape))
        cand = np.asarray(one["candidates"])
        item = cand[0, j] if cand.ndim == 2 else cand[j]
        source = "exact" if dist.exact else f"counted over {dist.draws} draws"
        context.fail(
            f"{what}: action_distribution puts item {show(item)} at position {position} with probability "
            f"{p[j, position]:.4f} ({source}) but the policy put it there in {frequency[j, position]:.4f} of "
            f"{REPEATS} identical requests; they differ by more than the tolerance {tolerance[j, position]:.4f} "
            f"({Z_TOLERANCE} standard errors). The action distribution does not describe how the policy decides."
        )
