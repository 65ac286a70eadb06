"""The registry of policies by name: what ``make_policy`` builds and the conformance suite checks."""

from __future__ import annotations

from typing import Any

from .._random import Seed
from ..errors import UnknownNameError
from .base import Policy

_REGISTRY: dict[str, type[Policy]] = {}


def register(cls: type[Policy]) -> type[Policy]:
    """Class decorator: make a policy available by its ``name``."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"a policy named {cls.name!r} is already registered ({_REGISTRY[cls.name].__name__}).")
    _REGISTRY[cls.name] = cls
    return cls


def policy_class(name: str) -> type[Policy]:
    """The class registered under ``name``."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownNameError("policy", name, _REGISTRY) from None


def make_policy(name: str, *, seed: Seed = None, **params: Any) -> Policy:
    """Build a registered policy by name, e.g. ``make_policy("linucb", alpha=0.5, seed=0)``."""
    return policy_class(name)(seed=seed, **params)


def registered_policies() -> dict[str, type[Policy]]:
    """A copy of the registry: name -> class, sorted by name."""
    return dict(sorted(_REGISTRY.items()))
