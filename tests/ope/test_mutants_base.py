"""The estimator protocol (abrec.ope.base): edges that mutation testing (``make mutate``) found untested.

Defaults and parameter checks, the standard error on tiny logs, ``logging_dist`` reaching the
support check from ``value`` and ``estimate_all``, the reward model's influence entering the terms
through the right derivatives, the bootstrap's chunks, rows and seeds, the cache of resample counts,
the registry, and the protocol as a custom estimator sees it (more than one term, no gradient,
``n_rows`` in ``_combine``, a ratio that divides by zero on some resamples).
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import pytest

from abrec.errors import ExtremeWeightsWarning, InputError, ParameterError, SupportError
from abrec.ope import (
    IPW,
    SNIPW,
    DirectMethod,
    DoublyRobust,
    Estimator,
    LoggedFeedback,
    RewardEstimates,
    Rows,
    SelfNormalizedDoublyRobust,
    SwitchDoublyRobust,
    base,
    estimate_all,
    make_estimator,
)
from abrec.ope.model_influence import ModelInfluence

FloatArray = npt.NDArray[np.float64]


def _log(n: int = 40, seed: int = 0) -> tuple[LoggedFeedback, FloatArray, FloatArray]:
    rng = np.random.default_rng(seed)
    action = rng.integers(0, 3, n)
    fb = LoggedFeedback.from_arrays(action=action, reward=rng.normal(1.0, 1.0, n), propensity=1 / 3, n_actions=3)
    return fb, rng.dirichlet(np.ones(3), size=n), rng.normal(0.5, 0.5, (n, 3))


# ---------------------------------------------------------------------------- parameters, Rows
def test_defaults() -> None:
    # Mutants: the defaults n_bootstrap=200 -> 201 and seed=0 -> 1.
    assert IPW().get_params() == {"alpha": 0.05, "n_bootstrap": 200, "seed": 0, "ess_threshold": 0.01}
    fb, pi, _ = _log()
    r = IPW().estimate(fb, pi)
    assert (r.n_bootstrap, r.seed) == (200, 0)
    explicit = IPW(n_bootstrap=200, seed=0).estimate(fb, pi)
    assert (r.ci_low, r.ci_high) == (explicit.ci_low, explicit.ci_high)


def test_seed_may_be_none_or_a_generator() -> None:
    # Mutant: `seed is None or isinstance(seed, Generator)` -> `and` (both rejected).
    fb, pi, _ = _log()
    for seed in (None, np.random.default_rng(0)):
        r = IPW(seed=seed).estimate(fb, pi)
        assert r.seed is None and math.isfinite(r.ci_low)
    with pytest.raises(ParameterError):
        IPW(seed=1.5)  # type: ignore[arg-type]


def test_repr_lists_the_parameters() -> None:
    assert repr(SwitchDoublyRobust(tau=10.0)) == (
        "SwitchDoublyRobust(tau=10.0, bias_upper_bound=False, delta=0.05, alpha=0.05, n_bootstrap=200, seed=0, "
        "ess_threshold=0.01)"
    )


def test_rows_model_needs_both_predictions() -> None:
    # Mutant: `q_logged is None or dm is None` -> `and` (half a model passed).
    one = np.ones(2)
    rows = Rows(
        reward=one, weight=one, target=one, propensity=one, position=np.zeros(2, np.int64), q_logged=one, dm=None
    )
    with pytest.raises(InputError, match=r"^dr needs a reward model"):
        rows.model("dr")
    with pytest.raises(InputError, match=r"^dm needs a reward model"):
        Rows(**{**rows.__dict__, "q_logged": None, "dm": one}).model("dm")


# ---------------------------------------------------------------------------- standard error
@pytest.mark.parametrize("n", [2, 3, 5])
def test_standard_error_of_a_mean_on_tiny_logs(n: int) -> None:
    # std(w r, ddof=1) / sqrt(n), also with two or three rows. Mutants: `n < 2` -> `n <= 2`, `n < 3`;
    # the (n - 1) of the variance -> (n + 1), (n - 2).
    fb = LoggedFeedback.from_arrays(action=[0, 1, 1, 0, 1][:n], reward=[1.0, 0.0, 3.0, 2.0, 0.5][:n], propensity=0.5)
    terms = 0.8 / 0.5 * np.where(fb.action == 0, 1.0, 0.25) * fb.reward
    r = IPW(n_bootstrap=0, ess_threshold=0.0).estimate(fb, [[0.8], [0.2]])
    assert r.value == pytest.approx(terms.mean(), rel=1e-12)
    assert r.standard_error == pytest.approx(terms.std(ddof=1) / math.sqrt(n), rel=1e-12)


# ---------------------------------------------------------------------------- logging_dist, warnings
def test_value_and_estimate_all_pass_logging_dist_on() -> None:
    # The log shows actions 0 and 1 with propensity 0.5; logging_dist says action 1 is never taken.
    # Mutants: `logging_dist` dropped (or None) in `value` and in `estimate_all`.
    fb = LoggedFeedback.from_arrays(action=[0, 1, 0, 1], reward=[1.0, 0.0, 1.0, 1.0], propensity=0.5)
    target = [[0.5], [0.5]]
    assert IPW().value(fb, target) == 0.75
    with pytest.raises(SupportError):
        IPW().value(fb, target, logging_dist=[[1.0], [0.0]])
    with pytest.raises(SupportError):
        estimate_all(fb, target, names=["ipw"], logging_dist=[[1.0], [0.0]])
    q = np.zeros((4, 2))
    with pytest.raises(InputError, match="logging_dist must have shape"):  # validated even where unused
        DirectMethod().value(fb, target, q, logging_dist=[1.0, 0.0])
    with pytest.raises(InputError, match="logging_dist must have shape"):
        estimate_all(fb, target, q, names=["dm"], logging_dist=[1.0, 0.0])


def test_value_warns_with_the_estimators_name() -> None:
    # Mutant: `warn_extreme_weights(..., None)` in `value` ("None: the importance weights' ...").
    fb = LoggedFeedback.from_arrays(action=[0] + [1] * 99, reward=np.ones(100), propensity=0.5)
    with pytest.warns(ExtremeWeightsWarning, match=r"^snipw: "):
        SNIPW(ess_threshold=0.5).value(fb, [[1.0], [0.0]])


# ---------------------------------------------------------------------------- the reward model's influence
class _LinearInfluence(ModelInfluence):
    """A stand-in influence whose row terms are ``d_logged * a + d_dm * b`` (fixed per-row a, b), centred
    (as the real ones, whose columns sum to zero)."""

    def row_terms(self, action, pi, d_logged, d_dm):  # type: ignore[no-untyped-def,override]
        out = d_logged * self.slope[:, :1] + d_dm * self.slope[:, 1:2]
        return out - out.mean(axis=0)


def _with_influence(q: FloatArray, seed: int = 1) -> RewardEstimates:
    n = q.shape[0]
    ab = np.random.default_rng(seed).normal(0.0, 1.0, (n, 2))
    influence = _LinearInfluence(
        context=np.zeros((n, 1)), actions=np.zeros((3, 1)), link="identity", folds=(), slope=ab
    )
    return RewardEstimates(
        values=q, fold=np.zeros(n, np.int64), model="stub", n_folds=2, seed=0, heldout_brier=0.0, influence=influence
    )


def test_model_influence_enters_through_the_terms_derivatives() -> None:
    # DR's term dm + w (r - q) moves by -w per unit of q(x_i, a_i) and by 1 per unit of dm_i; SNDR's terms
    # [dm, w (r - q), w] by [0, -w, 0] and [1, 0, 0]. Mutants: `- terms` -> `+ terms`, the shift of
    # q_logged or dm dropped, -1.0 for +1.0, +2.0 for +1.0.
    fb, pi, q = _log()
    n = fb.n_rows
    est = _with_influence(q)
    a, b = est.influence.slope[:, 0], est.influence.slope[:, 1]  # type: ignore[union-attr]
    w = pi[np.arange(n), fb.action] * 3.0
    resid = fb.reward - q[np.arange(n), fb.action]
    dm = (pi * q).sum(axis=1)
    dr_terms = dm + w * resid - w * a + b
    r = DoublyRobust(n_bootstrap=0).estimate(fb, pi, est)
    assert r.value == pytest.approx((dm + w * resid).mean(), rel=1e-12)  # the point estimate does not move
    assert r.standard_error == pytest.approx(dr_terms.std(ddof=1) / math.sqrt(n), rel=1e-10)
    big_a, big_c, big_b = dm.mean(), (w * resid).mean(), w.mean()
    cols = np.column_stack([dm + b, w * resid - w * a, w])
    grad = np.array([1.0, 1.0 / big_b, -big_c / big_b**2])
    psi = (cols - cols.mean(axis=0)) @ grad
    r = SelfNormalizedDoublyRobust(n_bootstrap=0).estimate(fb, pi, est)
    assert r.value == pytest.approx(big_a + big_c / big_b, rel=1e-12)
    assert r.standard_error == pytest.approx(math.sqrt(psi @ psi / (n - 1) / n), rel=1e-10)


# ---------------------------------------------------------------------------- custom estimators
class _Total(Estimator):
    """The log's total reward, ``n_rows * mean(r)``: a ``_combine`` that reads ``n_rows``."""

    name: ClassVar[str] = "test_total"
    uses_weights: ClassVar[bool] = False

    def __init__(self, **common: object) -> None:
        super().__init__(**common)  # type: ignore[arg-type]
        self._calls = 0  # private state: not a parameter

    def _terms(self, rows: Rows) -> FloatArray:
        self._calls += 1
        return rows.reward[:, None]

    def _combine(self, means: FloatArray, n_rows: int) -> FloatArray:
        out: FloatArray = means[:, 0] * n_rows
        return out


