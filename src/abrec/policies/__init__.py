"""Policies: one batch-first protocol (``decide`` / ``update``), every bandit behind it.

Context-free: :class:`UniformRandom`, :class:`EpsilonGreedy`, :class:`Softmax`, :class:`UCB1`,
:class:`BernoulliThompson`, :class:`GaussianThompson`. Contextual (per item):
:class:`LinUCB`, :class:`LinearThompson`, :class:`LogisticUCB` (Bayesian logistic regression with a
prior learned across items). Shared model on user x item features (cold start from
item text embeddings): :class:`HybridLinUCB`, :class:`TextPriorThompson` (Thompson sampling with per-item priors
predicted from item features).

Every policy answers :meth:`Policy.action_distribution` (where it would put each candidate, as an
:class:`ActionDistribution`), :meth:`Policy.clone` and ``Policy.learns``: what off-policy evaluation
asks of it.
"""

from __future__ import annotations

from .base import Policy, Request
from .distribution import ActionDistribution
from .epsilon_greedy import EpsilonGreedy
from .guarded_prior import GuardedPriorThompson
from .hybrid import HybridLinUCB
from .linear import LinearThompson, LinUCB
from .logistic import LogisticUCB
from .random import UniformRandom
from .records import Decision, Feedback
from .registry import make_policy, policy_class, register, registered_policies
from .softmax import Softmax
from .state import load_policy, save_policy
from .text_prior import TextPriorThompson
from .thompson import BernoulliThompson, GaussianThompson
from .ucb import UCB1

__all__ = [
    "ActionDistribution",
    "BernoulliThompson",
    "Decision",
    "EpsilonGreedy",
    "Feedback",
    "GaussianThompson",
    "GuardedPriorThompson",
    "HybridLinUCB",
    "LinUCB",
    "LinearThompson",
    "LogisticUCB",
    "Policy",
    "Request",
    "Softmax",
    "TextPriorThompson",
    "UCB1",
    "UniformRandom",
    "load_policy",
    "make_policy",
    "policy_class",
    "register",
    "registered_policies",
    "save_policy",
]
