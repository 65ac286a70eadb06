"""The off-policy estimator conformance checks (private; public through :mod:`abrec.testing`).

Each ``check_*`` function takes an estimator *instance* (or a class, built with its defaults) and
raises :class:`AssertionError` naming the estimator, the check and what was wrong; an unexpected
exception inside a check is reported the same way. The problems are small synthetic logs: five
actions, two positions, a uniform logging policy (so that every estimator, replay included,
applies), Bernoulli rewards with known means and a skewed target, so the truth is known.

Expected failures are listed as ``{(estimator_name, check_name): "written reason"}``.
"""

from __future__ import annotations

import copy
import functools
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt

from ..errors import ExtremeWeightsWarning, InputError
from ..ope.base import Estimator
from ..ope.feedback import LoggedFeedback
from ..ope.result import EstimateResult
from ..ope.reward_model import cross_fit_rewards
from ._harness import run_all
from ._runner import _expected as _validate_expected
from ._runner import _expecting_failure, _parametrize

__all__ = [
    "EstimatorLike",
    "SyntheticLog",
    "check_bad_inputs_raise",
    "check_estimator",
    "check_fitted_reward_model",
    "check_inputs_not_mutated",
    "check_on_policy_mean_reward",
    "check_perfect_reward_model",
    "check_result_record",
    "check_reward_scale",
    "check_reward_shift",
    "check_same_seed_same_result",
    "check_unbiased",
    "estimator_checks",
    "parametrize_estimator_checks",
]

FloatArray = npt.NDArray[np.float64]
#: An estimator instance, or a class built with its defaults.
EstimatorLike = Estimator | type[Estimator]

N_ACTIONS, N_POSITIONS = 5, 2
#: Mean reward of each (action, position).
MU = np.array([[0.6, 0.5], [0.3, 0.25], [0.2, 0.2], [0.1, 0.15], [0.05, 0.1]])
#: The target policy (each column a distribution over the actions).
TARGET = np.array([[0.55, 0.1], [0.25, 0.15], [0.1, 0.2], [0.06, 0.25], [0.04, 0.3]])
_RTOL = 1e-9
_EXACT = 1e-12
_SE_BOUND = 4.5


class SyntheticLog:
    """A uniform-logging log with known mean rewards ``MU`` (rows alternate between the two positions)."""

    def __init__(self, n_rows: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.position = np.arange(n_rows) % N_POSITIONS
        self.action = rng.integers(0, N_ACTIONS, size=n_rows)
        self.mean = MU[self.action, self.position]
        self.reward = (rng.random(n_rows) < self.mean).astype(np.float64)
        self.feedback = LoggedFeedback.from_arrays(
            action=self.action,
            reward=self.reward,
            propensity=1.0 / N_ACTIONS,
            position=self.position,
            n_actions=N_ACTIONS,
            n_positions=N_POSITIONS,
        )
        #: A reward model that is right on average: the true mean plus independent noise.
        self.q = MU.T[self.position] + rng.normal(0.0, 0.1, size=(n_rows, N_ACTIONS))

    @property
    def truth(self) -> float:
        """The target's value on these rows' positions."""
        return float(np.mean((TARGET * MU).sum(axis=0)[self.position]))


def _label(estimator: Estimator) -> str:
    return f"{type(estimator).__name__} ({estimator.name!r})"


class _Run:
    def __init__(self, estimator: EstimatorLike, check: str) -> None:
        self.check = check
        self.step = "building the estimator"
        self.estimator: Estimator = estimator() if isinstance(estimator, type) else estimator
        self.label = _label(self.estimator)

    def fail(self, what: str) -> NoReturn:
        raise AssertionError(f"{self.label} failed {self.check}: {what}")

    def expect(self, condition: bool, what: str) -> None:
        if not condition:
            self.fail(what)

    def estimate(self, step: str, feedback: LoggedFeedback, dist: Any, q: Any = None, **kw: Any) -> EstimateResult:
        self.step = step
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExtremeWeightsWarning)
            out = (kw.pop("estimator", None) or self.estimator).estimate(feedback, dist, q, **kw)
        if not isinstance(out, EstimateResult):
            self.fail(f"estimate returned {type(out).__name__}, not an EstimateResult ({step}).")
        return out

    def q(self, log: SyntheticLog) -> FloatArray | None:
        return log.q if self.estimator.needs_reward_model else None

    def reproducible(self) -> bool:
        log = SyntheticLog(200, seed=7)
        a = self.estimate("probing reproducibility", log.feedback, TARGET, self.q(log))
        b = self.estimate("probing reproducibility", log.feedback, TARGET, self.q(log))
        return _same(a, b)


