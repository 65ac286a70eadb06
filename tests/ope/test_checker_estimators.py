"""The estimator conformance checker itself, tested on deliberately broken estimators.

Each broken estimator has one realistic bug and must fail exactly the check written for it, with a
message naming the estimator and the check (as tests/test_checker.py does for policies).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from abrec.errors import InputError, ParameterError, UnknownNameError
from abrec.ope import IPW, SNIPW, DirectMethod, DoublyRobust, EstimateResult, LoggedFeedback, Rows
from abrec.testing import check_estimator, estimator_checks, parametrize_estimator_checks

# As in test_estimator_conformance.py: the broken estimators keep their parent's registry name.
EXPECTED_FAILURES = {("ipw", "check_reward_shift"): "IPW is not shift-equivariant"}

FloatArray = npt.NDArray[np.float64]


class UnseededBootstrap(SNIPW):
    """Draws its bootstrap from OS entropy whatever the seed."""

    def _bootstrap(self, terms: FloatArray, rng: np.random.Generator) -> FloatArray:
        return super()._bootstrap(terms, np.random.default_rng())


class LoggingDistInPercent(SNIPW):
    """Converts the caller's logging_dist to percent in place before using it (the support is unchanged)."""

    def rows(self, feedback: LoggedFeedback, *args: Any, logging_dist: Any = None, **kwargs: Any) -> Rows:
        if isinstance(logging_dist, np.ndarray):
            logging_dist *= 100.0
            logging_dist = logging_dist / 100.0
        return super().rows(feedback, *args, logging_dist=logging_dist, **kwargs)


class ForgetsToNormalise(SNIPW):
    """'Self-normalised' IPW that divides by n instead of sum(w): plain IPW under SNIPW's name."""

    def _combine(self, means: FloatArray, n_rows: int) -> FloatArray:
        out: FloatArray = means[:, 0]
        return out

    def _gradient(self, means: FloatArray) -> FloatArray | None:
        return np.array([1.0, 0.0])


class ClipsWeightsSilently(SNIPW):
    """Clips the weights at 1.5 without saying so: biased."""

    def _terms(self, rows: Rows) -> FloatArray:
        w = np.minimum(rows.weight, 1.5)
        return np.column_stack([w * rows.reward, w])


class IntervalOfTheMeanReward(SNIPW):
    """Reports the normal interval of the plain mean reward instead of the estimate's."""

    def estimate(self, feedback: LoggedFeedback, *args: Any, **kwargs: Any) -> EstimateResult:
        r = super().estimate(feedback, *args, **kwargs)
        m = float(np.mean(feedback.reward))
        se = float(np.std(feedback.reward) / np.sqrt(len(feedback)))
        return EstimateResult(**{**r.to_dict(), "ci_low": m - 2 * se, "ci_high": m + 2 * se, "params": {}})


class RaisesPlainValueError(DoublyRobust):
    """Turns abrec's InputError into a bare ValueError."""

    name: ClassVar[str] = "dr"

    def estimate(self, *args: Any, **kwargs: Any) -> EstimateResult:
        try:
            return super().estimate(*args, **kwargs)
        except InputError as exc:
            raise ValueError(str(exc)) from None


class DropsTheCorrectionOnDeterministicRows(DoublyRobust):
    """Skips the DR correction on rows with propensity 1 (treats them as 'known'): DM there."""

    def _terms(self, rows: Rows) -> FloatArray:
        q, dm = rows.model(self.name)
        keep = rows.propensity < 1.0
        return (dm + keep * rows.weight * (rows.reward - q))[:, None]


class KeepsANonlinearModelColumn(DirectMethod):
    """Carries dm^2 in its terms (unused by the estimate) without excluding it from _model_columns."""

    def _terms(self, rows: Rows) -> FloatArray:
        _, dm = rows.model(self.name)
        return np.column_stack([dm, dm * dm])

    def _gradient(self, means: FloatArray) -> FloatArray | None:
        return np.array([1.0, 0.0])


BROKEN = [
    (UnseededBootstrap, "check_same_seed_same_result"),
    (LoggingDistInPercent, "check_inputs_not_mutated"),
    (ForgetsToNormalise, "check_reward_shift"),
    (ClipsWeightsSilently, "check_unbiased"),
    (IntervalOfTheMeanReward, "check_result_record"),
    (RaisesPlainValueError, "check_bad_inputs_raise"),
    (DropsTheCorrectionOnDeterministicRows, "check_on_policy_mean_reward"),
    (KeepsANonlinearModelColumn, "check_fitted_reward_model"),
]


@pytest.mark.parametrize(("cls", "failing"), BROKEN, ids=[cls.__name__ for cls, _ in BROKEN])
def test_broken_estimator_fails_exactly_its_check(cls: type[IPW], failing: str) -> None:
    failed = []
    for name, check in estimator_checks(cls(n_bootstrap=50), expected_failures=EXPECTED_FAILURES):
        try:
            check()
        except AssertionError as exc:
            failed.append(name)
            if name == failing:
                assert cls.__name__ in str(exc) and failing in str(exc)
    assert failed == [failing]


def test_check_estimator_lists_every_failure_and_passes_good_estimators() -> None:
    check_estimator(SNIPW(n_bootstrap=20))
    with pytest.raises(AssertionError, match=r"1 of 10 estimator checks failed:\n- .*check_reward_shift"):
        check_estimator(ForgetsToNormalise(n_bootstrap=20))


def test_expected_failure_that_passes_is_reported() -> None:
    checks = dict(estimator_checks(SNIPW(), expected_failures={("snipw", "check_reward_shift"): "wrongly listed"}))
    with pytest.raises(AssertionError, match="listed as an expected failure"):
        checks["check_reward_shift"]()


def test_bad_expected_failures_are_refused() -> None:
    with pytest.raises(UnknownNameError, match="check_reward_shfit"):
        list(estimator_checks(IPW(), expected_failures={("ipw", "check_reward_shfit"): "typo"}))
    with pytest.raises(ParameterError, match="written reason"):
        list(estimator_checks(IPW(), expected_failures={("ipw", "check_reward_shift"): " "}))
    with pytest.raises(UnknownNameError, match="Unknown estimator 'nope'"):
        parametrize_estimator_checks([IPW], expected_failures={("nope", "check_reward_shift"): "x"})
