"""The configuration of a simulated experiment: its environment, its variants (policies) and its allocation.

A config is a mapping (or YAML file) such as::

    name: demo
    seed: 0
    env: {env: abrec/SyntheticCatalog-Bandit-v0, seed: 0, world: {n_items: 500},
          view: {n_users: 200, n_candidates: 20, slate_size: 3, horizon: 60}}
    encoder: auto              # text encoder for policies that read item features
    feature_dim: 8             # PCA dimension of the item embeddings
    variants:
      - {name: random, policy: uniform}
      - {name: thompson, policy: bernoulli_ts, params: {propensity_draws: 100}}
      - {name: text-prior, policy: text_prior_ts, params: {propensity_draws: 100}}
    control: random
    allocation: {method: top_two, min_share: 0.1, period: 5}   # or {method: fixed, weights: {...}}
    alpha: 0.05

A session experiment runs on a ``…-Session-v0`` environment (see :mod:`abrec.experiments.sessions`): its
variants may be agents as well as bandits, each unit is a session (one user, from its first step to the
step it leaves or the episode ends), and ``episodes: N`` runs N episodes, each a fresh set of sessions,
while every variant keeps learning; ``allocation.period`` then counts episodes, not steps.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._params import Interval, StrOptions, validate_params
from ..errors import InputError, ParameterError, unknown_key

if TYPE_CHECKING:
    from ..abtest.allocation import ThompsonAllocator

__all__ = ["ALLOCATION_METHODS", "ExperimentConfig", "VariantSpec", "load_config"]

ALLOCATION_METHODS = ("fixed", "thompson", "top_two")
_ALLOCATION = {
    "allocation.method": StrOptions(ALLOCATION_METHODS),
    "allocation.min_share": Interval("float", 0.0, 1.0, closed="left"),
    "allocation.draws": Interval("int", 1),
}
_ALLOCATION_KEYS = ("method", "min_share", "period", "weights", "draws")
_KEYS = ("name", "env", "variants", "control", "allocation", "encoder", "feature_dim", "alpha", "seed", "episodes")
_VARIANT_KEYS = ("name", "policy", "params")


@dataclass(frozen=True)
class VariantSpec:
    """One arm of the experiment: a name and the registered policy (with its parameters) it runs."""

    name: str
    policy: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExperimentConfig:
    """A simulated experiment (see the module docstring for the YAML form)."""

    name: str
    env: Mapping[str, Any]
    variants: tuple[VariantSpec, ...]
    control: str
    allocation: Mapping[str, Any] = field(default_factory=lambda: {"method": "fixed"})
    encoder: str = "auto"
    feature_dim: int = 8
    alpha: float = 0.05
    seed: int = 0
    episodes: int = 1

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        if len(names) < 2 or len(set(names)) != len(names) or "" in names:
            raise ParameterError(f"An experiment needs at least two distinct, non-empty variant names. Got {names}.")
        if self.control not in names:
            raise ParameterError(f"The control {self.control!r} must be one of the variants {names}.")
        for key in self.allocation:
            if key not in _ALLOCATION_KEYS:
                raise unknown_key(key, "allocation", _ALLOCATION_KEYS)
        validate_params(
            "the experiment config",
            _ALLOCATION,
            {
                "allocation.method": self.allocation.get("method", "fixed"),
                "allocation.min_share": self.allocation.get("min_share", 0.05),
                "allocation.draws": self.allocation.get("draws", 10_000),
            },
        )
        weights = self.allocation.get("weights")
        if weights is not None and (
            not isinstance(weights, Mapping)
            or not all(isinstance(w, int | float) and not isinstance(w, bool) and w >= 0 for w in weights.values())
        ):
            raise ParameterError(f"allocation.weights must map each variant to a number >= 0. Got {weights!r}.")
        period = self.allocation.get("period", 1)
        if not isinstance(period, int) or period < 1:
            raise ParameterError(f"allocation.period (steps per period) must be an int >= 1. Got {period!r}.")
        if not 0 < self.alpha < 1:
            raise ParameterError(f"alpha must be in (0, 1). Got {self.alpha!r}.")
        if isinstance(self.episodes, bool) or not isinstance(self.episodes, int) or self.episodes < 1:
            raise ParameterError(f"episodes must be an int >= 1. Got {self.episodes!r}.")
        if self.episodes > 1 and not self.sessions:
            raise ParameterError(
                f"episodes ({self.episodes}) apply to session experiments (…-Session-v0 environments); a bandit "
                "experiment runs its view's horizon of steps once."
            )

    @property
    def sessions(self) -> bool:
        """Whether the experiment runs on a session view (``…-Session-v0``): units are sessions, not requests."""
        return str(self.env.get("env", "")).endswith("-Session-v0")

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    def allocator(self) -> ThompsonAllocator | None:
        """The adaptive allocator the config asks for (Thompson or top-two Thompson on the metric per unit), or
        None for fixed weights. The simulation runner and the decision service both build it here."""
        from ..abtest.allocation import ThompsonAllocator, TopTwoThompsonAllocator

        method = self.allocation.get("method", "fixed")
        if method == "fixed":
            return None
        cls = TopTwoThompsonAllocator if method == "top_two" else ThompsonAllocator
        return cls(
            list(self.variant_names),
            reward="gaussian",
            min_share=float(self.allocation.get("min_share", 0.05)),
            draws=int(self.allocation.get("draws", 10_000)),
            seed=self.seed,
        )

    def initial_weights(self, allocator: ThompsonAllocator | None) -> dict[str, float]:
        """The weights of the first period: the allocator's (even) start, or ``allocation.weights`` (default
        equal) when the weights are fixed."""
        if allocator is not None:
            return dict(zip(self.variant_names, allocator.weights.tolist(), strict=True))
        given = self.allocation.get("weights")
        if not given:
            return {name: 1.0 for name in self.variant_names}
        weights = {str(k): float(v) for k, v in dict(given).items()}
        if set(weights) != set(self.variant_names):
            raise ParameterError(f"allocation.weights must give a weight to each variant {list(self.variant_names)}.")
        return weights

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> ExperimentConfig:
        """Build and validate a config from a mapping (e.g. parsed YAML)."""
        from ..envs.registry import check_env_config
        from ..policies.registry import check_policy_params

        for key in config:
            if key not in _KEYS:
                raise unknown_key(key, "the experiment config", _KEYS)
        for key in ("env", "variants"):
            if key not in config:
                raise InputError(f"The experiment config needs an {key!r} entry (see abrec.experiments.config).")
        if not isinstance(config["env"], Mapping):
            raise InputError(f"The experiment config's 'env' must be a mapping. Got {config['env']!r}.")
        from .. import agents  # noqa: F401  (registers the agents, so that variants may name them)

        env_id = str(config["env"].get("env", ""))
        view = config["env"].get("view") or {}
        if env_id.endswith("-Session-v0") and isinstance(view, Mapping) and "horizon" in view:
            raise InputError(
                f"env.view.horizon is a setting of the bandit view (…-Bandit-v0); the session view {env_id!r} "
                "runs each episode for at most view.max_steps steps (and the experiment for 'episodes' episodes)."
            )
        check_env_config(config["env"])
        allocation = config.get("allocation") or {"method": "fixed"}
        if not isinstance(allocation, Mapping):
            raise InputError(f"The experiment config's 'allocation' must be a mapping. Got {allocation!r}.")
        if isinstance(config["variants"], str | bytes | Mapping) or not isinstance(config["variants"], Sequence):
            raise InputError(f"The experiment config's 'variants' must be a list. Got {config['variants']!r}.")
        variants = []
        for i, entry in enumerate(config["variants"]):
            if (
                not isinstance(entry, Mapping)
                or "name" not in entry
                or "policy" not in entry
                or not isinstance(entry.get("params") or {}, Mapping)
            ):
                raise InputError(f"variants[{i}] must be a mapping with 'name' and 'policy' (and optional 'params').")
            for key in entry:
                if key not in _VARIANT_KEYS:
                    raise unknown_key(key, f"variants[{i}]", _VARIANT_KEYS)
            spec = VariantSpec(str(entry["name"]), str(entry["policy"]), dict(entry.get("params") or {}))
            check_policy_params(spec.policy, spec.params, f"variants[{i}].params ({spec.name}, {spec.policy})")
            variants.append(spec)
        try:
            feature_dim = int(config.get("feature_dim", 8))
            alpha = float(config.get("alpha", 0.05))
            seed = int(config.get("seed", 0))
            episodes = config.get("episodes", 1)
            if isinstance(episodes, bool) or not isinstance(episodes, int):
                raise TypeError(f"episodes is {episodes!r}")
        except (TypeError, ValueError) as exc:
            raise InputError(f"feature_dim, seed and episodes must be integers and alpha a number: {exc}") from exc
        return cls(
            name=str(config.get("name", "experiment")),
            env=dict(config["env"]),
            variants=tuple(variants),
            control=str(config.get("control", variants[0].name if variants else "")),
            allocation=dict(allocation),
            encoder=str(config.get("encoder", "auto")),
            feature_dim=feature_dim,
            alpha=alpha,
            seed=seed,
            episodes=episodes,
        )


def load_config(path: str | os.PathLike[str]) -> ExperimentConfig:
    """Read an experiment config from a YAML file."""
    import yaml

    try:
        loaded = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InputError(f"{path}: cannot read the experiment config: {exc}") from exc
    if not isinstance(loaded, Mapping):
        raise InputError(f"{path}: an experiment config must be a YAML mapping.")
    return ExperimentConfig.from_mapping(loaded)
