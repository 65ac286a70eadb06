"""Agents: reinforcement learning over sessions, as first-class abrec policies.

An agent is a :class:`~abrec.policies.Policy` (``decide`` / ``update`` / ``action_distribution`` / ``clone`` /
state files; the same conformance suite) whose context is a **session state** and whose Q-function reads
(state, item text features), so a never-seen item is scored from its text. Decisions carry exact
propensities (epsilon-greedy or Boltzmann), so agents' logs feed OPE and A/B readouts unchanged.

- :class:`StateEncoder` / :class:`SessionState`: the user, what the session showed and clicked (text
  embeddings), the step and the misses, as one vector.
- :class:`TabularQAgent` (``tabular_q``): Q-learning on a k-means codebook of states x one of item features.
- :class:`DQNAgent` (``dqn``, torch): double DQN, target network, replay buffer, n-step returns, Huber loss,
  gradient clipping.
- :class:`SlateQAgent` (``slateq``, torch): SlateQ (Ie et al. 2019) for slates: the DQN's item-wise
  values through a conditional-logit choice model learned from the clicks, slates optimised exactly.
- :class:`Transitions`, :class:`NStepCollector`, :class:`ReplayBuffer`: what agents learn from.
- :func:`run_sessions`: agents and bandits side by side on a session environment, every decision logged
  with ``session_id`` and ``step`` (the A/B readout reads it unchanged).

Importing this package registers the agents by name (``make_policy("dqn")``); torch is imported only when a
:class:`DQNAgent` builds its network.
"""

from __future__ import annotations

from .base import REWARD_SIGNALS, Agent
from .dqn import DQNAgent
from .encoder import SessionState, StateEncoder
from .rollout import Learner, SessionStep, run_sessions
from .slateq import SlateQAgent
from .tabular import TabularQAgent
from .transitions import NStepCollector, ReplayBuffer, Transitions

__all__ = [
    "Agent",
    "DQNAgent",
    "Learner",
    "NStepCollector",
    "REWARD_SIGNALS",
    "ReplayBuffer",
    "SessionState",
    "SessionStep",
    "SlateQAgent",
    "StateEncoder",
    "TabularQAgent",
    "Transitions",
    "run_sessions",
]
