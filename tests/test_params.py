from __future__ import annotations

import math

import pytest

from abrec._params import Constraint, Interval, validate_params
from abrec.errors import ParameterError, UnknownNameError
from abrec.policies import EpsilonGreedy, LinUCB, make_policy


def test_message_names_parameter_range_and_value() -> None:
    with pytest.raises(ParameterError) as info:
        EpsilonGreedy(epsilon=1.5)
    assert str(info.value) == "The 'epsilon' parameter of EpsilonGreedy must be a float in [0, 1]. Got 1.5 instead."


@pytest.mark.parametrize("value", [-1.0, math.nan, "1", None, True])
def test_bad_values_rejected(value: object) -> None:
    with pytest.raises(ParameterError, match="'alpha' parameter of LinUCB"):
        LinUCB(alpha=value)  # type: ignore[arg-type]


def test_interval_kinds() -> None:
    assert Interval("int", 1).accepts(3) and not Interval("int", 1).accepts(3.0)
    assert not Interval("float", 0.0, closed="neither").accepts(0.0)
    assert Constraint("bool").accepts(False) and not Constraint("bool").accepts(0)
    assert Interval("float", 0.0, 1.0).describe() == "a float in [0, 1]"
    assert Interval("float", 0.0, closed="neither").describe() == "a float in (0, inf)"
    validate_params("f", {"x": Interval("int", 0)}, {"x": 0})


def test_unknown_policy_suggests_close_name() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'linucb'"):
        make_policy("linucbb")
    with pytest.raises(KeyError):
        make_policy("nothing-like-it")


def test_backend_validated() -> None:
    with pytest.raises(ParameterError, match="backend"):
        LinUCB(backend="gpu")
