"""Environments that policies are run against.

For now: :class:`LinearBandit`, a logistic linear contextual bandit with pre-drawn rewards (the
model of benchmark W1), and :func:`run_bandit`, the decide -> observe -> update loop that reports
reward, oracle reward and regret. Gymnasium simulators come with the environments issue.
"""

from __future__ import annotations

from .linear_bandit import LinearBandit, make_linear_bandit
from .runner import BanditRun, run_bandit

__all__ = ["BanditRun", "LinearBandit", "make_linear_bandit", "run_bandit"]
