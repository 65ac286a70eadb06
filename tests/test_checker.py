"""The conformance checker itself, tested on deliberately broken policies.

Each broken policy below is a real policy with one realistic bug. It must fail exactly the check
written for that bug, with a message that names the policy, the check and what was wrong, and pass
every other check (scikit-learn's ``sklearn/utils/tests/test_estimator_checks.py`` does the same).
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from abrec.errors import ParameterError, UnknownNameError
from abrec.policies import (
    Decision,
    EpsilonGreedy,
    Feedback,
    LinUCB,
    Policy,
    Softmax,
    UniformRandom,
    load_policy,
)
from abrec.policies.base import Request
from abrec.testing import check_policy, parametrize_with_checks, policy_checks

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Choice = tuple[IntArray, FloatArray, FloatArray, int]

_DECISION_FIELDS = ("items", "slots", "propensities", "scores", "policy", "version", "propensity_draws")
_FEEDBACK_FIELDS = ("items", "rewards", "contexts", "positions", "propensities", "item_features")


def _rebuild(decision: Decision, **changes: Any) -> Decision:
    return Decision(**{name: changes.get(name, getattr(decision, name)) for name in _DECISION_FIELDS})


def _rebuild_feedback(feedback: Feedback, **changes: Any) -> Feedback:
    return Feedback(**{name: changes.get(name, getattr(feedback, name)) for name in _FEEDBACK_FIELDS})


class _Unregistered:
    """The broken policies keep their parent's registry name; load the parent's file back into them."""

    @classmethod
    def load(cls, path: str) -> Any:
        loaded = load_policy(path)
        policy = cls.__new__(cls)
        policy.__dict__.update(loaded.__dict__)
        return policy


# ----------------------------------------------------------------------------- propensities
class ZeroPropensities(_Unregistered, UniformRandom):
    """Logs propensity 0 (e.g. a probability that underflowed)."""

    def _choose(self, req: Request, k: int) -> Choice:
        slots, props, scores, draws = super()._choose(req, k)
        return slots, props * 0.0, scores, draws


class PropensitiesAboveOne(_Unregistered, UniformRandom):
    """Logs a score-like number above 1 as the propensity."""

    def _choose(self, req: Request, k: int) -> Choice:
        slots, props, scores, draws = super()._choose(req, k)
        return slots, props + 1.0, scores, draws


class HalfEpsilonPropensities(_Unregistered, EpsilonGreedy):
    """Explores with epsilon but logs the propensities of epsilon / 2 (they still sum to 1)."""

    def _choose(self, req: Request, k: int) -> Choice:
        slots, props, scores, draws = super()._choose(req, k)
        eps, m = self.epsilon, req.valid[:, None]
        greedy = (props - eps / m) / (1.0 - eps)
        return slots, (1.0 - eps / 2) * greedy + eps / 2 / m, scores, draws


class ForgetsGreedyExploration(_Unregistered, EpsilonGreedy):
    """Forgets that the exploring branch can pick the greedy item too: exact propensities sum below 1."""

    def _choose(self, req: Request, k: int) -> Choice:
        slots, props, scores, draws = super()._choose(req, k)
        eps, m = self.epsilon, req.valid[:, None]
        greedy = (props - eps / m) / (1.0 - eps)
        return slots, np.where(greedy > 0.5, (1.0 - eps) * greedy, eps / m), scores, draws


class PositionBlindSoftmax(_Unregistered, Softmax):
    """Logs every position's item with its probability of being first (Plackett-Luce done wrong)."""

    def _choose(self, req: Request, k: int) -> Choice:
        slots, _, scores, _ = super()._choose(req, k)
        logits = self._masked(scores / self.temperature, req)
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        first = weights / weights.sum(axis=1, keepdims=True)
        return slots, np.take_along_axis(first, slots, axis=1), scores, 0


# ----------------------------------------------------------------------------- action distributions and clones
class ForgetsExplorationInDistribution(_Unregistered, EpsilonGreedy):
    """Decides correctly, but its action_distribution leaves out the exploring branch (greedy ranking only)."""

    def _exact_distribution(self, req: Request, k: int) -> FloatArray | None:
        return Policy._exact_distribution(self, req, k)


class ReseedsItselfForDistribution(_Unregistered, UniformRandom):
    """Reseeds its own generator when asked for its action distribution: asking changes its next decisions."""

    def action_distribution(self, *args: Any, seed: Any = 0, **kwargs: Any) -> Any:
        self._rng = np.random.default_rng(seed)
        return super().action_distribution(*args, seed=seed, **kwargs)


