"""Replicated simulated experiments and parameter sweeps, on any executor, with bit-identical results.

A replicate is the same experiment deployed again: the same world (the environment's own seed), fresh
users and a fresh learning path. Replicate ``i`` of a config gets

- the seed ``SeedSequence(config.seed, spawn_key=(i,))`` (NumPy's ``spawn``, by replicate index: never by
  worker), which seeds the users, the policies and the allocator;
- the experiment name (the assignment salt) ``f"{config.name}/r{i}"``.

Points of a sweep share those seeds (common random numbers), so their differences are not seed noise.

Each task (one replicate of one config: a config and an index, nothing else travels) returns a
:class:`ReplicateOutcome`: per-period sufficient statistics (:class:`~abrec.abtest.allocation.PeriodStats`)
and the readout's lifts. The outcomes are merged in task order, the statistics with ``+``, so every
backend and any number of workers give the same numbers to the last bit
(:meth:`ReplicateSummary.fingerprint`).

What the two intervals answer
-----------------------------
The readout's interval of one run (``within``) is conditional on that run's learning path: it answers
"did *this deployment* win?". The spread of the lift over replicates (``between``) answers "will this
policy win when it is deployed again?"; for a learning policy it can be much wider than one run's interval.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ..abtest.allocation import PeriodStats
from ..abtest.stats import SampleStats
from ..errors import InputError, ParameterError
from .config import ExperimentConfig
from .executor import Executor, LocalExecutor

__all__ = [
    "ReplicateOutcome",
    "ReplicateSummary",
    "ReplicateTask",
    "replicate_config",
    "replicate_seed",
    "run_replicate",
    "run_replicates",
    "run_sweep",
    "sweep_configs",
]

FloatArray = npt.NDArray[np.float64]


def replicate_seed(seed: int, index: int) -> int:
    """The seed of replicate ``index``: ``SeedSequence(seed, spawn_key=(index,))``, as a 32-bit int.

    The same as the ``index``-th child of ``SeedSequence(seed).spawn(n)``.

    Examples
    --------
    >>> replicate_seed(0, 3) == int(np.random.SeedSequence(0).spawn(4)[3].generate_state(1)[0])
    True
    """
    return int(np.random.SeedSequence(seed, spawn_key=(index,)).generate_state(1)[0])


def replicate_config(config: ExperimentConfig, index: int) -> ExperimentConfig:
    """Replicate ``index`` of ``config``: its own seed and assignment salt, everything else unchanged."""
    if index < 0:
        raise ParameterError(f"A replicate index must be >= 0. Got {index}.")
    return replace(config, seed=replicate_seed(config.seed, index), name=f"{config.name}/r{index}")


@dataclass(frozen=True)
class ReplicateTask:
    """One task: replicate ``index`` of ``config`` (``point`` names the sweep point it belongs to)."""

    config: ExperimentConfig
    index: int
    point: str = ""


@dataclass(frozen=True, eq=False)
class ReplicateOutcome:
    """What one replicate returns: sufficient statistics and its readout's lifts (clicks per user).

    Attributes
    ----------
    index, seed, name : the replicate's index, seed and assignment salt
    point : the sweep point
    periods : PeriodStats
        Users, sum and sum of squares of clicks per user, per (period, variant).
    weights : (n_periods, n_variants) allocation weights in force
    mean, relative, relative_low, relative_high : (n_variants,)
        The readout's period-weighted mean and the relative lift over control with its interval (NaN for
        the control).
    significant : (n_variants,) bool
    expected, oracle : (n_variants,) the simulator's expected clicks of the chosen and of the best slates
    seconds : wall time (not part of the results' identity)
    """

    index: int
    seed: int
    name: str
    point: str
    periods: PeriodStats
    weights: FloatArray
    mean: FloatArray
    relative: FloatArray
    relative_low: FloatArray
    relative_high: FloatArray
    significant: npt.NDArray[np.bool_]
    expected: FloatArray
    oracle: FloatArray
    seconds: float

    @property
    def variants(self) -> tuple[str, ...]:
        return self.periods.variants

    def arrays(self) -> tuple[npt.NDArray[Any], ...]:
        """Every number of the outcome (what :meth:`ReplicateSummary.fingerprint` hashes)."""
        p = self.periods
        return (
            np.array([self.index, self.seed]),
            p.n,
            p.sum,
            p.sum_sq,
            self.weights,
            self.mean,
            self.relative,
            self.relative_low,
            self.relative_high,
            self.significant,
            self.expected,
            self.oracle,
        )


def run_replicate(task: ReplicateTask) -> ReplicateOutcome:
    """Run one replicate (the function every backend maps over the tasks)."""
    from .simulation import run_simulation

    config = replicate_config(task.config, task.index)
    start = time.perf_counter()
    result = run_simulation(config)
    readout = result.readout()
    by_name = {v.variant: v for v in readout.variants}
    names = config.variant_names
    rows = [by_name[n] for n in names]
    return ReplicateOutcome(
        index=task.index,
        seed=config.seed,
        name=config.name,
        point=task.point,
        periods=result.periods,
        weights=result.weights,
        mean=np.array([v.mean for v in rows]),
        relative=np.array([v.relative for v in rows]),
        relative_low=np.array([v.relative_ci[0] for v in rows]),
        relative_high=np.array([v.relative_ci[1] for v in rows]),
        significant=np.array([bool(v.significant) for v in rows]),
        expected=result.step_expected.sum(axis=0),
        oracle=result.step_oracle.sum(axis=0),
        seconds=time.perf_counter() - start,
    )


@dataclass(frozen=True, eq=False)
class ReplicateSummary:
    """The replicates of one config, in replicate order, and what they add up to.

    Attributes
    ----------
    config : ExperimentConfig
    outcomes : tuple of ReplicateOutcome
    periods : PeriodStats
        The per-period statistics of all replicates added up (``+``).
    lifts : dict of str to SampleStats
        Per treatment: count, sum and sum of squares of the relative lift over replicates (``+``).
    """

    config: ExperimentConfig
    outcomes: tuple[ReplicateOutcome, ...]
    periods: PeriodStats
    lifts: dict[str, SampleStats]

    @classmethod
    def merge(cls, config: ExperimentConfig, outcomes: Sequence[ReplicateOutcome]) -> ReplicateSummary:
        """Add up ``outcomes`` in replicate order (the order makes the floating-point sums reproducible)."""
        ordered = tuple(sorted(outcomes, key=lambda o: o.index))
        if not ordered:
            raise InputError("No replicate to merge; run at least one.")
        periods = ordered[0].periods
        for o in ordered[1:]:
            periods = periods + o.periods
        lifts: dict[str, SampleStats] = {}
        for i, name in enumerate(config.variant_names):
            if name == config.control:
                continue
            total = SampleStats(0, 0.0, 0.0)
            for o in ordered:
                value = float(o.relative[i])
                if math.isfinite(value):
                    total = total + SampleStats(1, value, value * value)
            lifts[name] = total
        return cls(config, ordered, periods, lifts)

    @property
    def n_replicates(self) -> int:
        return len(self.outcomes)

    @property
    def seconds(self) -> float:
        """Wall time of all replicates added up (the work a single core would do)."""
        return float(sum(o.seconds for o in self.outcomes))

    def fingerprint(self) -> str:
        """SHA-256 of every number of every replicate: equal fingerprints mean bit-identical results."""
        digest = hashlib.sha256()
        for o in self.outcomes:
            for arr in o.arrays():
                a = np.ascontiguousarray(arr)
                digest.update(str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
        return digest.hexdigest()

    def relative_lifts(self, variant: str) -> FloatArray:
        """The relative lift of ``variant`` over control in every replicate (replicate order)."""
        i = self.config.variant_names.index(variant)
        return np.array([o.relative[i] for o in self.outcomes])

    def table(self, alpha: float | None = None) -> list[dict[str, Any]]:
        """Per treatment: the within-run interval next to the between-replicate spread of the relative lift.

        ``within_low/high``: the mean over replicates of one run's interval bounds ("did this deployment
        win?"); ``between_low/high``: the ``alpha/2`` and ``1 - alpha/2`` quantiles of the lift over
        replicates ("will it win when deployed again?"); ``between_sd``: its standard deviation;
        ``significant``: the share of replicates whose readout called the lift significant.
        """
        a = self.config.alpha if alpha is None else alpha
        out = []
        for name, stats in self.lifts.items():
            i = self.config.variant_names.index(name)
            values = self.relative_lifts(name)
            finite = values[np.isfinite(values)]
            low = np.array([o.relative_low[i] for o in self.outcomes])
            high = np.array([o.relative_high[i] for o in self.outcomes])
            q = np.quantile(finite, [a / 2, 1 - a / 2]) if finite.size else np.array([math.nan, math.nan])
            out.append(
                {
                    "variant": name,
                    "replicates": stats.n,
                    "lift": stats.mean,
                    "within_low": float(np.nanmean(low)) if np.isfinite(low).any() else math.nan,
                    "within_high": float(np.nanmean(high)) if np.isfinite(high).any() else math.nan,
                    "between_low": float(q[0]),
                    "between_high": float(q[1]),
                    "between_sd": math.sqrt(stats.variance) if stats.n > 1 else math.nan,
                    "significant": float(np.mean([o.significant[i] for o in self.outcomes])),
                }
            )
        return out


def _tasks(configs: Sequence[tuple[str, ExperimentConfig]], replicates: int) -> list[ReplicateTask]:
    if not isinstance(replicates, int) or isinstance(replicates, bool) or replicates < 1:
        raise ParameterError(f"The 'replicates' parameter must be an int >= 1. Got {replicates!r}.")
    return [ReplicateTask(config, i, point) for point, config in configs for i in range(replicates)]


def run_sweep(
    points: Sequence[tuple[str, ExperimentConfig]],
    replicates: int,
    *,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, ReplicateSummary]:
    """``replicates`` replicates of every ``(label, config)`` point, as one batch of tasks on ``executor``.

    Returns each point's :class:`ReplicateSummary`, in the order given.
    """
    labels = [label for label, _ in points]
    if len(set(labels)) != len(labels):
        raise InputError(f"Sweep points need distinct labels. Got {labels}.")
    tasks = _tasks(points, replicates)
    outcomes = (executor or LocalExecutor()).map(run_replicate, tasks, progress=progress)
    return {
        label: ReplicateSummary.merge(config, [o for o in outcomes if o.point == label]) for label, config in points
    }


def run_replicates(
    config: ExperimentConfig,
    replicates: int,
    *,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ReplicateSummary:
    """``replicates`` replicates of ``config`` on ``executor`` (default: in process), merged in replicate order.

    Examples
    --------
    >>> from abrec.experiments import ExperimentConfig
    >>> cfg = ExperimentConfig.from_mapping({
    ...     "env": {"env": "abrec/SyntheticCatalog-Bandit-v0", "world": {"n_items": 40},
    ...             "view": {"n_users": 30, "n_candidates": 6, "slate_size": 2, "horizon": 3}},
    ...     "variants": [{"name": "a", "policy": "uniform"}, {"name": "b", "policy": "ucb1"}]})
    >>> summary = run_replicates(cfg, 3)
    >>> summary.n_replicates, [o.name for o in summary.outcomes]
    (3, ['experiment/r0', 'experiment/r1', 'experiment/r2'])
    """
    return run_sweep([("", config)], replicates, executor=executor, progress=progress)[""]


def _as_mapping(config: ExperimentConfig) -> dict[str, Any]:
    return {
        "name": config.name,
        "seed": config.seed,
        "env": _deep(config.env),
        "variants": [{"name": v.name, "policy": v.policy, "params": _deep(v.params)} for v in config.variants],
        "control": config.control,
        "allocation": _deep(config.allocation),
        "encoder": config.encoder,
        "feature_dim": config.feature_dim,
        "alpha": config.alpha,
    }


def _deep(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _deep(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_deep(v) for v in value]
    return value


def _set(mapping: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    node: Any = mapping
    for depth, key in enumerate(keys[:-1]):
        if isinstance(node, list):  # variants, addressed by name
            found = [v for v in node if v.get("name") == key]
            if not found:
                raise InputError(
                    f"Sweep key {path!r}: no variant named {key!r} (variants: {[v['name'] for v in node]})."
                )
            node = found[0]
        else:
            if key not in node or node[key] is None:
                if depth == 0:
                    raise InputError(f"Sweep key {path!r}: the config has no {key!r} entry.")
                node[key] = {}
            node = node[key]
    if isinstance(node, list):
        raise InputError(f"Sweep key {path!r} must end in a field (e.g. variants.NAME.params.KEY).")
    node[keys[-1]] = value


def sweep_configs(config: ExperimentConfig, grid: Mapping[str, Sequence[Any]]) -> list[tuple[str, ExperimentConfig]]:
    """Every combination of ``grid`` applied to ``config``, as ``(label, config)`` points.

    Keys are dotted paths into the config mapping; a variant is addressed by its name, e.g.
    ``allocation.min_share`` or ``variants.ts.params.propensity_draws``. Each point is validated as a config.

    Examples
    --------
    >>> cfg = ExperimentConfig.from_mapping({
    ...     "env": {"env": "abrec/SyntheticCatalog-Bandit-v0"},
    ...     "variants": [{"name": "a", "policy": "uniform"}, {"name": "b", "policy": "epsilon_greedy"}]})
    >>> [label for label, _ in sweep_configs(cfg, {"variants.b.params.epsilon": [0.05, 0.2]})]
    ['variants.b.params.epsilon=0.05', 'variants.b.params.epsilon=0.2']
    """
    import itertools

    keys = list(grid)
    for key in keys:
        if isinstance(grid[key], str | bytes) or not isinstance(grid[key], Sequence) or not grid[key]:
            raise InputError(f"Sweep values of {key!r} must be a non-empty list. Got {grid[key]!r}.")
    points = []
    for combo in itertools.product(*(grid[k] for k in keys)):
        mapping = _as_mapping(config)
        for key, value in zip(keys, combo, strict=True):
            _set(mapping, key, value)
        label = ", ".join(f"{k}={v}" for k, v in zip(keys, combo, strict=True))
        points.append((label, ExperimentConfig.from_mapping(mapping)))
    return points
