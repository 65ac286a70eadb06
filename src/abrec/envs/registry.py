"""Versioned Gymnasium ids for abrec's simulators, and building one from a small config.

=====================================  ===============================================
id                                     environment
=====================================  ===============================================
``abrec/SyntheticCatalog-Bandit-v0``   :class:`RecBanditEnv` over :class:`SyntheticCatalog`
``abrec/SyntheticCatalog-Session-v0``  :class:`RecSessionEnv` over :class:`SyntheticCatalog`
``abrec/MovieLens-Bandit-v0``          :class:`RecBanditEnv` over :class:`MovieLensWorld`
``abrec/MovieLens-Session-v0``         :class:`RecSessionEnv` over :class:`MovieLensWorld`
``abrec/LLMUsers-Bandit-v0``           :class:`RecBanditEnv` over :class:`LLMUserWorld`
``abrec/InterestEvolution-v0``         :class:`InterestEvolutionEnv` (RecSim's; no world: all under ``view``)
=====================================  ===============================================

The LLMUsers world is ``world: {path: <MovieLens folder>, generator: smollm2 | fake | openai[:MODEL] |
<file>.gguf, cache_dir: ..., max_calls: ..., movielens: {<MovieLensWorld arguments>}}``
(:meth:`LLMUserWorld.from_config`; the local SmolLM2 model by default). It has the bandit view only: a
persona has no taste vector for the session view's interest drift to move.

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

from ..errors import InputError, UnknownNameError, unknown_key

__all__ = ["ENV_IDS", "check_env_config", "describe_envs", "make_env"]

_WORLDS = {"SyntheticCatalog": "synthetic", "MovieLens": "movielens", "LLMUsers": "llm_users"}
_VIEWS = {"Bandit": "bandit", "Session": "session"}
#: Simulators that are one class (no world/view split; the config's ``view`` holds all their arguments).
_STANDALONE = {"abrec/InterestEvolution-v0": "RecSim's interest evolution (Ie et al. 2019): topics, quality, budget"}
#: Worlds that have only some of the views (a persona has no taste vector for the session view's drift).
_ONLY_VIEWS = {"LLMUsers": ("Bandit",)}
ENV_IDS = (*(f"abrec/{w}-{v}-v0" for w in _WORLDS for v in _ONLY_VIEWS.get(w, _VIEWS)), *_STANDALONE)
_CONFIG_KEYS = ["env", "seed", "world", "view"]

_DESCRIPTIONS = {
    "SyntheticCatalog": "built-in catalog with generated item descriptions; no data needed",
    "MovieLens": "semi-synthetic, calibrated on MovieLens ratings (world: {path: <folder>})",
    "LLMUsers": "MovieLens users as personas, a generative model clicks (world: {path: <folder>, generator: ...})",
    "Bandit": "batches of arriving users, slates in, per-position clicks and purchases out",
    "Session": "RL sessions: interest drift, fatigue, leaving; return = long-term engagement",
}


def _world_class(world: str) -> Callable[..., Any]:
    if world == "synthetic":
        from .synthetic import SyntheticCatalog

        return SyntheticCatalog
    if world == "llm_users":
        from .llm_users import LLMUserWorld

        return LLMUserWorld.from_config
    from .movielens import MovieLensWorld

    return MovieLensWorld


def _build_world(world: str, args: Mapping[str, Any], seed: int | None) -> Any:
    if world == "synthetic":
        return _world_class(world)(**args, seed=seed)
    options = dict(args)
    if "path" not in options:
        raise InputError("The MovieLens simulators need world: {path: <a MovieLens folder>} in their config.")
    path = options.pop("path")
    return _world_class(world)(path, **options, seed=0 if seed is None else seed)


def _make(world: str, view: str, world_args: Mapping[str, Any] | None, seed: int | None, view_args: Any) -> Any:
    built = _build_world(world, world_args or {}, seed)
    return _view_class(view)(built, seed=seed, **view_args)


def _view_class(view: str) -> Callable[..., gymnasium.Env[Any, Any]]:
    if view == "bandit":
        from .bandit import RecBanditEnv

        return RecBanditEnv
    if view in _STANDALONE:
        from .interest_evolution import InterestEvolutionEnv

        return InterestEvolutionEnv
    from .session import RecSessionEnv

    return RecSessionEnv


def _keywords(build: Callable[..., Any], skip: int) -> list[str]:
    """The names ``build`` takes by keyword, after its first ``skip`` positional parameters, but ``seed``."""
    params = list(inspect.signature(build).parameters.values())[skip:]
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p.name for p in params if p.kind in kinds and p.name != "seed"]


def _check_keys(where: str, args: object, known: list[str]) -> dict[str, Any]:
    if args is None:
        return {}
    if not isinstance(args, Mapping):
        raise InputError(f"{where} must be a mapping of {', '.join(known)}. Got {args!r}.")
    for key in args:
        if key not in known:
            raise unknown_key(key, where, known)
    return dict(args)


def _checked(config: Mapping[str, Any]) -> tuple[str, str, int | None, dict[str, Any], dict[str, Any]]:
    """(env id, view kind, seed, world arguments, view arguments) of a config, every key and mapping checked."""
    for key in config:
        if key not in _CONFIG_KEYS:
            raise unknown_key(key, "env", _CONFIG_KEYS)
    env_id = str(config.get("env", ""))
    if env_id not in ENV_IDS:
        raise UnknownNameError("environment", env_id, ENV_IDS)
    seed = config.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InputError(f"env.seed must be an integer (or left out). Got {seed!r}.")
    if env_id in _STANDALONE:
        if config.get("world"):
            raise InputError(f"{env_id} has no world: put all its arguments under view. Got {config['world']!r}.")
        return env_id, env_id, seed, {}, _check_keys("env.view", config.get("view"), _keywords(_view_class(env_id), 0))
    world_name, view_name = env_id.split("/")[1].rsplit("-", 1)[0].split("-")
    world, view = _WORLDS[world_name], _VIEWS[view_name]
    # The MovieLens world's first argument (a MovieLens folder or object) is the config's ``path``.
    world_keys = (
        _keywords(_world_class(world), 0) if world == "synthetic" else ["path", *_keywords(_world_class(world), 1)]
    )
    world_args = _check_keys("env.world", config.get("world"), world_keys)
    view_args = _check_keys("env.view", config.get("view"), _keywords(_view_class(view), 1))
    return env_id, view, seed, world_args, view_args


# The entry points, importable by name (so that an env's spec can be saved and made again).
def _synthetic_bandit(world_args: Mapping[str, Any] | None = None, seed: int | None = None, **view: Any) -> Any:
    return _make("synthetic", "bandit", world_args, seed, view)


def _synthetic_session(world_args: Mapping[str, Any] | None = None, seed: int | None = None, **view: Any) -> Any:
    return _make("synthetic", "session", world_args, seed, view)


def _movielens_bandit(world_args: Mapping[str, Any] | None = None, seed: int | None = None, **view: Any) -> Any:
    return _make("movielens", "bandit", world_args, seed, view)


def _movielens_session(world_args: Mapping[str, Any] | None = None, seed: int | None = None, **view: Any) -> Any:
    return _make("movielens", "session", world_args, seed, view)


def _llm_users_bandit(world_args: Mapping[str, Any] | None = None, seed: int | None = None, **view: Any) -> Any:
    return _make("llm_users", "bandit", world_args, seed, view)


def _interest_evolution(world_args: Mapping[str, Any] | None = None, seed: int | None = None, **view: Any) -> Any:
    return _view_class("abrec/InterestEvolution-v0")(seed=seed, **view)


#: The view argument that sets the episode length (what ``make_env`` passes as ``max_episode_steps``).
_HORIZON_ARGS = {"bandit": "horizon", "session": "max_steps", **{env_id: "max_steps" for env_id in _STANDALONE}}


def _register() -> None:
    for w_name, world in _WORLDS.items():
        for v_name, view in _VIEWS.items():
            env_id = f"abrec/{w_name}-{v_name}-v0"
            if env_id in ENV_IDS and env_id not in gymnasium.registry:
                gymnasium.register(id=env_id, entry_point=f"{__name__}:_{world}_{view}")
    if "abrec/InterestEvolution-v0" not in gymnasium.registry:
        gymnasium.register(id="abrec/InterestEvolution-v0", entry_point=f"{__name__}:_interest_evolution")


_register()


def describe_envs() -> list[tuple[str, str]]:
    """(id, one-line description) of every registered abrec simulator."""
    out = []
    for env_id in ENV_IDS:
        if env_id in _STANDALONE:
            out.append((env_id, _STANDALONE[env_id]))
            continue
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
    env_id, view, seed, world_args, view_args = _checked(config)
    horizon_arg = _HORIZON_ARGS[view]
    horizon = view_args.get(horizon_arg, inspect.signature(_view_class(view)).parameters[horizon_arg].default)
    return gymnasium.make(
        env_id, max_episode_steps=horizon, disable_env_checker=False, world_args=world_args, seed=seed, **view_args
    )


def check_env_config(config: Mapping[str, Any]) -> None:
    """Check an environment config (see the module docstring) without building anything.

    Raises what :func:`make_env` raises for it: :class:`~abrec.errors.UnknownNameError` for an
    unknown id, :class:`~abrec.errors.InputError` for a key that the world's or the view's constructor
    does not take ("Unknown key 'n_user' in env.view. Did you mean 'n_users'? ...") or a part that
    is not a mapping. Values are checked when the environment is built.

    Examples
    --------
    >>> check_env_config({"env": "abrec/SyntheticCatalog-Bandit-v0", "view": {"n_user": 4}})
    Traceback (most recent call last):
    ...
    abrec.errors.InputError: Unknown key 'n_user' in env.view. Did you mean 'n_users'? Known keys: ...
    """
    if not isinstance(config, Mapping):
        raise InputError(f"An environment config must be a mapping with an 'env' key. Got {config!r}.")
    _checked(config)