def _same(a: EstimateResult, b: EstimateResult) -> bool:
    return a.to_dict() == b.to_dict()


def _close(a: float, b: float, rtol: float = _RTOL) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    return math.isclose(a, b, rel_tol=rtol, abs_tol=rtol * 1e-3)


_DOC_TAIL = """

    Parameters
    ----------
    estimator : an estimator instance, or a class (built with its defaults).

    Raises
    ------
    AssertionError
        When the estimator fails the check; the message names the estimator, the check and what was wrong.
    """


def _as_check(body: Callable[[_Run], None]) -> Callable[[EstimatorLike], None]:
    @functools.wraps(body)
    def check(estimator: EstimatorLike) -> None:
        run: _Run | None = None
        try:
            run = _Run(estimator, body.__name__)
            body(run)
        except AssertionError:
            raise
        except Exception as exc:
            label = run.label if run is not None else repr(estimator)
            step = run.step if run is not None else "building the estimator"
            raise AssertionError(
                f"{label} failed {body.__name__}: {type(exc).__name__} raised while {step}: {exc}"
            ) from exc

    del check.__wrapped__  # type: ignore[attr-defined]
    check.__doc__ = (body.__doc__ or "").rstrip() + _DOC_TAIL
    return check


# ---------------------------------------------------------------------------------------------- checks
@_as_check
def check_result_record(run: _Run) -> None:
    """``estimate`` returns a filled EstimateResult: a finite value inside its interval, its settings recorded."""
    log = SyntheticLog(400, seed=1)
    est = run.estimator
    r = run.estimate("estimating on a 400-row log", log.feedback, TARGET, run.q(log))
    run.expect(r.estimator == est.name, f"result.estimator is {r.estimator!r}, not the registry name {est.name!r}.")
    run.expect(math.isfinite(r.value), f"the estimate {r.value!r} is not finite.")
    run.expect(
        r.ci_low <= r.value <= r.ci_high,
        f"the interval [{r.ci_low!r}, {r.ci_high!r}] does not contain the estimate {r.value!r}.",
    )
    run.expect(r.standard_error >= 0, f"the standard error {r.standard_error!r} is negative or NaN.")
    run.expect(r.n_rows == 400, f"result.n_rows is {r.n_rows}, the log has 400 rows.")
    run.expect(
        (r.alpha, r.n_bootstrap) == (est.alpha, est.n_bootstrap),
        f"result (alpha, n_bootstrap) = {(r.alpha, r.n_bootstrap)}, estimator has {(est.alpha, est.n_bootstrap)}.",
    )
    if est.uses_weights:
        run.expect(
            0 < r.effective_sample_size <= 400 * (1 + 1e-9),
            f"effective_sample_size {r.effective_sample_size!r} is not in (0, n_rows].",
        )
    else:
        run.expect(math.isnan(r.effective_sample_size), "an estimator without weights must report ESS as NaN.")


@_as_check
def check_same_seed_same_result(run: _Run) -> None:
    """Two estimates on the same inputs, and one by a twin built from ``get_params()``, are identical."""
    log = SyntheticLog(300, seed=2)
    a = run.estimate("the first estimate", log.feedback, TARGET, run.q(log))
    b = run.estimate("the second estimate", log.feedback, TARGET, run.q(log))
    run.expect(_same(a, b), f"two estimates with one seed differ: {a} and {b}.")
    twin = type(run.estimator)(**run.estimator.get_params())
    c = run.estimate("the twin's estimate", log.feedback, TARGET, run.q(log), estimator=twin)
    run.expect(_same(a, c), f"a twin built from get_params() estimates differently: {a} and {c}.")


@_as_check
def check_inputs_not_mutated(run: _Run) -> None:
    """``estimate`` leaves the feedback's arrays, the target, the reward model and ``logging_dist`` unchanged."""
    log = SyntheticLog(300, seed=3)
    fb = log.feedback
    arrays = {name: getattr(fb, name) for name in ("action", "position", "reward", "propensity")}
    before = {name: a.copy() for name, a in arrays.items()}
    dist, q = TARGET.copy(), log.q.copy()
    logging_dist = np.full((N_ACTIONS, N_POSITIONS), 1.0 / N_ACTIONS)
    logging_before = logging_dist.copy()
    run.estimate("estimating", fb, dist, q, logging_dist=logging_dist)
    for name, a in arrays.items():
        run.expect(np.array_equal(a, before[name]), f"feedback.{name} was changed in place.")
    run.expect(np.array_equal(dist, TARGET), "the action_dist argument was changed in place.")
    run.expect(np.array_equal(q, log.q), "estimated_rewards was changed in place.")
    run.expect(np.array_equal(logging_dist, logging_before), "logging_dist was changed in place.")


