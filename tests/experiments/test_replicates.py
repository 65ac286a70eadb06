"""Replicates and sweeps: seeded by index, merged in order, bit-identical on every backend and worker count."""

from __future__ import annotations

import random

import numpy as np
import pytest

from _experiments import small_experiment
from abrec.errors import InputError, ParameterError
from abrec.experiments import ExperimentConfig, run_simulation
from abrec.experiments.executor import make_executor
from abrec.experiments.replicates import (
    ReplicateSummary,
    ReplicateTask,
    replicate_config,
    replicate_seed,
    run_replicate,
    run_replicates,
    run_sweep,
    sweep_configs,
)

N = 5


@pytest.fixture(scope="module")
def config() -> ExperimentConfig:
    variants = [{"name": "random", "policy": "uniform"}, {"name": "ts", "policy": "bernoulli_ts"}]
    return ExperimentConfig.from_mapping(small_experiment("rep", 3, variants=variants, view={"horizon": 8}))


@pytest.fixture(scope="module")
def local(config: ExperimentConfig) -> ReplicateSummary:
    return run_replicates(config, N)


def test_replicate_seeds_are_numpy_spawned_children_by_index(config: ExperimentConfig) -> None:
    children = np.random.SeedSequence(3).spawn(N)
    assert [replicate_seed(3, i) for i in range(N)] == [int(c.generate_state(1)[0]) for c in children]
    cfg = replicate_config(config, 2)
    assert (cfg.seed, cfg.name) == (replicate_seed(3, 2), "rep/r2")
    assert cfg.env == config.env and cfg.variants == config.variants  # the same world and policies
    with pytest.raises(ParameterError):
        replicate_config(config, -1)


def test_a_replicate_is_the_simulation_of_its_config(config: ExperimentConfig, local: ReplicateSummary) -> None:
    outcome = local.outcomes[2]
    result = run_simulation(replicate_config(config, 2))
    np.testing.assert_array_equal(outcome.periods.sum, result.periods.sum)
    readout = {v.variant: v for v in result.readout().variants}
    assert outcome.relative[1] == readout["ts"].relative
    assert (outcome.relative_low[1], outcome.relative_high[1]) == tuple(readout["ts"].relative_ci)
    assert np.isnan(outcome.relative[0])  # the control


def test_processes_with_one_and_two_workers_give_bit_identical_numbers(
    config: ExperimentConfig, local: ReplicateSummary
) -> None:
    for workers in (1, 2):
        with make_executor("processes", workers) as executor:
            summary = run_replicates(config, N, executor=executor)
        assert summary.fingerprint() == local.fingerprint()
        for a, b in zip(summary.outcomes, local.outcomes, strict=True):
            for x, y in zip(a.arrays(), b.arrays(), strict=True):
                np.testing.assert_array_equal(x, y)
        assert summary.lifts["ts"] == local.lifts["ts"]  # the merged statistics, to the bit


def test_merge_adds_up_in_replicate_order_whatever_order_the_outcomes_arrive(
    config: ExperimentConfig, local: ReplicateSummary
) -> None:
    shuffled = list(local.outcomes)
    random.Random(0).shuffle(shuffled)
    merged = ReplicateSummary.merge(config, shuffled)
    assert [o.index for o in merged.outcomes] == list(range(N))
    assert merged.fingerprint() == local.fingerprint()
    lifts = local.relative_lifts("ts")
    stats = merged.lifts["ts"]
    assert stats.n == N and stats.mean == pytest.approx(lifts.mean(), rel=1e-12)
    assert np.sqrt(stats.variance) == pytest.approx(lifts.std(ddof=1), rel=1e-9)
    total = local.outcomes[0].periods
    for o in local.outcomes[1:]:
        total = total + o.periods
    np.testing.assert_array_equal(merged.periods.n, total.n)
    with pytest.raises(InputError):
        ReplicateSummary.merge(config, [])


def test_replicates_differ_and_the_table_reports_both_intervals(local: ReplicateSummary) -> None:
    lifts = local.relative_lifts("ts")
    assert len(set(lifts.tolist())) == N  # each replicate its own users and learning path
    assert len({o.name for o in local.outcomes}) == N
    (row,) = local.table()
    assert row["variant"] == "ts" and row["replicates"] == N
    assert row["between_low"] == pytest.approx(np.quantile(lifts, 0.025))
    assert row["between_high"] == pytest.approx(np.quantile(lifts, 0.975))
    assert row["within_low"] == pytest.approx(np.mean([o.relative_low[1] for o in local.outcomes]))
    assert 0.0 <= row["significant"] <= 1.0


def test_a_fingerprint_changes_when_one_number_changes(local: ReplicateSummary, config: ExperimentConfig) -> None:
    other = run_replicate(ReplicateTask(config, N))  # one more replicate, in place of the last
    changed = ReplicateSummary.merge(config, [*local.outcomes[:-1], other])
    assert changed.fingerprint() != local.fingerprint()


def test_sweep_points_share_seeds_and_run_as_one_batch(config: ExperimentConfig, local: ReplicateSummary) -> None:
    points = sweep_configs(config, {"allocation.min_share": [0.2, 0.3]})
    assert [label for label, _ in points] == ["allocation.min_share=0.2", "allocation.min_share=0.3"]
    assert points[1][1].allocation["min_share"] == 0.3
    out = run_sweep(points, 2)
    assert list(out) == [label for label, _ in points]
    first = out["allocation.min_share=0.2"]
    assert [o.seed for o in first.outcomes] == [o.seed for o in out["allocation.min_share=0.3"].outcomes]
    assert first.fingerprint() == ReplicateSummary.merge(config, local.outcomes[:2]).fingerprint()


def test_sweep_keys_address_variants_by_name_and_are_validated(config: ExperimentConfig) -> None:
    (label, cfg), _ = sweep_configs(config, {"variants.ts.params.propensity_draws": [10, 20]})
    assert cfg.variants[1].params["propensity_draws"] == 10 and label.endswith("=10")
    with pytest.raises(InputError, match="no variant named 'tss'"):
        sweep_configs(config, {"variants.tss.params.x": [1]})
    with pytest.raises(InputError, match="non-empty list"):
        sweep_configs(config, {"allocation.min_share": 0.2})  # type: ignore[dict-item]
    with pytest.raises(ParameterError):
        sweep_configs(config, {"allocation.min_share": [1.5]})
    with pytest.raises(InputError, match="distinct labels"):
        run_sweep([("a", config), ("a", config)], 1)
    with pytest.raises(ParameterError, match="replicates"):
        run_replicates(config, 0)
