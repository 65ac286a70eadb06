"""A two-state toy problem where the myopic choice loses in the long run (shared by the agent tests).

States (one-hot): ``fresh`` and ``tired``. In ``fresh``, item A pays 1 and tires the user, item B pays 0.6
and keeps the user fresh; in ``tired`` every item pays 0 and the user becomes fresh again. With gamma 0.9,
always-B is worth 6 in ``fresh`` and A-then-anything 5.26: the long-term agent prefers B, a myopic one A.
Item C is never shown in training; its text features resemble A's.
"""

from __future__ import annotations

import numpy as np

from abrec.agents import Transitions

FRESH, TIRED = np.array([1.0, 0.0]), np.array([0.0, 1.0])
A, B, C = np.array([1.0, 0.0, 1.0]), np.array([0.0, 1.0, 1.0]), np.array([0.95, 0.05, 1.0])
ITEMS = np.array(["A", "B"])
FEATURES = np.stack([A, B])


def toy_transitions(n: int, seed: int, gamma: float = 0.9, reward_a: float = 1.0) -> Transitions:
    """``n`` one-step transitions from a uniformly random behaviour policy in random states (A pays ``reward_a``)."""
    rng = np.random.default_rng(seed)
    tired = rng.random(n) < 0.5
    pick_a = rng.random(n) < 0.5
    states = np.where(tired[:, None], TIRED, FRESH)
    feats = np.where(pick_a[:, None], A, B)
    reward = np.where(tired, 0.0, np.where(pick_a, reward_a, 0.6))
    next_tired = ~tired & pick_a
    next_states = np.where(next_tired[:, None], TIRED, FRESH)
    return Transitions(
        states,
        feats[:, None, :],
        reward[:, None],
        np.full(n, gamma),
        next_states,
        np.broadcast_to(FEATURES, (n, 2, 3)).copy(),
        np.ones((n, 2), dtype=bool),
    )