@_as_check
def check_on_policy_mean_reward(run: _Run) -> None:
    """Target = logging policy: every estimator returns the mean reward when ``q(x_i, a) = r_i``; those with
    ``exact_on_policy`` also with a reward model that is anything (constant over actions for a stochastic
    logger; any array for a deterministic one)."""
    log = SyntheticLog(300, seed=4)
    fb, mean = log.feedback, float(np.mean(log.reward))
    uniform = np.full((N_ACTIONS, N_POSITIONS), 1.0 / N_ACTIONS)
    rng = np.random.default_rng(4)
    cases: list[tuple[str, LoggedFeedback, FloatArray, FloatArray]] = [
        ("q(x_i, a) = r_i for every a", fb, uniform, np.repeat(log.reward[:, None], N_ACTIONS, axis=1))
    ]
    if run.estimator.exact_on_policy:
        cases.append(("q constant over actions", fb, uniform, np.repeat(rng.random((300, 1)), N_ACTIONS, axis=1)))
        det = LoggedFeedback.from_arrays(
            action=fb.action, reward=fb.reward, propensity=1.0, position=fb.position, n_actions=N_ACTIONS
        )
        one_hot = np.eye(N_ACTIONS)[fb.action]
        cases.append(("a deterministic logger, any q", det, one_hot, rng.random((300, N_ACTIONS))))
    for what, feedback, dist, q in cases:
        r = run.estimate(f"estimating the logging policy itself ({what})", feedback, dist, q)
        run.expect(
            _close(r.value, mean, _EXACT),
            f"with the target equal to the logging policy ({what}) the estimate is {r.value!r}, "
            f"not the mean reward {mean!r}.",
        )


def _scaled(log: SyntheticLog, scale: float, shift: float) -> tuple[LoggedFeedback, FloatArray]:
    fb = log.feedback
    feedback = LoggedFeedback.from_arrays(
        action=fb.action,
        reward=fb.reward * scale + shift,
        propensity=fb.propensity,
        position=fb.position,
        n_actions=N_ACTIONS,
    )
    return feedback, log.q * scale + shift


def _compare_transformed(run: _Run, scale: float, shift: float, what: str) -> None:
    log = SyntheticLog(300, seed=5)
    base = run.estimate("estimating on the original rewards", log.feedback, TARGET, log.q)
    feedback, q = _scaled(log, scale, shift)
    moved = run.estimate(f"estimating on {what}", feedback, TARGET, q)
    pairs = [
        ("value", base.value * scale + shift, moved.value),
        ("standard_error", base.standard_error * scale, moved.standard_error),
    ]
    if run.reproducible():  # an estimator whose interval is random fails check_same_seed_same_result only
        pairs += [
            ("ci_low", base.ci_low * scale + shift, moved.ci_low),
            ("ci_high", base.ci_high * scale + shift, moved.ci_high),
        ]
    for name, expected, got in pairs:
        run.expect(_close(expected, got), f"on {what}, {name} is {got!r}; expected {expected!r}.")


@_as_check
def check_reward_scale(run: _Run) -> None:
    """Rewards and reward model times ``c = 3.5`` multiply the estimate, its standard error and interval by c."""
    _compare_transformed(run, 3.5, 0.0, "rewards and q times 3.5")


@_as_check
def check_reward_shift(run: _Run) -> None:
    """Rewards and reward model plus ``c = 2`` add c to the estimate and its interval (standard error unchanged)."""
    _compare_transformed(run, 1.0, 2.0, "rewards and q plus 2")


