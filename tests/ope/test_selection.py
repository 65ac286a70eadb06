"""select_estimator: the paired bootstrap, the MSE and SLOPE rules, and their errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from abrec.errors import InputError, ParameterError, UnknownNameError
from abrec.ope import LoggedFeedback, make_estimator, select_estimator

MEANS = np.array([0.1, 0.2, 0.3, 0.5])
TARGET = np.array([[0.1], [0.1], [0.1], [0.7]])
TRUTH = float(TARGET[:, 0] @ MEANS)  # 0.41


def _log(n: int, seed: int) -> LoggedFeedback:
    rng = np.random.default_rng(seed)
    action = rng.integers(0, 4, n)
    reward = (rng.random(n) < MEANS[action]).astype(float)
    return LoggedFeedback.from_arrays(action=action, reward=reward, propensity=0.25, n_actions=4)


def test_bootstrap_is_every_candidate_on_the_same_resampled_rows() -> None:
    fb, b = _log(500, 0), 12
    q = np.tile(MEANS + 0.05, (500, 1))
    names = ["dm", "dr", "ipw", "snipw", "switch_dr"]
    choice = select_estimator(fb, TARGET, q, candidates=names, n_bootstrap=b, seed=3)
    idx = np.random.default_rng(3).integers(0, 500, size=(b, 500))  # the selection's stream, one chunk
    for cand in choice.candidates:
        est = make_estimator(cand["name"], n_bootstrap=0)
        by_rows = [est.value(fb.take(rows), TARGET, q[rows]) for rows in idx]
        assert cand["standard_error"] == pytest.approx(np.std(by_rows, ddof=1), rel=1e-9)
        assert cand["value"] == pytest.approx(est.value(fb, TARGET, q), rel=1e-12)


def test_mse_avoids_a_biased_reward_model_and_slope_too() -> None:
    fb = _log(4000, 1)
    q = np.full((4000, 4), 0.9)  # DM = 0.9, far from 0.41
    for method in ("mse", "slope"):
        choice = select_estimator(fb, TARGET, q, method=method, n_bootstrap=50, seed=0)
        assert choice.chosen not in {"dm"}, choice.reason
        assert abs(choice.result.value - TRUTH) < 0.05
        assert choice.reason.startswith(choice.chosen)
        assert choice.result.estimator == choice.chosen


def test_a_perfect_reward_model_makes_dm_the_choice() -> None:
    fb = _log(2000, 2)
    q = np.tile(MEANS, (2000, 1))  # DM = truth, with no variance given the model
    for method in ("mse", "slope"):
        choice = select_estimator(fb, TARGET, q, method=method, n_bootstrap=30, seed=0)
        assert choice.chosen == "dm", choice.reason
        assert choice.result.value == pytest.approx(TRUTH)


def test_mse_table_reports_bias_against_the_reference() -> None:
    fb = _log(3000, 3)
    q = np.full((3000, 4), 0.9)
    choice = select_estimator(fb, TARGET, q, candidates=["dm", "dr", "ipw"], method="mse", n_bootstrap=40, seed=1)
    rows = {c["name"]: c for c in choice.candidates}
    assert rows["dr"]["bias"] == 0.0  # the reference
    assert rows["dm"]["bias"] > 0.3  # ~0.49, less what noise explains
    for c in rows.values():
        assert c["mse"] == pytest.approx(c["bias"] ** 2 + c["standard_error"] ** 2)
    assert "unbiased dr" in choice.reason


def test_choice_is_calibrated_over_seeds() -> None:
    # IPW vs SNIPW with a constant-reward target: both unbiased; the rule must not pick the biased DM in any seed,
    # and the chosen estimate's interval must cover the truth about as often as its level says.
    q_bias, hits, picks_dm, seeds = 0.3, 0, 0, 40
    for seed in range(seeds):
        fb = _log(1500, 100 + seed)
        q = np.tile(MEANS + q_bias, (1500, 1))
        choice = select_estimator(fb, TARGET, q, candidates=["dm", "ipw", "snipw"], n_bootstrap=30, seed=seed)
        picks_dm += choice.chosen == "dm"
        low, high = choice.result.confidence_interval()
        hits += low <= TRUTH <= high
    assert picks_dm == 0
    se = math.sqrt(0.95 * 0.05 / seeds)
    assert hits / seeds >= 0.95 - 4.5 * se


def test_default_candidates_skip_what_cannot_apply() -> None:
    rng = np.random.default_rng(4)
    action = rng.integers(0, 4, 1000)
    prop = np.where(action == 3, 0.4, 0.2)  # not uniform: replay does not apply
    reward = (rng.random(1000) < MEANS[action]).astype(float)
    fb = LoggedFeedback.from_arrays(action=action, reward=reward, propensity=prop, n_actions=4)
    choice = select_estimator(fb, TARGET, n_bootstrap=20)
    names = {c["name"] for c in choice.candidates}
    assert names == {"ipw", "snipw"}  # no reward model: no dm/dr family; not uniform: no replay


def test_explicit_candidate_that_fails_raises() -> None:
    rng = np.random.default_rng(4)
    action = rng.integers(0, 4, 400)
    fb = LoggedFeedback.from_arrays(
        action=action, reward=rng.random(400) < 0.3, propensity=np.where(action == 3, 0.4, 0.2), n_actions=4
    )
    with pytest.raises(InputError, match="uniform logging"):
        select_estimator(fb, TARGET, candidates=["ipw", "replay"], n_bootstrap=10)


def test_errors() -> None:
    fb = _log(200, 5)
    with pytest.raises(ParameterError, match="'method'"):
        select_estimator(fb, TARGET, method="best")
    with pytest.raises(ParameterError, match="'n_bootstrap'"):
        select_estimator(fb, TARGET, n_bootstrap=5)
    with pytest.raises(InputError, match="needs estimated_rewards"):
        select_estimator(fb, TARGET, candidates=["dm"])
    with pytest.raises(InputError, match="at least one candidate"):
        select_estimator(fb, TARGET, candidates=[])
    with pytest.raises(UnknownNameError, match="Did you mean 'snipw'"):
        select_estimator(fb, TARGET, candidates=["snips"])


def test_same_seed_same_choice() -> None:
    fb = _log(1000, 6)
    q = np.tile(MEANS + 0.1, (1000, 1))
    a = select_estimator(fb, TARGET, q, n_bootstrap=20, seed=7)
    b = select_estimator(fb, TARGET, q, n_bootstrap=20, seed=7)
    assert a.chosen == b.chosen and a.candidates == b.candidates and a.seed == 7


def test_slope_walks_the_ladder_not_the_estimated_standard_errors() -> None:
    from abrec.ope.selection import _by_slope

    names = ["dm", "dr", "ipw", "switch_dr"]
    ranks = [make_estimator(n).bias_rank for n in names]
    assert ranks == [2, 0, 0, 1]
    # DR's estimated SE happens to be below DM's (a resample that missed the rare high-weight clicks):
    # the ladder still ends at DM, whose interval overlaps all others.
    values, se = np.array([1.00, 0.78, 0.74, 0.80]), np.array([0.17, 0.16, 0.18, 0.17])
    chosen, table, reason = _by_slope(names, values, se, ranks)
    assert chosen == "dm", reason
    assert "ipw > dr > switch_dr > dm" in reason
    assert all(row["kept"] for row in table)
    # A DM interval that misses the common range stops the walk one step before it.
    chosen, table, reason = _by_slope(names, np.array([1.6, 0.78, 0.74, 0.80]), se, ranks)
    assert chosen == "switch_dr" and "dm's interval" in reason
    assert [row["kept"] for row in table] == [False, True, True, True]


def test_default_method_is_slope() -> None:
    fb = _log(1000, 8)
    q = np.tile(MEANS + 0.02, (1000, 1))
    choice = select_estimator(fb, TARGET, q, n_bootstrap=20)
    assert choice.method == "slope" and "SLOPE" in choice.reason


def test_slope_leaves_a_misspecified_reward_model_for_a_contextual_target() -> None:
    # Clicks have action-specific context effects that an additive logistic model cannot fit, and the
    # target acts on the context (mostly the truly best item): DM is far off even with its model's own error
    # in its interval, so the ladder must stop before it and the choice must be as good as DR.
    from abrec.ope import cross_fit_rewards

    n_actions, d, n = 5, 3, 2000
    weights = np.random.default_rng(7).normal(size=(d, n_actions)) * 1.2

    def click(ctx: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(ctx @ weights) + 1.5))

    def target(ctx: np.ndarray) -> np.ndarray:
        out = np.full((len(ctx), n_actions), 0.05)
        out[np.arange(len(ctx)), click(ctx).argmax(axis=1)] += 1 - 0.05 * n_actions
        return out

    big = np.random.default_rng(1).normal(size=(400_000, d))
    truth = float((click(big) * target(big)).sum(axis=1).mean())
    chosen_err, dr_err, dm_err = [], [], []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        ctx, action = rng.normal(size=(n, d)), rng.integers(0, n_actions, n)
        reward = (rng.random(n) < click(ctx)[np.arange(n), action]).astype(float)
        fb = LoggedFeedback.from_arrays(
            action=action, reward=reward, propensity=1 / n_actions, context=ctx, n_actions=n_actions
        )
        choice = select_estimator(fb, target(ctx), cross_fit_rewards(fb, seed=seed), n_bootstrap=100, seed=seed)
        values = {c["name"]: c["value"] for c in choice.candidates}
        assert choice.chosen != "dm", choice.reason
        chosen_err.append(abs(choice.result.value - truth))
        dr_err.append(abs(values["dr"] - truth))
        dm_err.append(abs(values["dm"] - truth))
    print(f"mean error: DM {np.mean(dm_err):.4f}, chosen {np.mean(chosen_err):.4f}, DR {np.mean(dr_err):.4f}")
    assert np.mean(dm_err) > 5 * np.mean(chosen_err)
    assert np.mean(chosen_err) < 1.5 * np.mean(dr_err)