class _Ratio(Estimator):
    """``mean(x) / mean(y)`` over two columns, without an errstate of its own and without a gradient."""

    name: ClassVar[str] = "test_ratio"
    uses_weights: ClassVar[bool] = False

    def _terms(self, rows: Rows) -> FloatArray:
        return np.column_stack([rows.reward, rows.weight])

    def _combine(self, means: FloatArray, n_rows: int) -> FloatArray:
        out: FloatArray = means[:, 0] / means[:, 1]
        return out


def test_custom_estimator_protocol() -> None:
    # `_combine` gets n_rows on the resamples too; private attributes are not parameters.
    # Mutants: `_resample` passed None for n_rows; `get_params` kept names starting with "_".
    fb = LoggedFeedback.from_arrays(action=[0, 1, 0, 1, 0], reward=[1.0, 2.0, 3.0, 4.0, 5.0], propensity=0.5)
    est = _Total(n_bootstrap=100, seed=0)
    r = est.estimate(fb, [[0.5], [0.5]])
    assert r.value == pytest.approx(15.0) and 5.0 <= r.ci_low < r.ci_high <= 25.0
    assert est.get_params() == {"alpha": 0.05, "n_bootstrap": 100, "seed": 0, "ess_threshold": 0.01}
    assert repr(type(est)(**est.get_params())) == repr(est)


