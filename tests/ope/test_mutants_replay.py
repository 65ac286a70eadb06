"""Edges of abrec.ope.replay's result and estimator that the replay tests leave open (mutation testing, issue 20).

References: statsmodels' Wilson interval (``proportion_confint(method="wilson")``), the normal interval
``value -/+ z std(ddof=1) / sqrt(n)`` with numpy, and the replay estimator's formula ``sum(pi r) / sum(pi)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from abrec.ope import LoggedFeedback
from abrec.ope.replay import Replay, ReplayResult


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_binary_rewards_get_wilsons_interval(level: float) -> None:
    rewards = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    r = ReplayResult.from_rewards(rewards, np.arange(11) * 2, n_rows=30, policy="p", level=level)
    assert r.binary and r.value == pytest.approx(3 / 11, rel=1e-15) and r.level == level
    assert r.standard_error == pytest.approx(rewards.std(ddof=1) / math.sqrt(11), rel=1e-12)
    low, high = proportion_confint(3, 11, alpha=1 - level, method="wilson")
    assert tuple(r.ci) == pytest.approx((low, high), rel=1e-12)
    assert r.acceptance_rate == pytest.approx(11 / 30) and r.accepted.tolist() == list(range(0, 22, 2))
    np.testing.assert_allclose(r.curve, np.cumsum(rewards) / np.arange(1, 12), rtol=1e-15)
    # the interval at another level is computed the same way
    other = r.confidence_interval(0.9)
    assert tuple(other) == pytest.approx(proportion_confint(3, 11, alpha=0.1, method="wilson"), rel=1e-12)
    assert r.confidence_interval() == r.ci
    # the learning curve's band: at each t, Wilson's interval of the first t rewards
    lows, highs = r.curve_interval(0.9)
    for t in range(1, 12):
        k = int(rewards[:t].sum())
        assert (lows[t - 1], highs[t - 1]) == pytest.approx(
            proportion_confint(k, t, alpha=0.1, method="wilson"), abs=1e-12
        )


def test_other_rewards_get_the_normal_interval_and_its_running_band() -> None:
    rng = np.random.default_rng(0)
    rewards = rng.gamma(2.0, 1.5, 25)
    r = ReplayResult.from_rewards(rewards, np.arange(25), n_rows=25, policy="p", level=0.9)
    z = stats.norm.isf(0.05)
    se = rewards.std(ddof=1) / math.sqrt(25)
    assert not r.binary and r.standard_error == pytest.approx(se, rel=1e-12)
    assert tuple(r.ci) == pytest.approx((rewards.mean() - z * se, rewards.mean() + z * se), rel=1e-12)
    z95 = stats.norm.isf(0.025)
    assert tuple(r.confidence_interval(0.95)) == pytest.approx((rewards.mean() - z95 * se, rewards.mean() + z95 * se))
    lows, highs = r.curve_interval()
    assert math.isnan(lows[0]) and math.isnan(highs[0])  # one reward: no standard error
    for t in range(2, 26):
        head = rewards[:t]
        s = head.std(ddof=1) / math.sqrt(t)
        assert (lows[t - 1], highs[t - 1]) == pytest.approx((head.mean() - z * s, head.mean() + z * s), rel=1e-9)


def test_no_and_one_accepted_row() -> None:
    none = ReplayResult.from_rewards(np.zeros(0), np.zeros(0, dtype=np.int64), n_rows=10, policy="p")
    assert none.n_accepted == 0 and math.isnan(none.value) and math.isnan(none.standard_error)
    assert math.isnan(none.ci.low) and not none.binary and none.curve.shape == (0,)
    one = ReplayResult.from_rewards(np.array([2.5]), np.array([3]), n_rows=10, policy="p")
    assert one.value == 2.5 and math.isnan(one.standard_error) and math.isnan(one.ci.low)
    click = ReplayResult.from_rewards(np.array([1.0]), np.array([3]), n_rows=10, policy="p")
    assert click.binary and tuple(click.ci) == pytest.approx(proportion_confint(1, 1, method="wilson"), rel=1e-12)
    with pytest.raises(Exception, match="level"):
        click.confidence_interval(1.5)


def test_replay_estimator_is_the_pi_weighted_mean_of_rewards() -> None:
    rng = np.random.default_rng(1)
    n, m = 400, 4
    action = rng.integers(0, m, n)
    reward = rng.random(n) < np.array([0.1, 0.3, 0.2, 0.5])[action]
    fb = LoggedFeedback.from_arrays(action=action, reward=reward.astype(float), propensity=1 / m, n_actions=m)
    pi = rng.dirichlet(np.ones(m), n)  # (n_rows, n_actions): a stochastic target
    weights = pi[np.arange(n), action]
    expected = float((weights * reward).sum() / weights.sum())
    assert Replay().value(fb, pi) == pytest.approx(expected, rel=1e-12)
    est = Replay().estimate(fb, pi)
    # delta-method standard error of the ratio of means of (w r, w)
    x, y = weights * reward, weights
    cov = np.cov(np.vstack([x, y]), ddof=1) / n
    g = np.array([1 / y.mean(), -x.mean() / y.mean() ** 2])
    assert est.standard_error == pytest.approx(math.sqrt(g @ cov @ g), rel=1e-6)
    assert Replay.applies(fb)
    assert not Replay.applies(
        LoggedFeedback.from_arrays(action=action, reward=reward.astype(float), propensity=rng.uniform(0.1, 0.5, n))
    )


# ------------------------------------------------------------------ issue 20, second pass (helper mut2)
# References: the replay method of Li et al. (2011) transcribed row by row with the policy's public
# decide/update API (accept a logged row when the policy's item at its position is the logged item,
# learn only from accepted rows, the estimate is the mean accepted reward).


def _tieless():  # type: ignore[no-untyped-def]
    """UCB1 without ties (so without random draws): a deterministic learning policy, for exact references."""
    from abrec.policies import UCB1

    class TielessUCB1(UCB1):
        name = "ucb1-tieless-mutants-test"

        def _scores(self, req):  # type: ignore[no-untyped-def]
            s = super()._scores(req)
            return np.where(np.isinf(s), 1e6, s) - 1e-7 * np.asarray(req.rows)

    return TielessUCB1()


def _uniform_log(n: int = 300, m: int = 4, seed: int = 3) -> LoggedFeedback:
    rng = np.random.default_rng(seed)
    action = rng.integers(0, m, n)
    reward = (rng.random(n) < np.array([0.1, 0.6, 0.3, 0.2])[action]).astype(float)
    return LoggedFeedback.from_arrays(action=action, reward=reward, propensity=1 / m, n_actions=m)


def _reference_replay(policy, fb: LoggedFeedback, batch: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Li et al.'s replay, ``batch`` rows decided with one state, then learning from their accepted rows."""
    import copy

    from abrec.policies import Feedback

    work = copy.deepcopy(policy)
    ids = fb.item_ids
    accepted: list[int] = []
    for start in range(0, fb.n_rows, batch):
        rows = range(start, min(fb.n_rows, start + batch))
        hit = []
        for i in rows:
            items = work.decide(ids, np.zeros((1, 1)), k=fb.n_positions).items
            if items[0, fb.position[i]] == ids[fb.action[i]]:
                hit.append(i)
        if hit:
            h = np.array(hit)
            work.update(Feedback(items=ids[fb.action[h]], rewards=fb.reward[h], positions=fb.position[h],
                                 propensities=fb.propensity[h]))  # fmt: skip
        accepted += hit
    return accepted


