"""OPE over Parquet shards: per-block sufficient statistics give the in-memory numbers, whatever the sharding."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from abrec.data.obd import load_obd
from abrec.errors import DataError, InputError, UnknownNameError
from abrec.experiments.executor import make_executor
from abrec.ope import LoggedFeedback, make_estimator
from abrec.ope.streaming import (
    STREAMED,
    ShardedLog,
    evaluate_shards,
    fold_of,
    poisson_counts,
    stream_estimates,
    tabular_rewards,
    write_shards,
)
from abrec.policies import UCB1, LinUCB, UniformRandom


@pytest.fixture(scope="module")
def obd() -> LoggedFeedback:
    return LoggedFeedback.from_obd(load_obd(None, campaign="all", policy="random"))


@pytest.fixture(scope="module")
def target(obd: LoggedFeedback) -> np.ndarray:
    return np.random.default_rng(1).dirichlet(np.ones(obd.n_actions), size=obd.n_positions).T


@pytest.fixture(scope="module")
def shards(obd: LoggedFeedback, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shards(obd, tmp_path_factory.mktemp("obd"), n_shards=3, row_group_rows=1500)


def test_fold_of_is_a_function_of_the_global_row() -> None:
    rows = np.arange(30_000)
    folds = fold_of(rows, seed=0, n_folds=3)
    np.testing.assert_array_equal(fold_of(rows[7:], seed=0, n_folds=3), folds[7:])
    assert np.bincount(folds).min() > 9_700  # balanced
    assert (fold_of(rows, seed=1, n_folds=3) != folds).mean() > 0.5


def test_poisson_counts_do_not_depend_on_the_block_boundaries() -> None:
    whole = poisson_counts(3, 100, 30_000, 4)
    parts = np.hstack([poisson_counts(3, 100, 8_192, 4), poisson_counts(3, 8_192, 30_000, 4)])
    np.testing.assert_array_equal(parts, whole)
    assert whole.mean() == pytest.approx(1.0, abs=0.02) and whole.var() == pytest.approx(1.0, abs=0.03)


def test_sharded_obd_equals_the_in_memory_estimators(obd: LoggedFeedback, target: np.ndarray, shards: Path) -> None:
    log = ShardedLog.open(shards)
    assert log.n_rows == obd.n_rows and len(log.blocks) == 9  # 3 files of 3 row groups
    found = stream_estimates(log, {"t": target}, n_bootstrap=0)
    rewards = tabular_rewards(obd)
    assert found.heldout_brier == pytest.approx(rewards.heldout_brier, rel=1e-12)
    assert [r.estimator for r in found.estimates["t"]] == list(STREAMED)
    for r in found.estimates["t"]:
        m = make_estimator(r.estimator, n_bootstrap=0).estimate(obd, target, rewards.values)
        assert r.value == pytest.approx(m.value, rel=1e-9), r.estimator
        assert r.standard_error == pytest.approx(m.standard_error, rel=1e-9), r.estimator
        assert r.ci_low == pytest.approx(m.ci_low, rel=1e-9) and r.ci_high == pytest.approx(m.ci_high, rel=1e-9)
        if make_estimator(r.estimator).uses_weights:
            assert r.effective_sample_size == pytest.approx(m.effective_sample_size, rel=1e-9)


def test_results_do_not_depend_on_the_sharding_nor_the_backend(
    obd: LoggedFeedback, target: np.ndarray, shards: Path, tmp_path: Path
) -> None:
    ref = stream_estimates(shards, {"t": target}, n_bootstrap=50)
    other = write_shards(obd, tmp_path, n_shards=2, row_group_rows=4000)
    resharded = stream_estimates(other, {"t": target}, n_bootstrap=50)
    for a, b in zip(ref.estimates["t"], resharded.estimates["t"], strict=True):
        for key in ("value", "standard_error", "ci_low", "ci_high"):
            assert getattr(a, key) == pytest.approx(getattr(b, key), rel=1e-9), (a.estimator, key)
    with make_executor("processes", 2) as executor:
        pooled = stream_estimates(shards, {"t": target}, n_bootstrap=50, executor=executor)
    assert pooled.estimates == ref.estimates  # the same blocks merged in the same order: bit-identical


def test_poisson_bootstrap_interval_is_close_to_the_in_memory_bootstrap(
    obd: LoggedFeedback, target: np.ndarray, shards: Path
) -> None:
    found = stream_estimates(shards, {"t": target}, estimators=["ipw"], n_bootstrap=400)
    (r,) = found.estimates["t"]
    m = make_estimator("ipw", n_bootstrap=400).estimate(obd, target)
    width = m.ci_high - m.ci_low
    assert abs(r.ci_low - m.ci_low) < 0.2 * width and abs(r.ci_high - m.ci_high) < 0.2 * width


def test_dr_interval_with_the_streamed_reward_model_covers_at_its_level() -> None:
    """Coverage of DR's normal interval with the tabular cross-fitted model (what the streamed path computes,
    see the equality test above) over 300 logs; tolerance 3 binomial standard errors."""
    n_actions, n_rows, runs, level = 5, 2000, 300, 0.9
    mu = np.linspace(0.1, 0.5, n_actions)
    pi = np.array([0.05, 0.05, 0.1, 0.3, 0.5])
    truth = float(pi @ mu)
    covered = 0
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        action = rng.integers(0, n_actions, n_rows)
        fb = LoggedFeedback.from_arrays(
            action=action,
            reward=(rng.random(n_rows) < mu[action]).astype(float),
            propensity=1 / n_actions,
            n_actions=n_actions,
        )
        rewards = tabular_rewards(fb, seed=seed)
        dr = make_estimator("dr", n_bootstrap=0, alpha=1 - level).estimate(fb, pi[:, None], rewards.values)
        covered += dr.ci_low <= truth <= dr.ci_high
    tol = 3 * math.sqrt(level * (1 - level) / runs)
    assert abs(covered / runs - level) < tol


@pytest.mark.slow
def test_streamed_bootstrap_interval_covers_at_its_level(tmp_path: Path) -> None:
    """The Poisson bootstrap's percentile interval of SNIPW, streamed, over 100 logs (3 binomial SEs)."""
    n_actions, n_rows, runs, level = 4, 1500, 100, 0.9
    mu = np.array([0.1, 0.2, 0.3, 0.4])
    pi = np.array([0.1, 0.2, 0.3, 0.4])
    truth = float(pi @ mu)
    covered = 0
    for seed in range(runs):
        rng = np.random.default_rng(1000 + seed)
        action = rng.integers(0, n_actions, n_rows)
        fb = LoggedFeedback.from_arrays(
            action=action,
            reward=(rng.random(n_rows) < mu[action]).astype(float),
            propensity=1 / n_actions,
            n_actions=n_actions,
        )
        folder = write_shards(fb, tmp_path / str(seed), n_shards=2, row_group_rows=500)
        (r,) = stream_estimates(
            folder, {"t": pi}, estimators=["snipw"], n_bootstrap=100, alpha=1 - level, seed=seed
        ).estimates["t"]
        covered += r.ci_low <= truth <= r.ci_high
    assert abs(covered / runs - level) < 3 * math.sqrt(level * (1 - level) / runs)


