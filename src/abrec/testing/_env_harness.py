"""What every environment check runs in: the environment under test, its run context, comparisons (private).

An environment is given as a registered id (built from a small default config), a
:func:`~abrec.envs.make_env` config, or an instance. :class:`EnvSource` builds it once and keeps it
(every check starts from ``reset(seed=...)``, so checks do not depend on each other), knows a small
instance of it on which every slate can be enumerated, and which checks apply to it (from the keys
of its ``info``). A check is written as ``body(run)`` on an :class:`EnvRun` and made public with
:func:`as_env_check`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn

import gymnasium
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from ..envs.registry import ENV_IDS, make_env
from ..envs.world import World
from ..errors import InputError, UnknownNameError

__all__ = [
    "EnvLike",
    "EnvRun",
    "EnvSource",
    "Step",
    "as_env_check",
    "difference",
    "distinct_slates",
    "small_config",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
Env = gymnasium.Env[Any, Any]
#: What the checks accept: an environment, a registered id, or a ``make_env`` config.
EnvLike = Env | str | Mapping[str, Any]

#: At most this many slates are enumerated by the brute-force oracle check: P(6, 3) = 120.
MAX_ENUMERATED_SLATES = 120
_SMALL_CANDIDATES, _SMALL_SLATE = 6, 3

# The config an id is checked with: small, quick, and with items arriving during the episode.
_SMALL_WORLDS: dict[str, dict[str, Any]] = {"SyntheticCatalog": {"n_items": 150, "horizon": 8}}
_SMALL_VIEWS: dict[str, dict[str, Any]] = {
    "Bandit": {"n_users": 64, "n_candidates": _SMALL_CANDIDATES, "slate_size": _SMALL_SLATE, "horizon": 8},
    "Session": {"n_users": 64, "n_candidates": _SMALL_CANDIDATES, "slate_size": _SMALL_SLATE, "max_steps": 8},
}
# Environments with no world (all their arguments are view arguments): a 12-minute time budget ends every
# session by itself within 40 steps.
_SMALL_STANDALONE: dict[str, dict[str, Any]] = {
    "abrec/InterestEvolution-v0": {
        "n_users": 64,
        "n_candidates": _SMALL_CANDIDATES,
        "slate_size": _SMALL_SLATE,
        "time_budget": 12.0,
        "max_steps": 40,
    },
}


def small_config(env_id: str, **world: Any) -> dict[str, Any]:
    """The config with which :func:`~abrec.testing.check_env` checks a registered id.

    64 users, 6 candidates and slates of 3 (so that every slate can be enumerated), 8 steps per
    episode; a SyntheticCatalog of 150 items of which 30 arrive during steps 1..7. ``world`` adds
    world arguments (MovieLens needs ``path=``).

    Examples
    --------
    >>> small_config("abrec/SyntheticCatalog-Session-v0")["view"]["max_steps"]
    8
    >>> small_config("abrec/InterestEvolution-v0")["view"]["time_budget"]
    12.0
    """
    if env_id not in ENV_IDS:
        raise UnknownNameError("environment", env_id, ENV_IDS)
    if env_id in _SMALL_STANDALONE:
        return {"env": env_id, "seed": 0, "view": dict(_SMALL_STANDALONE[env_id])}
    world_name, view_name = env_id.split("/")[1].split("-")[:2]
    return {
        "env": env_id,
        "seed": 0,
        "world": {**_SMALL_WORLDS.get(world_name, {"horizon": 8}), **world},
        "view": dict(_SMALL_VIEWS[view_name]),
    }


class EnvSource:
    """One environment under test: built once, with a small instance and the info keys it reports."""

    def __init__(self, subject: EnvLike) -> None:
        self.subject = subject
        self._config: dict[str, Any] | None = None
        self._env: Env | None = None
        if isinstance(subject, gymnasium.Env):
            self._env = subject
            spec = subject.spec
            self.name = spec.id if spec is not None else type(subject.unwrapped).__name__
        elif isinstance(subject, str):
            self._config = small_config(subject)
            self.name = subject
        elif isinstance(subject, Mapping):
            self._config = {key: dict(value) if isinstance(value, Mapping) else value for key, value in subject.items()}
            self.name = str(subject.get("env", "?"))
        else:
            raise InputError(
                "An environment to check is a gymnasium.Env, a registered id (one of abrec.envs.ENV_IDS) or a "
                f"make_env config mapping. Got {type(subject).__name__} instead."
            )
        self._small: Env | None = None
        self._small_known = False
        self._info_keys: frozenset[str] | None = None

    def env(self) -> Env:
        """The environment (built from the config on first use)."""
        if self._env is None:
            assert self._config is not None
            self._env = make_env(self._config)
        return self._env

    @property
    def label(self) -> str:
        """How the messages name it: ``"RecBanditEnv ('abrec/SyntheticCatalog-Bandit-v0')"``, or its class name."""
        if self._env is None:
            return repr(self.name)
        cls = type(self._env.unwrapped).__name__
        return cls if cls == self.name else f"{cls} ({self.name!r})"

    def small(self) -> Env | None:
        """An instance with at most ``MAX_ENUMERATED_SLATES`` slates per user (None when none can be built).

        The environment itself when it is small enough; otherwise rebuilt with 6 candidates and
        slates of at most 3, from its config or (an instance made by ``gymnasium.make``) its spec.
        """
        if not self._small_known:
            self._small, self._small_known = self._find_small(), True
        return self._small

    def _find_small(self) -> Env | None:
        env = self.env()
        shape = slate_shape(env)
        if shape is None:
            return None
        _, k, m = shape
        if math.perm(m, k) <= MAX_ENUMERATED_SLATES:
            return env
        overrides: dict[str, Any] = {"n_candidates": min(m, _SMALL_CANDIDATES), "slate_size": min(k, _SMALL_SLATE)}
        if self._config is not None:
            return make_env({**self._config, "view": {**dict(self._config.get("view") or {}), **overrides}})
        if env.spec is not None:
            try:
                return gymnasium.make(env.spec, **overrides)
            except Exception:  # a spec that takes no such arguments: there is no small instance
                return None
        return None

    def info_keys(self) -> frozenset[str]:
        """The keys of ``info`` after one step (empty when the environment cannot step)."""
        if self._info_keys is None:
            try:
                env = self.env()
                env.reset(seed=0)
                shape = slate_shape(env)
                if shape is None:
                    env.action_space.seed(0)
                    action = env.action_space.sample()
                else:
                    action = distinct_slates(np.random.default_rng(0), *shape)
                self._info_keys = frozenset(env.step(action)[4])
            except Exception:  # a broken env: every check applies, and each says what is wrong
                self._info_keys = frozenset()
        return self._info_keys

    def world(self) -> World | None:
        """The :class:`~abrec.envs.World` the environment simulates, when it exposes one as ``world``."""
        world = getattr(self.env().unwrapped, "world", None)
        return world if isinstance(world, World) else None


def slate_shape(env: Env) -> tuple[int, int, int] | None:
    """``(n_users, slate_size, n_candidates)`` of a MultiDiscrete slate action space, else None."""
    space = env.action_space
    if not isinstance(space, spaces.MultiDiscrete) or len(space.shape) != 2:
        return None
    nvec = np.asarray(space.nvec)
    if nvec.size == 0 or not (nvec == nvec.flat[0]).all():
        return None
    n, k = space.shape
    return int(n), int(k), int(nvec.flat[0])


def distinct_slates(rng: np.random.Generator, n: int, k: int, m: int) -> IntArray:
    """``k`` distinct candidate columns per user, uniformly at random, in random order."""
    slates: IntArray = np.argsort(rng.random((n, m)), axis=1)[:, :k].astype(np.int64)
    return slates


Step = tuple[Any, Any, bool, bool, dict[str, Any]]


class EnvRun:
    """What one check run knows: the source, the check's name, and the step it is at (for messages)."""

    def __init__(self, source: EnvSource, check: str) -> None:
        self.source = source
        self.check = check
        self.step_name = "building the environment"

    @property
    def label(self) -> str:
        return self.source.label

    def fail(self, what: str) -> NoReturn:
        raise AssertionError(f"{self.label} failed {self.check}: {what}")

    def expect(self, condition: bool, what: str) -> None:
        if not condition:
            self.fail(what)

    def env(self) -> Env:
        self.step_name = "building the environment"
        return self.source.env()

    def shape(self, env: Env) -> tuple[int, int, int]:
        """``(n, k, m)`` of the env's slate actions; fails for any other action space."""
        shape = slate_shape(env)
        if shape is None:
            self.fail(
                "the check plays slates, so it needs a MultiDiscrete action space of shape (n_users, slate_size) "
                f"with n_candidates choices each; the action space is {env.action_space}."
            )
        return shape

    def reset(self, env: Env, seed: int | None, what: str = "") -> tuple[Any, dict[str, Any]]:
        self.step_name = f"calling reset(seed={seed}){what}"
        obs, info = env.reset(seed=seed)
        return obs, info

    def step(self, env: Env, action: Any, what: str) -> Step:
        self.step_name = f"calling step({what})"
        obs, reward, terminated, truncated, info = env.step(action)
        return obs, reward, bool(terminated), bool(truncated), info

    def replay(self, env: Env, seed: int, action: IntArray, what: str) -> dict[str, Any]:
        """``reset(seed)`` then one step of ``action``: the info of that step."""
        self.reset(env, seed, f" to replay the same users for {what}")
        return self.step(env, action, what)[4]

    def info_array(self, info: Mapping[str, Any], key: str, shape: tuple[int, ...]) -> FloatArray:
        self.expect(key in info, f"info has no {key!r} (its keys: {sorted(info)}).")
        value = np.asarray(info[key], dtype=np.float64)
        self.expect(value.shape == shape, f"info[{key!r}] has shape {value.shape}; expected {shape}.")
        return value


