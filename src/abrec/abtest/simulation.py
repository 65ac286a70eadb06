"""Simulated A/B tests: abrec policies as variants, run against an abrec environment.

Each step of a :class:`~abrec.envs.RecBanditEnv` brings a batch of fresh simulated users. Every user
gets a unit id, is assigned to a variant by salted hashing (:class:`~abrec.abtest.assignment.Experiment`),
and the variant's policy decides that user's slate over the user's candidates; the environment shows
all slates at once (so every variant meets the same users, the same drift and the same new items),
and each policy learns online from its own users' clicks. Every shown item is logged with its
propensity to an :class:`~abrec.data.InteractionLog` (``variant``, ``policy``, ``experiment`` columns;
``reward`` = click, ``purchase`` as an extra reward).

Traffic is split by fixed weights or adaptively (:class:`~abrec.abtest.allocation.ThompsonAllocator` /
top-two Thompson on clicks per user, with a minimum share per variant). Weights change only at period
boundaries (every ``period`` steps) and the experiment's bucket ranges are edited in place, so
assigned units keep their variant wherever possible. The readout compares variants with
period-weighted means: each variant's mean clicks per user within each period, averaged with the same
period weights (the periods' total traffic) for every variant, so a baseline that drifts while the
allocation moves cannot bias the comparison (see :mod:`abrec.abtest.allocation`).

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
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..data.interactions import InteractionLog
from ..errors import InputError, ParameterError
from ..policies.base import Policy
from ..policies.registry import make_policy
from .allocation import PeriodStats, ThompsonAllocator, TopTwoThompsonAllocator
from .assignment import Experiment

__all__ = ["ExperimentConfig", "SimulationResult", "VariantSpec", "load_config", "run_simulation"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ALLOCATION_METHODS = ("fixed", "thompson", "top_two")
_START = pd.Timestamp("2026-01-05T00:00:00Z")
_STEP_SECONDS = 3600


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

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        if len(names) < 2 or len(set(names)) != len(names) or "" in names:
            raise ParameterError(f"An experiment needs at least two distinct, non-empty variant names. Got {names}.")
        if self.control not in names:
            raise ParameterError(f"The control {self.control!r} must be one of the variants {names}.")
        method = self.allocation.get("method", "fixed")
        if method not in ALLOCATION_METHODS:
            raise ParameterError(f"allocation.method must be one of {ALLOCATION_METHODS}. Got {method!r} instead.")
        unknown = set(self.allocation) - {"method", "min_share", "period", "weights", "draws"}
        if unknown:
            raise ParameterError(
                f"Unknown allocation keys {sorted(unknown)}; expected method, min_share, period, weights, draws."
            )
        period = self.allocation.get("period", 1)
        if not isinstance(period, int) or period < 1:
            raise ParameterError(f"allocation.period (steps per period) must be an int >= 1. Got {period!r}.")
        if not 0 < self.alpha < 1:
            raise ParameterError(f"alpha must be in (0, 1). Got {self.alpha!r}.")

    @property
    def variant_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variants)

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> ExperimentConfig:
        """Build and validate a config from a mapping (e.g. parsed YAML)."""
        known = {"name", "env", "variants", "control", "allocation", "encoder", "feature_dim", "alpha", "seed"}
        unknown = set(config) - known
        if unknown:
            raise InputError(f"Unknown experiment config keys {sorted(unknown)}; expected some of {sorted(known)}.")
        for key in ("env", "variants"):
            if key not in config:
                raise InputError(f"The experiment config needs an {key!r} entry (see abrec.abtest.simulation).")
        if not isinstance(config["env"], Mapping):
            raise InputError(f"The experiment config's 'env' must be a mapping. Got {config['env']!r}.")
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
            variants.append(VariantSpec(str(entry["name"]), str(entry["policy"]), dict(entry.get("params") or {})))
        try:
            feature_dim = int(config.get("feature_dim", 8))
            alpha = float(config.get("alpha", 0.05))
            seed = int(config.get("seed", 0))
        except (TypeError, ValueError) as exc:
            raise InputError(f"feature_dim and seed must be integers and alpha a number: {exc}") from exc
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


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Everything a simulated experiment produced.

    Attributes
    ----------
    config : ExperimentConfig
    log : InteractionLog
        One row per shown item (unit, item id, timestamp, position, click as ``reward``, ``purchase``,
        propensity, policy, experiment, variant).
    periods : PeriodStats
        Per (period, variant): users, sum and sum of squares of clicks per user.
    weights : (n_periods, n_variants) array
        The allocation weights in force in each period.
    step_clicks, step_expected, step_oracle, step_users : (n_steps, n_variants) arrays
        Per step and variant: realised clicks, expected clicks of the chosen slates, expected clicks
        of the best slates (for regret), and users.
    users : pandas.DataFrame
        One row per simulated user: ``unit``, ``variant``, ``step``, ``period``, ``clicks``.
    contexts, candidates : arrays
        Per user: the context the policies saw and the candidate item rows (for off-policy replay).
    slates : (n_users, k) int array
        The item rows shown to each user.
    item_features : (n_items, p) array or None
        The item features given to the policies that read them.
    policies : dict of str to Policy
        Each variant's policy in its final state.
    encoder : str
        The identity of the text encoder used (empty if none was needed).
    seconds : float
    """

    config: ExperimentConfig
    log: InteractionLog
    periods: PeriodStats
    weights: FloatArray
    step_clicks: FloatArray
    step_expected: FloatArray
    step_oracle: FloatArray
    step_users: FloatArray
    users: pd.DataFrame
    contexts: FloatArray
    candidates: IntArray
    slates: IntArray
    item_features: FloatArray | None
    policies: dict[str, Policy]
    encoder: str
    seconds: float

    @property
    def variants(self) -> tuple[str, ...]:
        return self.config.variant_names