class CloneKeepsState(_Unregistered, EpsilonGreedy):
    """clone() copies the learned state even when asked for a fresh policy (keep_state=False)."""

    def clone(self, *, keep_state: bool = False, **params: Any) -> Any:
        return super().clone(keep_state=True, **params)


# ----------------------------------------------------------------------------- slates
class DuplicateSlates(_Unregistered, UniformRandom):
    """Fills the whole slate with its first pick."""

    def _choose(self, req: Request, k: int) -> Choice:
        slots, props, scores, draws = super()._choose(req, k)
        slots = slots.copy()
        slots[:, 1:] = slots[:, :1]
        return slots, props, scores, draws


class SlotsAsItems(_Unregistered, UniformRandom):
    """Returns the chosen columns as if they were item ids: it recommends non-candidates."""

    def decide(self, candidates: Any, contexts: Any = None, **kwargs: Any) -> Decision:
        decision = super().decide(candidates, contexts, **kwargs)
        return _rebuild(decision, items=decision.slots.copy())


# ----------------------------------------------------------------------------- mutation
class CentresContextsInPlace(_Unregistered, LinUCB):
    """Centres each context row in place: the caller's array changes."""

    def decide(self, candidates: Any, contexts: Any = None, **kwargs: Any) -> Decision:
        if isinstance(contexts, np.ndarray) and contexts.dtype.kind == "f":
            contexts -= contexts.mean(axis=-1, keepdims=True)
        return super().decide(candidates, contexts, **kwargs)


class CentresRewardsInPlace(_Unregistered, EpsilonGreedy):
    """Subtracts a reward baseline from the logged rewards in place."""

    def update(self, feedback: Feedback) -> None:
        rewards = feedback.rewards
        if rewards.size and np.isfinite(rewards).all():
            rewards -= rewards.mean()
        super().update(feedback)


class LearnsLazily(_Unregistered, EpsilonGreedy):
    """Validates feedback at once but queues it by reference and learns from it at the next decide."""

    def update(self, feedback: Feedback) -> None:
        EpsilonGreedy.update(copy.deepcopy(self), feedback)  # on a throwaway copy: validation only
        self.__dict__.setdefault("_pending", []).append(feedback)

    def decide(self, candidates: Any, contexts: Any = None, **kwargs: Any) -> Decision:
        for feedback in self.__dict__.pop("_pending", []):
            super().update(feedback)
        return super().decide(candidates, contexts, **kwargs)


# ----------------------------------------------------------------------------- randomness and state
class GlobalRandom(_Unregistered, UniformRandom):
    """Draws from numpy's global generator instead of its own: its seed does nothing."""

    def _choose(self, req: Request, k: int) -> Choice:
        keys = np.random.random((req.n, req.m))  # noqa: NPY002 - the bug under test
        if req.mask is not None:
            keys = np.where(req.mask, keys, -1.0)
        slots = np.argsort(-keys, axis=1)[:, :k].astype(np.int64)
        return slots, np.broadcast_to(1.0 / req.valid[:, None], (req.n, k)).copy(), np.zeros((req.n, req.m)), 0


class _DecayingEpsilonGreedy(_Unregistered, EpsilonGreedy):
    """Epsilon-greedy whose exploration decays with the number of updates, ``epsilon / (1 + rounds)``."""

    rounds: Any = 0.0
    count_empty_updates: ClassVar[bool] = False

    def update(self, feedback: Feedback) -> None:
        super().update(feedback)
        if self.count_empty_updates or np.shape(feedback.rewards)[0]:
            self.rounds = float(self.rounds) + 1.0

    def _choose(self, req: Request, k: int) -> Choice:
        epsilon = self.epsilon
        self.epsilon = epsilon / (1.0 + float(self.rounds))
        try:
            return super()._choose(req, k)
        finally:
            self.epsilon = epsilon


class ForgetsRoundsOnSave(_DecayingEpsilonGreedy):
    """Learns a number of rounds but does not save it: a reloaded policy explores as if new."""


class CountsEmptyUpdates(_DecayingEpsilonGreedy):
    """Saves its rounds, but counts an update with no events as a round."""

    count_empty_updates = True

    def _extra_state(self) -> dict[str, npt.NDArray[Any]]:
        return {"rounds": np.array(float(self.rounds))}


