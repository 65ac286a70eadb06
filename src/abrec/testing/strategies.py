"""Hypothesis strategies for off-policy evaluation inputs (needs the ``hypothesis`` package, a dev extra).

Examples
--------
>>> from hypothesis import given
>>> from abrec.testing.strategies import logged_feedback
>>> @given(logged_feedback(max_rows=20))
... def test_rows(fb):
...     assert 1 <= len(fb) <= 20
>>> test_rows()
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from ..ope.feedback import LoggedFeedback

__all__ = ["logged_feedback"]


@st.composite
def _feedback(
    draw: st.DrawFn, max_rows: int, max_actions: int, max_positions: int, uniform: bool | None, binary: bool
) -> LoggedFeedback:
    n = draw(st.integers(1, max_rows))
    n_actions = draw(st.integers(1, max_actions))
    n_positions = draw(st.integers(1, max_positions))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    action = rng.integers(0, n_actions, size=n)
    position = rng.integers(0, n_positions, size=n)
    is_uniform = draw(st.booleans()) if uniform is None else uniform
    if is_uniform:
        propensity = np.full(n, 1.0 / n_actions)
    else:
        propensity = rng.uniform(0.01, 1.0, size=n)
    reward = rng.integers(0, 2, size=n).astype(float) if binary else rng.normal(size=n)
    return LoggedFeedback.from_arrays(
        action=action,
        reward=reward,
        propensity=propensity,
        position=position,
        n_actions=n_actions,
        n_positions=n_positions,
    )


def logged_feedback(
    *,
    max_rows: int = 50,
    max_actions: int = 6,
    max_positions: int = 3,
    uniform: bool | None = None,
    binary: bool = True,
) -> st.SearchStrategy[LoggedFeedback]:
    """Valid :class:`~abrec.ope.LoggedFeedback` of 1..``max_rows`` rows.

    Parameters
    ----------
    max_rows, max_actions, max_positions : int
        Upper bounds of the sizes drawn.
    uniform : bool or None
        True: a uniform logging policy (propensity ``1 / n_actions``); False: propensities drawn in
        [0.01, 1]; None: either.
    binary : bool
        Click rewards in {0, 1} (True) or standard normal rewards.
    """
    return _feedback(max_rows, max_actions, max_positions, uniform, binary)