@_as_check
def check_perfect_reward_model(run: _Run) -> None:
    """With noise-free rewards and ``q`` the true mean, reward-model estimators return the truth exactly;
    the others ignore ``estimated_rewards``."""
    log = SyntheticLog(300, seed=6)
    fb = log.feedback
    if run.estimator.needs_reward_model:
        exact = LoggedFeedback.from_arrays(
            action=fb.action, reward=log.mean, propensity=fb.propensity, position=fb.position, n_actions=N_ACTIONS
        )
        r = run.estimate("estimating with the true mean rewards as q", exact, TARGET, MU.T[fb.position])
        run.expect(
            _close(r.value, log.truth, _EXACT),
            f"with a perfect reward model the estimate is {r.value!r}, not the truth {log.truth!r}.",
        )
    else:
        a = run.estimate("estimating without a reward model", fb, TARGET)
        b = run.estimate("estimating with a reward model", fb, TARGET, log.q)
        same = _same(a, b) if run.reproducible() else (a.value, a.standard_error) == (b.value, b.standard_error)
        run.expect(same, f"an estimator without a reward model changed with estimated_rewards: {a} vs {b}.")


@_as_check
def check_fitted_reward_model(run: _Run) -> None:
    """Given the :class:`~abrec.ope.RewardEstimates` of a fitted model instead of its bare predictions, the
    estimate and its hyperparameters do not move; the terms the model's error is carried through
    (``_model_columns``) are linear in ``q(x_i, a_i)`` and ``dm_i``; an estimator that reads no
    reward model returns the same result either way, and the direct method's interval widens."""
    log = SyntheticLog(400, seed=9)
    fb = log.feedback
    fitted = cross_fit_rewards(fb, seed=0)
    run.expect(fitted.influence is not None, "cross_fit_rewards gave no model influence to test with.")
    est = run.estimator
    a = run.estimate("estimating with the fitted model", fb, TARGET, fitted)
    b = run.estimate("estimating with its bare predictions", fb, TARGET, fitted.values)
    run.expect(
        (a.value, a.params) == (b.value, b.params),
        f"the estimate moved when given the fitted model: {a.value!r} {a.params} vs {b.value!r} {b.params}.",
    )
    if not est.needs_reward_model:
        same = _same(a, b) if run.reproducible() else a.standard_error == b.standard_error
        run.expect(same, f"an estimator without a reward model changed with the fitted model: {a} vs {b}.")
        return
    run.step = "probing the linearity of the model columns"
    rows = est.rows(fb, TARGET, fitted)
    q_logged, dm = rows.model(est.name)
    terms = est._terms(rows)
    cols = est._model_columns(terms.shape[1])
    for field in ("q_logged", "dm"):

        def moved(step: float, field: str = field) -> FloatArray:
            shifted = replace(rows, q_logged=q_logged + step) if field == "q_logged" else replace(rows, dm=dm + step)
            return est._terms(shifted)[:, cols] - terms[:, cols]

        one, two = moved(1.0), moved(2.0)
        run.expect(
            np.allclose(two, 2.0 * one, rtol=1e-9, atol=1e-9),
            f"the terms in _model_columns are not linear in {field}: override _model_columns to list only "
            "the linear ones.",
        )
    if not est.uses_weights:
        run.expect(
            a.standard_error > b.standard_error,
            f"a model-only estimator's standard error did not grow with the model's own error "
            f"({a.standard_error!r} vs {b.standard_error!r} with fixed predictions).",
        )


@_as_check
def check_unbiased(run: _Run) -> None:
    """Over 300 logs of 300 rows, the mean estimate is within 4.5 standard errors of the truth (a q right on
    average is given; self-normalised estimators' O(1/n) bias is far below that tolerance here)."""
    est = copy.deepcopy(run.estimator)
    est.n_bootstrap = 0
    values, truths = [], []
    for seed in range(300):
        log = SyntheticLog(300, seed=1000 + seed)
        values.append(run.estimate(f"estimating on log {seed}", log.feedback, TARGET, run.q(log), estimator=est).value)
        truths.append(log.truth)
    errors = np.asarray(values) - np.asarray(truths)
    se = float(np.std(errors, ddof=1) / np.sqrt(errors.size))
    bias = float(errors.mean())
    run.expect(
        abs(bias) <= _SE_BOUND * se,
        f"the mean error over 300 logs is {bias:.4g}, more than {_SE_BOUND} standard errors ({se:.3g}) from 0.",
    )


