"""Checks of how a policy treats what it is given: never changed or kept, and bad values rejected (private)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from .._params import Constraint
from ..errors import InputError, ParameterError
from ..policies.base import Policy
from ..policies.records import Feedback
from ._fixtures import CONTEXT_DIM, FEATURE_DIM, Problem, Request, copy_feedback, events, fields_of, fresh
from ._harness import DECISION_ARRAYS, Context, as_check, same, trained_twins

__all__ = [
    "check_bad_hyperparameters",
    "check_decide_rejects_bad_inputs",
    "check_inputs_not_mutated",
    "check_no_shared_arrays",
    "check_update_rejects_bad_feedback",
]


# ------------------------------------------------------------------ inputs not mutated
def _check_unchanged(context: Context, before: Mapping[str, Any], after: Mapping[str, Any], what: str) -> None:
    for key, value in before.items():
        if not isinstance(value, np.ndarray):
            continue
        now = after[key]
        unchanged = now.shape == value.shape and now.dtype == value.dtype and same(now, value, exact=True)
        if not unchanged and value.dtype.kind == "f":
            unchanged = now.shape == value.shape and bool(np.array_equal(now, value, equal_nan=True))
        if not unchanged:
            context.fail(f"{what} modified its {key!r} argument in place; a policy must never change its inputs.")


@as_check
def check_inputs_not_mutated(context: Context) -> None:
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


# ------------------------------------------------------------------ no shared arrays
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


@as_check
def check_no_shared_arrays(context: Context) -> None:
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
        for value in [*request.values(), *(getattr(decision, name) for name in DECISION_ARRAYS)]:
            _scribble(value)
        context.decide(twin, payload, k, step)
    for k, request in ((1, problem.shared(5)), (2, problem.shared(5)), (2, problem.ragged(4))):
        context.compare(
            context.decide(policy, request, k, "deciding after the caller overwrote its arrays"),
            context.decide(twin, request, k, "deciding with a twin whose arrays were left alone"),
            f"overwriting arrays after passing them to update/decide, or arrays of a returned Decision, changed "
            f"later decisions (k={k}): the policy keeps references to them instead of copies",
        )


# ------------------------------------------------------------------ bad requests and feedback
def _expect_input_error(context: Context, what: str, call: Callable[[], object]) -> None:
    context.step = what
    try:
        call()
    except InputError as exc:
        context.expect(bool(str(exc).strip()), f"{what} raised InputError without a message.")
        return
    except Exception as exc:
        context.fail(f"{what} raised {type(exc).__name__} ({exc}) instead of abrec.errors.InputError.")
    context.fail(f"{what} was accepted silently; it must raise abrec.errors.InputError.")


def _expect_unchanged_by_rejections(
    context: Context, policy: Policy, twin: Policy, problem: Problem, rejected: str, bad: str
) -> None:
    """Fail unless ``policy``, after its rejected calls, decides like ``twin`` that saw none of them."""
    check = problem.shared(4)
    for k in (1, 2):
        context.compare(
            context.decide(policy, check, k, f"deciding after the rejected {rejected}"),
            context.decide(twin, check, k, f"deciding with a twin that saw no bad {bad}"),
            f"rejected {rejected} changed the policy (k={k} decisions differ from a twin's)",
        )


def _with(request: Request, **changes: Any) -> Request:
    out = fresh(request)
    out.update(changes)
    return out


@as_check
def check_decide_rejects_bad_inputs(context: Context) -> None:
    """decide raises InputError (a ValueError) with a message for malformed requests, and stays as it was.

    Cases: empty candidates, 3-D contexts, k = 0, k above the number of (valid) candidates, duplicate
    ids; for contextual policies NaN contexts, missing contexts and contexts of another dimension;
    for policies reading item features, missing or misshaped features.
    """
    problem = context.problem(seed=8)
    policy, twin = trained_twins(context, problem, 8)
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
    _expect_unchanged_by_rejections(context, policy, twin, problem, "requests", "request")


@as_check
def check_update_rejects_bad_feedback(context: Context) -> None:
    """update raises InputError with a message for malformed feedback, and leaves the policy as it was.

    Cases: NaN and infinite rewards, items and rewards of different lengths; for contextual policies
    NaN, missing and misshaped contexts; for policies reading item features, missing or misshaped features.
    """
    problem = context.problem(seed=9)
    policy, twin = trained_twins(context, problem, 9)
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
    _expect_unchanged_by_rejections(context, policy, twin, problem, "feedback", "feedback")


# ------------------------------------------------------------------ bad hyperparameters
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


@as_check
def check_bad_hyperparameters(context: Context) -> None:
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
