"""The one exception hierarchy of abrec.

Every error abrec raises on purpose derives from :class:`AbrecError` and from the builtin a
user would expect to catch::

    AbrecError (Exception)
    ├── ParameterError (ValueError)    a hyperparameter is out of its declared range
    ├── InputError (ValueError)        decide/update got bad arrays (NaN, wrong shape, empty)
    │   └── SupportError               the target policy takes actions the logging policy never takes
    ├── StateError (ValueError)        a saved policy file is corrupt, foreign or of another version
    ├── DataError (ValueError)         a data file breaks its schema (names the file, row and column)
    ├── CacheError (ValueError)        an embedding cache is corrupt or belongs to another encoder
    ├── EncoderError (RuntimeError)    a text encoder could not be loaded or run
    ├── LearnerProcessError (RuntimeError) an agent's learner process failed or went away
    ├── GenerationError (RuntimeError) a generative model could not be loaded, reached or run
    │   └── BudgetExhaustedError       the per-run call budget has no room for the next batch
    └── UnknownNameError (KeyError)    a registry lookup by a name that does not exist

Warnings (not errors)::

    ExtremeWeightsWarning (UserWarning)  importance weights so uneven that few rows carry the estimate
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "AbrecError",
    "BudgetExhaustedError",
    "CacheError",
    "DataError",
    "EncoderError",
    "ExtremeWeightsWarning",
    "GenerationError",
    "InputError",
    "LearnerProcessError",
    "ParameterError",
    "StateError",
    "SupportError",
    "UnknownNameError",
    "did_you_mean",
    "unknown_key",
]


class AbrecError(Exception):
    """Base class of every error abrec raises on purpose."""


class ParameterError(AbrecError, ValueError):
    """A hyperparameter was given a value outside its declared range."""


class InputError(AbrecError, ValueError):
    """The arrays given to ``decide`` or ``update`` do not fit the protocol."""


class SupportError(InputError):
    """The target policy puts probability on (action, position) pairs the logging policy never takes.

    Importance weighting cannot see those actions' rewards; the message names them and the target
    mass they carry, and says what to do (a reward-model estimator, a restricted target, or logs
    collected with exploration).
    """


class StateError(AbrecError, ValueError):
    """A saved policy could not be loaded (corrupt, foreign, or of an unknown version)."""


class DataError(AbrecError, ValueError):
    """A data file (catalog, interaction log, dataset folder) does not match its schema."""


class CacheError(AbrecError, ValueError):
    """An embedding cache file is corrupt, or was written by another encoder; it is never reused silently."""


class EncoderError(AbrecError, RuntimeError):
    """A text encoder could not be loaded (missing model, missing extra) or failed to encode."""


class LearnerProcessError(AbrecError, RuntimeError):
    """An agent's learner process failed or went away; the message says what happened and what to do."""


class GenerationError(AbrecError, RuntimeError):
    """A generative model could not be loaded (missing package, file), reached (HTTP) or run."""


class BudgetExhaustedError(GenerationError):
    """The call budget is spent: no call of the refused batch was made (answers so far are cached)."""


class UnknownNameError(AbrecError, KeyError):
    """A name was looked up in a registry that does not hold it."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        self.message = f"Unknown {kind} {name!r}.{did_you_mean(name, known)} Known: {', '.join(known)}."
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def did_you_mean(name: object, known: Iterable[object]) -> str:
    """``" Did you mean 'x'?"`` for the known name closest to ``name``, or ``""`` when none is close.

    Only strings are compared; the hint of :class:`UnknownNameError` and of the parameter messages
    of :func:`abrec._params.validate_params`.

    Examples
    --------
    >>> did_you_mean("thompsn", ["fixed", "thompson"])
    " Did you mean 'thompson'?"
    >>> did_you_mean(3, ["fixed", "thompson"])
    ''
    """
    if not isinstance(name, str):
        return ""
    close = difflib.get_close_matches(name, [k for k in known if isinstance(k, str)], n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_key(key: object, where: str, known: Iterable[str]) -> InputError:
    """The one error for a key that a config mapping (or ``--param``) does not take.

    Examples
    --------
    >>> print(unknown_key("n_user", "env.view", ["horizon", "n_users"]))
    Unknown key 'n_user' in env.view. Did you mean 'n_users'? Known keys: horizon, n_users.
    """
    names = sorted(str(k) for k in known)
    listed = ", ".join(names) if names else "none"
    return InputError(f"Unknown key {key!r} in {where}.{did_you_mean(key, names)} Known keys: {listed}.")


class ExtremeWeightsWarning(UserWarning):
    """The importance weights' effective sample size is a tiny fraction of the rows: the estimate is fragile."""
