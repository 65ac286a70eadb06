"""Versioned ids, config-built simulators (dict and YAML), and ``abrec envs``."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium
import numpy as np
import pytest
from typer.testing import CliRunner

from _shared import shared_path
from abrec.cli import app
from abrec.envs import ENV_IDS, RecBanditEnv, RecSessionEnv, SyntheticCatalog, make_env
from abrec.errors import InputError, UnknownNameError

SMALL = {"world": {"n_items": 120}, "view": {"n_users": 8, "n_candidates": 10, "slate_size": 3}}


def test_ids_are_registered_with_gymnasium() -> None:
    assert set(ENV_IDS) <= set(gymnasium.registry)
    env = gymnasium.make("abrec/SyntheticCatalog-Bandit-v0", world_args={"n_items": 100}, seed=1, n_users=4)
    assert isinstance(env.unwrapped, RecBanditEnv)


@pytest.mark.parametrize(("view", "cls"), [("Bandit", RecBanditEnv), ("Session", RecSessionEnv)])
def test_make_env_from_dict_runs_and_is_reproducible(view: str, cls: type) -> None:
    config = {"env": f"abrec/SyntheticCatalog-{view}-v0", "seed": 3, **SMALL}
    trajectories = []
    for _ in range(2):
        env = make_env(config)
        assert isinstance(env.unwrapped, cls) and isinstance(env.unwrapped.world, SyntheticCatalog)
        obs, _ = env.reset(seed=5)
        action = np.zeros(env.action_space.shape, dtype=np.int64) + np.arange(3)
        _, reward, _, _, info = env.step(action)
        trajectories.append((obs["candidates"].copy(), reward, info["clicks"].copy()))
    assert np.array_equal(trajectories[0][0], trajectories[1][0])
    assert trajectories[0][1] == trajectories[1][1]


@pytest.mark.parametrize(("view", "horizon_arg", "default"), [("Bandit", "horizon", 100), ("Session", "max_steps", 50)])
def test_make_env_applies_gymnasium_standard_wrappers(view: str, horizon_arg: str, default: int) -> None:
    """As gymnasium.make does: TimeLimit(OrderEnforcing(PassiveEnvChecker(env))), the limit being the view's."""
    config = {"env": f"abrec/SyntheticCatalog-{view}-v0", "seed": 3, **SMALL}
    env = make_env(config)
    chain = []
    layer = env
    while isinstance(layer, gymnasium.Wrapper):
        chain.append(type(layer))
        layer = layer.env
    assert chain == [
        gymnasium.wrappers.TimeLimit,
        gymnasium.wrappers.OrderEnforcing,
        gymnasium.wrappers.PassiveEnvChecker,
    ]
    assert layer is env.unwrapped and env.spec is not None and env.spec.max_episode_steps == default
    assert env.spec.id == config["env"] and gymnasium.make(env.spec).spec == env.spec  # the spec makes it again
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.step(np.zeros(env.action_space.shape, dtype=np.int64))
    short = make_env({**config, "view": {**SMALL["view"], horizon_arg: 3}})
    assert short.spec is not None and short.spec.max_episode_steps == 3 == getattr(short.unwrapped, horizon_arg)
    short.reset(seed=0)
    action = np.zeros(short.action_space.shape, dtype=np.int64) + np.arange(3)
    ends = [short.step(action)[2:4] for _ in range(3)]
    assert [any(end) for end in ends] == [False, False, True] and ends[-1][1] is True


def test_make_env_from_yaml(tmp_path: Path) -> None:
    path = tmp_path / "env.yaml"
    path.write_text(
        "env: abrec/SyntheticCatalog-Bandit-v0\nseed: 0\nworld: {n_items: 150}\nview: {n_users: 5, n_candidates: 12}\n"
    )
    env = make_env(path)
    assert env.observation_space["candidates"].shape == (5, 12)


def test_config_errors_are_clear() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'abrec/SyntheticCatalog-Bandit-v0'"):
        make_env({"env": "abrec/SyntheticCatalog-Bandits-v0"})
    with pytest.raises(InputError, match=re.escape("Unknown key 'worlds' in env. Did you mean 'world'")):
        make_env({"env": ENV_IDS[0], "worlds": {}})
    with pytest.raises(InputError, match=re.escape("Unknown key 'n_user' in env.view. Did you mean 'n_users'")):
        make_env({"env": ENV_IDS[0], "view": {"n_user": 4}})
    with pytest.raises(InputError, match=re.escape("Unknown key 'n_item' in env.world. Did you mean 'n_items'")):
        make_env({"env": ENV_IDS[0], "world": {"n_item": 4}})
    with pytest.raises(InputError, match=r"Unknown key 'horizon' in env\.view\..*max_steps"):
        make_env({"env": "abrec/SyntheticCatalog-Session-v0", "view": {"horizon": 4}})
    with pytest.raises(InputError, match=re.escape("env.view must be a mapping")):
        make_env({"env": ENV_IDS[0], "view": [1, 2]})
    with pytest.raises(InputError, match=re.escape("env.seed must be an integer")):
        make_env({"env": ENV_IDS[0], "seed": "x"})
    with pytest.raises(InputError, match="path"):
        make_env({"env": "abrec/MovieLens-Bandit-v0"})


def test_movielens_env_from_config() -> None:
    folder = shared_path("data", "ml-100k")
    env = make_env({"env": "abrec/MovieLens-Bandit-v0", "world": {"path": str(folder)}, "view": {"n_users": 4}})
    obs, _ = env.reset(seed=0)
    assert obs["candidates"].shape == (4, 50)


def test_cli_lists_the_simulators() -> None:
    result = CliRunner().invoke(app, ["envs"])
    assert result.exit_code == 0
    for env_id in ENV_IDS:
        assert env_id in result.stdout
