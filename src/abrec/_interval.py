"""The one record of a confidence (or credible) interval that every abrec result returns.

:class:`ConfidenceInterval` holds the bounds and the level; it unpacks like the pair it replaces
(``low, high = result.confidence_interval()``, ``ci[0]``, ``list(ci)``), and ``as_dict()`` gives a
JSON-ready dict. An open side (a one-sided test) is ``-inf`` or ``inf``; an undefined interval
(e.g. a relative effect over a control mean of 0) has NaN bounds.

This module imports nothing from abrec but :mod:`abrec.errors`, so that any layer may use it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import overload

from .errors import InputError, ParameterError

__all__ = ["ConfidenceInterval"]


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


@dataclass(frozen=True, slots=True)
class ConfidenceInterval:
    """An interval ``[low, high]`` that covers the estimated quantity with probability ``level``.

    Attributes
    ----------
    low, high : float
        The bounds; ``-inf``/``inf`` on the open side of a one-sided interval, NaN when undefined.
    level : float
        The nominal coverage in (0, 1), e.g. 0.95 (``1 - alpha``).

    Examples
    --------
    >>> ci = ConfidenceInterval(0.25, 0.75, level=0.95)
    >>> low, high = ci
    >>> (low, high), ci.width, ci.contains(0.5), ci.contains(1.0)
    ((0.25, 0.75), 0.5, True, False)
    >>> ci[1], tuple(ci), ci.as_dict()
    (0.75, (0.25, 0.75), {'low': 0.25, 'high': 0.75, 'level': 0.95})
    >>> ConfidenceInterval(0.1, math.inf, level=0.9).as_dict()  # one-sided: JSON has no infinity
    {'low': 0.1, 'high': None, 'level': 0.9}
    """

    low: float
    high: float
    level: float

    def __post_init__(self) -> None:
        for name in ("low", "high", "level"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise InputError(f"ConfidenceInterval.{name} must be a float. Got {value!r} instead.")
            object.__setattr__(self, name, float(value))
        if not 0.0 < self.level < 1.0:
            raise ParameterError(
                f"The 'level' parameter of ConfidenceInterval must be a float in (0, 1). Got {self.level!r} instead."
            )
        if self.low > self.high:
            raise InputError(f"ConfidenceInterval needs low <= high. Got low={self.low!r}, high={self.high!r}.")

    @classmethod
    def undefined(cls, level: float) -> ConfidenceInterval:
        """The interval of a quantity that has none (NaN bounds), at ``level``."""
        return cls(math.nan, math.nan, level)

    @property
    def width(self) -> float:
        """``high - low`` (``inf`` for a one-sided interval, NaN when undefined)."""
        return self.high - self.low

    def contains(self, value: float) -> bool:
        """Whether ``low <= value <= high`` (False for an undefined interval or a NaN value)."""
        return bool(self.low <= value <= self.high)

    def as_dict(self) -> dict[str, float | None]:
        """``{"low", "high", "level"}``, JSON-ready: infinite and NaN bounds become None."""
        return {"low": _json_float(self.low), "high": _json_float(self.high), "level": self.level}

    def __iter__(self) -> Iterator[float]:
        yield self.low
        yield self.high

    def __len__(self) -> int:
        return 2

    @overload
    def __getitem__(self, index: int) -> float: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[float, ...]: ...

    def __getitem__(self, index: int | slice) -> float | tuple[float, ...]:
        return (self.low, self.high)[index]