def _item_features(
    env: Any, config: ExperimentConfig, notify: Callable[[str], None], cache_dir: Path | None
) -> tuple[FloatArray, str]:
    from ..embeddings import CachedEncoder, EmbeddingCache, PCAReducer, make_encoder

    encoder = make_encoder(config.encoder, notify=notify)
    texts = env.item_texts()
    start = time.perf_counter()
    if cache_dir is None:
        vectors = np.asarray(encoder.encode(texts), dtype=np.float64)
    else:
        digest = hashlib.sha256(encoder.identity.encode()).hexdigest()[:16]
        path = Path(cache_dir) / f"{digest}.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        with EmbeddingCache(path, identity=encoder.identity, dim=encoder.dim) as store:
            cached = CachedEncoder(encoder, store)
            vectors = np.asarray(cached.encode(texts), dtype=np.float64)
            notify(f"embedding cache {path}: {cached.hits} hits, {cached.misses} texts encoded")
    notify(f"embedded {len(texts)} item texts with {encoder.identity} in {time.perf_counter() - start:.1f} s")
    dim = min(config.feature_dim, vectors.shape[1], len(texts))
    reduced = PCAReducer(dim).fit(vectors).transform(vectors).astype(np.float64)
    features = np.hstack([reduced, np.ones((reduced.shape[0], 1))])
    return features, str(encoder.identity)


def _allocator(config: ExperimentConfig) -> ThompsonAllocator | None:
    method = config.allocation.get("method", "fixed")
    if method == "fixed":
        return None
    cls = TopTwoThompsonAllocator if method == "top_two" else ThompsonAllocator
    return cls(
        list(config.variant_names),
        reward="gaussian",
        min_share=float(config.allocation.get("min_share", 0.05)),
        draws=int(config.allocation.get("draws", 10_000)),
        seed=config.seed,
    )


def _fixed_weights(config: ExperimentConfig) -> dict[str, float]:
    given = config.allocation.get("weights")
    if not given:
        return {name: 1.0 for name in config.variant_names}
    weights = {str(k): float(v) for k, v in dict(given).items()}
    if set(weights) != set(config.variant_names):
        raise ParameterError(f"allocation.weights must give a weight to each variant {list(config.variant_names)}.")
    return weights


