"""Cold start: an agent whose Q-function reads item text values never-seen items; an id-based one cannot.

Forty items, half of them good (click probability 0.7, text close to ``[1, 0]``), half bad (0.1, text close to
``[0, 1]``). Both agents learn from uniformly random slates over the twenty *old* items; then they choose among
*new* items only. The text agent's new-item impressions are clicked at about the good items' rate; the id-based
agent (a per-item offset, ``id_buckets``, over a constant feature) has nothing to tell new items apart by.
"""

from __future__ import annotations

import numpy as np

from _shared import require_module
from abrec.agents import DQNAgent, Transitions

torch = require_module("torch", "the 'llm' extra (torch) is not installed")
torch.set_num_threads(1)

N_ITEMS, OLD = 40, 20


def _world(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    good = np.arange(N_ITEMS) % 2 == 0
    text = np.where(good[:, None], [1.0, 0.0], [0.0, 1.0]) + rng.normal(0, 0.15, size=(N_ITEMS, 2))
    return np.hstack([text, np.ones((N_ITEMS, 1))]), np.where(good, 0.7, 0.1)


def _clicks_per_new_impression(reads_text: bool, seed: int) -> float:
    rng = np.random.default_rng(seed)
    text, p_click = _world(rng)
    features = text if reads_text else np.ones((N_ITEMS, 1))
    agent = DQNAgent(gamma=0.0, hidden=16, learning_rate=3e-3, id_buckets=0 if reads_text else 64, seed=seed)
    for _ in range(20):
        shown = rng.integers(0, OLD, size=64)
        clicks = (rng.random(64) < p_click[shown]).astype(float)
        agent.learn(Transitions.terminal(rng.normal(size=(64, 2)), features[shown], clicks, shown))
    cands = np.stack([rng.choice(np.arange(OLD, N_ITEMS), size=5, replace=False) for _ in range(400)])
    d = agent.decide(cands, rng.normal(size=(400, 2)), item_features=features[cands])
    return float(p_click[d.items].mean())  # expected clicks per impression of a never-seen item


def test_an_agent_reading_text_beats_an_id_based_one_on_new_items() -> None:
    for seed in range(2):
        text, ids = _clicks_per_new_impression(True, seed), _clicks_per_new_impression(False, seed)
        # The id agent is a coin flip between good and bad new items (about 0.4); the text agent picks good ones.
        assert text > 0.6 and text > ids + 0.15, (seed, text, ids)
        assert abs(ids - 0.4) < 0.1