@pytest.mark.parametrize("batch", [1, 2, 7])
def test_replay_learning_matches_the_row_by_row_reference(batch: int) -> None:
    from abrec.ope.replay import replay_learning

    fb = _uniform_log()
    ref = _reference_replay(_tieless(), fb, batch)
    got = replay_learning(_tieless(), fb, batch_size=batch)
    assert got.accepted.tolist() == ref and got.n_rows == fb.n_rows
    assert got.value == pytest.approx(float(fb.reward[ref].mean()), rel=1e-12)
    # defaults: the exact replay (batch 1), seed 0, level 0.95, the policy's name
    if batch == 1:
        default = replay_learning(_tieless(), fb)
        assert default.accepted.tolist() == ref and default.level == 0.95 and default.policy == _tieless().name
    assert replay_learning(_tieless(), fb, batch_size=batch, level=0.8).level == 0.8


def test_replay_learning_with_nothing_accepted() -> None:
    from abrec.ope.replay import replay_learning

    fb = _uniform_log()
    # UCB1 starts with action 0; a log that never shows it once UCB1 would pick it accepts nothing
    never = LoggedFeedback.from_arrays(action=np.full(5, 3), reward=np.ones(5), propensity=0.25, n_actions=4)
    first = int(_tieless().decide(fb.item_ids, np.zeros((1, 1)), k=1).items[0, 0])
    assert first != 3
    r = replay_learning(_tieless(), never)
    assert r.n_accepted == 0 and r.accepted.dtype == np.int64 and r.accepted.shape == (0,) and math.isnan(r.value)