def test_estimator_with_several_terms_and_no_gradient() -> None:
    # The default `_gradient` has one only for a single term: with two, no delta-method SE (NaN without a
    # bootstrap, the bootstrap's otherwise). Mutant: `means.shape[0] == 1 or True` (a shape error).
    fb = LoggedFeedback.from_arrays(action=[0, 1, 0, 1, 1, 0], reward=[1.0, 0.0, 1.0, 1.0, 0.0, 1.0], propensity=0.5)
    target = [[0.7], [0.3]]
    r = _Ratio(n_bootstrap=0).estimate(fb, target)
    assert math.isnan(r.standard_error) and math.isnan(r.ci_low)
    r = _Ratio(n_bootstrap=50).estimate(fb, target)
    assert r.standard_error > 0 and r.ci_low < r.value < r.ci_high


@pytest.mark.parametrize("reward", [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
def test_resamples_that_divide_by_zero_are_dropped_quietly(reward: list[float]) -> None:
    # Only row 0 has weight (the target never takes action 1): about 30% of the resamples miss it, and
    # mean(r) / mean(w) is 0 / 0 (reward 0 on the other rows) or x / 0 (reward 1). The bootstrap keeps
    # numpy quiet for an estimator that does not. Mutants: `divide` or `invalid` dropped from its errstate.
    fb = LoggedFeedback.from_arrays(action=[0, 1, 1], reward=reward, propensity=0.5)
    r = _Ratio(n_bootstrap=200, seed=0).estimate(fb, [[1.0], [0.0]])
    assert math.isfinite(r.ci_low) and math.isfinite(r.ci_high)


# ---------------------------------------------------------------------------- bootstrap draws
def test_bootstrap_chunks_fill_every_resample(monkeypatch: pytest.MonkeyPatch) -> None:
    # Chunks of 2 resamples (8 cells / 4 rows): 7 resamples in 4 chunks, equal to drawing them at once.
    # Mutant: `start += b` -> `start = b` (later chunks overwrite earlier ones, the last never written).
    terms = np.array([[1.0], [2.0], [4.0], [8.0]])
    est = IPW(n_bootstrap=7)
    whole = est._bootstrap(terms, np.random.default_rng(3))
    monkeypatch.setattr(base, "_MAX_CELLS", 8)
    assert [c.shape[0] for c in base.resample_counts(np.random.default_rng(3), 4, 7)] == [2, 2, 2, 1]
    np.testing.assert_array_equal(est._bootstrap(terms, np.random.default_rng(3)), whole)


def test_bootstrap_draws_every_row() -> None:
    # Two rows, rewards 1 and 0: a quarter of the resamples are row 0 twice (mean 1), a quarter row 1 twice.
    # Mutant: `rng.integers(0, n)` -> `rng.integers(1, n)` (row 0 never drawn: every resample mean 0).
    fb = LoggedFeedback.from_arrays(action=[0, 1], reward=[1.0, 0.0], propensity=0.5)
    r = IPW(n_bootstrap=400, seed=0, ess_threshold=0.0).estimate(fb, [[0.5], [0.5]])
    assert (r.ci_low, r.ci_high) == (0.0, 1.0)
    counts = np.concatenate(list(base.resample_counts(0, 5, 400)))
    assert counts.shape == (400, 5) and (counts.sum(axis=1) == 5).all() and (counts.sum(axis=0) > 300).all()


def test_int_seeds_are_honoured_and_small_draws_cached() -> None:
    # Counts for an int seed come from default_rng(seed), cached while n * total <= _CACHED_CELLS (the
    # boundary included) as read-only chunks; larger ones are drawn afresh. Mutants: the seed replaced by
    # None, `and` -> `or`, `is int` -> `is not int`, `n * total` -> `n / total`, `<=` -> `<`.
    base._cached_counts.cache_clear()
    try:
        first = base.resample_counts(11, 6, 50)
        assert isinstance(first, tuple) and base.resample_counts(11, 6, 50) is first
        assert not first[0].flags.writeable
        reference = np.concatenate(list(base._draw_counts(np.random.default_rng(11), 6, 50)))
        np.testing.assert_array_equal(np.concatenate(first), reference)
        other = np.concatenate(base.resample_counts(12, 6, 50))
        assert not np.array_equal(other, reference)
        n = 1 << 11
        assert isinstance(base.resample_counts(5, n, base._CACHED_CELLS // n), tuple)  # at the boundary
        big = base.resample_counts(5, n, base._CACHED_CELLS // n + 1)
        assert not isinstance(big, tuple)
    finally:
        base._cached_counts.cache_clear()


def test_generator_seeds_are_honoured_and_never_cached() -> None:
    # A Generator's draws come from it (reproducible from its seed) and advance it: the same Generator
    # never gives the same counts twice. Mutants: `as_generator(seed)` -> `as_generator(None)`; caching
    # keyed on the Generator (`and` -> `or`, `is int` -> `is not int`).
    gen = np.random.default_rng(21)
    first = np.concatenate(list(base.resample_counts(gen, 6, 50)))
    np.testing.assert_array_equal(first, np.concatenate(list(base.resample_counts(np.random.default_rng(21), 6, 50))))
    second = np.concatenate(list(base.resample_counts(gen, 6, 50)))
    assert not np.array_equal(first, second)
    fb, pi, _ = _log()
    est = IPW(seed=np.random.default_rng(4))
    assert est.estimate(fb, pi).ci_low != est.estimate(fb, pi).ci_low
    assert (
        IPW(seed=np.random.default_rng(4)).estimate(fb, pi).ci_low
        == IPW(seed=np.random.default_rng(4)).estimate(fb, pi).ci_low
    )


# ---------------------------------------------------------------------------- registry
def test_register_estimator(monkeypatch: pytest.MonkeyPatch) -> None:
    # Mutants: every part of `register_estimator`'s name and duplicate checks, and the stored class.
    monkeypatch.setattr(base, "_REGISTRY", dict(base._REGISTRY))
    assert base.register_estimator(_Total) is _Total
    assert base.register_estimator(_Total) is _Total  # the same class again: fine
    assert type(make_estimator("test_total")) is _Total
    for bad in (None, "", 5):
        cls = type("Bad", (Estimator,), {"name": bad, "_terms": _Ratio._terms})
        with pytest.raises(ParameterError, match="non-empty str 'name'"):
            base.register_estimator(cls)
    no_name = type("NoName", (Estimator,), {"_terms": _Ratio._terms})
    with pytest.raises(ParameterError, match="non-empty str 'name'"):
        base.register_estimator(no_name)
    clash = type("Clash", (_Ratio,), {"name": "ipw"})
    with pytest.raises(ParameterError, match="'ipw' is taken by IPW"):
        base.register_estimator(clash)
    assert make_estimator("ipw").__class__ is IPW


# ---------------------------------------------------------------------------- rows
def test_rows_hold_the_per_row_arrays() -> None:
    # Mutants: `target=None`, `position=None`, and `q_logged = dm = ""` (not None) without a reward model.
    fb = LoggedFeedback.from_arrays(
        action=[0, 1, 2, 1], reward=[1.0, 0.0, 2.0, 1.0], propensity=[0.5, 0.25, 0.25, 0.5], position=[0, 1, 0, 1]
    )
    dist = np.array([[0.2, 0.6], [0.3, 0.3], [0.5, 0.1]])  # (n_actions, n_positions)
    rows = IPW().rows(fb, dist)
    target = dist[fb.action, fb.position]
    np.testing.assert_array_equal(rows.target, target)
    np.testing.assert_array_equal(rows.weight, target / fb.propensity)
    np.testing.assert_array_equal(rows.position, [0, 1, 0, 1])
    np.testing.assert_array_equal(rows.propensity, fb.propensity)
    np.testing.assert_array_equal(rows.reward, fb.reward)
    np.testing.assert_array_equal(rows.action, fb.action)
    np.testing.assert_array_equal(rows.pi, dist.T[fb.position])
    assert rows.q_logged is None and rows.dm is None and rows.n_rows == 4


def test_reward_model_of_any_numeric_array_like() -> None:
    # An object array of numbers (what pandas gives for mixed columns) is read as float64.
    # Mutant: `np.asarray(estimated_rewards, dtype=np.float64)` without the dtype (isfinite fails on objects).
    fb, pi, q = _log(8)
    as_objects = np.array(q.tolist(), dtype=object)
    assert DoublyRobust().value(fb, pi, as_objects) == DoublyRobust().value(fb, pi, q)


def test_dm_normalises_the_target_over_actions() -> None:
    # Rows of the target may sum to 1 within 1e-6 (accepted): dm is np.average(q, weights=pi), as OBP.
    # Mutant: `einsum(pi, q) / pi.sum(axis=1)` -> `* pi.sum(axis=1)`.
    fb, pi, q = _log(8)
    pi = pi * (1.0 + 1e-6)
    assert DirectMethod().value(fb, pi, q) == pytest.approx(np.average(q, weights=pi, axis=1).mean(), rel=1e-13)
    assert DirectMethod().value(fb, pi, q) != pytest.approx((pi * q).sum(axis=1).mean(), rel=1e-9)


class _Deterministic(_Total):
    """An estimator for deterministic targets only: its ``_check_inputs`` reads the target."""

    name: ClassVar[str] = "test_deterministic"

    def _check_inputs(self, feedback: LoggedFeedback, pi: FloatArray) -> None:
        if not np.isin(pi, (0.0, 1.0)).all():
            raise InputError("test_deterministic needs a deterministic target.")


def test_check_inputs_sees_the_target() -> None:
    # Mutant: `self._check_inputs(feedback, None)`.
    fb = LoggedFeedback.from_arrays(action=[0, 1, 0], reward=[1.0, 2.0, 3.0], propensity=0.5)
    assert _Deterministic().value(fb, [[1.0], [0.0]]) == pytest.approx(6.0)
    with pytest.raises(InputError, match="deterministic"):
        _Deterministic().value(fb, [[0.5], [0.5]])


# ---------------------------------------------------------------------------- estimate
def test_estimate_warns_with_the_estimators_name() -> None:
    # Mutant: `warn_extreme_weights(..., None)` in `estimate`.
    fb = LoggedFeedback.from_arrays(action=[0] + [1] * 99, reward=np.ones(100), propensity=0.5)
    with pytest.warns(ExtremeWeightsWarning, match=r"^ipw: "):
        IPW(ess_threshold=0.5).estimate(fb, [[1.0], [0.0]])


class _TotalWithParams(_Total):
    name: ClassVar[str] = "test_total_params"

    def _params(self, terms: FloatArray, n_rows: int) -> dict[str, float]:
        return {"rows": float(n_rows)}


def test_params_get_the_number_of_rows() -> None:
    # Mutant: `self._params(terms, None)`.
    fb = LoggedFeedback.from_arrays(action=[0, 1, 0], reward=[1.0, 2.0, 3.0], propensity=0.5)
    assert _TotalWithParams(n_bootstrap=0).estimate(fb, [[0.5], [0.5]]).params == {"rows": 3.0}


def test_normal_interval_without_bootstrap() -> None:
    # value -+ z_{1 - alpha/2} se. Mutants: alpha / 3, `z / se`.
    fb, pi, _ = _log()
    for alpha in (0.05, 0.2):
        r = IPW(n_bootstrap=0, alpha=alpha).estimate(fb, pi)
        z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
        assert r.ci_low == pytest.approx(r.value - z * r.standard_error, rel=1e-12)
        assert r.ci_high == pytest.approx(r.value + z * r.standard_error, rel=1e-12)


def _boot(est: Estimator, terms: FloatArray, seed: int) -> FloatArray:
    """The resample estimates, drawn independently of ``Estimator._bootstrap``."""
    n = terms.shape[0]
    idx = np.random.default_rng(seed).integers(0, n, size=(est.n_bootstrap, n))
    counts = np.stack([np.bincount(row, minlength=n) for row in idx]).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return est._combine(counts @ terms / n, n)


def test_percentile_interval_and_bootstrap_standard_error() -> None:
    # The interval is the (alpha/2, 1 - alpha/2) quantiles of the resample estimates; an estimator
    # without a delta-method SE reports their std (ddof=1). Mutants: alpha / 3 at either end; ddof 0 or 2.
    fb, pi, _ = _log()
    for alpha in (0.05, 0.3):
        est = IPW(n_bootstrap=300, seed=7, alpha=alpha)
        r = est.estimate(fb, pi)
        boot = _boot(est, est._terms(est.rows(fb, pi)), 7)
        low, high = np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0])
        assert (r.ci_low, r.ci_high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    ratio = _Ratio(n_bootstrap=300, seed=7)
    r = ratio.estimate(fb, pi)
    boot = _boot(ratio, ratio._terms(ratio.rows(fb, pi)), 7)
    assert r.standard_error == pytest.approx(np.std(boot, ddof=1), rel=1e-12)


def test_one_or_two_resamples() -> None:
    # One resample: the interval is that resample's estimate at both ends (an estimator with a delta-method
    # SE keeps it; one without has none, quietly); two resamples: their std. Mutants: `n_bootstrap > 0`
    # -> `> 1` (a normal interval), `finite.size > 1` -> `>= 1` (std of one value warns), -> `> 2`.
    fb, pi, _ = _log()
    r = IPW(n_bootstrap=1, seed=3).estimate(fb, pi)
    assert r.ci_low == r.ci_high != r.value and r.standard_error == IPW(n_bootstrap=0).estimate(fb, pi).standard_error
    r = _Ratio(n_bootstrap=1, seed=3).estimate(fb, pi)
    assert r.ci_low == r.ci_high and math.isnan(r.standard_error)
    two = _Ratio(n_bootstrap=2, seed=3)
    r = two.estimate(fb, pi)
    boot = _boot(two, two._terms(two.rows(fb, pi)), 3)
    assert boot[0] != boot[1] and r.standard_error == pytest.approx(np.std(boot, ddof=1), rel=1e-12)


def test_no_finite_resample_gives_a_nan_interval() -> None:
    # Every weight 0: every resample of SNIPW is 0 / 0. The interval is NaN (a float), quietly.
    # Mutant: `low = high = None`.
    fb = LoggedFeedback.from_arrays(action=[0, 0, 0], reward=[1.0, 0.0, 1.0], propensity=0.5, n_actions=2)
    r = SNIPW(n_bootstrap=20, ess_threshold=0.0).estimate(fb, [[0.0], [1.0]])
    assert math.isnan(r.ci_low) and math.isnan(r.ci_high) and math.isnan(r.value)
