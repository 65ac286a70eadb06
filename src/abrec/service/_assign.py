"""The variant of one unit, fast: SipHash-2-4 of its key in plain Python, looked up in the experiment's ranges.

:meth:`abrec.abtest.assignment.Experiment.assign` hashes a whole array at once (numpy over 64-bit words), which
costs about half a millisecond of fixed overhead per call: too much for one request. This computes the same
hash (the same SipHash-2-4 of the UTF-8 key under ``sha256(salt)[:16]``, see :mod:`abrec.abtest._hashing`) for
one unit with Python integers, and finds its bucket's range by bisection; the tests pin it to
``Experiment.assign`` on thousands of units.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from ..abtest._hashing import salt_key
from ..abtest.assignment import Experiment

__all__ = ["Ranges", "assignment_periods"]

_MASK = (1 << 64) - 1
_INIT = (0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573)


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK


def siphash24(data: bytes, k0: int, k1: int) -> int:
    """SipHash-2-4 of ``data`` under the key ``(k0, k1)``."""
    v0, v1, v2, v3 = (k0 ^ _INIT[0], k1 ^ _INIT[1], k0 ^ _INIT[2], k1 ^ _INIT[3])
    n = len(data)
    tail = n - n % 8
    words = [int.from_bytes(data[i : i + 8], "little") for i in range(0, tail, 8)]
    words.append(int.from_bytes(data[tail:], "little") | ((n & 0xFF) << 56))
    for m in words:
        v3 ^= m
        for _ in range(2):
            v0 = (v0 + v1) & _MASK
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _MASK
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _MASK
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _MASK
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)
        v0 ^= m
    v2 ^= 0xFF
    for _ in range(4):
        v0 = (v0 + v1) & _MASK
        v1 = _rotl(v1, 13) ^ v0
        v0 = _rotl(v0, 32)
        v2 = (v2 + v3) & _MASK
        v3 = _rotl(v3, 16) ^ v2
        v0 = (v0 + v3) & _MASK
        v3 = _rotl(v3, 21) ^ v0
        v2 = (v2 + v1) & _MASK
        v1 = _rotl(v1, 17) ^ v2
        v2 = _rotl(v2, 32)
    return v0 ^ v1 ^ v2 ^ v3


@lru_cache(maxsize=64)
def _key(salt: str) -> tuple[int, int]:
    return salt_key(salt)


class Ranges:
    """An experiment's bucket ranges, for assigning one string unit at a time (same answer as its ``assign``)."""

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment
        self._starts = [r.start for r in experiment.ranges]
        self._labels = [r.label for r in experiment.ranges]
        self._k0, self._k1 = _key(experiment.salt)

    def variant(self, unit: str) -> str:
        """The unit's variant ("" outside the experiment's coverage)."""
        key = unit.encode("utf-8")
        if key.endswith(b"\x00"):  # numpy's bytes drop trailing NULs: let the array path decide alike
            return str(self.experiment.assign([unit])[0])
        bucket = siphash24(key, self._k0, self._k1) >> 32
        return self._labels[bisect.bisect_right(self._starts, bucket) - 1]


def assignment_periods(store: Any, experiment: str, units: Sequence[str]) -> dict[str, int]:
    """The allocation period each of ``units`` was assigned in (units never assigned are left out)."""
    import sqlalchemy as sa

    from ..store import schema

    a = schema.assignments
    out: dict[str, int] = {}
    with store.engine.connect() as connection:
        for start in range(0, len(units), 5000):
            chunk = list(units[start : start + 5000])
            query = sa.select(a.c.unit, a.c.period).where((a.c.experiment == experiment) & a.c.unit.in_(chunk))
            out.update((unit, int(period)) for unit, period in connection.execute(query))
        connection.rollback()
    return out
