"""abrec's public conformance suite: check that a policy honours the policy protocol.

Every abrec policy passes these checks, and so should yours (register it with
:func:`abrec.policies.register` so that its saved state can be loaded by name).

Examples
--------
Under pytest, one test per (policy, check), with ids such as ``linucb-check_propensities``:

>>> from abrec.policies import registered_policies
>>> from abrec.testing import parametrize_with_checks
>>> @parametrize_with_checks(registered_policies().values())
... def test_policy(policy, check):
...     check(policy)

Or all checks at once:

>>> from abrec.policies import UniformRandom
>>> from abrec.testing import check_policy
>>> check_policy(UniformRandom)

Text encoders have their own suite (:func:`check_encoder`, :func:`encoder_checks`), run on an
encoder instance:

>>> from abrec.embeddings import HashingEncoder
>>> from abrec.testing import check_encoder
>>> check_encoder(HashingEncoder(dim=32))

Off-policy estimators have theirs too (:func:`check_estimator`, :func:`estimator_checks`,
:func:`parametrize_estimator_checks`), run on an estimator instance or class; hypothesis strategies
for logged feedback are in :mod:`abrec.testing.strategies`.
"""

from __future__ import annotations

from ._decision_checks import (
    check_decision_metadata,
    check_same_seed_same_decisions,
    check_single_request,
    check_slates_are_valid,
)
from ._encoder_checks import check_encoder, encoder_checks
from ._env_checks import check_env, env_checks, parametrize_env_checks
from ._estimator_checks import check_estimator, estimator_checks, parametrize_estimator_checks
from ._harness import ExpectedFailures, PolicyFactory
from ._input_checks import (
    check_bad_hyperparameters,
    check_decide_rejects_bad_inputs,
    check_inputs_not_mutated,
    check_no_shared_arrays,
    check_update_rejects_bad_feedback,
)
from ._propensity_checks import check_action_distribution, check_propensities
from ._runner import check_policy, parametrize_with_checks, policy_checks
from ._state_checks import (
    check_clone,
    check_empty_update_is_noop,
    check_new_and_vanished_items,
    check_state_round_trip,
)

__all__ = [
    "ExpectedFailures",
    "PolicyFactory",
    "check_action_distribution",
    "check_bad_hyperparameters",
    "check_clone",
    "check_decide_rejects_bad_inputs",
    "check_decision_metadata",
    "check_empty_update_is_noop",
    "check_encoder",
    "check_env",
    "check_estimator",
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
    "encoder_checks",
    "env_checks",
    "estimator_checks",
    "parametrize_env_checks",
    "parametrize_estimator_checks",
    "parametrize_with_checks",
    "policy_checks",
]
