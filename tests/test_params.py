from __future__ import annotations

import math

import pytest

from abrec._params import Constraint, Interval, Options, StrOptions, validate_params
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


def test_string_options_describe_accept_and_suggest() -> None:
    method = StrOptions(("fixed", "thompson"))
    assert method.describe() == "a str among {'fixed', 'thompson'}"
    assert StrOptions({"thompson", "fixed"}) == method  # a set is listed sorted
    assert method.accepts("fixed") and not method.accepts("Fixed") and not method.accepts(None)
    assert StrOptions(("a",), optional=True).accepts(None)
    assert StrOptions(("a",), optional=True).describe() == "a str among {'a'} or None"
    with pytest.raises(ParameterError) as info:
        validate_params("run", {"method": method}, {"method": "thompsn"})
    assert str(info.value) == (
        "The 'method' parameter of run must be a str among {'fixed', 'thompson'}. "
        "Got 'thompsn' instead. Did you mean 'thompson'?"
    )
    with pytest.raises(ParameterError, match=r"Got 'nothing-close' instead\.$"):
        validate_params("run", {"method": method}, {"method": "nothing-close"})
    with pytest.raises(ParameterError, match=r"Got 3 instead\.$"):
        validate_params("run", {"method": method}, {"method": 3})


def test_int_options_reject_bools_and_other_types() -> None:
    level = Options("int", (2, 3, 4))
    assert level.describe() == "an int among {2, 3, 4}"
    assert level.accepts(3) and not level.accepts(True) and not level.accepts(3.0) and not level.accepts(5)
    with pytest.raises(ValueError, match="at least one value"):
        Options("str", ())
    with pytest.raises(ValueError, match="all of type int"):
        Options("int", ("a",))
    with pytest.raises(ValueError, match="'str' or 'int'"):
        Options("float", (1.0,))


def test_alternative_suggests_the_close_name() -> None:
    from abrec.abtest import SampleStats, welch_ttest

    arm = SampleStats.from_values([1.0, 2.0, 3.0])
    with pytest.raises(ParameterError, match=r"among \{'two-sided', 'greater', 'less'\}.*Did you mean 'greater'"):
        welch_ttest(arm, arm, alternative="grater")  # type: ignore[arg-type]