# ----------------------------------------------------------------------------- validation
class AcceptsNanContexts(_Unregistered, LinUCB):
    """Replaces NaN contexts by zeros instead of rejecting them."""

    def decide(self, candidates: Any, contexts: Any = None, **kwargs: Any) -> Decision:
        if contexts is not None:
            contexts = np.nan_to_num(np.asarray(contexts, dtype=np.float64))
        return super().decide(candidates, contexts, **kwargs)


class AcceptsNanRewards(_Unregistered, EpsilonGreedy):
    """Replaces NaN (and infinite) rewards by numbers instead of rejecting them."""

    def update(self, feedback: Feedback) -> None:
        rewards = np.nan_to_num(np.asarray(feedback.rewards, dtype=np.float64))
        super().update(_rebuild_feedback(feedback, rewards=rewards))


class SkipsValidation(_Unregistered, EpsilonGreedy):
    """Never validates its hyperparameters."""

    def _validate(self) -> None:
        return None


class ClassNameInDecisions(_Unregistered, UniformRandom):
    """Stamps decisions with its class name instead of its registry name."""

    def decide(self, candidates: Any, contexts: Any = None, **kwargs: Any) -> Decision:
        return _rebuild(super().decide(candidates, contexts, **kwargs), policy=type(self).__name__)


class FlatContexts(_Unregistered, LinUCB):
    """Reads contexts of shape (d,) as d requests with one feature each."""

    def decide(self, candidates: Any, contexts: Any = None, **kwargs: Any) -> Decision:
        if contexts is not None and np.ndim(contexts) == 1:
            contexts = np.asarray(contexts)[:, None]
        return super().decide(candidates, contexts, **kwargs)


class ClosedCatalogue(_Unregistered, EpsilonGreedy):
    """Once trained, fails on any item it has not seen (no cold start)."""

    def decide(self, candidates: Any, contexts: Any = None, **kwargs: Any) -> Decision:
        known = self.item_ids
        if known.size and not np.isin(np.asarray(candidates), known).all():
            raise KeyError("unknown item id")
        return super().decide(candidates, contexts, **kwargs)


BROKEN = [
    pytest.param(ZeroPropensities, "check_propensities", "is outside (0, 1]", id="zero-propensities"),
    pytest.param(PropensitiesAboveOne, "check_propensities", "is outside (0, 1]", id="propensities-above-one"),
    pytest.param(HalfEpsilonPropensities, "check_propensities", "empirical frequency", id="miscalibrated"),
    pytest.param(
        ForgetsGreedyExploration,
        "check_propensities",
        "exact choice probabilities over the candidates sum to 1",
        id="exact-not-a-distribution",
    ),
    pytest.param(PositionBlindSoftmax, "check_propensities", "at position 1", id="position-blind-slates"),
    pytest.param(
        ForgetsExplorationInDistribution,
        "check_action_distribution",
        "does not describe how the policy decides",
        id="wrong-action-distribution",
    ),
    pytest.param(
        ReseedsItselfForDistribution,
        "check_action_distribution",
        "changed the policy",
        id="action-distribution-mutates",
    ),
    pytest.param(CloneKeepsState, "check_clone", "clone() is not a fresh policy", id="clone-keeps-state"),
    pytest.param(DuplicateSlates, "check_slates_are_valid", "a slate with duplicates", id="duplicates"),
    pytest.param(SlotsAsItems, "check_slates_are_valid", "not one of its candidates", id="non-candidates"),
    pytest.param(CentresContextsInPlace, "check_inputs_not_mutated", "its 'contexts' argument", id="mutates-contexts"),
    pytest.param(CentresRewardsInPlace, "check_inputs_not_mutated", "its 'rewards' argument", id="mutates-rewards"),
    pytest.param(LearnsLazily, "check_no_shared_arrays", "keeps references", id="keeps-references"),
    pytest.param(GlobalRandom, "check_same_seed_same_decisions", "global random state", id="ignores-seed"),
    pytest.param(ForgetsRoundsOnSave, "check_state_round_trip", "reloaded policy", id="save-loses-state"),
    pytest.param(AcceptsNanContexts, "check_decide_rejects_bad_inputs", "NaN in contexts", id="accepts-nan-contexts"),
    pytest.param(AcceptsNanRewards, "check_update_rejects_bad_feedback", "NaN rewards", id="accepts-nan-rewards"),
    pytest.param(SkipsValidation, "check_bad_hyperparameters", "was accepted", id="no-parameter-validation"),
    pytest.param(ClassNameInDecisions, "check_decision_metadata", "policy='ClassNameInDecisions'", id="wrong-name"),
    pytest.param(CountsEmptyUpdates, "check_empty_update_is_noop", "an empty update changed", id="empty-update"),
    pytest.param(FlatContexts, "check_single_request", "contexts of shape (4,)", id="one-request"),
    pytest.param(ClosedCatalogue, "check_new_and_vanished_items", "never-seen", id="no-cold-start"),
]


