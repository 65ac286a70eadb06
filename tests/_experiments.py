"""Shared by the experiment tests: one small simulated experiment (a 60-item catalog, a hashing encoder,
a uniform control against Bernoulli TS and TS with text priors), varied per test through its arguments."""

from __future__ import annotations

from typing import Any


def variant(name: str, policy: str, draws: int | None = None) -> dict[str, Any]:
    """A variant mapping; ``draws`` sets the policy's ``propensity_draws``."""
    out: dict[str, Any] = {"name": name, "policy": policy}
    if draws is not None:
        out["params"] = {"propensity_draws": draws}
    return out


def small_experiment(
    name: str,
    seed: int,
    *,
    draws: int = 20,
    variants: list[dict[str, Any]] | None = None,
    allocation: dict[str, Any] | None = None,
    view: dict[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """The experiment's config mapping (``ExperimentConfig.from_mapping`` / YAML); ``overrides`` replace keys."""
    config: dict[str, Any] = {
        "name": name,
        "seed": seed,
        "env": {
            "env": "abrec/SyntheticCatalog-Bandit-v0",
            "seed": seed,
            "world": {"n_items": 60},
            "view": {"n_users": 40, "n_candidates": 8, "slate_size": 2, "horizon": 6, **(view or {})},
        },
        "encoder": "hashing",
        "feature_dim": 4,
        "variants": (
            [
                variant("random", "uniform"),
                variant("ts", "bernoulli_ts", draws),
                variant("text-prior", "text_prior_ts", draws),
            ]
            if variants is None
            else variants
        ),
        "control": "random",
        "allocation": (
            {"method": "top_two", "min_share": 0.2, "period": 2, "draws": 2000} if allocation is None else allocation
        ),
    }
    config.update(overrides)
    return config
