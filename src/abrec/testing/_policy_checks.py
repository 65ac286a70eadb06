"""The conformance checks every abrec policy must pass, and the ways to run them.

Each ``check_*`` function takes a policy class (or a factory called as ``factory(seed=...)``),
builds fresh policies from fixed seeds, feeds them a small synthetic problem shaped for the class
(contexts ``(n, 4)`` when ``contextual``, item features ``(m, 3)`` when ``uses_item_features``,
six catalogue items, integer and string ids) and raises :class:`AssertionError` naming the policy,
the check and what was wrong. An unexpected exception inside a check is reported the same way,
with the step that raised it.

Run them with :func:`check_policy` (all checks, one policy), :func:`policy_checks` (the checks as
``(name, callable)`` pairs) or, under pytest, :func:`parametrize_with_checks`. Known failures are
listed as ``{(policy_name, check_name): "reason"}``.

The round trip through :meth:`Policy.save` and ``type(policy).load`` needs the policy's ``name`` to
be registered (:func:`abrec.policies.register`): the file names the class by its registry name.
"""

from __future__ import annotations

import functools
import math
import os
import random
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import numpy.typing as npt

from .._params import Constraint
from ..errors import InputError, ParameterError, UnknownNameError
from ..policies.base import Policy
from ..policies.records import Decision, Feedback
from ._fixtures import CONTEXT_DIM, FEATURE_DIM, Problem, Request, copy_feedback, events, fields_of, fresh

if TYPE_CHECKING:
    import pytest

__all__ = [
    "ExpectedFailures",
    "PolicyFactory",
    "check_bad_hyperparameters",
    "check_decide_rejects_bad_inputs",
    "check_decision_metadata",
    "check_empty_update_is_noop",
    "check_inputs_not_mutated",
    "check_new_and_vanished_items",
    "check_no_shared_arrays",
    "check_policy",
    "check_propensities",
    "check_same_seed_same_decisions",
    "check_single_request",
    "check_slates_are_valid",
    "check_state_round_trip",
    "check_update_rejects_bad_feedback",
    "parametrize_with_checks",
    "policy_checks",
]

#: A policy class, or any callable that builds a policy when called as ``factory(seed=int)``.
PolicyFactory = Callable[..., Policy]
#: Known failures: ``{(policy_name, check_name): "the written reason"}``.
ExpectedFailures = Mapping[tuple[str, str], str]

#: Repeats of one request used to compare choice frequencies with propensities.
REPEATS = 2000
#: Repeats of one request decided one call at a time (the one-request code path).
SINGLE_REPEATS = 1000
#: Tolerance of a frequency, in standard errors of a proportion.
Z_TOLERANCE = 4.5
#: Slack allowed above 1 for a propensity computed in floating point (e.g. ``0.9 + 0.1 / 1``).
_ROUNDING = 1e-12


# =====================================================================================
# Machinery shared by the checks
# =====================================================================================
class _Context:
    """What one check run knows: the factory, the class it builds, and the current step."""

    def __init__(self, factory: PolicyFactory, check: str) -> None:
        self.check = check
        self.step = "building the policy with factory(seed=0)"
        self.factory = factory
        probe = factory(seed=0)
        self.cls: type[Policy] = type(probe)
        self.label = f"{self.cls.__name__} ({probe.name!r})"
        self._reproducible: bool | None = None

    def new(self, seed: int | np.random.Generator = 0) -> Policy:
        self.step = f"building the policy with factory(seed={seed!r})"
        return self.factory(seed=seed)

    def problem(self, *, string_ids: bool = False, seed: int = 0) -> Problem:
        return Problem(
            contextual=self.cls.contextual,
            uses_item_features=self.cls.uses_item_features,
            string_ids=string_ids,
            seed=seed,
        )

    def fail(self, what: str) -> NoReturn:
        raise AssertionError(f"{self.label} failed {self.check}: {what}")

    def expect(self, condition: bool, what: str) -> None:
        if not condition:
            self.fail(what)

    def decide(self, policy: Policy, request: Request, k: int, step: str) -> Decision:
        self.step = step
        return policy.decide(**fresh(request), k=k)

    def update(self, policy: Policy, feedback: Feedback, step: str) -> None:
        self.step = step
        policy.update(copy_feedback(feedback))

    def reproducible(self) -> bool:
        """Whether two policies built from one seed decide alike (what check_same_seed... tests).

        Checks that compare a policy with a twin compare only the deterministic ``scores`` of a
        policy that is not reproducible, so that such a policy fails one check, not all of them.
        """
        if self._reproducible is None:
            step = self.step
            problem = self.problem(seed=99)
            feedback, request = problem.feedback(30), problem.shared(4)
            twins = [self.new(seed=1), self.new(seed=1)]
            decisions: list[list[Decision]] = []
            for twin in twins:
                self.update(twin, feedback, "probing whether the policy is reproducible from its seed")
                decisions.append([self.decide(twin, request, k, "probing reproducibility") for k in (1, 2)])
            self._reproducible = all(_difference(a, b) is None for a, b in zip(*decisions, strict=True))
            self.step = step
        return self._reproducible

    def compare(self, a: Decision, b: Decision, what: str) -> None:
        """Fail unless the decisions agree (only their scores for a non-reproducible policy)."""
        difference = _difference(a, b, scores_only=not self.reproducible())
        if difference is not None:
            self.fail(f"{what}: {difference}")


