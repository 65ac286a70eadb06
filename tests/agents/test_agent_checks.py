"""The agents in their other settings (Boltzmann slates, fitted codebooks, n-step, per-item offsets) through the suite.

The registered defaults run in ``tests/test_policy_conformance.py``; these factories cover the code paths the
defaults do not reach in the suite's small problems (the DQN learner one batch behind, and in a process, one and three
batches behind).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from _shared import require_module
from abrec.agents import DQNAgent, TabularQAgent
from abrec.policies import Policy
from abrec.testing import check_policy

FACTORIES: dict[str, Callable[..., Policy]] = {
    "tabular-boltzmann-fitted": functools.partial(
        TabularQAgent, warmup=30, n_state_cells=4, n_item_cells=3, exploration="boltzmann", temperature=0.5
    ),
    "tabular-epsilon-fitted": functools.partial(TabularQAgent, warmup=30, learning_rate=0.3, epsilon=0.3),
    "dqn-boltzmann-nstep": functools.partial(
        DQNAgent, hidden=8, exploration="boltzmann", temperature=0.3, n_step=2, learning_starts=16
    ),
    "dqn-ids-single": functools.partial(DQNAgent, hidden=8, id_buckets=16, double=False, batch_size=16),
    "dqn-lagged": functools.partial(DQNAgent, hidden=8, batch_size=16, learning_starts=16, learner="lagged"),
    "dqn-process": functools.partial(DQNAgent, hidden=8, batch_size=16, learning_starts=16, learner="process"),
    "dqn-process-lag3": functools.partial(
        DQNAgent, hidden=8, batch_size=16, learning_starts=16, learner="process", actor_lag=3
    ),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_agent_settings_conform(name: str) -> None:
    if name.startswith("dqn"):
        require_module("torch", "the 'llm' extra (torch) is not installed").set_num_threads(1)
    check_policy(FACTORIES[name])
