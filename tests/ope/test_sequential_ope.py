"""Sequential off-policy estimators (PDIS, WPDIS, trajectory DR and weighted DR) on session logs.

References are computed independently of the estimators' code: exact expectations by enumerating every
trajectory of a tiny 2-step MDP, a loop for WPDIS, dynamic programming for the Q-function of a deterministic
MDP, and the on-policy rollout of a trained agent in the simulator (the coverage study of
``benchmarks/seq_ope.py`` on a small budget).
"""

from __future__ import annotations

import itertools
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from abrec.data.interactions import InteractionLog
from abrec.errors import ExtremeWeightsWarning, InputError, ParameterError, UnknownNameError
from abrec.ope import (
    PDIS,
    WPDIS,
    FittedQEvaluation,
    QEstimates,
    SessionRequests,
    SessionTarget,
    TrajectoryDoublyRobust,
    WeightedTrajectoryDoublyRobust,
    estimate_sessions,
    session_estimators,
    session_returns,
    session_target,
)
from abrec.policies import UniformRandom

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _bench() -> Any:
    """The benchmark module ``benchmarks/seq_ope.py`` (its study and recording logger)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import seq_ope
    finally:
        sys.path.remove(str(BENCHMARKS))
    return seq_ope


def _log(session: Any, step: Any, item: Any, reward: Any, propensity: Any) -> InteractionLog:
    session = np.asarray(session).astype(str)
    return InteractionLog.from_arrays(
        unit=session, item=np.asarray(item), timestamp=0, reward=np.asarray(reward, dtype=float),
        propensity=np.asarray(propensity, dtype=float), session_id=session, step=np.asarray(step),
    )  # fmt: skip


def _random_sessions(rng: np.random.Generator, n: int, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    lengths = rng.integers(1, max_len + 1, size=n)
    session = np.repeat(np.arange(n), lengths)
    step = np.concatenate([np.arange(k) for k in lengths])
    return session, step


# ---------------------------------------------------------------------- exact properties
def test_pdis_and_wpdis_equal_the_on_policy_mean_return_when_target_is_the_logger() -> None:
    rng = np.random.default_rng(0)
    session, step = _random_sessions(rng, 300, 6)
    p = rng.uniform(0.05, 1.0, size=session.size)
    reward = rng.binomial(1, 0.3, size=session.size).astype(float)
    log = _log(session, step, rng.integers(0, 5, session.size), reward, p)
    for gamma in (1.0, 0.8):
        on_policy = session_returns(log, gamma=gamma).mean()
        assert PDIS(gamma=gamma).value(log, p) == pytest.approx(on_policy, rel=1e-12)
        assert WPDIS(gamma=gamma).value(log, p) == pytest.approx(on_policy, rel=1e-12)
    # A different target moves the estimate (the ratios are used).
    assert PDIS().value(log, np.minimum(1.0, 2 * p)) != pytest.approx(session_returns(log).mean())


def test_wpdis_with_a_deterministic_greedy_target_averages_the_sessions_that_followed_it() -> None:
    rng = np.random.default_rng(1)
    session, step = _random_sessions(rng, 400, 4)
    greedy = rng.integers(0, 3, size=session.size)
    explore = rng.random(session.size) < 0.3
    item = np.where(explore, rng.integers(0, 3, size=session.size), greedy)
    logged_p = np.where(item == greedy, 0.7 + 0.3 / 3, 0.3 / 3)
    reward = rng.binomial(1, 0.4, size=session.size).astype(float)
    log = _log(session, step, item, reward, logged_p)
    target = (item == greedy).astype(float)
    # Reference: at step t, the reward averaged over the sessions greedy at every step so far, each weighing
    # 1 / 0.8 per greedy step; a session that ended keeps the weight of its last step and adds reward 0.
    expected = 0.0
    for t in range(4):
        num = den = 0.0
        for s in np.unique(session):
            rows = np.flatnonzero(session == s)
            upto = rows[step[rows] <= t]
            if (item[upto] == greedy[upto]).all():
                weight = (1 / 0.8) ** upto.size
                den += weight
                num += weight * reward[rows[step[rows] == t]].sum()
        expected += num / den
    assert WPDIS().value(log, target) == pytest.approx(expected, rel=1e-12)


def _two_step_mdp() -> tuple[list[tuple[float, float, list[tuple[int, int, float, float, float]]]], float]:
    """Every trajectory of a 2-step MDP: (P under the logger, P under the target, rows), and the target's value.

    x0 ~ Bernoulli(0.4); step 0 shows item a0 with reward r0 ~ Bernoulli(p0[x0, a0]); the user stays for step 1
    with probability 0.9 after a click and 0.5 otherwise; step 1 shows a1 (the policies read x0, a0 and r0),
    reward r1 ~ Bernoulli(p1[x0, a0, a1]). Rows: (step, item, reward, logger's p, target's p).
    """
    gamma = 0.9
    p0 = np.array([[0.2, 0.6], [0.7, 0.1]])
    p1 = np.array([[[0.5, 0.1], [0.3, 0.9]], [[0.8, 0.2], [0.4, 0.6]]])
    mu0 = lambda x, a: [0.7 - 0.4 * x, 0.3 + 0.4 * x][a]  # noqa: E731
    pi0 = lambda x, a: [0.2 + 0.6 * x, 0.8 - 0.6 * x][a]  # noqa: E731
    mu1 = lambda x, a0, r0, a: [0.8 - 0.6 * a0, 0.2 + 0.6 * a0][a]  # noqa: E731
    pi1 = lambda x, a0, r0, a: [0.1 + 0.8 * r0, 0.9 - 0.8 * r0][a]  # noqa: E731
    bern = lambda p, r: p if r else 1 - p  # noqa: E731
    out, value = [], 0.0
    for x, a0, r0 in itertools.product((0, 1), (0, 1), (0, 1)):
        base = bern(0.4, x) * bern(p0[x, a0], r0)
        stay = 0.9 if r0 else 0.5
        first = (0, a0, float(r0), mu0(x, a0), pi0(x, a0))
        out.append((base * mu0(x, a0) * (1 - stay), base * pi0(x, a0) * (1 - stay), [first]))
        value += base * pi0(x, a0) * r0
        for a1, r1 in itertools.product((0, 1), (0, 1)):
            p = base * stay * bern(p1[x, a0, a1], r1)
            second = (1, a1, float(r1), mu1(x, a0, r0, a1), pi1(x, a0, r0, a1))
            out.append((p * mu0(x, a0) * mu1(x, a0, r0, a1), p * pi0(x, a0) * pi1(x, a0, r0, a1), [first, second]))
            value += p * pi0(x, a0) * pi1(x, a0, r0, a1) * gamma * r1
    return out, value


def test_pdis_and_dr_are_unbiased_exactly_on_a_two_step_mdp() -> None:
    trajectories, truth = _two_step_mdp()
    assert sum(p for p, _, _ in trajectories) == pytest.approx(1.0)
    assert sum(q for _, q, _ in trajectories) == pytest.approx(1.0)
    rng = np.random.default_rng(2)
    q_table = rng.uniform(-1.0, 2.0, size=(2, 16, 2))  # an arbitrary (wrong) Q-hat per step, history and item
    expected: dict[str, float] = {"pdis": 0.0, "seq_dr": 0.0, "wpdis": 0.0}
    for p_log, _, rows in trajectories:
        step, item, reward, mu, pi = (np.array(c) for c in zip(*rows, strict=True))
        log = _log(["s"] * len(rows), step, item, reward, mu)
        # Q-hat reads the history (a hash of the rows so far); V-hat averages it over the target's two items.
        q = np.empty(len(rows))
        v = np.empty(len(rows))
        for t in range(len(rows)):
            h = hash(tuple(rows[u][:3] for u in range(t))) % 16
            q[t] = q_table[t, h, item[t]]
            p_item = pi[t]
            p_other = 1.0 - p_item
            v[t] = p_item * q_table[t, h, item[t]] + p_other * q_table[t, h, 1 - item[t]]
        expected["pdis"] += p_log * PDIS(gamma=0.9).value(log, pi)
        expected["wpdis"] += p_log * WPDIS(gamma=0.9).value(log, pi)
        expected["seq_dr"] += p_log * TrajectoryDoublyRobust(gamma=0.9).value(log, pi, q_model=QEstimates(q=q, v=v))
    assert expected["pdis"] == pytest.approx(truth, abs=1e-12)
    assert expected["seq_dr"] == pytest.approx(truth, abs=1e-12)
    assert abs(expected["wpdis"] - truth) > 1e-3  # self-normalised: biased (on one session it is the return)


def _deterministic_mdp(
    rng: np.random.Generator, n: int, gamma: float = 1.0
) -> tuple[InteractionLog, np.ndarray, QEstimates, float]:
    """A deterministic MDP of 3 steps whose state is the history; showing item 0 at step 1 ends the session.

    The logger is uniform over 3 items; the target's law depends on the step. Q is exact (by recursion).
    """
    reward = lambda hist, a: float((sum(hist) + 2 * a + len(hist)) % 3)  # noqa: E731
    pi = lambda hist: np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.1, 0.8, 0.1]][len(hist)])  # noqa: E731
    ends = lambda hist, a: len(hist) == 2 or (len(hist) == 1 and a == 0)  # noqa: E731

    def q(hist: tuple[int, ...], a: int) -> float:
        return reward(hist, a) + (0.0 if ends(hist, a) else gamma * v((*hist, a)))

    def v(hist: tuple[int, ...]) -> float:
        return float(sum(pi(hist)[b] * q(hist, b) for b in range(3)))

    rows: dict[str, list[Any]] = {k: [] for k in ("session", "step", "item", "reward", "target", "q", "v")}
    for s in range(n):
        hist: tuple[int, ...] = ()
        while True:
            a = int(rng.integers(0, 3))
            for key, value in zip(
                rows, (s, len(hist), a, reward(hist, a), pi(hist)[a], q(hist, a), v(hist)), strict=True
            ):
                rows[key].append(value)
            if ends(hist, a):
                break
            hist = (*hist, a)
    log = _log(rows["session"], rows["step"], rows["item"], rows["reward"], np.full(len(rows["step"]), 1 / 3))
    return log, np.array(rows["target"]), QEstimates(q=rows["q"], v=rows["v"]), v(())


def test_dr_with_the_exact_q_has_no_variance_on_a_deterministic_mdp() -> None:
    log, target, exact, truth = _deterministic_mdp(np.random.default_rng(3), 200)
    assert len(set(log.frame["step"].groupby(log.frame["session_id"]).size())) == 2  # sessions of 2 and 3 steps
    dr = TrajectoryDoublyRobust(n_bootstrap=100).estimate(log, target, q_model=exact)
    assert dr.value == pytest.approx(truth, abs=1e-9)
    assert dr.standard_error < 1e-9 and dr.ci_high - dr.ci_low < 1e-9
    wdr = WeightedTrajectoryDoublyRobust(n_bootstrap=100).estimate(log, target, q_model=exact)
    assert wdr.value == pytest.approx(truth, abs=1e-9)
    pdis = PDIS().estimate(log, target)
    assert pdis.standard_error > 0.05  # importance sampling alone keeps the logger's randomness


@pytest.mark.parametrize("gamma", [1.0, 0.7])
def test_fitted_q_evaluation_recovers_the_exact_q_with_one_hot_features(gamma: float) -> None:
    # States one-hot in the history, items one-hot, with their products: the per-step model is a table, so FQE on the
    # log (one fold, a tiny ridge) reproduces the recursion's Q wherever the log visited.
    rng = np.random.default_rng(4)
    log, target_p, exact, truth = _deterministic_mdp(rng, 400, gamma)
    frame = log.frame
    n = len(frame)
    session = frame["session_id"].to_numpy()
    step = frame["step"].to_numpy()
    item = frame["item"].to_numpy()
    history = [tuple(item[(session == session[i]) & (step < step[i])]) for i in range(n)]
    keys = sorted(set(history))
    states = np.eye(len(keys))[[keys.index(h) for h in history]]
    features = np.broadcast_to(np.eye(3), (n, 3, 3)).copy()
    distribution = np.empty((n, 3))
    pis = [[0.6, 0.3, 0.1], [0.2, 0.2, 0.6], [0.1, 0.8, 0.1]]
    for i in range(n):
        distribution[i] = pis[step[i]]
    target = SessionTarget(
        prob=target_p, distribution=distribution, logged=item.astype(np.int64), states=states,
        features=features, exact=True,
    )  # fmt: skip
    fitted = FittedQEvaluation(ridge=1e-8, interactions=True, n_folds=1).fit_predict(
        log, target, gamma=gamma, reward="reward"
    )
    np.testing.assert_allclose(fitted.q, exact.q, atol=1e-5)
    np.testing.assert_allclose(fitted.v, exact.v, atol=1e-5)
    model = FittedQEvaluation(ridge=1e-8, interactions=True, n_folds=1)
    dr = TrajectoryDoublyRobust(gamma=gamma, n_bootstrap=0).estimate(log, target, q_model=model)
    assert dr.value == pytest.approx(truth, abs=1e-4)


# ---------------------------------------------------------------------- the protocol
def _small_log() -> tuple[InteractionLog, np.ndarray]:
    rng = np.random.default_rng(5)
    session, step = _random_sessions(rng, 50, 4)
    p = np.full(session.size, 0.5)
    log = _log(session, step, rng.integers(0, 2, session.size), rng.binomial(1, 0.5, session.size), p)
    return log, rng.uniform(0.0, 1.0, session.size)


def test_a_target_far_from_the_logger_warns_of_extreme_weights() -> None:
    rng = np.random.default_rng(6)
    session, step = _random_sessions(rng, 500, 5)
    log = _log(
        session, step, rng.integers(0, 5, session.size), rng.binomial(1, 0.5, session.size), [0.2] * session.size
    )
    # One session followed the target throughout (weight 5^L), the others left it at once (weight 0).
    target = np.where(session == 0, 1.0, 0.0)
    with pytest.warns(ExtremeWeightsWarning, match=r"effective sample size is 1.0 of 500 sessions"):
        result = PDIS(n_bootstrap=0).estimate(log, target)
    assert result.effective_sample_size == pytest.approx(1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PDIS(ess_threshold=0.0).value(log, target)


def test_the_reward_column_is_chosen_by_name() -> None:
    log = InteractionLog.from_arrays(
        unit=["a", "a", "b"], item=[1, 2, 1], timestamp=0, reward=[1.0, 1.0, 0.0], propensity=0.5,
        session_id=["a", "a", "b"], step=[0, 1, 0], extra_rewards={"purchase": [0.0, 3.0, 1.0]},
    )  # fmt: skip
    assert PDIS(reward="purchase").value(log, [0.5, 0.5, 0.5]) == pytest.approx(2.0)
    assert session_returns(log, reward="purchase").tolist() == [3.0, 1.0]
    with pytest.raises(InputError, match="no reward column 'revenue'"):
        PDIS(reward="revenue").value(log, [0.5, 0.5, 0.5])


def test_same_seed_same_interval_and_inputs_untouched() -> None:
    log, target = _small_log()
    before = (log.frame.copy(), target.copy())
    q = QEstimates(q=np.zeros(len(log)), v=np.full(len(log), 0.5))
    for cls in session_estimators().values():
        a = cls(seed=7).estimate(log, target, q_model=q)
        b = cls(seed=7).estimate(log, target, q_model=q)
        assert a == b
        assert a.ci_low <= a.value <= a.ci_high or cls.name in ("wpdis", "seq_wdr")
        assert a.n_rows == 50 and a.params["n_steps"] == len(log)
    assert log.frame.equals(before[0]) and np.array_equal(target, before[1])


def test_estimate_sessions_runs_the_named_estimators_and_shares_the_model() -> None:
    log, target = _small_log()
    q = QEstimates(q=np.zeros(len(log)), v=np.zeros(len(log)))
    names = [r.estimator for r in estimate_sessions(log, target, q_model=q, n_bootstrap=0)]
    assert names == ["pdis", "wpdis", "seq_dr", "seq_wdr"]
    # Q-hat = V-hat = 0: DR is PDIS.
    dr, pdis = estimate_sessions(log, target, q_model=q, names=["seq_dr", "pdis"], n_bootstrap=0)
    assert dr.value == pytest.approx(pdis.value)
    with pytest.raises(UnknownNameError, match="Did you mean 'pdis'"):
        estimate_sessions(log, target, names=["pids"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"session_id": ""}, "no session_id"),
        ({"step": 0}, "exactly one row per step"),
        ({"propensity": np.nan}, "no propensity"),
    ],
)
def test_bad_session_logs_are_refused(change: dict[str, Any], message: str) -> None:
    log, target = _small_log()
    frame = log.frame
    for column, value in change.items():
        frame[column] = value
    with pytest.raises(InputError, match=message):
        PDIS().estimate(InteractionLog(frame), target)


def test_a_gap_in_steps_and_bad_targets_are_refused() -> None:
    log = _log(["a", "a"], [0, 2], [1, 2], [1.0, 0.0], [0.5, 0.5])
    with pytest.raises(InputError, match=r"steps \[0, 2\]"):
        PDIS().value(log, [1.0, 1.0])
    log, target = _small_log()
    with pytest.raises(InputError, match="shape"):
        PDIS().value(log, target[:-1])
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        PDIS().value(log, target + 1.0)
    with pytest.raises(InputError, match="SessionTarget"):
        TrajectoryDoublyRobust().value(log, target)  # a bare array cannot fit the default Q model
    with pytest.raises(InputError, match="q_model"):
        TrajectoryDoublyRobust().value(log, target, q_model="fqe")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="one value per log row"):
        TrajectoryDoublyRobust().value(log, target, q_model=QEstimates(q=[0.0], v=[0.0]))
    with pytest.raises(ParameterError, match="The 'gamma' parameter of PDIS must be a float in"):
        PDIS(gamma=1.5)
    with pytest.raises(ParameterError, match="The 'ridge' parameter of FittedQEvaluation"):
        FittedQEvaluation(ridge=0.0)


def test_session_target_asks_the_policy_and_finds_the_logged_item() -> None:
    log = _log(["a", "a", "b"], [0, 1, 0], [3, 5, 4], [1.0, 0.0, 1.0], [0.5, 0.5, 0.5])
    requests = SessionRequests(candidates=np.array([[3, 4], [5, 6], [7, 4]]), contexts=np.ones((3, 2)))
    target = session_target(UniformRandom(seed=0), log, requests)
    assert target.prob.tolist() == [0.5, 0.5, 0.5] and target.logged.tolist() == [0, 0, 1]
    bad = SessionRequests(candidates=np.array([[3, 4], [6, 7], [7, 4]]))
    with pytest.raises(InputError, match="Row 2 of the log shows item 5"):
        session_target(UniformRandom(seed=0), log, bad)
    with pytest.raises(InputError, match=r"item_features must have shape \(3, 2, p\)"):
        SessionRequests(candidates=requests.candidates, item_features=np.ones((3, 3, 4)))
    with pytest.raises(InputError, match="requests has 2 rows"):
        session_target(UniformRandom(seed=0), log, SessionRequests(candidates=np.array([[3, 4], [5, 6]])))


# ---------------------------------------------------------------------- the check, small budget
@pytest.mark.slow
def test_dr_covers_a_trained_agents_on_policy_value_over_seeds() -> None:
    """The coverage study of ``benchmarks/seq_ope.py`` on 30 seeds of a smaller setting.

    Tolerance: at least 24 of 30 intervals cover. If the true coverage were 0.90, P(X <= 23) = 0.026 for
    X ~ Binomial(30, 0.9); at the nominal 0.95, 0.0003.
    """
    seq_ope = _bench()
    view = {**seq_ope.VIEW, "n_users": 300, "max_steps": 4}
    lines = {
        line["estimator"]: line
        for line in seq_ope.study(
            seeds=tuple(range(30)), view=view, train_episodes=5, truth_episodes=20, logger_names=("epsilon",)
        )
    }
    assert lines["seq_dr"]["coverage"] >= 24 / 30, lines["seq_dr"]
    assert lines["pdis"]["coverage"] >= 24 / 30, lines["pdis"]
    # The doubly robust estimate is no more spread out than PDIS over the seeds.
    assert lines["seq_dr"]["sd"] <= lines["pdis"]["sd"] * 1.05, (lines["seq_dr"], lines["pdis"])


def test_the_target_asked_at_logged_requests_answers_the_logged_propensities_when_it_logged() -> None:
    """Through the benchmark's recording logger, an agent asked at its own logged requests gives back exactly
    the propensities it logged (same states, candidates, item and pair features)."""
    seq_ope = _bench()
    s = seq_ope.setting(view={**seq_ope.VIEW, "n_users": 100, "max_steps": 3}, train_episodes=2, truth_episodes=1)
    recorder = seq_ope.RecordingLogger(s.target.clone(keep_state=True, seed=5))
    log = seq_ope._log(s.env, s.features, recorder, 1, seed=77)
    target = session_target(s.target, log, recorder.requests)
    assert target.exact
    np.testing.assert_allclose(target.prob, log.frame["propensity"].to_numpy(), rtol=1e-12)
    assert PDIS().value(log, target) == pytest.approx(session_returns(log).mean())
