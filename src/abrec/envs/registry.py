"""Versioned Gymnasium ids for abrec's simulators, and building one from a small config.

=====================================  ===============================================
id                                     environment
=====================================  ===============================================
``abrec/SyntheticCatalog-Bandit-v0``   :class:`RecBanditEnv` over :class:`SyntheticCatalog`
``abrec/SyntheticCatalog-Session-v0``  :class:`RecSessionEnv` over :class:`SyntheticCatalog`
``abrec/MovieLens-Bandit-v0``          :class:`RecBanditEnv` over :class:`MovieLensWorld`
``abrec/MovieLens-Session-v0``         :class:`RecSessionEnv` over :class:`MovieLensWorld`
=====================================  ===============================================

A config (a dict, or the path of a YAML file holding one) names the id and the arguments of the
world and of the view::

    env: abrec/SyntheticCatalog-Bandit-v0
    seed: 0                  # seeds the world (its items and users); reset(seed=...) seeds the draws
    world: {n_items: 500}    # SyntheticCatalog / MovieLensWorld arguments (MovieLens: path: ...)
    view: {n_users: 1000, n_candidates: 50, slate_size: 3}
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gymnasium

from ..errors import InputError, UnknownNameError

__all__ = ["ENV_IDS", "describe_envs", "make_env"]

_WORLDS = {"SyntheticCatalog": "synthetic", "MovieLens": "movielens"}
_VIEWS = {"Bandit": "bandit", "Session": "session"}
ENV_IDS = tuple(f"abrec/{w}-{v}-v0" for w in _WORLDS for v in _VIEWS)

_DESCRIPTIONS = {
    "SyntheticCatalog": "built-in catalog with generated item descriptions; no data needed",
    "MovieLens": "semi-synthetic, calibrated on MovieLens ratings (world: {path: <folder>})",
    "Bandit": "batches of arriving users, slates in, per-position clicks and purchases out",
    "Session": "RL sessions: interest drift, fatigue, leaving; return = long-term engagement",
}


def _build_world(world: str, args: Mapping[str, Any], seed: int | None) -> Any:
    if world == "synthetic":
        from .synthetic import SyntheticCatalog

        return SyntheticCatalog(**args, seed=seed)
    from .movielens import MovieLensWorld

    options = dict(args)
    if "path" not in options:
        raise InputError("The MovieLens simulators need world: {path: <a MovieLens folder>} in their config.")
    path = options.pop("path")
    return MovieLensWorld(path, **options, seed=0 if seed is None else seed)


def _entry_point(world: str, view: str) -> Callable[..., gymnasium.Env[Any, Any]]:
    def make(world_args: Mapping[str, Any] | None = None, seed: int | None = None, **view_args: Any) -> Any:
        built = _build_world(world, world_args or {}, seed)
        if view == "bandit":
            from .bandit import RecBanditEnv

            return RecBanditEnv(built, seed=seed, **view_args)
        from .session import RecSessionEnv

        return RecSessionEnv(built, seed=seed, **view_args)

    return make


def _register() -> None:
    for w_name, world in _WORLDS.items():
        for v_name, view in _VIEWS.items():
            env_id = f"abrec/{w_name}-{v_name}-v0"
            if env_id not in gymnasium.registry:
                gymnasium.register(id=env_id, entry_point=_entry_point(world, view), disable_env_checker=True)


_register()


def describe_envs() -> list[tuple[str, str]]:
    """(id, one-line description) of every registered abrec simulator."""
    out = []
    for env_id in ENV_IDS:
        world, view = env_id.split("/")[1].rsplit("-", 1)[0].split("-")
        out.append((env_id, f"{_DESCRIPTIONS[world]}; {_DESCRIPTIONS[view]}"))
    return out


def make_env(config: Mapping[str, Any] | str | os.PathLike[str]) -> gymnasium.Env[Any, Any]:
    """Build a simulator from a config dict or YAML file (see the module docstring).

    Returns the environment itself (not wrapped), so its vectorised ``step`` runs at full speed.
    """
    if not isinstance(config, Mapping):
        import yaml

        with Path(config).open(encoding="utf-8") as fh:
            loaded = yaml.safe_load(fh)
        if not isinstance(loaded, Mapping):
            raise InputError(f"{config}: an environment config must be a mapping with an 'env' key.")
        config = loaded
    unknown = set(config) - {"env", "seed", "world", "view"}
    if unknown:
        raise InputError(f"Unknown config keys {sorted(unknown)}; expected env, seed, world, view.")
    env_id = str(config.get("env", ""))
    if env_id not in ENV_IDS:
        raise UnknownNameError("environment", env_id, ENV_IDS)
    env = gymnasium.make(
        env_id, world_args=dict(config.get("world") or {}), seed=config.get("seed"), **dict(config.get("view") or {})
    )
    return env.unwrapped
