"""The propensity check: reported propensities are the policy's real choice probabilities (private).

Without the logged propensity of each choice no off-policy evaluation is possible, so the check
compares them with how often the policy really chooses each item over many identical requests.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ..policies.base import Policy
from ..policies.records import Decision
from ._fixtures import Problem, Request
from ._harness import Context, as_check, show, train, training

__all__ = ["check_propensities"]

#: Repeats of one request used to compare choice frequencies with propensities.
REPEATS = 2000
#: Repeats of one request decided one call at a time (the one-request code path).
SINGLE_REPEATS = 1000
#: Tolerance of a frequency, in standard errors of a proportion.
Z_TOLERANCE = 4.5
#: Slack allowed above 1 for a propensity computed in floating point (e.g. ``0.9 + 0.1 / 1``).
_ROUNDING = 1e-12


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