def test_item_shards_map_items_to_actions_in_sorted_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    items = np.array(["b", "a", "c"])[rng.integers(0, 3, 3000)]
    reward = (rng.random(3000) < np.where(items == "c", 0.5, 0.1)).astype(float)
    pq.write_table(
        pa.table(
            {
                "item": items,
                "position": np.zeros(3000, dtype=np.int64),
                "reward": reward,
                "propensity": np.full(3000, 1 / 3),
            }
        ),
        tmp_path / "log.parquet",
        row_group_size=1000,
    )
    found = stream_estimates(tmp_path, {"c": [0.0, 0.0, 1.0]}, estimators=["ipw"], n_bootstrap=0)
    assert found.keys.tolist() == ["a", "b", "c"]
    assert found.estimates["c"][0].value == pytest.approx(3 * reward[items == "c"].sum() / 3000)


def test_policies_unsupported_targets_and_bad_inputs(target: np.ndarray, shards: Path, tmp_path: Path) -> None:
    ev = evaluate_shards(shards, {"uniform": UniformRandom(), "ucb1": UCB1()}, n_bootstrap=0)
    assert ev["uniform"].estimate("ipw").value == pytest.approx(ev.logging_value, rel=1e-12)  # on-policy: the mean
    assert ev.n_rows == 10_000 and ev.policies[1].dist_source == "policy"
    with pytest.raises(InputError, match="decides on contexts"):
        stream_estimates(shards, {"lin": LinUCB()})
    one = np.zeros(target.shape[0])
    one[3] = 1.0
    found = stream_estimates(shards, {"x": one}, n_bootstrap=0)  # one table for every position
    assert found.skipped["x"] == {}  # every action was logged at every position
    with pytest.raises(UnknownNameError):
        stream_estimates(shards, {"t": target}, estimators=["switch_dr"])
    with pytest.raises(InputError, match="no Parquet shards"):
        ShardedLog.open(tmp_path)
    pq.write_table(pa.table({"action": [0], "reward": [1.0]}), tmp_path / "bad.parquet")
    with pytest.raises(DataError, match="missing"):
        ShardedLog.open(tmp_path)


def test_targets_outside_the_logged_support_skip_the_weighting_estimators(tmp_path: Path) -> None:
    fb = LoggedFeedback.from_arrays(action=[0, 1, 0, 1] * 50, reward=[1, 0, 0, 1] * 50, propensity=0.5, n_actions=3)
    folder = write_shards(fb, tmp_path, n_shards=1)
    found = stream_estimates(folder, {"new": [0.0, 0.5, 0.5], "old": [0.5, 0.5, 0.0]}, n_bootstrap=0, n_actions=3)
    assert found.keys.tolist() == [0, 1, 2]
    assert set(found.skipped["new"]) == {"ipw", "snipw"} and "0.5 of its probability" in found.skipped["new"]["ipw"]
    assert [r.estimator for r in found.estimates["new"]] == ["dm", "dr", "sndr"]
    assert found.skipped["old"] == {}
    with pytest.raises(InputError, match=r"shape \(n_actions, n_positions\) = \(2, 1\)"):
        stream_estimates(folder, {"new": [0.0, 0.5, 0.5]})  # without n_actions: the two logged actions
