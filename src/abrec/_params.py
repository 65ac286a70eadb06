"""Hyperparameter validation from one declared table with one message template.

Each policy declares ``_parameter_constraints`` mapping a parameter name to a :class:`Constraint`;
``validate_params`` checks every value and raises :class:`abrec.errors.ParameterError` with the
message "The 'alpha' parameter of LinUCB must be a float in [0, inf). Got -1 instead."

A constraint is a numeric range (:func:`Interval`), a bool (``Constraint("bool")``) or one of a
fixed set of values (:func:`StrOptions`, :func:`Options`); near misses of a string option get a
hint: "The 'method' parameter of f must be a str among {'fixed', 'thompson'}. Got 'thompsn'
instead. Did you mean 'thompson'?"
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Set
from dataclasses import dataclass
from typing import Any

from .errors import ParameterError, did_you_mean


@dataclass(frozen=True, slots=True)
class Constraint:
    """A numeric range (``kind`` 'int' or 'float'), a bool, one of ``options``, or an optional value.

    With ``options`` (see :func:`Options`) the value must be one of them and of type ``kind``
    ('str' or 'int'); ``low`` and ``high`` are then unused.
    """

    kind: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    optional: bool = False
    options: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.options:
            article = "an" if self.kind == "int" else "a"
            text = f"{article} {self.kind} among {{{', '.join(map(repr, self.options))}}}"
        elif self.kind == "bool":
            text = "a bool"
        else:
            left = "(" if self.low_open or self.low == -math.inf else "["
            right = ")" if self.high_open or self.high == math.inf else "]"
            text = (
                f"{'an int' if self.kind == 'int' else 'a float'} in {left}{_num(self.low)}, {_num(self.high)}{right}"
            )
        return text + (" or None" if self.optional else "")

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.optional
        if self.options:
            kind = str if self.kind == "str" else int
            return isinstance(value, kind) and not isinstance(value, bool) and value in self.options
        if self.kind == "bool":
            return isinstance(value, bool)
        if isinstance(value, bool):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        if not isinstance(value, int | float):
            return False
        v = float(value)
        if math.isnan(v):
            return False
        if v < self.low or (self.low_open and v == self.low):
            return False
        return not (v > self.high or (self.high_open and v == self.high))


def _num(x: float) -> str:
    if x == math.inf:
        return "inf"
    if x == -math.inf:
        return "-inf"
    if abs(x) >= 1e15:
        return f"{x:g}"
    return str(int(x)) if float(x).is_integer() else str(x)


def Interval(kind: str, low: float, high: float = math.inf, *, closed: str = "both") -> Constraint:
    """A numeric interval; ``closed`` is 'both', 'left', 'right' or 'neither'."""
    return Constraint(kind, low, high, low_open=closed in ("right", "neither"), high_open=closed in ("left", "neither"))


def Options(kind: str, options: Iterable[Any], *, optional: bool = False) -> Constraint:
    """One of ``options``, all of type ``kind`` ('str' or 'int'); a set is listed sorted, a sequence in its order.

    Examples
    --------
    >>> Options("int", (2, 3, 4)).describe()
    'an int among {2, 3, 4}'
    """
    if kind not in ("str", "int"):
        raise ValueError(f"Options are of kind 'str' or 'int'; got {kind!r}.")
    values = tuple(sorted(options) if isinstance(options, Set) else options)
    if not values or not all(isinstance(v, str if kind == "str" else int) for v in values):
        raise ValueError(f"Options({kind!r}, ...) needs at least one value, all of type {kind}; got {values!r}.")
    return Constraint(kind, optional=optional, options=values)


def StrOptions(options: Iterable[str], *, optional: bool = False) -> Constraint:
    """One of the strings ``options`` (scikit-learn's ``StrOptions``); ``Options("str", options)``.

    Examples
    --------
    >>> StrOptions({"thompson", "fixed"}).describe()
    "a str among {'fixed', 'thompson'}"
    >>> validate_params("f", {"method": StrOptions(("fixed", "thompson"))}, {"method": "thompsn"})
    Traceback (most recent call last):
    ...
    abrec.errors.ParameterError: The 'method' parameter of f must be a str among {'fixed', 'thompson'}. Got ...
    """
    return Options("str", options, optional=optional)


def validate_params(owner: str, constraints: dict[str, Constraint], values: dict[str, Any]) -> None:
    """Raise ParameterError for the first value outside its declared constraint."""
    for name, constraint in constraints.items():
        value = values[name]
        if not constraint.accepts(value):
            hint = did_you_mean(value, constraint.options) if constraint.kind == "str" else ""
            raise ParameterError(
                f"The {name!r} parameter of {owner} must be {constraint.describe()}. Got {value!r} instead.{hint}"
            )
