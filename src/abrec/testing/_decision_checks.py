"""Checks of what ``decide`` returns: reproducible, valid slates, metadata, one request at a time (private)."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from ..policies.records import Decision, Feedback
from ._fixtures import CONTEXT_DIM, Request
from ._harness import Context, as_check, difference, show, train, trained_twins, training

__all__ = [
    "check_decision_metadata",
    "check_same_seed_same_decisions",
    "check_single_request",
    "check_slates_are_valid",
]


# ------------------------------------------------------------------ same seed, same decisions
def _global_random_state() -> tuple[Any, ...]:
    return (np.random.get_state(), random.getstate())  # noqa: NPY002 - the state a policy must not touch


def _same_global_state(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    (np_a, py_a), (np_b, py_b) = a, b
    numpy_same = all(
        np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y for x, y in zip(np_a, np_b, strict=True)
    )
    return numpy_same and py_a == py_b


@as_check
def check_same_seed_same_decisions(context: Context) -> None:
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
            differs = difference(da, db)
            if differs is not None:
                hint = ""
                if not _same_global_state(before, _global_random_state()):
                    hint = " The policy also changed numpy's or Python's global random state: draw only from self._rng."
                context.fail(f"two policies built with {seed_text} decided differently when {step}: {differs}.{hint}")
    context.expect(
        _same_global_state(before, _global_random_state()),
        "deciding and updating changed numpy's or Python's global random state; a policy must draw only "
        "from its own generator (self._rng).",
    )


# ------------------------------------------------------------------ valid slates
def _check_slate(context: Context, decision: Decision, request: Request, k: int, what: str) -> None:
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
                    f"{what}: request {i} got item {show(item)} at position {j}, which is not one of its candidates."
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


@as_check
def check_slates_are_valid(context: Context) -> None:
    """Slates hold k distinct candidates of their request, consistent with their slots; scores are (n, m).

    Covers integer and string ids, shared candidates ``(m,)`` and ragged ones ``(n, m)`` with a mask
    (chosen items must be valid; scores NaN exactly where the mask excludes).
    """
    for string_ids in (False, True):
        problem = context.problem(string_ids=string_ids, seed=4)
        policy = context.new(4)
        train(context, [policy], training(problem))
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


# ------------------------------------------------------------------ metadata
@as_check
def check_decision_metadata(context: Context) -> None:
    """Decisions carry ``policy == cls.name``, ``version == cls.version`` and an int ``propensity_draws >= 0``."""
    cls = context.cls
    problem = context.problem(seed=10)
    policy = context.new(10)
    requests = [("5 requests", problem.shared(5), 1), ("one request", problem.shared(1), 2)]
    requests.append(("4 ragged masked requests", problem.ragged(4), 2))
    for round_ in ("before any update", "after updates"):
        if round_ == "after updates":
            train(context, [policy], training(problem))
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


# ------------------------------------------------------------------ one request at a time
@as_check
def check_single_request(context: Context) -> None:
    """One request at a time works: ``contexts`` of shape ``(d,)`` means n=1, in decide and in feedback.

    A policy given ``x`` of shape ``(d,)`` decides and learns exactly as a twin given ``x[None]``.
    """
    problem = context.problem(seed=12)
    policy, twin = trained_twins(context, problem, 13)
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
