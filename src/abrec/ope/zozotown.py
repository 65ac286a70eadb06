"""ZOZOTOWN's Bernoulli TS policy of the Open Bandit Dataset as an abrec policy.

The ``bts`` logging policy of the Open Bandit Dataset is Bernoulli Thompson sampling with fixed
production Beta priors per item (OBP's ``prior_bts.yaml``, packaged with abrec's OBD sample). As a
:class:`~abrec.policies.BernoulliThompson` with those priors it can decide, learn, be replayed
(:func:`~abrec.ope.replay_learning`) and be evaluated with
:func:`~abrec.ope.target.policy_action_dist`, which then reproduces
:func:`~abrec.ope.bts.zozotown_bts_action_distribution` within Monte Carlo error.
"""

from __future__ import annotations

from .._random import Seed
from ..policies import BernoulliThompson
from .bts import _zozotown_prior

__all__ = ["zozotown_bts_policy"]


def zozotown_bts_policy(campaign: str = "all", *, propensity_draws: int = 1000, seed: Seed = None) -> BernoulliThompson:
    """ZOZOTOWN's Bernoulli TS policy: item ``i`` (OBD's ``item_id``) starts from its production prior.

    Parameters
    ----------
    campaign : {"all", "men", "women"}, default "all"
        The campaign whose priors to use (80, 34 or 46 items, ids ``0 .. n_items - 1``).
    propensity_draws : int, default 1000
        Posterior draws behind each decision's propensities (see :class:`~abrec.policies.BernoulliThompson`).
    seed : int, numpy.random.Generator or None
        The policy's generator.

    Returns
    -------
    abrec.policies.BernoulliThompson
        With ``priors = {i: (alpha_i, beta_i)}``; items outside the campaign get ``Beta(1, 1)``.

    Raises
    ------
    abrec.errors.UnknownNameError
        An unknown campaign.

    Examples
    --------
    >>> import numpy as np
    >>> policy = zozotown_bts_policy("men", seed=0)
    >>> len(policy.priors), policy.decide(np.arange(34), k=3).items.shape
    (34, (1, 3))
    """
    alpha, beta = _zozotown_prior(campaign)
    priors = {item: (float(a), float(b)) for item, (a, b) in enumerate(zip(alpha.tolist(), beta.tolist(), strict=True))}
    return BernoulliThompson(priors=priors, propensity_draws=propensity_draws, seed=seed)