def _check(body: Callable[[_Context], None]) -> Callable[[PolicyFactory], None]:
    """Turn ``body(context)`` into a public check ``check(policy_class_or_factory)``."""

    @functools.wraps(body)
    def check(policy: PolicyFactory) -> None:
        context: _Context | None = None
        try:
            context = _Context(policy, body.__name__)
            body(context)
        except AssertionError:
            raise
        except Exception as exc:
            label = context.label if context is not None else repr(policy)
            step = context.step if context is not None else "building the policy with factory(seed=0)"
            raise AssertionError(
                f"{label} failed {body.__name__}: {type(exc).__name__} raised while {step}: {exc}"
            ) from exc

    del check.__wrapped__  # type: ignore[attr-defined]  # show check(policy), not body(context)
    check.__doc__ = (body.__doc__ or "").rstrip() + _CHECK_DOC_TAIL
    return check


_CHECK_DOC_TAIL = """

    Parameters
    ----------
    policy : a policy class, or a factory called as ``policy(seed=int)``.

    Raises
    ------
    AssertionError
        When the policy fails the check; the message names the policy, the check and what was wrong.
    """


def _show(value: Any) -> str:
    """``repr`` of an item id without numpy's scalar wrapper (``102``, not ``np.int64(102)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _first_mismatch(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> str:
    if a.shape != b.shape:
        return f"shapes {a.shape} and {b.shape}"
    if a.dtype.kind in "fc" and b.dtype.kind in "fc":
        differs = ~np.isclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)
    else:
        differs = a != b
    where = tuple(int(i) for i in np.argwhere(differs)[0])
    return f"{_show(a[where])} and {_show(b[where])} at index {where}"


def _same(a: npt.NDArray[Any], b: npt.NDArray[Any], *, exact: bool) -> bool:
    if a.shape != b.shape:
        return False
    if exact or a.dtype.kind not in "fc" or b.dtype.kind not in "fc":
        return bool(np.array_equal(a, b))
    return bool(np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True))


def _difference(a: Decision, b: Decision, *, scores_only: bool = False) -> str | None:
    """How two decisions differ (None when they agree)."""
    fields = ("scores",) if scores_only else ("items", "slots", "propensities", "scores")
    for name in fields:
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        if not _same(x, y, exact=name in ("items", "slots")):
            return f"their {name} differ ({_first_mismatch(x, y)})"
    if not scores_only:
        meta_a = (a.policy, a.version, a.propensity_draws)
        meta_b = (b.policy, b.version, b.propensity_draws)
        if meta_a != meta_b:
            return f"their (policy, version, propensity_draws) differ: {meta_a} and {meta_b}"
    return None


def _train(context: _Context, policies: Iterable[Policy], batches: Iterable[Feedback]) -> None:
    """Give every policy the same feedback (each its own copy)."""
    policies = list(policies)
    for i, batch in enumerate(batches):
        for policy in policies:
            context.update(policy, batch, f"updating with training batch {i} ({events(batch)} events)")


def _training(problem: Problem, batches: int = 3, size: int = 40) -> list[Feedback]:
    return [problem.feedback(size) for _ in range(batches)]


# =====================================================================================
# 1. Same seed, same decisions
# =====================================================================================
def _global_random_state() -> tuple[Any, ...]:
    return (np.random.get_state(), random.getstate())  # noqa: NPY002 - the state a policy must not touch


def _same_global_state(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    (np_a, py_a), (np_b, py_b) = a, b
    numpy_same = all(
        np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in zip(np_a, np_b, strict=True)
    )
    return numpy_same and py_a == py_b


@_check
def check_same_seed_same_decisions(context: _Context) -> None:
    """Two policies built with the same seed make the same decisions, before and after identical updates.

    The seed may be an int or a :class:`numpy.random.Generator`; neither numpy's nor Python's global
    random state may change (a policy draws only from its own generator). Different seeds may differ.
    """
    problem = context.problem(seed=1)
    script: list[tuple[str, Request | Feedback, int]] = [
        ("deciding k=1 for 5 requests", problem.shared(5), 1),
        ("deciding k=2 for 5 requests", problem.shared(5), 2),
        ("updating with 30 events", problem.feedback(30), 0),
        ("deciding k=2 for 5 requests after an update", problem.shared(5), 2),
        ("deciding k=2 for 4 ragged masked requests", problem.ragged(4), 2),
        ("updating with 30 more events", problem.feedback(30), 0),
        ("deciding k=1 for one request", problem.shared(1), 1),
        ("deciding k=3 for 5 requests", problem.shared(5), 3),
    ]
    before = _global_random_state()
    for seeds in ((11, 11), (np.random.default_rng(5), np.random.default_rng(5))):
        seed_text = "the seed 11" if isinstance(seeds[0], int) else "generators seeded alike"
        a, b = context.new(seeds[0]), context.new(seeds[1])
        for step, payload, k in script:
            if isinstance(payload, Feedback):
                context.update(a, payload, step)
                context.update(b, payload, step)
                continue
            da, db = context.decide(a, payload, k, step), context.decide(b, payload, k, step)
            difference = _difference(da, db)
            if difference is not None:
                hint = ""
                if not _same_global_state(before, _global_random_state()):
                    hint = " The policy also changed numpy's or Python's global random state: draw only from self._rng."
                context.fail(
                    f"two policies built with {seed_text} decided differently when {step}: {difference}.{hint}"
                )
    context.expect(
        _same_global_state(before, _global_random_state()),
        "deciding and updating changed numpy's or Python's global random state; a policy must draw only "
        "from its own generator (self._rng).",
    )


# =====================================================================================
# 2. Propensities
# =====================================================================================
def _check_propensity_range(context: _Context, decision: Decision, n: int, k: int, what: str) -> None:
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


def _check_frequencies(context: _Context, decision: Decision, m: int, k: int, what: str) -> None:
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
                f"{what}: item {_show(items[i])} was chosen at position {position} in {int(counts[i])} of {repeats} "
                f"identical requests (empirical frequency {frequency[i]:.4f}) but its reported propensity there "
                f"is {mean[i]:.4f} ({source}); they differ by more than the tolerance {tolerance[i]:.4f} "
                f"({Z_TOLERANCE} binomial standard errors). The propensities do not describe how the policy chooses."
            )


def _check_exact(
    context: _Context,
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
                f"{what}: propensity_draws is 0 (exact propensities) but item {_show(items[i])} at position {position} "
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


@_check
def check_propensities(context: _Context) -> None:
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
    _train(context, [policy], _training(problem))
    for k in (1, 2, 3):
        decision = context.decide(policy, problem.shared(5), k, f"deciding k={k} for 5 requests")
        _check_propensity_range(context, decision, 5, k, f"deciding k={k} for 5 requests")
    decision = context.decide(policy, problem.ragged(6), 2, "deciding k=2 for 6 ragged masked requests")
    _check_propensity_range(context, decision, 6, 2, "deciding k=2 for 6 ragged masked requests")
    _check_repeated(context, policy, problem, catalogue, "after updates", ks=(1, 2), single_ks=(1,))


def _check_repeated(
    context: _Context,
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


# =====================================================================================
# 3. Valid slates
# =====================================================================================
def _check_slate(context: _Context, decision: Decision, request: Request, k: int, what: str) -> None:
    cand = np.asarray(request["candidates"])
    n = cand.shape[0] if cand.ndim == 2 else (request["contexts"].shape[0] if "contexts" in request else 1)
    m = cand.shape[-1]
    mask = request.get("mask")
    context.expect(
        isinstance(decision, Decision), f"{what}: decide returned {type(decision).__name__}, not a Decision."
    )
    items, slots = np.asarray(decision.items), np.asarray(decision.slots)
    context.expect(items.shape == (n, k), f"{what}: items have shape {items.shape}, expected {(n, k)}.")
    context.expect(slots.shape == (n, k), f"{what}: slots have shape {slots.shape}, expected {(n, k)}.")
    context.expect(slots.dtype.kind in "iu", f"{what}: slots must be integer columns. Got dtype {slots.dtype}.")
    context.expect(
        bool(((slots >= 0) & (slots < m)).all()),
        f"{what}: slots {slots.tolist()} are not columns of the {m} candidates.",
    )
    rows = cand if cand.ndim == 2 else np.broadcast_to(cand, (n, m))
    for i in range(n):
        for j in range(k):
            item = items[i, j]
            if not bool((rows[i] == item).any()):
                context.fail(
                    f"{what}: request {i} got item {_show(item)} at position {j}, which is not one of its candidates."
                )
            if mask is not None and not bool(mask[i, slots[i, j]]):
                context.fail(f"{what}: request {i} got a masked-out (invalid) candidate at position {j}.")
        if np.unique(slots[i]).shape[0] != k or np.unique(items[i]).shape[0] != k:
            context.fail(f"{what}: request {i} got a slate with duplicates: {items[i].tolist()}.")
    expected = np.take_along_axis(rows, slots, axis=1)
    context.expect(
        bool(np.array_equal(items, expected)),
        f"{what}: items {items.tolist()} are not the candidates at their slots {expected.tolist()}.",
    )
    scores = np.asarray(decision.scores)
    context.expect(scores.shape == (n, m), f"{what}: scores have shape {scores.shape}, expected {(n, m)}.")
    excluded = np.zeros((n, m), dtype=bool) if mask is None else ~np.asarray(mask)
    context.expect(
        bool(np.array_equal(np.isnan(scores), excluded)),
        f"{what}: scores must be NaN exactly where the mask excludes a candidate. Got {scores.tolist()}.",
    )


@_check
def check_slates_are_valid(context: _Context) -> None:
    """Slates hold k distinct candidates of their request, consistent with their slots; scores are (n, m).

    Covers integer and string ids, shared candidates ``(m,)`` and ragged ones ``(n, m)`` with a mask
    (chosen items must be valid; scores NaN exactly where the mask excludes).
    """
    for string_ids in (False, True):
        problem = context.problem(string_ids=string_ids, seed=4)
        policy = context.new(4)
        _train(context, [policy], _training(problem))
        kind = "string" if string_ids else "integer"
        for k in (1, 2, 3):
            for name, request in (
                ("5 requests", problem.shared(5)),
                ("one request", problem.shared(1)),
                ("6 ragged masked requests", problem.ragged(6)),
                ("4 per-request candidate rows", problem.ragged(4, min_valid=6)),
            ):
                what = f"deciding k={k} for {name} with {kind} ids"
                _check_slate(context, context.decide(policy, request, k, what), request, k, what)


# =====================================================================================
# 4. Inputs not mutated
# =====================================================================================
def _check_unchanged(context: _Context, before: Mapping[str, Any], after: Mapping[str, Any], what: str) -> None:
    for key, value in before.items():
        if not isinstance(value, np.ndarray):
            continue
        now = after[key]
        same = now.shape == value.shape and now.dtype == value.dtype and _same(now, value, exact=True)
        if not same and value.dtype.kind == "f":
            same = now.shape == value.shape and bool(np.array_equal(now, value, equal_nan=True))
        if not same:
            context.fail(f"{what} modified its {key!r} argument in place; a policy must never change its inputs.")


@_check
def check_inputs_not_mutated(context: _Context) -> None:
    """decide and update leave every array they are given unchanged (candidates, contexts, mask, features, feedback)."""
    problem = context.problem(seed=5)
    policy = context.new(5)
    for name, batch in (("update", problem.feedback(40, full=True)), ("a second update", problem.feedback(3))):
        logged, keep = copy_feedback(batch), copy_feedback(batch)
        context.step = f"calling {name} with {events(batch)} events"
        policy.update(logged)
        _check_unchanged(context, fields_of(keep), fields_of(logged), name)
    for k, name, request in (
        (1, "deciding for 5 requests", problem.shared(5, full=True)),
        (2, "deciding for 6 ragged masked requests", problem.ragged(6, full=True)),
        (1, "deciding for one request", problem.shared(1)),
    ):
        given, unchanged = fresh(request), fresh(request)
        context.step = name
        decision = policy.decide(**given, k=k)
        _check_unchanged(context, unchanged, given, f"decide (when {name})")
        log = decision.feedback(np.ones((decision.n, k)), given.get("contexts"), given.get("item_features"))
        kept = copy_feedback(log)
        context.step = f"updating with the feedback of {name}"
        policy.update(log)
        _check_unchanged(context, fields_of(kept), fields_of(log), f"update (with the feedback of {name})")


def _scribble(array: Any) -> None:
    """Overwrite a writeable array in place (the caller reusing its buffer)."""
    if not isinstance(array, np.ndarray) or not array.flags.writeable or array.size == 0:
        return
    if array.dtype.kind == "f":
        array[...] = 0.123
    elif array.dtype.kind == "b":
        array[...] = True
    else:
        array[...] = array.flat[0]


@_check
def check_no_shared_arrays(context: _Context) -> None:
    """The policy keeps no reference to the arrays it is given and hands out none to its learned state.

    After each ``update`` and ``decide`` the caller overwrites every array it passed in and every
    array of the returned Decision (reusing its buffers); the policy must go on exactly like a twin
    that never saw those overwrites.
    """
    problem = context.problem(seed=14)
    policy, twin = context.new(14), context.new(14)
    script: list[tuple[str, Request | Feedback, int]] = [
        ("updating with 40 events", problem.feedback(40), 0),
        ("deciding k=2 for 5 requests", problem.shared(5), 2),
        ("updating with 40 more events", problem.feedback(40), 0),
        ("deciding k=2 for 4 ragged masked requests", problem.ragged(4), 2),
        ("deciding k=1 for 5 requests", problem.shared(5), 1),
    ]
    for step, payload, k in script:
        if isinstance(payload, Feedback):
            given = copy_feedback(payload)
            context.step = step
            policy.update(given)
            for value in fields_of(given).values():
                _scribble(value)
            context.update(twin, payload, step)
            continue
        request = fresh(payload)
        context.step = step
        decision = policy.decide(**request, k=k)
        for value in [*request.values(), *(getattr(decision, name) for name in _DECISION_ARRAYS)]:
            _scribble(value)
        context.decide(twin, payload, k, step)
    for k, request in ((1, problem.shared(5)), (2, problem.shared(5)), (2, problem.ragged(4))):
        context.compare(
            context.decide(policy, request, k, "deciding after the caller overwrote its arrays"),
            context.decide(twin, request, k, "deciding with a twin whose arrays were left alone"),
            f"overwriting arrays after passing them to update/decide, or arrays of a returned Decision, changed "
            f"later decisions (k={k}): the policy keeps references to them instead of copies",
        )


_DECISION_ARRAYS = ("items", "slots", "propensities", "scores")


# =====================================================================================
# 5. State round trip
# =====================================================================================
def _npz_contents(path: str) -> dict[str, npt.NDArray[Any]]:
    with np.load(path, allow_pickle=False) as z:
        return {key: z[key] for key in z.files}


@_check
def check_state_round_trip(context: _Context) -> None:
    """A saved and reloaded policy has the same parameters and state and goes on exactly like the original.

    After updates, ``policy.save(path)`` then ``type(policy).load(path)``: same ``get_params()``, same
    item ids, the same file when saved again, the same decisions on the same requests (the file
    stores the generator state), and the same learning from one more identical update.
    """
    with tempfile.TemporaryDirectory() as tmp:
        # A policy that has learned nothing yet must round-trip too.
        problem = context.problem(seed=6)
        fresh_policy = context.new(6)
        path0 = os.path.join(tmp, "fresh.npz")
        context.step = "saving a policy that has learned nothing"
        fresh_policy.save(path0)
        context.step = "loading a policy that has learned nothing"
        loaded0 = type(fresh_policy).load(path0)
        for k in (1, 2):
            request = problem.shared(5)
            context.compare(
                context.decide(fresh_policy, request, k, "deciding with the unsaved fresh policy"),
                context.decide(loaded0, request, k, "deciding with the reloaded fresh policy"),
                f"a policy saved before any update and reloaded decides differently (k={k})",
            )
        for string_ids in (False, True):
            _round_trip(context, context.problem(string_ids=string_ids, seed=6), tmp)


def _round_trip(context: _Context, problem: Problem, tmp: str) -> None:
    kind = "string" if problem.pool.dtype.kind == "U" else "integer"
    requests = [(problem.shared(5), 1), (problem.shared(5), 2), (problem.ragged(4), 2)]
    original = context.new(6)
    _train(context, [original], _training(problem))
    context.decide(original, problem.shared(3), 2, "deciding before saving")
    path = os.path.join(tmp, f"policy-{kind}.npz")
    context.step = f"saving a policy trained on {kind} ids"
    original.save(path)
    context.step = f"loading {path} with {type(original).__name__}.load"
    loaded = type(original).load(path)
    context.expect(
        type(loaded) is type(original),
        f"{type(original).__name__}.load returned a {type(loaded).__name__}.",
    )
    context.expect(
        loaded.get_params() == original.get_params(),
        f"get_params() changed in the round trip: {original.get_params()} became {loaded.get_params()}.",
    )
    context.expect(
        _same(np.asarray(loaded.item_ids), np.asarray(original.item_ids), exact=True),
        f"item_ids ({kind}) changed in the round trip: {original.item_ids.tolist()} became {loaded.item_ids.tolist()}.",
    )
    again = os.path.join(tmp, f"again-{kind}.npz")
    context.step = "saving the reloaded policy again"
    loaded.save(again)
    first, second = _npz_contents(path), _npz_contents(again)
    context.expect(
        sorted(first) == sorted(second) and all(_same(first[key], second[key], exact=True) for key in first),
        "saving the reloaded policy gives a different file: load does not restore everything save writes.",
    )
    for round_ in ("after loading", "after one more identical update"):
        if round_ != "after loading":
            extra = problem.feedback(20)
            context.update(original, extra, "updating the original once more")
            context.update(loaded, extra, "updating the reloaded policy once more")
        for request, k in requests:
            context.compare(
                context.decide(original, request, k, f"deciding with the original {round_}"),
                context.decide(loaded, request, k, f"deciding with the reloaded policy {round_}"),
                f"the reloaded policy ({kind} ids) decides differently from the original {round_} (k={k}); "
                "save/load loses part of the learned state or of the generator state",
            )


# =====================================================================================
# 6. New and vanished items
# =====================================================================================
@_check
def check_new_and_vanished_items(context: _Context) -> None:
    """Never-seen ids work (cold start); an item that is no longer a candidate, or is masked out, is never chosen.

    The policy is trained so that one item is the best; that item then leaves the candidates (and
    in ragged requests is masked out) and must never be chosen.
    """
    for string_ids in (False, True):
        _new_and_vanished(context, context.problem(string_ids=string_ids, seed=7))


def _new_and_vanished(context: _Context, problem: Problem) -> None:
    kind = "string" if problem.pool.dtype.kind == "U" else "integer"
    policy = context.new(7)
    catalogue, unseen = problem.catalogue(), problem.unseen()
    favourite = catalogue[0]
    _train(context, [policy], [problem.feedback(60, favourite=favourite) for _ in range(3)])
    for k in (1, 2):
        context.decide(policy, problem.shared(3, unseen), k, f"deciding k={k} over never-seen {kind} ids only")
        mixed = np.concatenate([catalogue[3:], unseen])
        context.decide(policy, problem.shared(3, mixed), k, f"deciding k={k} over known and never-seen {kind} ids")
        context.decide(
            policy,
            problem.ragged(5, problem.pool, min_valid=3),
            k,
            f"deciding k={k} for ragged requests over known and never-seen {kind} ids",
        )
    context.update(policy, problem.feedback(20, unseen), f"updating with feedback on never-seen {kind} ids")

    n = 300
    request = problem.shared(n, catalogue[1:])
    for k in (1, 2):
        decision = context.decide(policy, request, k, f"deciding k={k} without the vanished item")
        context.expect(
            not bool((np.asarray(decision.items) == favourite).any()),
            f"item {_show(favourite)} was chosen (k={k}) after it stopped being a candidate.",
        )

    ragged = problem.ragged(n, min_valid=3)
    mask = ragged["mask"] & (ragged["candidates"] != favourite)
    ragged["mask"] = mask
    for k in (1, 2):
        what = f"deciding k={k} for {n} ragged requests ({kind} ids) with the favourite item masked out"
        decision = context.decide(policy, ragged, k, what)
        context.expect(
            bool(np.take_along_axis(mask, np.asarray(decision.slots), axis=1).all()),
            f"{what}: a masked-out candidate was chosen.",
        )
        context.expect(
            not bool((np.asarray(decision.items) == favourite).any()),
            f"{what}: the masked-out item {_show(favourite)} was chosen.",
        )


# =====================================================================================
# 7. Bad inputs
# =====================================================================================
def _expect_input_error(context: _Context, what: str, call: Callable[[], object]) -> None:
    context.step = what
    try:
        call()
    except InputError as exc:
        context.expect(bool(str(exc).strip()), f"{what} raised InputError without a message.")
        return
    except Exception as exc:
        context.fail(f"{what} raised {type(exc).__name__} ({exc}) instead of abrec.errors.InputError.")
    context.fail(f"{what} was accepted silently; it must raise abrec.errors.InputError.")


def _with(request: Request, **changes: Any) -> Request:
    out = fresh(request)
    out.update(changes)
    return out


@_check
def check_decide_rejects_bad_inputs(context: _Context) -> None:
    """decide raises InputError (a ValueError) with a message for malformed requests, and stays as it was.

    Cases: empty candidates, 3-D contexts, k = 0, k above the number of (valid) candidates, duplicate
    ids; for contextual policies NaN contexts, missing contexts and contexts of another dimension;
    for policies reading item features, missing or misshaped features.
    """
    problem = context.problem(seed=8)
    policy, twin = context.new(8), context.new(8)
    _train(context, [policy, twin], _training(problem))
    good = problem.shared(2)
    cand = problem.catalogue()
    features = context.cls.uses_item_features

    def with_candidates(ids: npt.NDArray[Any]) -> Request:
        # Item features (for policies that read them) follow the candidates, so only the ids are wrong.
        return _with(good, candidates=ids, **({"item_features": problem.features(ids)} if features else {}))

    cases: list[tuple[str, Request, int]] = [
        ("empty candidates (shape (0,))", with_candidates(cand[:0]), 1),
        ("3-D contexts", _with(good, contexts=np.zeros((2, 1, CONTEXT_DIM))), 1),
        ("k=0", good, 0),
        (f"k={cand.shape[0] + 1}, more than the {cand.shape[0]} candidates", good, cand.shape[0] + 1),
        ("duplicate ids in the candidates", with_candidates(cand[[0, 1, 0]]), 1),
    ]
    ragged = problem.ragged(2, min_valid=3)
    ragged["mask"][0] = np.arange(cand.shape[0]) < 2
    cases.append(("k=3 with a request that has only 2 valid candidates", ragged, 3))
    duplicated = problem.ragged(2, min_valid=6)
    duplicated["candidates"][1, 1] = duplicated["candidates"][1, 0]
    if features:
        duplicated["item_features"] = problem.features(duplicated["candidates"])
    cases.append(("duplicate ids in one row of 2-D candidates", duplicated, 1))
    if context.cls.contextual:
        nan = problem.contexts(2)
        nan[1, 2] = np.nan
        cases += [
            ("NaN in contexts", _with(good, contexts=nan), 1),
            ("no contexts", {key: value for key, value in good.items() if key != "contexts"}, 1),
            (
                f"contexts of dimension {CONTEXT_DIM + 1} after training on {CONTEXT_DIM}",
                _with(good, contexts=np.ones((2, CONTEXT_DIM + 1))),
                1,
            ),
        ]
    if features:
        cases += [
            ("no item_features", {key: value for key, value in good.items() if key != "item_features"}, 1),
            (
                "item_features with one row too many",
                _with(good, item_features=np.ones((cand.shape[0] + 1, FEATURE_DIM))),
                1,
            ),
            (
                f"item_features of dimension {FEATURE_DIM + 1}",
                _with(good, item_features=np.ones((cand.shape[0], FEATURE_DIM + 1))),
                1,
            ),
        ]
    for name, request, k in cases:
        _expect_input_error(context, f"deciding with {name}", functools.partial(policy.decide, **fresh(request), k=k))
    check = problem.shared(4)
    for k in (1, 2):
        context.compare(
            context.decide(policy, check, k, "deciding after the rejected requests"),
            context.decide(twin, check, k, "deciding with a twin that saw no bad request"),
            f"rejected requests changed the policy (k={k} decisions differ from a twin's)",
        )


@_check
def check_update_rejects_bad_feedback(context: _Context) -> None:
    """update raises InputError with a message for malformed feedback, and leaves the policy as it was.

    Cases: NaN and infinite rewards, items and rewards of different lengths; for contextual policies
    NaN, missing and misshaped contexts; for policies reading item features, missing or misshaped features.
    """
    problem = context.problem(seed=9)
    policy, twin = context.new(9), context.new(9)
    _train(context, [policy, twin], _training(problem))
    good = problem.feedback(10)

    def changed(**fields: Any) -> Feedback:
        out = copy_feedback(good)
        return Feedback(**{**fields_of(out), **fields})

    nan_rewards, inf_rewards = good.rewards.copy(), good.rewards.copy()
    nan_rewards[3], inf_rewards[4] = np.nan, np.inf
    cases = [
        ("NaN rewards", changed(rewards=nan_rewards)),
        ("infinite rewards", changed(rewards=inf_rewards)),
        ("9 rewards for 10 items", changed(rewards=good.rewards[:9].copy())),
    ]
    if context.cls.contextual:
        assert good.contexts is not None
        nan_contexts = good.contexts.copy()
        nan_contexts[2, 1] = np.nan
        cases += [
            ("NaN contexts", changed(contexts=nan_contexts)),
            ("no contexts", changed(contexts=None)),
            ("9 context rows for 10 events", changed(contexts=good.contexts[:9].copy())),
        ]
    if context.cls.uses_item_features:
        assert good.item_features is not None
        cases += [
            ("no item_features", changed(item_features=None)),
            ("9 item_features rows for 10 events", changed(item_features=good.item_features[:9].copy())),
        ]
    for name, feedback in cases:
        _expect_input_error(context, f"updating with {name}", functools.partial(policy.update, feedback))
    check = problem.shared(4)
    for k in (1, 2):
        context.compare(
            context.decide(policy, check, k, "deciding after the rejected feedback"),
            context.decide(twin, check, k, "deciding with a twin that saw no bad feedback"),
            f"rejected feedback changed the policy (k={k} decisions differ from a twin's)",
        )


# =====================================================================================
# 8. Bad hyperparameters
# =====================================================================================
def _bad_values(constraint: Constraint) -> list[object]:
    """Values that ``constraint`` must reject."""
    bad: list[object] = ["not-a-number"]
    if not constraint.optional:
        bad.append(None)
    if constraint.kind == "bool":
        return [*bad, 1]
    bad.append(math.nan)
    low, high = constraint.low, constraint.high
    if constraint.kind == "int":
        bad.append(1.5 if low <= 1.5 <= high else low + 0.5)
        if low > -math.inf:
            bad.append(int(low) - 1)
        if high < math.inf:
            bad.append(int(high) + 1)
        return bad
    if low > -math.inf:
        bad.append(low - 1.0 if low - 1.0 < low else -math.inf)
        if constraint.low_open:
            bad.append(low)
    if high < math.inf:
        bad.append(high + 1.0 if high + 1.0 > high else math.inf)
        if constraint.high_open:
            bad.append(high)
    return bad


@_check
def check_bad_hyperparameters(context: _Context) -> None:
    """Each entry of ``_parameter_constraints`` is enforced by the constructor with a ParameterError.

    For every declared parameter, out-of-range values, NaN, a string and None (unless optional) must
    raise :class:`abrec.errors.ParameterError` whose message names the parameter and says what it got.
    """
    cls = context.cls
    constraints: Mapping[str, Constraint] = getattr(cls, "_parameter_constraints", {})
    context.step = f"building {cls.__name__}(seed=0) with default hyperparameters"
    params = cls(seed=0).get_params()
    missing = sorted(set(constraints) - set(params))
    context.expect(not missing, f"get_params() lacks the declared parameters {missing}.")
    for name, constraint in constraints.items():
        for value in _bad_values(constraint):
            what = f"{cls.__name__}({name}={value!r})"
            context.step = f"building {what}"
            try:
                cls(**{name: value}, seed=0)
            except ParameterError as exc:
                message = str(exc)
                context.expect(
                    name in message and "Got" in message,
                    f"{what} raised ParameterError({message!r}); the message must name {name!r} and say "
                    "what it got ('... Got <value> instead.').",
                )
                continue
            except Exception as exc:
                context.fail(f"{what} raised {type(exc).__name__} ({exc}) instead of abrec.errors.ParameterError.")
            context.fail(f"{what} was accepted; {name!r} must be {constraint.describe()} (ParameterError).")


# =====================================================================================
# 9. Decision metadata
# =====================================================================================
@_check
def check_decision_metadata(context: _Context) -> None:
    """Decisions carry ``policy == cls.name``, ``version == cls.version`` and an int ``propensity_draws >= 0``."""
    cls = context.cls
    problem = context.problem(seed=10)
    policy = context.new(10)
    requests = [("5 requests", problem.shared(5), 1), ("one request", problem.shared(1), 2)]
    requests.append(("4 ragged masked requests", problem.ragged(4), 2))
    for round_ in ("before any update", "after updates"):
        if round_ == "after updates":
            _train(context, [policy], _training(problem))
        for name, request, k in requests:
            decision = context.decide(policy, request, k, f"deciding k={k} for {name} {round_}")
            context.expect(
                decision.policy == cls.name and decision.version == cls.version,
                f"a decision {round_} says policy={decision.policy!r}, version={decision.version!r}; expected "
                f"policy={cls.name!r} (the class's registry name) and version={cls.version!r}.",
            )
            draws = decision.propensity_draws
            context.expect(
                isinstance(draws, int | np.integer) and not isinstance(draws, bool) and draws >= 0,
                f"Decision.propensity_draws must be an int >= 0 (0 for exact propensities). Got {draws!r}.",
            )


# =====================================================================================
# 10. Empty updates and single requests
# =====================================================================================
@_check
def check_empty_update_is_noop(context: _Context) -> None:
    """``update`` with a Feedback of zero events changes nothing, on a fresh and on a trained policy."""
    problem = context.problem(seed=11)
    for round_ in ("a fresh policy", "a trained policy"):
        policy, twin = context.new(12), context.new(12)
        if round_ == "a trained policy":
            _train(context, [policy, twin], _training(problem))
        context.update(policy, problem.empty_feedback(), f"updating {round_} with empty feedback")
        for name, request, k in (
            ("5 requests", problem.shared(5), 1),
            ("5 requests", problem.shared(5), 2),
            ("4 ragged requests", problem.ragged(4), 2),
        ):
            context.compare(
                context.decide(policy, request, k, f"deciding k={k} for {name} after an empty update"),
                context.decide(twin, request, k, f"deciding k={k} for {name} with a twin"),
                f"an empty update changed {round_} (k={k} decisions for {name} differ from a twin's)",
            )


@_check
def check_single_request(context: _Context) -> None:
    """One request at a time works: ``contexts`` of shape ``(d,)`` means n=1, in decide and in feedback.

    A policy given ``x`` of shape ``(d,)`` decides and learns exactly as a twin given ``x[None]``.
    """
    problem = context.problem(seed=12)
    policy, twin = context.new(13), context.new(13)
    _train(context, [policy, twin], _training(problem))
    cand = problem.catalogue()
    for t in range(8):
        k = 1 + t % 2
        x = problem.contexts(1)[0]
        one: Request = {"candidates": cand}
        batch: Request = {"candidates": cand}
        if context.cls.contextual:
            one["contexts"], batch["contexts"] = x, x[None, :]
        if context.cls.uses_item_features:
            one["item_features"] = batch["item_features"] = problem.features(cand)
        shape = f"({CONTEXT_DIM},)" if context.cls.contextual else "None"
        a = context.decide(policy, one, k, f"deciding k={k} for one request with contexts of shape {shape}")
        b = context.decide(twin, batch, k, f"deciding k={k} for one request given as a batch of one")
        context.expect(
            np.asarray(a.items).shape == (1, k) and np.asarray(a.propensities).shape == (1, k),
            f"one request with contexts of shape {shape} gave items of shape {np.asarray(a.items).shape}, "
            f"expected (1, {k}).",
        )
        context.compare(a, b, f"one request with contexts of shape {shape} is decided differently from a batch of one")
        # Decision.feedback keeps contexts of shape (d,) as they are for k == 1: update must accept them.
        x_log = x if k == 1 else x[None, :]
        feats = one.get("item_features")
        log_a = a.feedback(np.ones((1, k)), x_log if context.cls.contextual else None, feats)
        log_b = b.feedback(np.ones((1, k)), x[None, :] if context.cls.contextual else None, feats)
        context.update(policy, log_a, f"learning from one event with contexts of shape {shape if k == 1 else '(1, d)'}")
        context.update(twin, log_b, "learning from the same event given as a batch of one")


# =====================================================================================
# Running the checks
# =====================================================================================
_CHECKS: tuple[Callable[[PolicyFactory], None], ...] = (
    check_same_seed_same_decisions,
    check_propensities,
    check_slates_are_valid,
    check_inputs_not_mutated,
    check_no_shared_arrays,
    check_state_round_trip,
    check_new_and_vanished_items,
    check_decide_rejects_bad_inputs,
    check_update_rejects_bad_feedback,
    check_bad_hyperparameters,
    check_decision_metadata,
    check_empty_update_is_noop,
    check_single_request,
)


def _check_name(check: Callable[[PolicyFactory], None]) -> str:
    return str(getattr(check, "__name__", repr(check)))


def _describe(policy: PolicyFactory) -> tuple[str, str]:
    """The registry name of the policies that ``policy`` (a class or a factory) builds, and their label."""
    built: Policy = policy(seed=0)
    return built.name, f"{type(built).__name__} ({built.name!r})"


def _expected(expected_failures: ExpectedFailures | None, where: str) -> dict[tuple[str, str], str]:
    """Validate ``expected_failures``: known check names, a written reason for each."""
    known = [_check_name(check) for check in _CHECKS]
    out: dict[tuple[str, str], str] = {}
    for key, reason in (expected_failures or {}).items():
        if not (isinstance(key, tuple) and len(key) == 2 and all(isinstance(part, str) for part in key)):
            raise ParameterError(
                f"The 'expected_failures' parameter of {where} must map (policy_name, check_name) pairs to "
                f"reasons. Got the key {key!r} instead."
            )
        if key[1] not in known:
            raise UnknownNameError("policy check", key[1], known)
        if not isinstance(reason, str) or not reason.strip():
            raise ParameterError(
                f"The 'expected_failures' parameter of {where} must give a written reason for each expected "
                f"failure. Got {reason!r} for {key!r} instead."
            )
        out[key] = reason
    return out


def _expecting_failure(check: Callable[[], None], label: str, name: str, reason: str) -> Callable[[], None]:
    """Wrap a check that is expected to fail: it passes when the check fails, and fails when it passes."""

    def run() -> None:
        try:
            check()
        except AssertionError:
            return
        raise AssertionError(
            f"{label} passed {name}, which is listed as an expected failure ({reason}); "
            "remove it from expected_failures."
        )

    return run


def policy_checks(
    policy: PolicyFactory, *, expected_failures: ExpectedFailures | None = None
) -> Iterator[tuple[str, Callable[[], None]]]:
    """The conformance checks of ``policy`` as ``(check_name, check)`` pairs; ``check()`` runs one.

    Parameters
    ----------
    policy : a policy class, or a factory called as ``policy(seed=int)``.
    expected_failures : ``{(policy_name, check_name): reason}``; a listed check passes when it fails
        (with an AssertionError) and fails when it passes (strict, like pytest's ``xfail(strict=True)``).
        Entries for other policies are ignored.

    Returns
    -------
    Iterator[tuple[str, Callable[[], None]]]
        One pair per check, in a fixed order.

    Examples
    --------
    >>> from abrec.policies import UniformRandom
    >>> [name for name, _ in policy_checks(UniformRandom)][:2]
    ['check_same_seed_same_decisions', 'check_propensities']
    """
    expected = _expected(expected_failures, "policy_checks")
    name, label = _describe(policy)
    pairs: list[tuple[str, Callable[[], None]]] = []
    for check in _CHECKS:
        check_name = _check_name(check)
        bound: Callable[[], None] = functools.partial(check, policy)
        reason = expected.get((name, check_name))
        if reason is not None:
            bound = _expecting_failure(bound, label, check_name, reason)
        pairs.append((check_name, bound))
    return iter(pairs)


def check_policy(policy: PolicyFactory, *, expected_failures: ExpectedFailures | None = None) -> None:
    """Run every conformance check on ``policy``; raise one AssertionError listing all failures.

    Parameters
    ----------
    policy : a policy class, or a factory called as ``policy(seed=int)``.
    expected_failures : ``{(policy_name, check_name): reason}`` for known failures (see :func:`policy_checks`).

    Raises
    ------
    AssertionError
        When a check fails (or an expected failure passes); the message holds every failure.

    Examples
    --------
    >>> from abrec.policies import UniformRandom
    >>> check_policy(UniformRandom)
    """
    failures: list[str] = []
    pairs = list(policy_checks(policy, expected_failures=expected_failures))
    for _, check in pairs:
        try:
            check()
        except AssertionError as exc:
            failures.append(str(exc))
    if failures:
        raise AssertionError(
            f"{len(failures)} of {len(pairs)} policy checks failed:\n" + "\n".join(f"- {f}" for f in failures)
        )


def parametrize_with_checks(
    policies: Iterable[PolicyFactory], *, expected_failures: ExpectedFailures | None = None
) -> pytest.MarkDecorator:
    """A ``pytest.mark.parametrize`` over every (policy, check) pair, with ids ``"<name>-<check>"``.

    The test receives ``policy`` and ``check`` and calls ``check(policy)``. Expected failures are
    marked ``xfail(strict=True)`` with their reason.

    Parameters
    ----------
    policies : policy classes (or factories called as ``factory(seed=int)``).
    expected_failures : ``{(policy_name, check_name): reason}``; every policy name must be one of ``policies``.

    Returns
    -------
    pytest.MarkDecorator
        The decorator to put on the test function.

    Examples
    --------
    >>> from abrec.policies import registered_policies
    >>> @parametrize_with_checks(registered_policies().values())
    ... def test_policy(policy, check):
    ...     check(policy)
    """
    import pytest

    expected = _expected(expected_failures, "parametrize_with_checks")
    policies = list(policies)
    names = [_describe(policy)[0] for policy in policies]
    for policy_name, _ in expected:
        if policy_name not in names:
            raise UnknownNameError("policy", policy_name, names)
    params = []
    for policy, name in zip(policies, names, strict=True):
        for check in _CHECKS:
            check_name = _check_name(check)
            reason = expected.get((name, check_name))
            marks = [pytest.mark.xfail(reason=reason, strict=True, raises=AssertionError)] if reason else []
            params.append(pytest.param(policy, check, id=f"{name}-{check_name}", marks=marks))
    return pytest.mark.parametrize(("policy", "check"), params)
