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

from .._interval import ConfidenceInterval
from ..errors import InputError
from ..ope import replay_slates
from .simulation import SimulationResult

__all__ = ["OfflineEstimate", "replay_variants"]


@dataclass(frozen=True)
class OfflineEstimate:
    """One variant's offline (replay) estimate next to its online result, clicks per shown item.

    ``ci`` and ``online_ci`` are the 95% intervals of ``estimate`` and ``online``; ``ci_low`` ... are their bounds.
    """

    variant: str
    policy: str
    estimate: float
    ci: ConfidenceInterval
    accepted: int
    online: float
    online_ci: ConfidenceInterval

    ci_low = property(lambda self: self.ci.low)
    ci_high = property(lambda self: self.ci.high)
    online_ci_low = property(lambda self: self.online_ci.low)
    online_ci_high = property(lambda self: self.online_ci.high)

    def confidence_interval(self, *, online: bool = False) -> ConfidenceInterval:
        """The replay estimate's interval, or the online result's with ``online=True``."""
        return self.online_ci if online else self.ci

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
    """Replay every variant's policy (a fresh clone, same parameters) on the event log of ``logging_variant``.

    ``logging_variant`` (default the control) must have run a policy that does not learn (its logs are then
    an exploration dataset); the replay reads the propensities it logged. Requests of one simulator step are
    decided together, then the policy learns from them, as it did online.
    """
    cfg = result.config
    name = cfg.control if logging_variant is None else logging_variant
    if name not in result.policies:
        raise InputError(f"Unknown logging variant {name!r}; the variants are {list(result.policies)}.")
    if result.policies[name].learns:
        raise InputError(
            f"Replay needs logs of a policy that does not learn; the variant {name!r} ran "
            f"{result.policies[name].name!r}. Use a uniform control (policy: uniform) to evaluate policies offline."
        )
    frame = result.log.frame
    k = result.slate_size
    mask = (frame["variant"] == name).to_numpy()
    if not mask.any():
        raise InputError(f"The variant {name!r} received no users.")
    requests = mask[::k]
    rows = frame[mask]
    shown = rows["item"].to_numpy().reshape(-1, k)
    rewards = rows["reward"].to_numpy(dtype=np.float64).reshape(-1, k)
    propensities = rows["propensity"].to_numpy(dtype=np.float64).reshape(-1, k)
    steps = rows["step"].to_numpy()[::k]
    contexts = result.log.take(np.flatnonzero(mask)[::k]).contexts()
    assert contexts is not None
    candidates = result.candidates[requests]
    feats = result.item_features
    if feats is not None:  # replay addresses items by their rows in the feature table
        candidates, shown = feats.rows(candidates), feats.rows(shown)
    online = frame.groupby("variant", sort=False)["reward"].agg(["sum", "size"])
    earned = {str(v): (float(r["sum"]), float(r["size"])) for v, r in online.iterrows()}
    out = []
    for i, spec in enumerate(cfg.variants):
        policy = result.policies[spec.name].clone(seed=cfg.seed + 1000 + i)
        rep = replay_slates(
            policy,
            contexts,
            candidates,
            shown,
            rewards,
            propensities,
            batches=steps,
            item_features=None if feats is None else feats.vectors,
            seed=seed + i,
        )
        clicks, shown_n = earned.get(spec.name, (0.0, 0.0))
        mean = clicks / shown_n if shown_n else float("nan")
        se = float(np.sqrt(mean * (1 - mean) / shown_n)) if shown_n else float("nan")
        out.append(
            OfflineEstimate(
                spec.name,
                spec.policy,
                rep.value,
                rep.ci,
                rep.n_accepted,
                mean,
                ConfidenceInterval(mean - 1.96 * se, mean + 1.96 * se, 0.95),
            )
        )
    return out
