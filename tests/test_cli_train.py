"""``abrec train``: agents trained on many concurrent sessions, deterministic per seed, warm-started from a log."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from _shared import require_module
from abrec.agents import DQNAgent, Transitions, run_sessions
from abrec.cli import app
from abrec.data import InteractionLog
from abrec.envs import make_env
from abrec.errors import InputError, ParameterError
from abrec.experiments.simulation import world_item_features
from abrec.experiments.training import TrainConfig, log_transitions, train_agent
from abrec.policies import Policy, UniformRandom

torch = require_module("torch", "the 'llm' extra (torch) is not installed")
torch.set_num_threads(1)

runner = CliRunner()
VIEW = {"n_users": 30, "n_candidates": 6, "slate_size": 2, "max_steps": 5}
ENV = {"env": "abrec/SyntheticCatalog-Session-v0", "seed": 0, "world": {"n_items": 60, "click_rate": 0.3}, "view": VIEW}


def train_mapping(**overrides: Any) -> dict[str, Any]:
    mapping: dict[str, Any] = {
        "name": "tiny",
        "env": ENV,
        "encoder": "hashing",
        "feature_dim": 4,
        "agent": {"policy": "dqn", "params": {"hidden": 8, "batch_size": 16, "n_step": 2, "gamma": 0.8}},
        "episodes": 2,
        "seeds": 2,
    }
    mapping.update(overrides)
    return mapping


def write_config(folder: Path, name: str = "train.yaml", **overrides: Any) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(train_mapping(**overrides)), encoding="utf-8")
    return path


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ABREC_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def state_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


# ------------------------------------------------------------------------------------------ the command


def test_train_writes_agents_curve_and_report_and_is_deterministic(work: Path) -> None:
    config = write_config(work)
    first = runner.invoke(app, ["train", str(config), "--out", "a"])
    assert first.exit_code == 0, first.output
    assert "return per session" in first.stdout
    files = sorted(p.name for p in (work / "a").iterdir())
    assert files == ["agent-seed0.npz", "agent-seed1.npz", "config.yaml", "curve.jsonl", "report.html"]
    rows = [json.loads(line) for line in (work / "a" / "curve.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["seed"], r["episode"]) for r in rows] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert all(r["sessions"] == VIEW["n_users"] and 1 <= r["session_length"] <= VIEW["max_steps"] for r in rows)
    assert rows[1]["transitions"] > rows[0]["transitions"] > 0
    html = (work / "a" / "report.html").read_text(encoding="utf-8")
    assert "Learning curves" in html and html.count("<svg") >= 3 and "seed 1" in html
    agent = Policy.load(str(work / "a" / "agent-seed0.npz"))
    assert isinstance(agent, DQNAgent) and agent.transitions_seen == rows[1]["transitions"]
    # The same config trains the same agents, array for array, and different seeds different ones.
    again = runner.invoke(app, ["train", str(config), "--out", "b"])
    assert again.exit_code == 0, again.output
    for seed in (0, 1):
        a, b = state_arrays(work / "a" / f"agent-seed{seed}.npz"), state_arrays(work / "b" / f"agent-seed{seed}.npz")
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        assert (work / "a" / f"agent-seed{seed}.npz").read_bytes() == (
            work / "b" / f"agent-seed{seed}.npz"
        ).read_bytes()
    a0, a1 = state_arrays(work / "a" / "agent-seed0.npz"), state_arrays(work / "a" / "agent-seed1.npz")
    assert not np.array_equal(a0["extra:online.out.weight"], a1["extra:online.out.weight"])


def test_overwrite_replaces_the_folder_whole(work: Path) -> None:
    config = write_config(work, seeds=[3], episodes=1)
    (work / "out").mkdir()
    (work / "out" / "stale.txt").write_text("old", encoding="utf-8")
    refused = runner.invoke(app, ["train", str(config), "--out", "out"])
    assert refused.exit_code == 2 and refused.stderr.startswith("error: --out out: the folder exists")
    done = runner.invoke(app, ["train", str(config), "--out", "out", "--overwrite"])
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in (work / "out").iterdir())[0] == "agent-seed3.npz"
    assert not (work / "out" / "stale.txt").exists()
    assert sorted(p.name for p in work.iterdir() if p.name.startswith(".")) == []  # no staging folder left


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"agnt": {}}, "Unknown key 'agnt' in the training config. Did you mean 'agent'?"),
        ({"agent": {"policy": "uniform"}}, "'uniform' is not one"),
        ({"agent": {"policy": "dqn", "params": {"hiden": 8}}}, "Did you mean 'hidden'?"),
        ({"agent": {"policy": "dqn", "params": {"seed": 1}}}, "agent.params.seed is set by 'seeds'"),
        ({"env": {**ENV, "env": "abrec/SyntheticCatalog-Bandit-v0", "view": {}}}, "session view"),
        ({"seeds": [1, 1]}, "seeds must be distinct"),
        ({"episodes": 0}, "episodes must be an int >= 1"),
        ({"warm_start": "missing.parquet"}, "warm_start missing.parquet: no such file"),
        ({"warm_start": {"path": "x"}}, "Unknown key 'path' in warm_start"),
    ],
)
def test_user_errors_are_one_line_and_write_nothing(work: Path, overrides: dict[str, Any], message: str) -> None:
    config = write_config(work, **overrides)
    before = sorted(p.name for p in work.iterdir())
    result = runner.invoke(app, ["train", str(config), "--out", "out"])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert message in result.stderr
    assert sorted(p.name for p in work.iterdir()) == before


def test_an_error_during_training_leaves_nothing(work: Path) -> None:
    log = InteractionLog.from_arrays(unit=["u"], item=[0], timestamp=[0], reward=[1.0])  # no session, no context
    log.write(work / "bad.parquet")
    config = write_config(work, warm_start="bad.parquet")
    before = sorted(p.name for p in work.iterdir())
    result = runner.invoke(app, ["train", str(config), "--out", "out"])
    assert result.exit_code == 2 and "needs a session_id" in result.stderr
    assert sorted(p.name for p in work.iterdir() if p.name != "cache") == [p for p in before if p != "cache"]


def test_config_checks_without_the_command() -> None:
    with pytest.raises(ParameterError, match="seeds"):
        TrainConfig(env=ENV, agent="dqn", seeds=())
    with pytest.raises(InputError, match="set by 'seeds'"):
        TrainConfig(env=ENV, agent="dqn", params={"train_seed": 1})
    assert TrainConfig.from_mapping(train_mapping(seeds=3)).seeds == (0, 1, 2)


# ------------------------------------------------------------------------------------------ warm start


@pytest.fixture(scope="module")
def behaviour() -> tuple[Any, Any, InteractionLog]:
    """A uniformly random behaviour policy's session log (2 episodes), with the env and its item features."""
    env = make_env(ENV)
    features, _ = world_item_features(env.unwrapped.world, "hashing", 4)
    steps = list(run_sessions(env, {"random": UniformRandom(seed=0)}, features=features, episodes=2, seed=7))
    return env, features, InteractionLog.concat([s.log for s in steps])


