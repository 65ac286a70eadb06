"""Sufficient statistics: edges that mutation testing (``make mutate``) found untested.

Every check of every record says which record and which field is wrong (the owner and the field in
the message, as the README's error convention asks), the Cauchy-Schwarz consistency check sits exactly
at its tolerance, boolean values are summed as numbers, and ``+`` with anything but the 0 that
``sum()`` starts from is a TypeError.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from abrec.abtest import CupedStats, Moments, RatioStats, SampleStats
from abrec.errors import InputError

GOOD = {
    "SampleStats": {"n": 4, "sum": 6.0, "sum_sq": 14.0},
    "RatioStats": {"n": 3, "sum_x": 6.0, "sum_y": 3.0, "sum_xx": 14.0, "sum_yy": 5.0, "sum_xy": 8.0},
    "CupedStats": {"n": 3, "sum": 6.0, "sum_sq": 14.0, "sum_pre": 3.0, "sum_pre_sq": 5.0, "sum_cross": 8.0},
    "Moments": {"n": 10, "mean": 1.0, "variance": 2.0},
}
CLASSES = {"SampleStats": SampleStats, "RatioStats": RatioStats, "CupedStats": CupedStats, "Moments": Moments}
FIELDS = [(owner, field) for owner, fields in GOOD.items() for field in fields if field != "n"]


@pytest.mark.parametrize(("owner", "field"), FIELDS)
def test_every_non_finite_sum_is_named(owner: str, field: str) -> None:
    # Mutants: the owner's name in the message (None, "XX..XX", case), a field dropped from the check.
    for bad in (math.inf, -math.inf, math.nan):
        with pytest.raises(InputError, match=rf"^{owner}\.{field} must be finite"):
            CLASSES[owner](**{**GOOD[owner], field: bad})


@pytest.mark.parametrize("owner", list(GOOD))
@pytest.mark.parametrize("n", [-1, True, 2.0, "3"])
def test_unit_count_must_be_a_non_negative_int(owner: str, n: object) -> None:
    # Mutant: `isinstance(n, bool) or not isinstance(n, int)` -> `and` (a bool or a float accepted).
    with pytest.raises(InputError, match=rf"^{owner}\.n must be an int >= 0"):
        CLASSES[owner](**{**GOOD[owner], "n": n})
    assert CLASSES[owner](**{**GOOD[owner], "n": np.int64(GOOD[owner]["n"])}).n == GOOD[owner]["n"]


SQUARES = [  # (owner, the square's field, the sum it pairs with)
    ("SampleStats", "sum_sq", "sum"),
    ("RatioStats", "sum_xx", "sum_x"),
    ("RatioStats", "sum_yy", "sum_y"),
    ("CupedStats", "sum_sq", "sum"),
    ("CupedStats", "sum_pre_sq", "sum_pre"),
]


@pytest.mark.parametrize(("owner", "square", "total"), SQUARES)
def test_inconsistent_squares_are_named_and_caught_near_the_bound(owner: str, square: str, total: str) -> None:
    # By Cauchy-Schwarz sum**2 <= n sum_sq. Just below it (sum 4 over 2 units needs sum_sq >= 8; 7.99) and
    # with small numbers (sum 1 over 2 units, sum_sq 0.4: 1 > 0.8, a gap far below 1): both rejected.
    # Mutants: the owner or the field's name in the message; the bound's factor 1 -> 2 and its absolute
    # slack 1e-12 -> 1.
    for n, s, sq in ((2, 4.0, 7.99), (2, 1.0, 0.4)):
        roomy = {sq_name: 1000.0 for o, sq_name, _ in SQUARES if o == owner}  # the other pair stays consistent
        fields = {**GOOD[owner], **roomy, "n": n, total: s, square: sq}
        with pytest.raises(InputError, match=rf"^{owner}: the sums are inconsistent \({square} is too small"):
            CLASSES[owner](**fields)


def test_the_consistency_bound_is_inclusive_at_its_tolerance() -> None:
    # sum**2 == n sum_sq (1 + 1e-9) + 1e-12 exactly (floats found by search): accepted, as values whose
    # sums round to the bound must be. Mutant: `>` -> `>=`.
    total, sq = 2.0**-19, 2.6379788044537336e-12
    assert total**2 == 1 * sq * (1 + 1e-9) + 1e-12
    assert SampleStats(1, total, sq).n == 1
    assert CupedStats(1, total, sq, 0.0, 0.0, 0.0).n == 1


def test_value_names_in_from_values_errors() -> None:
    # Mutants: the argument's name passed to the check (None, "XX..XX", upper case).
    cases = [
        (lambda: SampleStats.from_values([1.0, math.nan]), "values"),
        (lambda: RatioStats.from_values([1.0, math.inf], [1.0, 1.0]), "numerator"),
        (lambda: RatioStats.from_values([1.0, 1.0], [1.0, math.nan]), "denominator"),
        (lambda: CupedStats.from_values([math.nan, 1.0], [1.0, 1.0]), "values"),
        (lambda: CupedStats.from_values([1.0, 1.0], [[1.0, 1.0]]), "pre"),
    ]
    for build, name in cases:
        with pytest.raises(InputError, match=rf"^{name} must be"):
            build()


def test_boolean_values_are_summed_as_numbers() -> None:
    # numpy keeps bools as bools without dtype=float64: their dot product is True (1), not the count of
    # Trues. Mutant: `_as_values`'s dtype dropped.
    s = SampleStats.from_values(np.array([True, True, False, True]))
    assert (s.n, s.sum, s.sum_sq) == (4, 3.0, 3.0)
    r = RatioStats.from_values(np.array([True, True, True]), np.array([True, True, False]))
    assert (r.sum_y, r.sum_yy, r.sum_xy, r.sum_xx) == (3.0, 3.0, 2.0, 2.0)
    c = CupedStats.from_values(np.array([True, True, True]), np.array([True, True, False]))
    assert (c.sum_sq, c.sum_pre_sq, c.sum_cross, c.sum_pre_fourth) == (3.0, 2.0, 2.0, 2.0)


@pytest.mark.parametrize("owner", ["SampleStats", "RatioStats", "CupedStats"])
def test_adding_anything_but_zero_is_a_type_error(owner: str) -> None:
    # sum() starts from the int 0; any other int, or a float 0, is a mistake. Mutant: `isinstance(other,
    # int) and other == 0` -> `or`.
    record = CLASSES[owner](**GOOD[owner])
    assert 0 + record == record and sum([record, record]) == record + record
    for other in (1, 0.0, -2):
        with pytest.raises(TypeError):
            _ = other + record


def _higher(**override: float | None) -> dict[str, float | None]:
    full = CupedStats.from_values([1.0, 2.0, 4.0], [0.5, 1.0, 3.0])
    names = (
        "sum_pre_cube",
        "sum_pre_fourth",
        "sum_pre_sq_cross",
        "sum_pre_cross_sq",
        "sum_pre_cube_cross",
        "sum_pre_sq_cross_sq",
    )
    return {name: override.get(name, getattr(full, name)) for name in names}


def _base() -> dict[str, float]:
    full = CupedStats.from_values([1.0, 2.0, 4.0], [0.5, 1.0, 3.0])
    return {k: getattr(full, k) for k in ("n", "sum", "sum_sq", "sum_pre", "sum_pre_sq", "sum_cross")}


def test_higher_moments_come_all_together_and_the_message_lists_the_missing() -> None:
    # Mutants: the list of given moments inverted, the missing ones' list (None, a wrong separator,
    # the given ones instead of the missing ones).
    partial = {"sum_pre_cube": 1.0, "sum_pre_cross_sq": 2.0}
    missing = "sum_pre_fourth, sum_pre_sq_cross, sum_pre_cube_cross, sum_pre_sq_cross_sq missing"
    with pytest.raises(
        InputError,
        match="^" + re.escape(f"CupedStats: the higher cross-moments come all together or not at all; {missing}."),
    ):
        CupedStats(**_base(), **partial)  # type: ignore[arg-type]
    assert CupedStats(**_base()).has_higher_moments is False
    assert CupedStats(**_base(), **_higher()).has_higher_moments is True  # type: ignore[arg-type]


@pytest.mark.parametrize("name", list(_higher()))
def test_every_higher_moment_must_be_finite(name: str) -> None:
    # Mutants: the check dropped (no fields, the None filter inverted), the owner's name.
    with pytest.raises(InputError, match=rf"^CupedStats\.{name} must be finite"):
        CupedStats(**_base(), **_higher(**{name: math.inf}))  # type: ignore[arg-type]


def test_fourth_moment_must_not_be_negative() -> None:
    # Mutant: `sum_pre_fourth is not None and < 0` -> `is None and`.
    with pytest.raises(InputError, match=r"^CupedStats\.sum_pre_fourth must be >= 0"):
        CupedStats(**_base(), **_higher(sum_pre_fourth=-1.0))  # type: ignore[arg-type]
