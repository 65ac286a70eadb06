"""Simulated experiments: config validation, and the invariants of a small run (log, periods, weights, seeds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from _experiments import small_experiment
from abrec.abtest.allocation import PeriodStats
from abrec.errors import InputError, ParameterError
from abrec.experiments import ExperimentConfig, SimulationResult, VariantSpec, load_config, run_simulation

N_USERS, N_CANDIDATES, K, HORIZON, PERIOD, MIN_SHARE = 40, 8, 2, 6, 2, 0.1


def small_mapping(**overrides: Any) -> dict[str, Any]:
    """A small adaptive experiment: uniform control, Bernoulli TS, and TS with text priors (hashing encoder)."""
    config = small_experiment(
        "small",
        3,
        draws=50,
        view={"n_users": N_USERS, "n_candidates": N_CANDIDATES, "slate_size": K, "horizon": HORIZON},
        allocation={"method": "top_two", "min_share": MIN_SHARE, "period": PERIOD, "draws": 2000},
        alpha=0.05,
    )
    config.update(overrides)
    return config


@pytest.fixture(scope="module")
def result() -> SimulationResult:
    return run_simulation(ExperimentConfig.from_mapping(small_mapping()))


# ------------------------------------------------------------------------------------------ config validation


def test_from_mapping_reads_every_field() -> None:
    cfg = ExperimentConfig.from_mapping(small_mapping())
    assert cfg.name == "small" and cfg.seed == 3 and cfg.encoder == "hashing" and cfg.feature_dim == 4
    assert cfg.variant_names == ("random", "ts", "text-prior")
    assert cfg.variants[1] == VariantSpec("ts", "bernoulli_ts", {"propensity_draws": 50})
    assert cfg.control == "random" and cfg.alpha == 0.05
    assert cfg.allocation["method"] == "top_two"


def test_from_mapping_defaults() -> None:
    mapping = {
        "env": small_mapping()["env"],
        "variants": [{"name": "a", "policy": "uniform"}, {"name": "b", "policy": "uniform"}],
    }
    cfg = ExperimentConfig.from_mapping(mapping)
    assert cfg.control == "a"  # the first variant
    assert cfg.allocation == {"method": "fixed"}
    assert (cfg.name, cfg.encoder, cfg.feature_dim, cfg.alpha, cfg.seed) == ("experiment", "auto", 8, 0.05, 0)
    assert cfg.variants[0].params == {}


@pytest.mark.parametrize(
    ("overrides", "drop", "match"),
    [
        ({"colour": "blue"}, None, "Unknown key 'colour' in the experiment config"),
        ({"allocation": {"method": "fixed", "share": 0.5}}, None, "Unknown key 'share' in allocation"),
        ({"env": {"env": "abrec/SyntheticCatalog-Bandit-v0", "view": {"n_user": 4}}}, None, "Did you mean 'n_users'"),
        (
            {"variants": [{"name": "a", "policy": "uniform"}, {"name": "b", "policy": "ucb1", "params": {"cc": 1}}]},
            None,
            r"Unknown key 'cc' in variants\[1\]\.params \(b, ucb1\)\. Did you mean 'c'\?",
        ),
        ({"env": {"env": "abrec/SyntheticCatalog-Session-v0", "view": {"horizon": 5}}}, None, "view.max_steps"),
        ({}, "env", "'env'"),
        ({}, "variants", "'variants'"),
        ({"variants": [{"name": "a"}, {"name": "b", "policy": "uniform"}]}, None, r"variants\[0\]"),
        ({"variants": ["a", "b"]}, None, r"variants\[0\]"),
        (
            {"variants": [{"name": "a", "policy": "uniform"}, {"name": "b", "policy": "uniform", "params": [1]}]},
            None,
            r"variants\[1\]",
        ),
    ],
)
def test_from_mapping_input_errors(overrides: dict[str, Any], drop: str | None, match: str) -> None:
    mapping = small_mapping(**overrides)
    if drop is not None:
        del mapping[drop]
    with pytest.raises(InputError, match=match):
        ExperimentConfig.from_mapping(mapping)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"variants": [{"name": "a", "policy": "uniform"}]}, "at least two distinct"),
        ({"variants": [{"name": "a", "policy": "uniform"}, {"name": "a", "policy": "bernoulli_ts"}]}, "distinct"),
        ({"variants": [], "control": "x"}, "at least two"),
        ({"control": "nobody"}, "control 'nobody'"),
        ({"allocation": {"method": "greedy"}}, "allocation.method"),
        ({"allocation": {"method": "top_two", "min_share": "x"}}, "allocation.min_share"),
        ({"allocation": {"method": "top_two", "draws": 0}}, "allocation.draws"),
        ({"allocation": {"method": "fixed", "weights": {"a": "x"}}}, "allocation.weights"),
        ({"allocation": {"method": "thompson", "period": 0}}, "allocation.period"),
        ({"allocation": {"method": "thompson", "period": 1.5}}, "allocation.period"),
        ({"alpha": 1.0}, "alpha"),
        ({"alpha": 0}, "alpha"),
    ],
)
def test_from_mapping_parameter_errors(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ParameterError, match=match):
        ExperimentConfig.from_mapping(small_mapping(**overrides))


@pytest.mark.parametrize(
    "overrides",
    [
        {"env": "abrec/SyntheticCatalog-Bandit-v0"},
        {"variants": 3},
        {"variants": "ab"},
        {"variants": {"name": "a", "policy": "uniform"}},
        {"allocation": "fixed"},
        {"feature_dim": "eight"},
        {"alpha": [0.05]},
    ],
)
def test_from_mapping_wrong_types_are_input_errors(overrides: dict[str, Any]) -> None:
    with pytest.raises(InputError):
        ExperimentConfig.from_mapping(small_mapping(**overrides))


def test_load_config_round_trips_yaml(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(small_mapping()), encoding="utf-8")
    assert load_config(path) == ExperimentConfig.from_mapping(small_mapping())


def test_load_config_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read"):
        load_config(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(InputError, match="YAML mapping"):
        load_config(listing)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("name: x\nbogus: 1\n", encoding="utf-8")
    with pytest.raises(InputError, match="bogus"):
        load_config(unknown)


def test_fixed_weights_must_name_every_variant() -> None:
    cfg = ExperimentConfig.from_mapping(
        small_mapping(
            variants=[{"name": "random", "policy": "uniform"}, {"name": "ts", "policy": "bernoulli_ts"}],
            allocation={"method": "fixed", "weights": {"random": 1.0}},
        )
    )
    with pytest.raises(ParameterError, match=r"allocation\.weights"):
        run_simulation(cfg)


def test_run_simulation_refuses_a_session_view() -> None:
    env = {**small_mapping()["env"], "env": "abrec/SyntheticCatalog-Session-v0"}
    env["view"] = {"n_users": 4, "n_candidates": 8, "slate_size": 2}
    cfg = ExperimentConfig.from_mapping(small_mapping(env=env))  # a session experiment (run_session_experiment)
    with pytest.raises(InputError, match=r"bandit view.*run_session_experiment"):
        run_simulation(cfg)


# ------------------------------------------------------------------------------------------ a small run


def test_log_has_one_row_per_shown_item(result: SimulationResult) -> None:
    frame = result.log.frame
    n_units = N_USERS * HORIZON
    assert len(result.log) == n_units * K
    assert frame["unit"].nunique() == n_units
    assert (frame.groupby("unit").size() == K).all()
    assert frame["position"].to_numpy().tolist() == np.tile(np.arange(K), n_units).tolist()
    assert set(np.unique(frame["reward"])) <= {0.0, 1.0}
    assert set(np.unique(frame["purchase"])) <= {0.0, 1.0}
    assert (frame["purchase"] <= frame["reward"]).all()  # purchases follow clicks
    assert frame["timestamp"].is_monotonic_increasing
    slates = frame["item"].to_numpy().reshape(n_units, K)
    assert result.candidates.shape == (n_units, N_CANDIDATES)
    contexts = result.log.contexts()
    assert contexts is not None and contexts.shape[0] == n_units * K
    assert (frame["request_id"].to_numpy().reshape(n_units, K) == frame["unit"].to_numpy()[::K, None]).all()
    assert frame["event_id"].is_unique and (frame["propensity_draws"][frame["variant"] == "ts"] == 50).all()
    # every shown item is one of its user's candidates (public ids), and the log names it
    assert (slates[:, :, None] == result.candidates[:, None, :]).any(axis=2).all()
    assert (result.log.frame["reward"].to_numpy().reshape(-1, K).sum(axis=1) == result.users["clicks"]).all()


def test_propensities_are_probabilities(result: SimulationResult) -> None:
    frame = result.log.frame
    p = frame["propensity"].to_numpy()
    assert ((p > 0) & (p <= 1)).all()
    uniform = frame["variant"] == "random"
    assert np.allclose(frame.loc[uniform, "propensity"], 1 / N_CANDIDATES)


def test_variant_policy_and_experiment_columns(result: SimulationResult) -> None:
    frame = result.log.frame
    assert set(frame["variant"]) == {"random", "ts", "text-prior"}
    policy_of = {"random": "uniform", "ts": "bernoulli_ts", "text-prior": "text_prior_ts"}
    assert (frame["policy"] == frame["variant"].map(policy_of)).all()
    assert (frame["experiment"] == "small").all()
    assert result.encoder.startswith("abrec-hashing")
    assert result.item_features is not None and result.item_features.vectors.shape == (60, 5)  # 4 PCA dims + bias


def test_each_unit_is_in_one_variant(result: SimulationResult) -> None:
    frame = result.log.frame
    assert (frame.groupby("unit")["variant"].nunique() == 1).all()
    users = result.users
    assert users["unit"].is_unique and len(users) == N_USERS * HORIZON
    by_unit = frame.groupby("unit")["variant"].first()
    assert (by_unit.loc[users["unit"]].to_numpy() == users["variant"].to_numpy()).all()


def test_period_stats_add_up_to_the_log(result: SimulationResult) -> None:
    names = list(result.variants)
    periods = result.periods
    n_periods = -(-HORIZON // PERIOD)
    assert periods.variants == tuple(names)
    assert periods.n.shape == (n_periods, len(names))
    clicks = result.log.frame.groupby("variant")["reward"].sum()
    assert np.allclose(periods.sum.sum(axis=0), [clicks.get(v, 0.0) for v in names])
    units = result.users.groupby("variant").size()
    assert np.array_equal(periods.n.sum(axis=0), [units.get(v, 0) for v in names])
    users = result.users
    expected = PeriodStats.from_observations(
        users["period"].to_numpy(),
        users["variant"].map({v: i for i, v in enumerate(names)}).to_numpy(),
        users["clicks"].to_numpy(),
        names=names,
        n_periods=n_periods,
    )
    assert np.allclose(periods.n, expected.n)
    assert np.allclose(periods.sum, expected.sum)
    assert np.allclose(periods.sum_sq, expected.sum_sq)
    # the per-step arrays agree with the periods
    assert result.step_users.shape == result.step_clicks.shape == (HORIZON, len(names))
    assert np.allclose(result.step_clicks.sum(axis=0), periods.sum.sum(axis=0))
    assert np.allclose(result.step_users.sum(axis=0), periods.n.sum(axis=0))
    assert (result.step_oracle >= result.step_expected - 1e-9).all()


def test_weights_are_valid_allocations(result: SimulationResult) -> None:
    w = result.weights
    assert w.shape == (-(-HORIZON // PERIOD), 3)
    assert np.allclose(w.sum(axis=1), 1.0)
    assert (w >= MIN_SHARE - 1e-9).all()
    assert np.allclose(w[0], 1 / 3, atol=1e-9)  # an even split before any data


def test_progress_and_notify_are_called() -> None:
    steps: list[tuple[int, int]] = []
    lines: list[str] = []
    cfg = ExperimentConfig.from_mapping(
        small_mapping(
            env={**small_mapping()["env"], "view": {"n_users": 10, "n_candidates": 8, "slate_size": 2, "horizon": 3}}
        )
    )
    run_simulation(cfg, progress=lambda s, t: steps.append((s, t)), notify=lines.append)
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert any("embedded" in line for line in lines)


def test_same_seed_gives_the_same_log(result: SimulationResult) -> None:
    again = run_simulation(ExperimentConfig.from_mapping(small_mapping()))
    pd.testing.assert_frame_equal(again.log.frame, result.log.frame)
    assert np.array_equal(again.weights, result.weights)
    other = run_simulation(ExperimentConfig.from_mapping(small_mapping(seed=4)))
    assert not other.log.frame["item"].equals(result.log.frame["item"])


def test_fixed_allocation_keeps_its_weights() -> None:
    cfg = ExperimentConfig.from_mapping(
        small_mapping(
            variants=[{"name": "random", "policy": "uniform"}, {"name": "ts", "policy": "bernoulli_ts"}],
            allocation={"method": "fixed", "weights": {"random": 3, "ts": 1}},
        )
    )
    res = run_simulation(cfg)
    assert res.encoder == "" and res.item_features is None  # no policy reads item features
    assert res.weights.shape == (HORIZON, 2)  # period defaults to one step
    assert np.allclose(res.weights, [0.75, 0.25], atol=1e-9)
    n = N_USERS * HORIZON
    share = float((res.users["variant"] == "random").mean())
    assert abs(share - 0.75) < 4.5 * np.sqrt(0.75 * 0.25 / n)
