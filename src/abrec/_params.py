"""Hyperparameter validation from one declared table with one message template.

Each policy declares ``_parameter_constraints`` mapping a parameter name to a :class:`Constraint`;
``validate_params`` checks every value and raises :class:`abrec.errors.ParameterError` with the
message "The 'alpha' parameter of LinUCB must be a float in [0, inf). Got -1 instead."
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import ParameterError


@dataclass(frozen=True, slots=True)
class Constraint:
    """A numeric range (``kind`` 'int' or 'float'), a bool, or an optional value."""

    kind: str
    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    optional: bool = False

    def describe(self) -> str:
        if self.kind == "bool":
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
    return str(int(x)) if float(x).is_integer() else str(x)


def Interval(kind: str, low: float, high: float = math.inf, *, closed: str = "both") -> Constraint:
    """A numeric interval; ``closed`` is 'both', 'left', 'right' or 'neither'."""
    return Constraint(kind, low, high, low_open=closed in ("right", "neither"), high_open=closed in ("left", "neither"))


def validate_params(owner: str, constraints: dict[str, Constraint], values: dict[str, Any]) -> None:
    """Raise ParameterError for the first value outside its declared constraint."""
    for name, constraint in constraints.items():
        value = values[name]
        if not constraint.accepts(value):
            raise ParameterError(
                f"The {name!r} parameter of {owner} must be {constraint.describe()}. Got {value!r} instead."
            )
