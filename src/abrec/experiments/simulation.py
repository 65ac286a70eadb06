"""Simulated A/B tests: abrec policies as variants, run against an abrec environment.

Each step of a :class:`~abrec.envs.RecBanditEnv` brings a batch of fresh simulated users. Every user
gets a unit id, is assigned to a variant by salted hashing (:class:`~abrec.abtest.assignment.Experiment`),
and the variant's policy decides that user's slate over the user's candidates, named by their public item
ids (what a policy trained here meets again in its exported log); the environment shows all slates at
once (so every variant meets the same users, the same drift and the same new items), and each policy
learns online from its own users' clicks.

Every decision becomes event records through :meth:`~abrec.policies.Decision.to_log`: one row per shown
item with its propensity (and how it was computed), the policy's name and version, the request's context,
the variant's assignment probability (its weight in force) and the allocation period, ``reward`` = click,
and two extra rewards: ``purchase`` (0/1) and ``revenue`` (the purchase times the item's price). That log is
the result: the per-period statistics, the weights in force, the per-step clicks and the readout on every
metric (clicks per user, CTR, conversion, revenue per user) are all derived from it, so ``abrec analyze`` on
the exported log gives the numbers of the in-process readout exactly.

Traffic is split by fixed weights or adaptively (:class:`~abrec.abtest.allocation.ThompsonAllocator` /
top-two Thompson on clicks per user, with a minimum share per variant). Weights change only at period
boundaries (every ``period`` steps) and the experiment's bucket ranges are edited in place, so
assigned units keep their variant wherever possible. The readout compares variants with
period-weighted means (see :mod:`abrec.abtest.allocation`). The config is described in
:mod:`abrec.experiments.config`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..abtest.allocation import PeriodStats
from ..abtest.assignment import Experiment
from ..abtest.metrics import Metric
from ..abtest.readout import Readout, analyze_log, log_periods
from ..abtest.scorecard import MetricsReadout, analyze_metrics
from ..data.interactions import InteractionLog
from ..embeddings.features import ItemFeatures
from ..errors import InputError
from ..policies.base import Policy
from ..policies.registry import make_policy
from .config import ExperimentConfig
from .rollout import rollout

__all__ = ["SimulationResult", "run_simulation", "world_item_features"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, eq=False)
class SimulationResult:
    """Everything a simulated experiment produced.

    Attributes
    ----------
    config : ExperimentConfig
    log : InteractionLog
        The event records: one row per shown item, requests in the order the users arrived (see
        :mod:`abrec.data.interactions`; ``reward`` = click, ``purchase`` (0/1) and ``revenue`` (purchase x
        price) extra rewards, the context of each request, ``assignment_p``, ``period`` and ``step``).
    candidates : (n_requests, m) array
        The public ids of each request's candidates, requests in log order (what the log does not hold:
        the items that could have been shown; offline replay needs them).
    step_expected, step_oracle : (n_steps, n_variants) arrays
        The simulator's ground truth per step and variant: expected clicks of the chosen slates and of the
        best slates (for regret).
    item_features : ItemFeatures or None
        The item features (by public id) given to the policies that read them.
    policies : dict of str to Policy
        Each variant's policy in its final state.
    encoder : str
        The identity of the text encoder used (empty if none was needed).
    seconds : float
    """

    config: ExperimentConfig
    log: InteractionLog
    candidates: npt.NDArray[Any]
    step_expected: FloatArray
    step_oracle: FloatArray
    item_features: ItemFeatures | None
    policies: dict[str, Policy]
    encoder: str
    seconds: float

    @property
    def variants(self) -> tuple[str, ...]:
        return self.config.variant_names

    @property
    def slate_size(self) -> int:
        return int(len(self.log) // max(self.candidates.shape[0], 1))

    def period_stats(self, column: str = "reward") -> tuple[PeriodStats, FloatArray]:
        """Per-period statistics of ``column`` per user and the weights in force, derived from the log."""
        return log_periods(self.log, column=column, variants=self.variants)

    @property
    def periods(self) -> PeriodStats:
        """Per (period, variant): users, sum and sum of squares of clicks per user (from the log)."""
        return self._periods[0]

    @property
    def weights(self) -> FloatArray:
        """``(n_periods, n_variants)``: the allocation weights in force in each period (from the log)."""
        return self._periods[1]

    @cached_property
    def _periods(self) -> tuple[PeriodStats, FloatArray]:
        return self.period_stats()

    def readout(self, column: str = "reward") -> Readout:
        """The experiment's readout of ``column`` per user: exactly what ``abrec analyze`` gives on the log."""
        return analyze_log(self.log, control=self.config.control, column=column, alpha=self.config.alpha)

    def readouts(self, metrics: Sequence[Metric] | None = None) -> MetricsReadout:
        """The readout on every metric (default: clicks per user first, then CTR, conversion, revenue per user).

        Exactly what ``abrec analyze`` prints and writes for the exported log; the correction across metrics
        and treatments is stated in its ``correction`` (see :func:`~abrec.abtest.scorecard.analyze_metrics`).
        """
        return analyze_metrics(self.log, control=self.config.control, metrics=metrics, alpha=self.config.alpha)

    def _per_step(self, values: FloatArray) -> FloatArray:
        frame = self.log.frame
        n_steps = self.step_expected.shape[0]
        code = pd.Categorical(frame["variant"], categories=list(self.variants)).codes
        cell = frame["step"].to_numpy() * len(self.variants) + code
        total = np.bincount(cell, weights=values, minlength=n_steps * len(self.variants)).astype(np.float64)
        out: FloatArray = total.reshape(n_steps, len(self.variants))
        return out

    @cached_property
    def step_clicks(self) -> FloatArray:
        """``(n_steps, n_variants)``: clicks per step and variant (from the log)."""
        return self._per_step(self.log.frame["reward"].to_numpy(dtype=np.float64))

    @cached_property
    def step_users(self) -> FloatArray:
        """``(n_steps, n_variants)``: users per step and variant (from the log)."""
        first = (self.log.frame["position"].to_numpy() == 0).astype(np.float64)
        return self._per_step(first)

    @cached_property
    def users(self) -> pd.DataFrame:
        """One row per simulated user (from the log): ``unit``, ``variant``, ``step``, ``period``, ``clicks``."""
        frame = self.log.frame
        grouped = frame.groupby("request_id", sort=False)
        out = grouped.agg(
            unit=("unit", "first"), variant=("variant", "first"), step=("step", "first"), period=("period", "first")
        )
        out["clicks"] = grouped["reward"].sum()
        return out.reset_index(drop=True)


