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

:func:`make_env` is ``gymnasium.make`` with the episode length of the view: it returns the
environment inside Gymnasium's standard wrappers, ``TimeLimit(OrderEnforcing(PassiveEnvChecker(env)))``,
with ``max_episode_steps`` the view's ``horizon`` (bandit) or ``max_steps`` (session). Read the
view's own attributes (``world``, ``slate_size``, ``horizon``, ``item_texts()``, ``users``) on
``env.unwrapped``.
"""

from __future__ import annotations

import inspect
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


def _make(world: str, view: str, world_args: Mapping[str, Any] | None, seed: int | None, view_args: Any) -> Any:
    built = _build_world(world, world_args or {}, seed)
    return _view_class(view)(built, seed=seed, **view_args)


def _view_class(view: str) -> Callable[..., gymnasium.Env[Any, Any]]:
    if view == "bandit":
        from .bandit import RecBanditEnv

        return RecBanditEnv
    from .session import RecSessionEnv

    return RecSessionEnv


# The entry points, importable by name (so that an env's spec can be saved and made again).
def _synthetic_bandit(world_args: Mapping[str, Any] | None = None, seed: int | None = None, **view: Any) -> Any:
    return _make("synthetic", "bandit", world_args, seed, view)


def _synthetic_session(world_args: Mapping[str, Any] | None = None, seed: int | None = None, **view: Any) -> Any:
    return _make("synthetic", "session", world_args, seed, view)


def _movielens_bandit(world_args: Mapping[str, Any] | None = None, seed: int | None = None, **view: Any) -> Any:
    return _make("movielens", "bandit", world_args, seed, view)


def _movielens_session(world_args: Mapping[str, Any] | None = None, seed: int | None = None, **view: Any) -> Any:
    return _make("movielens", "session", world_args, seed, view)


#: The view argument that sets the episode length (what ``make_env`` passes as ``max_episode_steps``).
_HORIZON_ARGS = {"bandit": "horizon", "session": "max_steps"}


def _register() -> None:
    for w_name, world in _WORLDS.items():
        for v_name, view in _VIEWS.items():
            env_id = f"abrec/{w_name}-{v_name}-v0"
            if env_id not in gymnasium.registry:
                gymnasium.register(id=env_id, entry_point=f"{__name__}:_{world}_{view}")


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

    Returns what ``gymnasium.make`` returns for the id, with ``max_episode_steps`` set to the view's
    episode length: the environment inside ``TimeLimit(OrderEnforcing(PassiveEnvChecker(...)))``.
    ``env.unwrapped`` is the :class:`~abrec.envs.RecBanditEnv` or :class:`~abrec.envs.RecSessionEnv`
    itself (its ``world``, ``slate_size``, ``horizon``, ``item_texts()``...); the wrappers forward
    ``reset``, ``step`` and the spaces, and cost well under 1% of a step of 1,000 users.

    Examples
    --------
    >>> env = make_env({"env": "abrec/SyntheticCatalog-Bandit-v0", "seed": 0,
    ...                 "world": {"n_items": 100}, "view": {"n_users": 4, "n_candidates": 10, "horizon": 20}})
    >>> env
    <TimeLimit<OrderEnforcing<PassiveEnvChecker<RecBanditEnv<abrec/SyntheticCatalog-Bandit-v0>>>>>
    >>> env.spec.max_episode_steps, env.unwrapped.horizon
    (20, 20)
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
    view_args = dict(config.get("view") or {})
    view = _VIEWS[env_id.split("/")[1].split("-")[1]]
    horizon_arg = _HORIZON_ARGS[view]
    horizon = view_args.get(horizon_arg, inspect.signature(_view_class(view)).parameters[horizon_arg].default)
    return gymnasium.make(
        env_id,
        max_episode_steps=horizon,
        disable_env_checker=False,
        world_args=dict(config.get("world") or {}),
        seed=config.get("seed"),
        **view_args,
    )