@_as_check
def check_bad_inputs_raise(run: _Run) -> None:
    """Bad inputs raise :class:`~abrec.errors.InputError` naming what is wrong."""
    log = SyntheticLog(100, seed=8)
    fb, q = log.feedback, log.q
    cases: list[tuple[str, Any, Any, Any, dict[str, Any], str]] = [
        ("feedback that is not a LoggedFeedback", {"reward": fb.reward}, TARGET, q, {}, "LoggedFeedback"),
        ("action_dist of a wrong shape", fb, TARGET[:3], q, {}, "action_dist"),
        ("action_dist not summing to 1", fb, TARGET * 2, q, {}, "sum"),
        ("estimated_rewards of a wrong shape", fb, TARGET, q[:, :3], {}, "estimated_rewards"),
        ("estimated_rewards with NaN", fb, TARGET, np.where(q > 0.5, np.nan, q), {}, "estimated_rewards"),
        ("logging_dist of a wrong shape", fb, TARGET, q, {"logging_dist": np.ones((2, 2))}, "logging_dist"),
    ]
    if run.estimator.needs_reward_model:
        cases.append(("no reward model", fb, TARGET, None, {}, "estimated_rewards"))
    for what, feedback, dist, rewards, kw, word in cases:
        run.step = f"estimating with {what}"
        try:
            run.estimator.estimate(feedback, dist, rewards, **kw)
        except InputError as exc:
            run.expect(word in str(exc), f"with {what}, the InputError does not mention {word!r}: {exc}")
        else:
            run.fail(f"{what} raised no InputError.")


_CHECKS: tuple[Callable[[EstimatorLike], None], ...] = (
    check_result_record,
    check_same_seed_same_result,
    check_inputs_not_mutated,
    check_on_policy_mean_reward,
    check_reward_scale,
    check_reward_shift,
    check_perfect_reward_model,
    check_fitted_reward_model,
    check_unbiased,
    check_bad_inputs_raise,
)


# ---------------------------------------------------------------------------------------------- runners
def _expected(expected_failures: Mapping[tuple[str, str], str] | None, where: str) -> dict[tuple[str, str], str]:
    known = [check.__name__ for check in _CHECKS]
    return _validate_expected(expected_failures, where, kind="estimator", known=known)


def _instance(estimator: EstimatorLike) -> Estimator:
    return estimator() if isinstance(estimator, type) else estimator


def estimator_checks(
    estimator: EstimatorLike, *, expected_failures: Mapping[tuple[str, str], str] | None = None
) -> Iterator[tuple[str, Callable[[], None]]]:
    """The conformance checks of ``estimator`` as ``(check_name, check)`` pairs; ``check()`` runs one.

    Parameters
    ----------
    estimator : an estimator instance, or a class (built with its defaults).
    expected_failures : ``{(estimator_name, check_name): reason}``; a listed check passes when it fails and
        fails when it passes (strict). Entries for other estimators are ignored.

    Examples
    --------
    >>> from abrec.ope import IPW
    >>> [name for name, _ in estimator_checks(IPW)][:2]
    ['check_result_record', 'check_same_seed_same_result']
    """
    expected = _expected(expected_failures, "estimator_checks")
    est = _instance(estimator)
    pairs: list[tuple[str, Callable[[], None]]] = []
    for check in _CHECKS:
        bound: Callable[[], None] = functools.partial(check, est)
        reason = expected.get((est.name, check.__name__))
        if reason is not None:
            bound = _expecting_failure(bound, _label(est), check.__name__, reason)
        pairs.append((check.__name__, bound))
    return iter(pairs)


def check_estimator(
    estimator: EstimatorLike, *, expected_failures: Mapping[tuple[str, str], str] | None = None
) -> None:
    """Run every estimator check on ``estimator``; raise one AssertionError listing all failures.

    Examples
    --------
    >>> from abrec.ope import SNIPW
    >>> check_estimator(SNIPW(n_bootstrap=20))
    """
    run_all(list(estimator_checks(estimator, expected_failures=expected_failures)), "estimator")


def parametrize_estimator_checks(
    estimators: Iterable[EstimatorLike], *, expected_failures: Mapping[tuple[str, str], str] | None = None
) -> Any:
    """A ``pytest.mark.parametrize`` over every (estimator, check) pair, with ids ``"<name>-<check>"``.

    The test receives ``estimator`` and ``check`` and calls ``check(estimator)``; expected failures are
    marked ``xfail(strict=True)`` with their reason.

    Examples
    --------
    >>> from abrec.ope import registered_estimators
    >>> @parametrize_estimator_checks(registered_estimators().values())
    ... def test_estimator(estimator, check):
    ...     check(estimator)
    """
    expected = _expected(expected_failures, "parametrize_estimator_checks")
    instances = [_instance(e) for e in estimators]
    names = [e.name for e in instances]
    return _parametrize(("estimator", "check"), instances, names, _CHECKS, expected, "estimator")