def test_replay_learning_rejects_a_non_uniform_log_naming_the_row() -> None:
    from abrec.errors import InputError
    from abrec.ope.replay import replay_learning

    p = np.array([0.25, 0.25, 0.4, 0.25])
    fb = LoggedFeedback.from_arrays(action=[0, 1, 2, 3], reward=[1, 0, 1, 0], propensity=p, n_actions=4)
    with pytest.raises(InputError, match=r"0\.25 at every position\. Row 2 \(position 0\) has 0\.4"):
        replay_learning(_tieless(), fb)
    # uniform among 3, but the policy chooses among 4 actions: not the uniform log replay needs
    three = LoggedFeedback.from_arrays(action=[0, 1, 2, 3], reward=[1, 0, 1, 0], propensity=1 / 3, n_actions=4)
    with pytest.raises(InputError, match="uniformly random"):
        replay_learning(_tieless(), three)
    with pytest.raises(Exception, match="parameter of replay_learning must"):
        replay_learning(_tieless(), fb, batch_size=0)
    with pytest.raises(Exception, match="batch_size"):
        replay_learning(_tieless(), _uniform_log(), batch_size=2.5)  # type: ignore[arg-type]


def test_rejection_bound_edges() -> None:
    from abrec.errors import InputError
    from abrec.ope.replay import _rejection

    c = 0.2
    edge = c * (1 - 1e-9)  # within the tolerance: accepted as equal to c
    np.testing.assert_array_equal(_rejection(np.array([0.5, edge, 0.25]), c) <= 1.0, True)
    with pytest.raises(InputError, match=r"row 1 has 0\.1 < 0\.2"):
        _rejection(np.array([0.5, 0.1, 0.25]), c)


def test_result_arrays_are_read_only_float64_and_int64() -> None:
    rewards = np.array([0.1, 0.7, 0.3, 0.3], dtype=np.float32)
    r = ReplayResult.from_rewards(rewards, np.array([4, 1, 2, 9], dtype=np.int32), n_rows=10, policy="p")
    exact = rewards.astype(np.float64)
    assert r.value == float(np.cumsum(exact)[-1] / 4) and r.curve.dtype == np.float64
    assert r.accepted.dtype == np.int64 and r.accepted.tolist() == [4, 1, 2, 9]
    with pytest.raises(ValueError):
        r.curve[0] = 1.0
    with pytest.raises(ValueError):
        r.accepted[0] = 1
    # two rewards already have a standard error
    two = ReplayResult.from_rewards(np.array([1.0, 3.0]), np.array([0, 1]), n_rows=2, policy="p")
    assert two.standard_error == pytest.approx(np.std([1.0, 3.0], ddof=1) / math.sqrt(2))


def test_interval_level_errors_name_the_method() -> None:
    r = ReplayResult.from_rewards(np.array([1.0, 0.0]), np.array([0, 1]), n_rows=2, policy="p")
    with pytest.raises(Exception, match=r"parameter of ReplayResult\.confidence_interval must"):
        r.confidence_interval(1.5)
    with pytest.raises(Exception, match=r"parameter of ReplayResult\.curve_interval must"):
        r.curve_interval(0.0)


def test_wilson_bounds_stay_in_the_unit_interval() -> None:
    for n in range(1, 200):
        none = ReplayResult.from_rewards(np.zeros(n), np.arange(n), n_rows=n, policy="p")
        every = ReplayResult.from_rewards(np.ones(n), np.arange(n), n_rows=n, policy="p")
        # Wilson's bounds are 0 and 1 here up to rounding, which may fall either side: clipped inside
        assert 0.0 <= none.ci.low < 1e-12 and 1.0 - 1e-12 < every.ci.high <= 1.0
        assert (none.curve_interval()[0] >= 0.0).all() and (every.curve_interval()[1] <= 1.0).all()


