"""Every registered off-policy estimator passes the public conformance suite (``abrec.testing``)."""

from __future__ import annotations

from collections.abc import Callable

from abrec.ope import Estimator, registered_estimators
from abrec.testing import parametrize_estimator_checks

# Known failures of abrec's own estimators, as {(estimator_name, check_name): "written reason"}.
EXPECTED_FAILURES: dict[tuple[str, str], str] = {
    (
        "ipw",
        "check_reward_shift",
    ): "IPW adds c * mean(w) when c is added to the rewards, not c: it is not shift-equivariant",
}


@parametrize_estimator_checks(registered_estimators().values(), expected_failures=EXPECTED_FAILURES)
def test_estimator_conforms(estimator: Estimator, check: Callable[[Estimator], None]) -> None:
    check(estimator)