def test_log_transitions_are_the_rollouts_transitions(behaviour: tuple[Any, Any, InteractionLog]) -> None:
    """From the log of a rollout, the agent's transitions are what the rollout itself gave it: the same states,
    shown items, n-step returns and discounts (up to the documented approximations: next candidates and the
    fatigue pair feature, and no bootstrap at the horizon)."""
    env, features, _ = behaviour
    agent = DQNAgent(hidden=8, n_step=2, gamma=0.8, seed=0)
    online: list[Transitions] = []
    original = agent.learn

    def recording(t: Transitions) -> None:
        online.append(t)
        original(t)

    agent.learn = recording  # type: ignore[method-assign]
    steps = list(run_sessions(env, {"dqn": agent}, features=features, episodes=1, seed=11))
    log = InteractionLog.concat([s.log for s in steps])
    got = log_transitions(log, DQNAgent(n_step=2, gamma=0.8), features, horizon=VIEW["max_steps"])
    want = Transitions(*(np.concatenate([getattr(t, f) for t in online]) for f in Transitions._fields))
    assert got.size == want.size == log.frame["request_id"].nunique()
    p = features.vectors.shape[1]

    def key(t: Transitions) -> np.ndarray:
        return np.lexsort(np.hstack([t.states, t.item_features[:, :, :p].reshape(t.size, -1)]).T[::-1])

    g, w = key(got), key(want)
    np.testing.assert_allclose(got.states[g], want.states[w])
    np.testing.assert_array_equal(got.items[g], want.items[w])
    np.testing.assert_allclose(got.item_features[g][:, :, :p], want.item_features[w][:, :, :p])
    np.testing.assert_allclose(got.item_features[g][:, :, p + 1 :], want.item_features[w][:, :, p + 1 :])
    np.testing.assert_allclose(got.rewards[g], want.rewards[w])
    # At the horizon the rollout bootstraps (discount gamma^h); the log ends the session there (discount 0).
    cut = want.discounts[w] > 0
    horizon = want.states[w][:, -3] * VIEW["max_steps"] >= VIEW["max_steps"] - agent.n_step
    np.testing.assert_allclose(got.discounts[g][~horizon], want.discounts[w][~horizon])
    assert (got.discounts[g][horizon & cut] == 0).all()


def test_warm_start_pretrains_on_the_log_then_fine_tunes(
    behaviour: tuple[Any, Any, InteractionLog], work: Path
) -> None:
    _, _, log = behaviour
    log.write(work / "behaviour.parquet")
    cfg = TrainConfig.from_mapping(train_mapping(warm_start="behaviour.parquet", seeds=[0], episodes=1))
    result = train_agent(cfg)
    requests = log.frame["request_id"].nunique()
    assert result.warm_transitions == requests
    point = result.curve[0]
    assert point.transitions == pytest.approx(requests + point.sessions * point.session_length)
    with pytest.raises(InputError, match="no rows of variant 'nobody'"):
        train_agent(
            TrainConfig.from_mapping(train_mapping(warm_start={"log": "behaviour.parquet", "variant": "nobody"}))
        )
