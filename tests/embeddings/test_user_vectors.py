"""User vectors: recency weights by events or time, ratings, fallbacks, hand-computed examples."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abrec.embeddings import History, ItemFeatures, recency_weights, user_contexts
from abrec.errors import InputError, ParameterError

ITEMS = ItemFeatures(np.array([10, 20, 30]), np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32))


def test_hand_computed_event_weights() -> None:
    # History 10, 20, 30 (oldest first), half-life 2 events: ages 2, 1, 0 -> weights 1/2, 1/sqrt(2), 1.
    got = user_contexts([History([10, 20, 30])], ITEMS, half_life=2.0)
    w = np.array([0.5, 2**-0.5, 1.0])
    np.testing.assert_allclose(got[0], w / np.linalg.norm(w), rtol=1e-6)


def test_hand_computed_time_weights_and_ratings() -> None:
    # Times 0, 10, 30 days, half-life 10 days: ages 30, 20, 0 -> 1/8, 1/4, 1; ratings 4, 2, 1 -> 1/2, 1/2, 1.
    history = History([20, 10, 30], times=[10.0, 0.0, 30.0], ratings=[2, 4, 1])  # given out of order
    got = user_contexts([history], ITEMS, half_life=10.0, age="time", use_ratings=True)
    w = np.array([0.5, 0.5, 1.0])
    np.testing.assert_allclose(got[0], w / np.linalg.norm(w), rtol=1e-6)
    no_ratings = user_contexts([history], ITEMS, half_life=10.0, age="time")
    np.testing.assert_allclose(no_ratings[0], np.array([1, 2, 8]) / np.sqrt(69), rtol=1e-6)


def test_empty_history_fallbacks() -> None:
    zeros = user_contexts([History([]), History([10])], ITEMS)
    np.testing.assert_array_equal(zeros, [[0, 0, 0], [1, 0, 0]])
    mean = user_contexts([History([])], ITEMS, empty="mean")
    np.testing.assert_allclose(mean[0], np.full(3, 3**-0.5), rtol=1e-6)
    assert user_contexts([], ITEMS).shape == (0, 3)


def test_unknown_items_and_bad_parameters() -> None:
    with pytest.raises(InputError, match=r"item ids \[99\] that are not in item_vectors"):
        user_contexts([History([10, 99])], ITEMS)
    np.testing.assert_array_equal(user_contexts([History([10, 99])], ITEMS, unknown_items="ignore"), [[1, 0, 0]])
    with pytest.raises(InputError, match=r"age='time' needs History\.times"):
        user_contexts([History([10])], ITEMS, age="time")
    with pytest.raises(InputError, match=r"needs History\.ratings"):
        user_contexts([History([10])], ITEMS, use_ratings=True)
    with pytest.raises(ParameterError, match="'half_life' parameter of user_contexts"):
        user_contexts([History([10])], ITEMS, half_life=0.0)
    with pytest.raises(ParameterError, match=r"'empty' parameter of user_contexts must be a str among \{'zeros', 'me"):
        user_contexts([History([10])], ITEMS, empty="median")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="one value per item"):
        user_contexts([History([10, 20], times=[1.0])], ITEMS)


def test_recency_weights() -> None:
    np.testing.assert_allclose(recency_weights([0, 10, 20], 10), [1, 0.5, 0.25])
    np.testing.assert_array_equal(recency_weights([0, 5], float("inf")), [1, 1])


@settings(max_examples=40, deadline=None)
@given(
    times=st.lists(st.floats(0, 1e4, allow_nan=False), min_size=1, max_size=8),
    shift=st.floats(-1e3, 1e3, allow_nan=False),
    scale=st.floats(0.1, 10),
)
def test_time_weights_ignore_the_clock_origin_and_units(times: list[float], shift: float, scale: float) -> None:
    """Shifting every time (another "now") or changing the unit with the half-life leaves the vector unchanged."""
    items = [10, 20, 30, 10, 20, 30, 10, 20][: len(times)]
    base = user_contexts([History(items, times=times)], ITEMS, half_life=50.0, age="time")
    moved = History(items, times=[(t + shift) * scale for t in times])
    np.testing.assert_allclose(user_contexts([moved], ITEMS, half_life=50.0 * scale, age="time"), base, atol=1e-5)