def test_replay_estimator_edges() -> None:
    import warnings

    from abrec.errors import ExtremeWeightsWarning

    fb = _uniform_log(200)
    # a target that never takes a logged action: no row is kept, NaN without a warning
    never = LoggedFeedback.from_arrays(action=fb.action % 3, reward=fb.reward, propensity=0.25, n_actions=4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's 0/0 warnings
        warnings.simplefilter("ignore", ExtremeWeightsWarning)  # abrec's own warning is expected here
        est = Replay().estimate(never, np.eye(4)[[3]].repeat(200, 0))
    assert math.isnan(est.value) and math.isnan(est.standard_error)
    # a target uniform over the actions keeps every row with the same weight: the delta-method error
    pi = np.full((200, 4), 0.25)
    est = Replay().estimate(fb, pi)
    assert est.value == pytest.approx(fb.reward.mean()) and math.isfinite(est.standard_error)
    assert est.standard_error == pytest.approx(fb.reward.std(ddof=1) / math.sqrt(200), rel=1e-6)


def _slate_log(n: int = 120, m: int = 4, k: int = 2, seed: int = 5):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    cands = np.tile(np.arange(m), (n, 1))
    shown = np.array([rng.permutation(m)[:k] for _ in range(n)])
    clicks = (rng.random((n, k)) < np.array([0.1, 0.5, 0.2, 0.3, 0.4, 0.1])[shown]).astype(float)
    return np.zeros((n, 1)), cands, shown, clicks, np.full((n, k), 1 / m)


def _reference_slates(policy, x, cands, shown, clicks, p, batches, features=None):  # type: ignore[no-untyped-def]
    """Position-by-position replay: accept (request, position) when the policy's item there is the logged one."""
    import copy

    from abrec.policies import Feedback

    work = copy.deepcopy(policy)
    k = shown.shape[1]
    accepted: list[int] = []
    for b in np.unique(batches):
        reqs = np.flatnonzero(batches == b)
        hit = []
        for i in reqs:
            feats = None if features is None else features[cands[i : i + 1]]
            items = work.decide(cands[i : i + 1], x[i : i + 1], k=k, item_features=feats).items[0]
            hit += [i * k + j for j in range(k) if items[j] == shown[i, j]]
        if hit:
            h = np.array(hit)
            req, pos = h // k, h % k
            work.update(Feedback(items=shown[req, pos], rewards=clicks[req, pos], contexts=x[req], positions=pos,
                                 propensities=p[req, pos],
                                 item_features=None if features is None else features[shown[req, pos]]))  # fmt: skip
        accepted += hit
    return accepted


@pytest.mark.parametrize("batches", [None, np.repeat(np.arange(40), 3), np.repeat(np.arange(24), 5)])
def test_replay_slates_matches_the_position_by_position_reference(batches) -> None:  # type: ignore[no-untyped-def]
    from abrec.ope.replay import replay_slates

    x, cands, shown, clicks, p = _slate_log()
    b = np.arange(120) if batches is None else batches
    ref = _reference_slates(_tieless(), x, cands, shown, clicks, p, b)
    got = replay_slates(_tieless(), x, cands, shown, clicks, p, batches=batches, level=0.9)
    assert got.accepted.tolist() == ref and got.n_rows == 240 and got.level == 0.9 and got.policy == _tieless().name
    assert got.value == pytest.approx(float(clicks.ravel()[ref].mean()), rel=1e-12)


def test_replay_slates_on_a_uniform_log_draws_no_random_number() -> None:
    from abrec.ope.replay import replay_slates

    x, cands, shown, clicks, p = _slate_log()
    states = []
    for log_shown in (shown, np.full_like(shown, 5)):  # many matches, and none (item 5 is never a candidate)
        g = np.random.default_rng(11)
        replay_slates(_tieless(), x, cands, log_shown, clicks, p, seed=g)
        states.append(g.bit_generator.state["state"]["state"])
    assert states[0] == states[1]


def test_replay_slates_input_edges() -> None:
    from abrec.errors import InputError
    from abrec.ope.replay import replay_slates

    x, cands, shown, clicks, p = _slate_log(n=30, m=4, k=2)
    with pytest.raises(InputError, match=r"\(n, m\)"):
        replay_slates(_tieless(), x, cands[:, 0], shown, clicks, p)
    with pytest.raises(InputError, match=r"\(n, m\)"):
        replay_slates(_tieless(), x, cands, shown[:, 0], clicks[:, 0], p[:, 0])
    with pytest.raises(InputError, match="propensities"):
        replay_slates(_tieless(), x, cands, shown, clicks, np.full_like(p, 1.5))
    with pytest.raises(Exception, match="parameter of replay_slates must"):
        replay_slates(_tieless(), x, cands, shown, clicks, p, level=2.0)
    # a full slate (k = m) and a deterministic logger (propensity 1) are valid
    rng = np.random.default_rng(0)
    full = np.array([rng.permutation(4) for _ in range(30)])
    r = replay_slates(_tieless(), x, cands, full, np.ones((30, 4)), np.full((30, 4), 0.25))
    assert r.n_rows == 120 and r.n_accepted > 0
    det = replay_slates(_tieless(), x, cands, np.tile([0, 1], (30, 1)), clicks, np.ones((30, 2)))
    assert det.n_accepted > 0


@pytest.mark.parametrize("batches", [None, np.repeat(np.arange(20), 3)])
def test_replay_slates_with_item_features_matches_the_reference(batches) -> None:  # type: ignore[no-untyped-def]
    from abrec.errors import InputError
    from abrec.ope.replay import replay_slates
    from abrec.policies import HybridLinUCB

    rng = np.random.default_rng(5)
    _, cands, shown, clicks, p = _slate_log(n=60)
    x, features = rng.normal(size=(60, 2)), rng.normal(size=(4, 3))
    b = np.arange(60) if batches is None else batches
    ref = _reference_slates(HybridLinUCB(), x, cands, shown, clicks, p, b, features)
    got = replay_slates(HybridLinUCB(), x, cands, shown, clicks, p, batches=batches, item_features=features)
    assert got.accepted.tolist() == ref and len(ref) > 0
    with pytest.raises(InputError, match="reads item features"):  # and without them: one clear error
        replay_slates(HybridLinUCB(), x, cands, shown, clicks, p, batches=batches)


def test_replay_learning_with_contexts_and_action_features_matches_the_reference() -> None:
    import copy

    from abrec.ope.replay import replay_learning
    from abrec.policies import Feedback, HybridLinUCB

    rng = np.random.default_rng(8)
    n, m = 200, 4
    x, features = rng.normal(size=(n, 2)), rng.normal(size=(m, 3))
    action = rng.integers(0, m, n)
    reward = (rng.random(n) < 0.2 + 0.15 * action).astype(float)
    fb = LoggedFeedback.from_arrays(
        action=action, reward=reward, propensity=1 / m, context=x, action_context=features, n_actions=m
    )
    work, ids, ref = copy.deepcopy(HybridLinUCB()), fb.item_ids, []
    for i in range(n):  # the exact replay, one row at a time
        if work.decide(ids, x[i : i + 1], k=1, item_features=features).items[0, 0] == ids[action[i]]:
            ref.append(i)
            work.update(Feedback(items=ids[action[i : i + 1]], rewards=reward[i : i + 1], contexts=x[i : i + 1],
                                 positions=np.zeros(1, np.int64), propensities=np.full(1, 1 / m),
                                 item_features=features[action[i : i + 1]]))  # fmt: skip
    got = replay_learning(HybridLinUCB(), fb)
    assert got.accepted.tolist() == ref and len(ref) > 10


def test_default_seed_is_zero() -> None:
    from abrec.ope.replay import replay_learning, replay_slates
    from abrec.policies import UCB1

    fb = _uniform_log()  # UCB1 breaks ties at random: the seed matters
    runs = {s: replay_learning(UCB1(), fb, seed=s).accepted.tolist() for s in (0, 1)}
    assert runs[0] != runs[1] and replay_learning(UCB1(), fb).accepted.tolist() == runs[0]
    x, cands, shown, clicks, p = _slate_log()
    slates = {s: replay_slates(UCB1(), x, cands, shown, clicks, p, seed=s).accepted.tolist() for s in (0, 1)}
    assert slates[0] != slates[1] and replay_slates(UCB1(), x, cands, shown, clicks, p).accepted.tolist() == slates[0]


def test_the_copy_learns_each_accepted_row_with_its_position_and_propensity() -> None:
    from abrec.ope.replay import replay_learning, replay_slates
    from abrec.policies import UCB1

    seen: list = []  # type: ignore[type-arg]

    class Recording(UCB1):
        name = "ucb1-recording-mutants-test"

        def update(self, feedback):  # type: ignore[no-untyped-def]
            seen.append(feedback)
            super().update(feedback)

    # two positions, each uniform among 3 actions; no contexts in the log
    rng = np.random.default_rng(4)
    action, position = rng.integers(0, 3, 90), rng.integers(0, 2, 90)
    fb = LoggedFeedback.from_arrays(action=action, reward=rng.random(90), propensity=1 / 3, position=position)
    r = replay_learning(Recording(), fb, batch_size=90)  # one batch: one update with every accepted row
    (learned,) = seen
    assert np.asarray(learned.positions).tolist() == position[r.accepted].tolist()
    assert np.asarray(learned.propensities).tolist() == [1 / 3] * r.n_accepted
    assert learned.contexts is None  # the log has no contexts: the policy is not handed made-up ones
    seen.clear()
    x, cands, shown, clicks, p = _slate_log()
    s = replay_slates(Recording(), x, cands, shown, clicks, p, batches=np.zeros(120, np.int64))
    (learned,) = seen
    assert np.asarray(learned.positions).tolist() == (s.accepted % 2).tolist()
    assert np.asarray(learned.contexts).shape == (s.n_accepted, 1)
