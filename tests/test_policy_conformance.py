"""Every registered policy passes the public conformance suite, ``abrec.testing``.

One test per (policy, check), with ids such as ``linucb-check_same_seed_same_decisions``. The
policies come from the registry when the tests are collected, so a newly registered policy is
checked without any change here; importing :mod:`abrec.agents` registers the agents.
"""

from __future__ import annotations

from collections.abc import Callable

import abrec.agents  # noqa: F401  (registers the session agents: they run through the same suite)
from abrec.policies import Policy, registered_policies
from abrec.testing import parametrize_with_checks

# Known failures of abrec's own policies, as {(policy_name, check_name): "written reason"}.
EXPECTED_FAILURES: dict[tuple[str, str], str] = {}


@parametrize_with_checks(registered_policies().values(), expected_failures=EXPECTED_FAILURES)
def test_policy_conforms(policy: type[Policy], check: Callable[[type[Policy]], None]) -> None:
    check(policy)
