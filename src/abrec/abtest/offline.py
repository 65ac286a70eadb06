"""Off-policy evaluation of an experiment's policies on its own control logs (the counterfactual A/B test).

When the control variant shows uniformly random slates over each user's candidates, its logs are an
exploration dataset: replaying every variant's policy on them (:func:`abrec.ope.replay_slates`, Li et al.
2011: fresh policy, learning only from the positions where it agrees with the log) estimates the clicks
per shown item each variant would earn online, before risking any traffic. :func:`replay_variants` does
that for every variant and puts the online result next to it, so the estimate can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..ope.learning import replay_slates
from ..policies.registry import make_policy
from .simulation import SimulationResult

__all__ = ["OfflineEstimate", "replay_variants"]


@dataclass(frozen=True)
class OfflineEstimate:
    """One variant's offline (replay) estimate next to its online result, clicks per shown item."""

    variant: str
    policy: str
    estimate: float
    ci_low: float
    ci_high: float
    accepted: int
    online: float
    online_ci_low: float
    online_ci_high: float

    def as_row(self) -> dict[str, object]:
        return {
            "variant": self.variant,
            "policy": self.policy,
            "estimate": self.estimate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "accepted positions": self.accepted,
            "online": self.online,
            "online CI": f"[{self.online_ci_low:.4g}, {self.online_ci_high:.4g}]",
        }


def replay_variants(
    result: SimulationResult, *, logging_variant: str | None = None, seed: int = 1
) -> list[OfflineEstimate]:
    """Replay every variant's policy (fresh, same parameters) on the logs of ``logging_variant``.

    ``logging_variant`` (default the control) must have run the ``uniform`` policy. Requests of one
    simulator step are decided together, then the policy learns from them, as it did online.
    """
    cfg = result.config
    name = cfg.control if logging_variant is None else logging_variant
    spec = {v.name: v for v in cfg.variants}
    if name not in spec:
        raise InputError(f"Unknown logging variant {name!r}; the variants are {list(spec)}.")
    if spec[name].policy != "uniform":
        raise InputError(
            f"Replay needs uniformly random logs; the variant {name!r} ran {spec[name].policy!r}. "
            "Use a uniform control (policy: uniform) to evaluate policies offline."
        )
    users = result.users
    mask = (users["variant"] == name).to_numpy()
    if not mask.any():
        raise InputError(f"The variant {name!r} received no users.")
    k = result.slates.shape[1]
    rewards = result.log.frame["reward"].to_numpy().reshape(-1, k)
    steps = users["step"].to_numpy()
    out = []
    for i, variant in enumerate(cfg.variants):
        policy = make_policy(variant.policy, seed=cfg.seed + 1000 + i, **dict(variant.params))
        rep = replay_slates(
            policy,
            result.contexts[mask],
            result.candidates[mask],
            result.slates[mask],
            rewards[mask],
            batches=steps[mask],
            item_features=result.item_features,
            seed=seed + i,
        )
        shown = float(result.step_users[:, i].sum() * k)
        clicks = float(result.step_clicks[:, i].sum())
        online = clicks / shown if shown else float("nan")
        se = float(np.sqrt(online * (1 - online) / shown)) if shown else float("nan")
        out.append(
            OfflineEstimate(
                variant.name,
                variant.policy,
                rep.value,
                rep.ci[0],
                rep.ci[1],
                rep.n_accepted,
                online,
                online - 1.96 * se,
                online + 1.96 * se,
            )
        )
    return out
