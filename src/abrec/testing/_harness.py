"""The harness every policy check runs in: its context, its decorator and its comparisons (private).

Each ``check_*`` function takes a policy class (or a factory called as ``factory(seed=...)``),
builds fresh policies from fixed seeds, feeds them a small synthetic problem shaped for the class
(contexts ``(n, 4)`` when ``contextual``, item features ``(m, 3)`` when ``uses_item_features``,
six catalogue items, integer and string ids) and raises :class:`AssertionError` naming the policy,
the check and what was wrong. An unexpected exception inside a check is reported the same way,
with the step that raised it.

A check is written as ``body(context)`` on a :class:`Context` and made public with :func:`as_check`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt

from ..policies.base import Policy
from ..policies.records import Decision, Feedback
from ._fixtures import Problem, Request, copy_feedback, events, fresh

__all__ = [
    "DECISION_ARRAYS",
    "Context",
    "ExpectedFailures",
    "PolicyFactory",
    "as_check",
    "difference",
    "policy_label",
    "same",
    "show",
    "train",
    "trained_twins",
    "training",
]

#: A policy class, or any callable that builds a policy when called as ``factory(seed=int)``.
PolicyFactory = Callable[..., Policy]
#: Known failures: ``{(policy_name, check_name): "the written reason"}``.
ExpectedFailures = Mapping[tuple[str, str], str]

#: The array fields of a :class:`~abrec.policies.records.Decision`, by name.
DECISION_ARRAYS = ("items", "slots", "propensities", "scores")
#: Tolerances within which two float arrays count as the same.
_RTOL, _ATOL = 1e-9, 1e-12


def policy_label(policy: Policy) -> str:
    """How the messages name the policies like ``policy``: ``"UniformRandom ('uniform')"``."""
    return f"{type(policy).__name__} ({policy.name!r})"


class Context:
    """What one check run knows: the factory, the class it builds, and the current step."""

    def __init__(self, factory: PolicyFactory, check: str) -> None:
        self.check = check
        self.step = "building the policy with factory(seed=0)"
        self.factory = factory
        probe = factory(seed=0)
        self.cls: type[Policy] = type(probe)
        self.label = policy_label(probe)
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
            self._reproducible = all(difference(a, b) is None for a, b in zip(*decisions, strict=True))
            self.step = step
        return self._reproducible

    def compare(self, a: Decision, b: Decision, what: str) -> None:
        """Fail unless the decisions agree (only their scores for a non-reproducible policy)."""
        differs = difference(a, b, scores_only=not self.reproducible())
        if differs is not None:
            self.fail(f"{what}: {differs}")


_CHECK_DOC_TAIL = """

    Parameters
    ----------
    policy : a policy class, or a factory called as ``policy(seed=int)``.

    Raises
    ------
    AssertionError
        When the policy fails the check; the message names the policy, the check and what was wrong.
    """


def as_check(body: Callable[[Context], None]) -> Callable[[PolicyFactory], None]:
    """Turn ``body(context)`` into a public check ``check(policy_class_or_factory)``."""

    @functools.wraps(body)
    def check(policy: PolicyFactory) -> None:
        context: Context | None = None
        try:
            context = Context(policy, body.__name__)
            body(context)
        except AssertionError:
            raise
        except Exception as exc:
            name = context.label if context is not None else repr(policy)
            step = context.step if context is not None else "building the policy with factory(seed=0)"
            raise AssertionError(
                f"{name} failed {body.__name__}: {type(exc).__name__} raised while {step}: {exc}"
            ) from exc

    del check.__wrapped__  # type: ignore[attr-defined]  # show check(policy), not body(context)
    check.__doc__ = (body.__doc__ or "").rstrip() + _CHECK_DOC_TAIL
    return check


# ------------------------------------------------------------------ comparisons
def show(value: Any) -> str:
    """``repr`` of an item id without numpy's scalar wrapper (``102``, not ``np.int64(102)``)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _close(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """Where two float arrays of one shape agree within the tolerances (NaN agrees with NaN)."""
    close: npt.NDArray[np.bool_] = np.isclose(a, b, rtol=_RTOL, atol=_ATOL, equal_nan=True)
    return close


def _first_mismatch(a: npt.NDArray[Any], b: npt.NDArray[Any]) -> str:
    if a.shape != b.shape:
        return f"shapes {a.shape} and {b.shape}"
    differs = ~_close(a, b) if a.dtype.kind in "fc" and b.dtype.kind in "fc" else a != b
    where = tuple(int(i) for i in np.argwhere(differs)[0])
    return f"{show(a[where])} and {show(b[where])} at index {where}"


def same(a: npt.NDArray[Any], b: npt.NDArray[Any], *, exact: bool) -> bool:
    """Whether two arrays are equal (``exact``) or, when both are float, equal within the tolerances."""
    if a.shape != b.shape:
        return False
    if exact or a.dtype.kind not in "fc" or b.dtype.kind not in "fc":
        return bool(np.array_equal(a, b))
    return bool(_close(a, b).all())


def difference(a: Decision, b: Decision, *, scores_only: bool = False) -> str | None:
    """How two decisions differ (None when they agree)."""
    fields = ("scores",) if scores_only else DECISION_ARRAYS
    for name in fields:
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        if not same(x, y, exact=name in ("items", "slots")):
            return f"their {name} differ ({_first_mismatch(x, y)})"
    if not scores_only:
        meta_a = (a.policy, a.version, a.propensity_draws)
        meta_b = (b.policy, b.version, b.propensity_draws)
        if meta_a != meta_b:
            return f"their (policy, version, propensity_draws) differ: {meta_a} and {meta_b}"
    return None


# ------------------------------------------------------------------ training
def train(context: Context, policies: Iterable[Policy], batches: Iterable[Feedback]) -> None:
    """Give every policy the same feedback (each its own copy)."""
    policies = list(policies)
    for i, batch in enumerate(batches):
        for policy in policies:
            context.update(policy, batch, f"updating with training batch {i} ({events(batch)} events)")


def training(problem: Problem) -> list[Feedback]:
    """The usual training feedback: three batches of 40 events."""
    return [problem.feedback(40) for _ in range(3)]


def trained_twins(context: Context, problem: Problem, seed: int) -> tuple[Policy, Policy]:
    """Two policies built from ``seed`` and given the same :func:`training` on ``problem``."""
    policy, twin = context.new(seed), context.new(seed)
    train(context, [policy, twin], training(problem))
    return policy, twin


def run_all(pairs: list[tuple[str, Callable[[], None]]], what: str) -> None:
    """Run every ``(name, check)``; raise one AssertionError listing all the failures, if any."""
    failures: list[str] = []
    for _, check in pairs:
        try:
            check()
        except AssertionError as exc:
            failures.append(str(exc))
    if failures:
        raise AssertionError(
            f"{len(failures)} of {len(pairs)} {what} checks failed:\n" + "\n".join(f"- {f}" for f in failures)
        )
