"""The ways to run the policy checks, in their fixed order, with known failures (private).

Run them with :func:`check_policy` (all checks, one policy), :func:`policy_checks` (the checks as
``(name, callable)`` pairs) or, under pytest, :func:`parametrize_with_checks`. Known failures are
listed as ``{(policy_name, check_name): "reason"}``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import ParameterError, UnknownNameError
from ..policies.base import Policy
from . import _decision_checks, _input_checks, _propensity_checks, _state_checks
from ._harness import ExpectedFailures, PolicyFactory, policy_label, run_all

if TYPE_CHECKING:
    import pytest

__all__ = ["check_policy", "parametrize_with_checks", "policy_checks"]

_CHECKS: tuple[Callable[[PolicyFactory], None], ...] = (
    _decision_checks.check_same_seed_same_decisions,
    _propensity_checks.check_propensities,
    _decision_checks.check_slates_are_valid,
    _propensity_checks.check_action_distribution,
    _input_checks.check_inputs_not_mutated,
    _input_checks.check_no_shared_arrays,
    _state_checks.check_state_round_trip,
    _state_checks.check_clone,
    _state_checks.check_new_and_vanished_items,
    _input_checks.check_decide_rejects_bad_inputs,
    _input_checks.check_update_rejects_bad_feedback,
    _input_checks.check_bad_hyperparameters,
    _decision_checks.check_decision_metadata,
    _state_checks.check_empty_update_is_noop,
    _decision_checks.check_single_request,
)


def _check_name(check: Callable[..., None]) -> str:
    return str(getattr(check, "__name__", repr(check)))


def _describe(policy: PolicyFactory) -> tuple[str, str]:
    """The registry name of the policies that ``policy`` (a class or a factory) builds, and their label."""
    built: Policy = policy(seed=0)
    return built.name, policy_label(built)


def _expected(
    expected_failures: ExpectedFailures | None, where: str, *, kind: str = "policy", known: Iterable[str] | None = None
) -> dict[tuple[str, str], str]:
    """Validate ``expected_failures`` of ``kind`` checks: known check names, a written reason for each."""
    names = [_check_name(check) for check in _CHECKS] if known is None else list(known)
    out: dict[tuple[str, str], str] = {}
    for key, reason in (expected_failures or {}).items():
        if not (isinstance(key, tuple) and len(key) == 2 and all(isinstance(part, str) for part in key)):
            raise ParameterError(
                f"The 'expected_failures' parameter of {where} must map ({kind}_name, check_name) pairs to "
                f"reasons. Got the key {key!r} instead."
            )
        if key[1] not in names:
            raise UnknownNameError(f"{kind} check", key[1], names)
        if not isinstance(reason, str) or not reason.strip():
            raise ParameterError(
                f"The 'expected_failures' parameter of {where} must give a written reason for each expected "
                f"failure. Got {reason!r} for {key!r} instead."
            )
        out[key] = reason
    return out


def _parametrize(
    argnames: tuple[str, str],
    subjects: Sequence[Any],
    names: Sequence[str],
    checks: Sequence[Callable[..., None]],
    expected: Mapping[tuple[str, str], str],
    kind: str,
) -> pytest.MarkDecorator:
    """``pytest.mark.parametrize`` over (subject, check) with ids ``"<name>-<check>"``; strict xfail where expected."""
    import pytest

    for subject_name, _ in expected:
        if subject_name not in names:
            raise UnknownNameError(kind, subject_name, list(names))
    params = []
    for subject, name in zip(subjects, names, strict=True):
        for check in checks:
            check_name = _check_name(check)
            reason = expected.get((name, check_name))
            marks = [pytest.mark.xfail(reason=reason, strict=True, raises=AssertionError)] if reason else []
            params.append(pytest.param(subject, check, id=f"{name}-{check_name}", marks=marks))
    return pytest.mark.parametrize(argnames, params)


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
    run_all(list(policy_checks(policy, expected_failures=expected_failures)), "policy")


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
    expected = _expected(expected_failures, "parametrize_with_checks")
    policies = list(policies)
    names = [_describe(policy)[0] for policy in policies]
    return _parametrize(("policy", "check"), policies, names, _CHECKS, expected, "policy")