def world_item_features(
    world: Any,
    encoder: str,
    feature_dim: int,
    *,
    notify: Callable[[str], None] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[ItemFeatures, str]:
    """A world's item texts through abrec's one item-feature pipeline (encoder, cache, PCA), plus a bias column.

    Returns the features by public item id (``feature_dim + 1`` columns, the last one constant) and the
    encoder's identity. ``feature_dim`` may not exceed the encoder's dimension or the number of items.
    """
    from ..embeddings import PCAReducer, encoder_cache_path, item_features, make_encoder

    say = notify or (lambda _line: None)
    model = make_encoder(encoder, notify=say)
    if feature_dim > model.dim or feature_dim > world.n_items:
        raise InputError(
            f"feature_dim {feature_dim} is larger than the encoder's dimension ({model.dim}) or the number of "
            f"items ({world.n_items}); choose feature_dim <= {min(model.dim, world.n_items)}."
        )
    start = time.perf_counter()
    cache = None if cache_dir is None else encoder_cache_path(cache_dir, model)
    features = item_features(world, model, cache=cache, reducer=PCAReducer(feature_dim))
    say(
        f"embedded {world.n_items} item texts with {model.identity} in {time.perf_counter() - start:.1f} s"
        + ("" if cache is None else f" (cache {cache})")
    )
    vectors = np.hstack([features.vectors, np.ones((features.vectors.shape[0], 1), dtype=np.float32)])
    return ItemFeatures(features.ids, vectors), str(model.identity)


class VariantTraffic:
    """The variants' policies, the assignment in force and its adaptive reallocation: what the bandit runner
    (:func:`run_simulation`) and the session runner (:func:`~abrec.experiments.run_session_experiment`) share.

    ``assign`` is the ``assign`` callable of the rollouts; ``reallocate(period_log, column)`` feeds the period's
    log to the allocator (if any) and reweights the experiment for the next period.
    """

    def __init__(self, config: ExperimentConfig, units: str = "simulated users") -> None:
        self.names = config.variant_names
        self.policies = {
            spec.name: make_policy(spec.policy, seed=config.seed + i, **dict(spec.params))
            for i, spec in enumerate(config.variants)
        }
        self.allocator = config.allocator()
        self.experiment = Experiment.create(config.name, config.initial_weights(self.allocator))
        self._units = units

    def assign(self, units: npt.NDArray[np.str_]) -> tuple[npt.NDArray[Any], dict[str, float]]:
        assigned = self.experiment.assign(units)
        if (assigned == "").any():
            raise InputError(
                f"Some {self._units} were not assigned to a variant; the experiment must cover every unit."
            )
        return assigned, dict(self.experiment.weights)

    def reallocate(self, period_log: InteractionLog, column: str = "reward") -> None:
        if self.allocator is None:
            return
        stats, _ = log_periods(period_log, column=column, variants=self.names)
        last = slice(stats.n_periods - 1, stats.n_periods)
        new = self.allocator.update(PeriodStats(stats.n[last], stats.sum[last], stats.sum_sq[last], self.names))
        self.experiment = self.experiment.reweight(dict(zip(self.names, new.tolist(), strict=True)))


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
    env = make_env(dict(config.env)).unwrapped
    if not isinstance(env, RecBanditEnv):
        raise InputError(
            f"run_simulation runs experiments on a bandit view (…-Bandit-v0); got {type(env).__name__}. Run a "
            "session experiment with abrec.experiments.run_session_experiment (abrec simulate picks it)."
        )
    traffic = VariantTraffic(config)
    names, policies = traffic.names, traffic.policies
    needs_features = any(p.uses_item_features for p in policies.values())
    features, identity = (
        world_item_features(env.world, config.encoder, config.feature_dim, notify=say, cache_dir=cache_dir)
        if needs_features
        else (None, "")
    )
    period_steps = int(config.allocation.get("period", 1))

    n_steps = env.horizon
    step_expected = np.zeros((n_steps, len(names)))
    step_oracle = np.zeros((n_steps, len(names)))
    logs: list[InteractionLog] = []
    period_logs: list[InteractionLog] = []
    candidates: list[npt.NDArray[Any]] = []
    steps = rollout(
        env,
        policies,
        features=features,
        assign=traffic.assign,
        seed=config.seed,
        experiment=config.name,
        unit_prefix=f"{config.name}-",
        period=lambda step: step // period_steps,
    )
    for done in steps:
        step = done.step
        for v, name in enumerate(names):
            rows = done.variants == name
            step_expected[step, v] = done.info["expected_clicks"][rows].sum()
            step_oracle[step, v] = done.info["oracle_clicks"][rows].sum()
        logs.append(done.log)
        period_logs.append(done.log)
        candidates.append(done.candidates)
        if (step + 1) % period_steps == 0 or step + 1 == n_steps:
            traffic.reallocate(InteractionLog.concat(period_logs))
            period_logs = []
        if progress is not None:
            progress(step + 1, n_steps)
    return SimulationResult(
        config=config,
        log=InteractionLog.concat(logs),
        candidates=np.concatenate(candidates),
        step_expected=step_expected,
        step_oracle=step_oracle,
        item_features=features,
        policies=policies,
        encoder=identity,
        seconds=time.perf_counter() - start,
    )