_DOC_TAIL = """

    Parameters
    ----------
    env : a gymnasium.Env, a registered id (built with a small config: 64 users, 6 candidates, slates
        of 3, 8 steps) or a ``make_env`` config.

    Raises
    ------
    AssertionError
        When the environment fails the check; the message names it, the check and what was wrong.
    """


def as_env_check(body: Callable[[EnvRun], None]) -> Callable[[EnvLike | EnvSource], None]:
    """Turn ``body(run)`` into a public check ``check(env_or_id_or_config)``."""

    @functools.wraps(body)
    def check(env: EnvLike | EnvSource) -> None:
        run: EnvRun | None = None
        try:
            run = EnvRun(env if isinstance(env, EnvSource) else EnvSource(env), body.__name__)
            body(run)
        except AssertionError:
            raise
        except Exception as exc:
            label = run.label if run is not None else repr(env)
            step = run.step_name if run is not None else "reading the environment"
            raise AssertionError(
                f"{label} failed {body.__name__}: {type(exc).__name__} raised while {step}: {exc}"
            ) from exc

    del check.__wrapped__  # type: ignore[attr-defined]  # show check(env), not body(run)
    check.__doc__ = (body.__doc__ or "").rstrip() + _DOC_TAIL
    return check


# ------------------------------------------------------------------ comparisons
def _walk(a: Any, b: Any, path: str) -> Iterator[str]:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        if set(a) != set(b):
            yield f"{path} has keys {sorted(a)} and {sorted(b)}"
            return
        for key in a:
            yield from _walk(a[key], b[key], f"{path}[{key!r}]")
        return
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            yield f"{path} has lengths {len(a)} and {len(b)}"
            return
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            yield from _walk(x, y, f"{path}[{i}]")
        return
    x, y = np.asarray(a), np.asarray(b)
    if x.shape != y.shape or x.dtype.kind != y.dtype.kind:
        yield f"{path} is {x.dtype} {x.shape} and {y.dtype} {y.shape}"
    elif not np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"):
        where = tuple(int(i) for i in np.argwhere(x != y)[0]) if x.ndim else ()
        yield f"{path} differs: {x[where].item()!r} and {y[where].item()!r}" + (f" at index {where}" if where else "")


def difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two observations, infos or episodes first differ (exactly), or None when they are identical."""
    return next(_walk(a, b, path), None)