def _failures(policy: Callable[..., Policy]) -> dict[str, str]:
    failures = {}
    for name, check in policy_checks(policy):
        try:
            check()
        except AssertionError as exc:
            failures[name] = str(exc)
    return failures


@pytest.mark.parametrize(("broken", "check_name", "fragment"), BROKEN)
def test_broken_policy_fails_exactly_the_intended_check(broken: type[Policy], check_name: str, fragment: str) -> None:
    failures = _failures(broken)
    assert set(failures) == {check_name}, failures
    message = failures[check_name]
    assert message.startswith(f"{broken.__name__} ({broken.name!r}) failed {check_name}: "), message
    assert fragment in message, message


def test_every_check_has_a_broken_policy_that_fails_it() -> None:
    covered = {param.values[1] for param in BROKEN}
    assert covered == {name for name, _ in policy_checks(UniformRandom)}


def test_each_check_is_a_public_function_raising_assertion_error() -> None:
    import abrec.testing

    with pytest.raises(AssertionError, match=r"ZeroPropensities \('uniform'\) failed check_propensities"):
        abrec.testing.check_propensities(ZeroPropensities)
    abrec.testing.check_propensities(UniformRandom)


def test_check_policy_accepts_a_class_or_a_factory() -> None:
    check_policy(UniformRandom)
    check_policy(lambda seed: EpsilonGreedy(epsilon=0.3, seed=seed))


N_CHECKS = len(list(policy_checks(UniformRandom)))


def test_check_policy_reports_every_failure_at_once() -> None:
    with pytest.raises(AssertionError, match=rf"1 of {N_CHECKS} policy checks failed:\n- DuplicateSlates"):
        check_policy(DuplicateSlates)


def test_expected_failures_are_strict() -> None:
    known = {("uniform", "check_slates_are_valid"): "fills the slate with its first pick"}
    check_policy(DuplicateSlates, expected_failures=known)
    with pytest.raises(AssertionError, match=r"listed as an expected failure \(fills the slate"):
        check_policy(UniformRandom, expected_failures=known)


def test_expected_failures_need_known_checks_and_written_reasons() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'check_propensities'"):
        check_policy(UniformRandom, expected_failures={("uniform", "check_propensity"): "typo"})
    with pytest.raises(ParameterError, match="written reason"):
        check_policy(UniformRandom, expected_failures={("uniform", "check_propensities"): " "})
    with pytest.raises(ParameterError, match=r"\(policy_name, check_name\) pairs"):
        check_policy(UniformRandom, expected_failures={"check_propensities": "no policy"})  # type: ignore[dict-item]


def test_parametrize_with_checks_builds_ids_and_strict_xfails() -> None:
    reason = "fills the slate with its first pick"
    mark = parametrize_with_checks(
        [UniformRandom, DuplicateSlates], expected_failures={("uniform", "check_slates_are_valid"): reason}
    )
    assert mark.name == "parametrize"
    names, params = mark.args
    assert tuple(names) == ("policy", "check")
    ids = [param.id for param in params]
    assert ids[:2] == ["uniform-check_same_seed_same_decisions", "uniform-check_propensities"]
    assert len(ids) == 2 * N_CHECKS
    xfails = [(param.id, param.values[0]) for param in params if param.marks]
    assert xfails == [
        ("uniform-check_slates_are_valid", UniformRandom),
        ("uniform-check_slates_are_valid", DuplicateSlates),
    ]
    (xfail,) = params[2].marks
    assert xfail.name == "xfail" and xfail.kwargs["strict"] is True and xfail.kwargs["reason"] == reason
    with pytest.raises(UnknownNameError, match="Did you mean 'uniform'"):
        parametrize_with_checks([UniformRandom], expected_failures={("unifrom", "check_propensities"): "typo"})


def test_abrec_testing_imports_without_pytest() -> None:
    code = "import sys; sys.modules['pytest'] = None; import abrec.testing; print(len(abrec.testing.__all__))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
