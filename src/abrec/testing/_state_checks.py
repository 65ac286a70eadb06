"""Checks of a policy's learned state: saved and reloaded, cloned, new and vanished items, empty updates (private).

The round trip through :meth:`Policy.save` and ``type(policy).load`` needs the policy's ``name`` to
be registered (:func:`abrec.policies.register`): the file names the class by its registry name.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import ParameterError
from ._fixtures import Problem
from ._harness import Context, as_check, same, show, train, training

__all__ = [
    "check_clone",
    "check_empty_update_is_noop",
    "check_new_and_vanished_items",
    "check_state_round_trip",
]


def _id_kind(problem: Problem) -> str:
    return "string" if problem.pool.dtype.kind == "U" else "integer"


# ------------------------------------------------------------------ save and load
def _npz_contents(path: str) -> dict[str, npt.NDArray[Any]]:
    with np.load(path, allow_pickle=False) as z:
        return {key: z[key] for key in z.files}


@as_check
def check_state_round_trip(context: Context) -> None:
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


def _round_trip(context: Context, problem: Problem, tmp: str) -> None:
    kind = _id_kind(problem)
    requests = [(problem.shared(5), 1), (problem.shared(5), 2), (problem.ragged(4), 2)]
    original = context.new(6)
    train(context, [original], training(problem))
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
        same(np.asarray(loaded.item_ids), np.asarray(original.item_ids), exact=True),
        f"item_ids ({kind}) changed in the round trip: {original.item_ids.tolist()} became {loaded.item_ids.tolist()}.",
    )
    again = os.path.join(tmp, f"again-{kind}.npz")
    context.step = "saving the reloaded policy again"
    loaded.save(again)
    first, second = _npz_contents(path), _npz_contents(again)
    context.expect(
        sorted(first) == sorted(second) and all(same(first[key], second[key], exact=True) for key in first),
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


# ------------------------------------------------------------------ clones
@as_check
def check_clone(context: Context) -> None:
    """``clone()`` is a fresh policy with the same parameters; ``clone(keep_state=True)`` carries the learned state.

    After updates (seed 14):

    * ``clone()`` has the same class and ``get_params()``, knows no item, and decides like a new policy
      built with the same seed;
    * ``clone(keep_state=True, seed=21)`` knows the same items and decides like a policy built with seed 21
      and given the same feedback; ``clone(keep_state=True)`` keeps the seed (14) but not the original's
      generator: it decides like a policy built with seed 14 and given the same feedback;
    * the original is never touched: after the clones decide and learn more, it decides exactly like an
      untouched twin (no shared array, item index or generator);
    * an unknown hyperparameter name raises ParameterError.
    """
    problem = context.problem(seed=13)
    batches = training(problem)
    policy, twin = context.new(14), context.new(14)
    train(context, [policy, twin], batches)
    requests = [(problem.shared(5), 1), (problem.shared(5), 2), (problem.ragged(4), 2)]

    context.step = "cloning the trained policy with clone()"
    blank = policy.clone()
    context.expect(type(blank) is type(policy), f"clone() returned a {type(blank).__name__}.")
    context.expect(
        blank.get_params() == policy.get_params(),
        f"clone() changed the hyperparameters: {policy.get_params()} became {blank.get_params()}.",
    )
    context.expect(
        blank.n_items == 0,
        f"clone() is not a fresh policy: it knows the items {blank.item_ids.tolist()} (use keep_state=True for that).",
    )
    new = context.new(14)
    for request, k in requests:
        context.compare(
            context.decide(blank, request, k, f"deciding k={k} with clone()"),
            context.decide(new, request, k, f"deciding k={k} with a new policy of the same seed"),
            f"clone() decides differently from a new policy built with the same seed (k={k})",
        )

    for seed in (21, None):
        label = "clone(keep_state=True)" if seed is None else f"clone(keep_state=True, seed={seed})"
        context.step = f"cloning the trained policy with {label}"
        kept = policy.clone(keep_state=True) if seed is None else policy.clone(keep_state=True, seed=seed)
        context.expect(
            same(np.asarray(kept.item_ids), np.asarray(policy.item_ids), exact=True),
            f"{label} knows the items {kept.item_ids.tolist()}, the original {policy.item_ids.tolist()}.",
        )
        reference = context.new(14 if seed is None else seed)
        train(context, [reference], batches)
        for request, k in requests:
            context.compare(
                context.decide(kept, request, k, f"deciding k={k} with {label}"),
                context.decide(reference, request, k, f"deciding k={k} with a policy of that seed, trained alike"),
                f"{label} decides differently from a policy built with seed {14 if seed is None else seed} and given "
                f"the same feedback (k={k}): the clone lost part of the learned state, or its generator does not "
                "come from the seed",
            )
        context.update(kept, problem.feedback(20), f"updating {label} with more feedback")
    context.expect(
        policy.get_params() == twin.get_params(),
        f"cloning changed the original's get_params(): {twin.get_params()} became {policy.get_params()}.",
    )
    for request, k in requests:
        context.compare(
            context.decide(
                policy, request, k, f"deciding k={k} with the original after its clones decided and learned"
            ),
            context.decide(twin, request, k, f"deciding k={k} with an untouched twin"),
            f"cloning changed the original (k={k} decisions differ from an untouched twin's): a clone shares "
            "learned arrays, the item index or the generator with it",
        )
    context.step = "cloning with an unknown hyperparameter name"
    try:
        policy.clone(no_such_parameter=1)
    except ParameterError:
        pass
    else:
        context.fail("clone(no_such_parameter=1) was accepted; an unknown hyperparameter must raise ParameterError.")


# ------------------------------------------------------------------ new and vanished items
@as_check
def check_new_and_vanished_items(context: Context) -> None:
    """Never-seen ids work (cold start); an item that is no longer a candidate, or is masked out, is never chosen.

    The policy is trained so that one item is the best; that item then leaves the candidates (and
    in ragged requests is masked out) and must never be chosen.
    """
    for string_ids in (False, True):
        _new_and_vanished(context, context.problem(string_ids=string_ids, seed=7))


def _new_and_vanished(context: Context, problem: Problem) -> None:
    kind = _id_kind(problem)
    policy = context.new(7)
    catalogue, unseen = problem.catalogue(), problem.unseen()
    favourite = catalogue[0]
    train(context, [policy], [problem.feedback(60, favourite=favourite) for _ in range(3)])
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
            f"item {show(favourite)} was chosen (k={k}) after it stopped being a candidate.",
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
            f"{what}: the masked-out item {show(favourite)} was chosen.",
        )


# ------------------------------------------------------------------ empty updates
@as_check
def check_empty_update_is_noop(context: Context) -> None:
    """``update`` with a Feedback of zero events changes nothing, on a fresh and on a trained policy."""
    problem = context.problem(seed=11)
    for round_ in ("a fresh policy", "a trained policy"):
        policy, twin = context.new(12), context.new(12)
        if round_ == "a trained policy":
            train(context, [policy, twin], training(problem))
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
