"""Session experiments: agents and bandits as variants on a session view, read out per session from one log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from typer.testing import CliRunner

from _shared import require_module
from abrec.abtest.scorecard import analyze_metrics
from abrec.agents import run_sessions
from abrec.cli import app
from abrec.data import InteractionLog
from abrec.envs import make_env
from abrec.errors import InputError, ParameterError
from abrec.experiments import ExperimentConfig, SessionResult, run_session_experiment, run_simulation, session_metrics
from abrec.experiments.simulation import world_item_features
from abrec.policies.registry import make_policy, registered_policies

torch = require_module("torch", "the 'llm' extra (torch) is not installed")
torch.set_num_threads(1)

VIEW = {"n_users": 50, "n_candidates": 8, "slate_size": 2, "max_steps": 6}
DQN = {"hidden": 8, "gamma": 0.5, "n_step": 2, "epsilon": 0.1, "batch_size": 32}


def session_mapping(**overrides: Any) -> dict[str, Any]:
    """A small session experiment: uniform control, a text-prior Thompson bandit and a DQN agent."""
    mapping: dict[str, Any] = {
        "name": "sessions",
        "seed": 3,
        "episodes": 3,
        "env": {
            "env": "abrec/SyntheticCatalog-Session-v0",
            "seed": 0,
            "world": {"n_items": 80, "click_rate": 0.3},
            "view": dict(VIEW),
        },
        "encoder": "hashing",
        "feature_dim": 4,
        "variants": [
            {"name": "random", "policy": "uniform"},
            {"name": "ts", "policy": "text_prior_ts", "params": {"propensity_draws": 20}},
            {"name": "dqn", "policy": "dqn", "params": DQN},
        ],
        "control": "random",
        "allocation": {"method": "top_two", "min_share": 0.2, "period": 1, "draws": 2000},
    }
    mapping.update(overrides)
    return mapping


@pytest.fixture(scope="module")
def result() -> SessionResult:
    return run_session_experiment(ExperimentConfig.from_mapping(session_mapping()))


# ------------------------------------------------------------------------------------------ the config


def test_a_session_config_accepts_agents_and_episodes() -> None:
    cfg = ExperimentConfig.from_mapping(session_mapping())
    assert cfg.sessions and cfg.episodes == 3
    assert [v.policy for v in cfg.variants] == ["uniform", "text_prior_ts", "dqn"]


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        ({"episodes": 0}, ParameterError, "episodes must be an int >= 1"),
        ({"episodes": "3"}, InputError, "episodes must be integers"),
        ({"env": {"env": "abrec/SyntheticCatalog-Session-v0", "view": {"horizon": 5}}}, InputError, "max_steps"),
        (
            {"variants": [{"name": "a", "policy": "uniform"}, {"name": "b", "policy": "dqn", "params": {"hiden": 8}}]},
            InputError,
            r"Unknown key 'hiden' in variants\[1\]\.params \(b, dqn\)\. Did you mean 'hidden'\?",
        ),
    ],
)
def test_session_config_errors(overrides: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        ExperimentConfig.from_mapping(session_mapping(**overrides))


def test_episodes_belong_to_session_experiments() -> None:
    bandit = {"env": "abrec/SyntheticCatalog-Bandit-v0", "world": {"n_items": 40}, "view": {"n_users": 10}}
    with pytest.raises(ParameterError, match="apply to session experiments"):
        ExperimentConfig.from_mapping(session_mapping(env=bandit, episodes=2))
    with pytest.raises(InputError, match="session view"):
        run_session_experiment(ExperimentConfig.from_mapping(session_mapping(env=bandit, episodes=1)))


def test_run_simulation_points_a_session_config_to_the_session_runner() -> None:
    with pytest.raises(InputError, match=r"bandit view.*run_session_experiment"):
        run_simulation(ExperimentConfig.from_mapping(session_mapping()))


# ------------------------------------------------------------------------------------------ one run


def test_every_session_is_a_unit_in_one_variant_and_one_period(result: SessionResult) -> None:
    frame = result.log.frame
    assert (frame["session_id"] == frame["unit"]).all()
    assert frame.groupby("unit")["variant"].nunique().max() == 1
    assert frame.groupby("unit")["period"].nunique().max() == 1
    episode = frame["unit"].str.extract(r"-e(\d+)-u")[0].astype(int)
    np.testing.assert_array_equal(frame["period"], episode)  # allocation.period: 1 episode per period
    assert len(result.sessions) == result.config.episodes * VIEW["n_users"]
    # The weights are fixed within each period, and the adaptive allocator moved them between periods.
    spread = frame.groupby(["period", "variant"])["assignment_p"].agg(np.ptp)
    assert (spread == 0).all()
    assert not np.allclose(result.weights[0], result.weights[-1])


def test_session_metrics_from_the_log_match_what_the_env_reports(result: SessionResult) -> None:
    sessions = result.sessions
    episode = sessions["unit"].str.extract(r"-e(\d+)-u")[0].astype(int).to_numpy()
    for v, name in enumerate(result.variants):
        for e in range(result.config.episodes):
            mine = (sessions["variant"] == name).to_numpy() & (episode == e)
            assert mine.sum() == result.episode_sessions[e, v]
            assert sessions["return"][mine].mean() == pytest.approx(result.episode_returns[e, v], abs=1e-12)
    assert (sessions["length"] >= 1).all() and (sessions["length"] <= VIEW["max_steps"]).all()
    # Left early (the env's 'left' before the last step) is exactly a session shorter than max_steps.
    np.testing.assert_array_equal(sessions["left_early"], sessions["length"] < VIEW["max_steps"])
    assert 0 < sessions["left_early"].mean() < 1
    assert (sessions["return"] == sessions["clicks"]).all()  # the env's return counts clicks


def test_the_readout_is_per_session_and_analyze_reads_the_same_from_the_exported_log(
    result: SessionResult, tmp_path: Path
) -> None:
    metrics = result.readouts()
    assert [m.name for m in metrics.metrics] == [m.name for m in session_metrics()]
    primary = metrics.primary
    assert primary.method.startswith("period-weighted")
    by_name = {v.variant: v for v in primary.variants}
    assert sum(v.units for v in primary.variants) == len(result.sessions)
    ratio = result.sessions.groupby("variant")["return"].mean()
    assert by_name["random"].mean == pytest.approx(ratio["random"], rel=0.5)  # period-weighted, same scale
    path = tmp_path / "sessions.parquet"
    result.log.write(path)
    again = analyze_metrics(InteractionLog.read(path), control="random", metrics=session_metrics())
    assert again.to_dict() == metrics.to_dict()


def test_a_session_experiment_is_deterministic(result: SessionResult) -> None:
    again = run_session_experiment(result.config)
    assert again.log == result.log
    np.testing.assert_array_equal(again.episode_returns, result.episode_returns)


def test_every_registered_policy_and_agent_runs_as_a_variant() -> None:
    names = sorted(registered_policies())
    assert {"dqn", "tabular_q", "uniform", "text_prior_ts"} <= set(names)
    view = {"n_users": 8 * len(names), "n_candidates": 6, "slate_size": 2, "max_steps": 3}
    cfg = ExperimentConfig.from_mapping(
        session_mapping(
            episodes=1,
            env={**session_mapping()["env"], "view": view},
            variants=[{"name": name, "policy": name} for name in names],
            control="uniform",
            allocation={"method": "fixed"},
        )
    )
    frame = run_session_experiment(cfg).log.frame
    assert set(frame["variant"]) == set(names)
    assert ((frame["propensity"] > 0) & (frame["propensity"] <= 1)).all()
    assert (frame.groupby("variant")["policy"].first() == pd.Series(names, index=names)).all()


# ------------------------------------------------------------------------------------------ the verdict


def test_the_ab_test_of_an_agent_against_a_bandit_reaches_the_direct_verdict() -> None:
    """A/B through the experiment runner vs each policy run alone on every session of the same episodes.

    In this small world the text-prior Thompson bandit learns faster than the DQN agent: run alone on all
    sessions the bandit's return per session is clearly higher (Welch p < 1e-3); the A/B test, with half the
    sessions each, must call the agent worse too (significant negative lift after Holm).
    """
    view = {"n_users": 200, "n_candidates": 10, "slate_size": 1, "max_steps": 10, "fatigue": 1.0}
    dqn = {"hidden": 16, "gamma": 0.5, "epsilon": 0.05, "id_buckets": 256, "replay_ratio": 1.0}
    cfg = ExperimentConfig.from_mapping(
        session_mapping(
            name="verdict",
            seed=1,
            episodes=4,
            env={
                "env": "abrec/SyntheticCatalog-Session-v0",
                "seed": 0,
                "world": {"n_items": 200, "click_rate": 0.3},
                "view": view,
            },
            variants=[
                {"name": "ts", "policy": "text_prior_ts", "params": {"propensity_draws": 50}},
                {"name": "dqn", "policy": "dqn", "params": dqn},
            ],
            control="ts",
            allocation={"method": "fixed"},
        )
    )
    env = make_env(dict(cfg.env))
    features, _ = world_item_features(env.unwrapped.world, cfg.encoder, cfg.feature_dim)
    direct = {}
    for i, spec in enumerate(cfg.variants):
        policy = make_policy(spec.policy, seed=cfg.seed + i, **dict(spec.params))
        ends = [
            s.info["returns"]
            for s in run_sessions(env, {spec.name: policy}, features=features, episodes=cfg.episodes, seed=cfg.seed)
            if s.step + 1 == view["max_steps"] or not (s.info["active"] & ~s.info["left"]).any()
        ]
        direct[spec.name] = np.concatenate(ends)
    test = stats.ttest_ind(direct["dqn"], direct["ts"], equal_var=False)
    assert test.pvalue < 1e-3 and test.statistic < 0  # the direct comparison is clear: the bandit wins
    readout = run_session_experiment(cfg).readout()
    agent = next(v for v in readout.variants if v.variant == "dqn")
    assert agent.significant and agent.effect < 0  # the A/B test says the same


# ------------------------------------------------------------------------------------------ the CLI


def test_the_agents_example_runs_through_the_cli_at_a_small_size(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("ABREC_CACHE_DIR", str(tmp_path / "cache"))
    example = yaml.safe_load((Path(__file__).parents[2] / "examples" / "agents.yaml").read_text(encoding="utf-8"))
    example["episodes"] = 2
    example["encoder"], example["feature_dim"] = "hashing", 4
    example["env"]["world"]["n_items"] = 60
    example["env"]["view"].update({"n_users": 30, "n_candidates": 6, "max_steps": 4})
    for variant in example["variants"]:
        if variant["policy"] == "dqn":
            variant["params"].update(hidden=8, batch_size=16)
    config = tmp_path / "agents.yaml"
    config.write_text(yaml.safe_dump(example), encoding="utf-8")
    out = tmp_path / "out"
    paths = [out / "agents.html", out / "agents.parquet", out / "readout.json"]
    args = ["simulate", str(config), "--report", str(paths[0]), "--log", str(paths[1]), "--json", str(paths[2])]
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 0, run.output
    assert "return per session" in run.stdout and "the unit of every metric is the session" in run.stdout
    assert all(p.exists() for p in paths)
    html = paths[0].read_text(encoding="utf-8")
    assert "return per session" in html and "Across episodes" in html
    analyzed = CliRunner().invoke(app, ["analyze", str(paths[1]), "--control", "random"])
    assert analyzed.exit_code == 0, analyzed.output
    refused = CliRunner().invoke(app, ["simulate", str(config), "--replicates", "2"])
    assert refused.exit_code == 2 and "session experiment runs once" in refused.output