def run_simulation(
    config: ExperimentConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
    notify: Callable[[str], None] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> SimulationResult:
    """Run a simulated experiment; see the module docstring.

    Parameters
    ----------
    config : ExperimentConfig
    progress : callable(step, n_steps), optional
        Called after every step (for a progress bar).
    notify : callable(str), optional
        Receives diagnostics (which encoder was used, timings).
    cache_dir : path, optional
        Folder of the embedding cache (one SQLite file per encoder); None encodes without caching.

    Returns
    -------
    SimulationResult
    """
    from ..envs.bandit import RecBanditEnv
    from ..envs.registry import make_env

    say = notify or (lambda _line: None)
    start = time.perf_counter()
    env = make_env(dict(config.env))
    if not isinstance(env, RecBanditEnv):
        raise InputError(f"Simulated experiments run on a bandit view (…-Bandit-v0); got {type(env).__name__}.")
    names = config.variant_names
    policies = {
        spec.name: make_policy(spec.policy, seed=config.seed + i, **dict(spec.params))
        for i, spec in enumerate(config.variants)
    }
    needs_features = any(p.uses_item_features for p in policies.values())
    cache = None if cache_dir is None else Path(cache_dir)
    features, identity = _item_features(env, config, say, cache) if needs_features else (None, "")
    period_steps = int(config.allocation.get("period", 1))
    allocator = _allocator(config)
    weights = dict(zip(names, allocator.weights.tolist(), strict=True)) if allocator else _fixed_weights(config)
    experiment = Experiment.create(config.name, weights)
    world = env.world
    k = env.slate_size
    n_steps = env.horizon
    obs, _ = env.reset(seed=config.seed)
    nv = len(names)
    step_clicks = np.zeros((n_steps, nv))
    step_expected = np.zeros((n_steps, nv))
    step_oracle = np.zeros((n_steps, nv))
    step_users = np.zeros((n_steps, nv))
    frames: list[dict[str, Any]] = []
    user_parts: dict[str, list[Any]] = {key: [] for key in ("unit", "variant", "step", "period", "clicks")}
    contexts, candidates, slates = [], [], []
    period_rows: list[FloatArray] = []
    weight_rows: list[FloatArray] = []
    open_period = np.zeros((3, nv))
    for step in range(n_steps):
        period = step // period_steps
        cands = obs["candidates"]
        ctx = obs["context"].astype(np.float64)
        n = cands.shape[0]
        units = np.array([f"{config.name}-s{step}-u{i}" for i in range(n)])
        assigned = experiment.assign(units)
        variant_idx = _index(assigned, names)
        action = np.zeros((n, k), dtype=np.int64)
        propensity = np.zeros((n, k))
        decisions = {}
        for v, name in enumerate(names):
            rows = np.flatnonzero(variant_idx == v)
            if rows.size == 0:
                continue
            policy = policies[name]
            feats = features[cands[rows]] if features is not None and policy.uses_item_features else None
            decision = policy.decide(cands[rows], ctx[rows], k=k, item_features=feats)
            action[rows] = decision.slots
            propensity[rows] = decision.propensities
            decisions[name] = (rows, decision, feats)
        obs_next, _, _, _, info = env.step(action)
        clicks = info["clicks"].astype(np.float64)
        per_user = clicks.sum(axis=1)
        for name, (rows, decision, feats) in decisions.items():
            policies[name].update(decision.feedback(clicks[rows], ctx[rows], item_features=feats))
        for v in range(nv):
            m = variant_idx == v
            step_clicks[step, v] = per_user[m].sum()
            step_expected[step, v] = info["expected_clicks"][m].sum()
            step_oracle[step, v] = info["oracle_clicks"][m].sum()
            step_users[step, v] = m.sum()
        open_period[0] += np.bincount(variant_idx, minlength=nv)
        open_period[1] += np.bincount(variant_idx, weights=per_user, minlength=nv)
        open_period[2] += np.bincount(variant_idx, weights=per_user**2, minlength=nv)
        items = info["items"]
        stamp = _START + pd.to_timedelta(step * _STEP_SECONDS + np.arange(n) * (_STEP_SECONDS / n), unit="s")
        frames.append(
            {
                "unit": np.repeat(units, k),
                "item": np.asarray(world.item_ids)[items.ravel()],
                "timestamp": np.repeat(np.asarray(stamp), k),
                "position": np.tile(np.arange(k), n),
                "reward": clicks.ravel(),
                "purchase": info["purchases"].astype(np.float64).ravel(),
                "propensity": propensity.ravel(),
                "variant": np.repeat(assigned, k),
            }
        )
        user_parts["unit"].append(units)
        user_parts["variant"].append(assigned)
        user_parts["step"].append(np.full(n, step))
        user_parts["period"].append(np.full(n, period))
        user_parts["clicks"].append(per_user)
        contexts.append(ctx)
        candidates.append(cands.copy())
        slates.append(items.copy())
        if (step + 1) % period_steps == 0 or step + 1 == n_steps:
            period_rows.append(open_period.copy())
            weight_rows.append(np.array([experiment.weights[name] for name in names]))
            if allocator is not None:
                stats = PeriodStats(open_period[0:1], open_period[1:2], open_period[2:3], names)
                new = allocator.update(stats)
                experiment = experiment.reweight(dict(zip(names, new.tolist(), strict=True)))
            open_period = np.zeros((3, nv))
        obs = obs_next
        if progress is not None:
            progress(step + 1, n_steps)
    frame = pd.DataFrame({key: np.concatenate([f[key] for f in frames]) for key in frames[0]})
    frame["policy"] = frame["variant"].map({s.name: s.policy for s in config.variants})
    frame["experiment"] = config.name
    log = InteractionLog(frame, reward_columns=["purchase"])
    stacked = np.stack(period_rows)
    periods = PeriodStats(stacked[:, 0], stacked[:, 1], stacked[:, 2], names)
    users = pd.DataFrame({key: np.concatenate(parts) for key, parts in user_parts.items()})
    return SimulationResult(
        config=config,
        log=log,
        periods=periods,
        weights=np.stack(weight_rows),
        step_clicks=step_clicks,
        step_expected=step_expected,
        step_oracle=step_oracle,
        step_users=step_users,
        users=users,
        contexts=np.concatenate(contexts),
        candidates=np.concatenate(candidates),
        slates=np.concatenate(slates),
        item_features=features,
        policies=policies,
        encoder=identity,
        seconds=time.perf_counter() - start,
    )


def _index(assigned: npt.NDArray[Any], names: Sequence[str]) -> IntArray:
    out = np.full(assigned.shape, -1, dtype=np.int64)
    for v, name in enumerate(names):
        out[assigned == name] = v
    if (out < 0).any():
        raise InputError("Some simulated users were not assigned to a variant; the experiment must cover every unit.")
    return out
