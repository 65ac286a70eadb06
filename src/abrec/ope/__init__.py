"""Off-policy evaluation: estimate a target policy's value from another policy's logs.

:mod:`abrec.ope.bts` gives the action distribution of a Bernoulli Thompson sampling slate
policy (the Open Bandit Dataset's ``bts`` policy); the functions :func:`ipw` and :func:`snipw` the slate-position-wise
inverse propensity weighting estimators (IPW and self-normalised IPW) as in OBP.
"""

from __future__ import annotations

from ._ipw import importance_weights, ipw, snipw
from .bts import ActionDistribution, bts_action_distribution, zozotown_bts_action_distribution

__all__ = [
    "ActionDistribution",
    "bts_action_distribution",
    "importance_weights",
    "ipw",
    "snipw",
    "zozotown_bts_action_distribution",
]
