"""The registry of policies by name: what ``make_policy`` builds and the conformance suite checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .._random import Seed
from ..errors import ParameterError, UnknownNameError, unknown_key
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


def check_policy_params(name: str, params: Mapping[str, Any], where: str) -> None:
    """Check ``params`` for the policy registered as ``name`` before it is needed, naming ``where`` they came from.

    A key that is not one of the policy's hyperparameters (its ``get_params()``) raises
    :class:`~abrec.errors.InputError` with a "did you mean"; a value outside its declared range raises
    :class:`~abrec.errors.ParameterError` (the policy's own message, prefixed by ``where``).

    Examples
    --------
    >>> check_policy_params("linucb", {"alpah": 1}, "--param linucb")
    Traceback (most recent call last):
    ...
    abrec.errors.InputError: Unknown key 'alpah' in --param linucb. Did you mean 'alpha'? Known keys: ...
    """
    cls = policy_class(name)
    known = list(cls().get_params())
    for key in params:
        if key not in known:
            raise unknown_key(key, where, known)
    try:
        cls(**params)
    except ParameterError as exc:
        raise ParameterError(f"{where}: {exc}") from exc


def registered_policies() -> dict[str, type[Policy]]:
    """A copy of the registry: name -> class, sorted by name."""
    return dict(sorted(_REGISTRY.items()))
