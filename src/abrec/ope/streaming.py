"""Off-policy evaluation of logs larger than memory: Parquet shards streamed block by block.

A log is a folder of Parquet files (or one file); its **blocks** are the files' row groups, in file-name
order, each with its global row offset (read from the Parquet metadata, no data read). Every block is
read in record batches of at most ``batch_rows`` rows (pyarrow), so memory is bounded by a batch, not
the log. A block is one task of an :class:`~abrec.experiments.executor.Executor` (in process, a process
pool or Ray): what travels is the file path and the row-group index; what comes back is a small record
of sufficient statistics that merges with ``+``.

Columns: ``position``, ``reward``, ``propensity`` and the action, either as ``action`` (int index) or as
``item`` (any id; mapped to actions in sorted order, as :meth:`LoggedFeedback.from_log` does).

Two passes:

1. the reward model's statistics: count and reward sum per (fold, action, position) (:class:`ModelStats`);
2. each estimator's per-row terms (the ``_terms`` of the registered estimator class, so the formulas are
   those of the in-memory estimators), summed per block (:class:`StreamStats`): the count, the sums
   and the centred cross-products of the terms (merged by Chan et al.'s pairwise update, for the
   delta-method standard error), the weights' sums for the effective sample size, and the bootstrap's
   per-block sums.

**Estimators.** IPW, SNIPW, DM, DR and SNDR are streamed (their estimates are functions of column means).
Switch-DR and DRos tune a threshold on all rows, and replay reads the log in order with a learning
policy: they are not streamed. The target is one table ``pi(a | position)`` for every row (a
context-free policy or a given table; the shards carry no context).

**Reward model and folds.** DM and the DR family use a cross-fitted *tabular* model: row ``i`` belongs to
fold ``splitmix64(seed, i) mod n_folds`` (``i`` its global row index, so the folds do not depend on how
the log is sharded), and its prediction for action ``a`` at its position ``p`` is the other folds'
mean reward of ``(a, p)`` shrunk toward their mean at ``p`` by one pseudo-row:
``(S(a, p) + mean(p)) / (N(a, p) + 1)``. :func:`tabular_rewards` gives the same model in memory, so the
in-memory estimators given it return the streamed numbers (to floating-point rounding).

**Bootstrap.** The Poisson bootstrap (each row appears ``Poisson(1)`` times in each resample): row ``i``'s
counts are drawn in tiles of :data:`TILE` global rows, tile ``t`` from ``SeedSequence(seed,
spawn_key=(t,))``, so the resamples do not depend on the sharding, the block order or the workers; each
block contributes its ``counts @ terms`` sums. Its intervals match the in-memory (multinomial)
bootstrap's in distribution, not draw for draw.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from .._threads import single_blas
from ..errors import DataError, InputError, UnknownNameError
from ..policies import Policy
from .base import Estimator, Rows, make_estimator
from .feedback import LoggedFeedback
from .result import EstimateResult
from .reward_model import RewardEstimates

if TYPE_CHECKING:
    from .evaluation import Evaluation

__all__ = [
    "STREAMED",
    "Block",
    "Executor",
    "ModelStats",
    "ShardedLog",
    "StreamStats",
    "evaluate_shards",
    "fold_of",
    "stream_estimates",
    "tabular_rewards",
    "write_shards",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """What runs the blocks: an :class:`abrec.experiments.executor.Executor` (in process, processes, Ray)."""

    def map(
        self, fn: Callable[[T], R], tasks: Sequence[T], *, progress: Callable[[int, int], None] | None = None
    ) -> list[R]: ...


class _InProcess:
    """The default: every block in this process, in order, on one BLAS thread (as the executors run tasks)."""

    def map(
        self, fn: Callable[[T], R], tasks: Sequence[T], *, progress: Callable[[int, int], None] | None = None
    ) -> list[R]:
        out = []
        for i, task in enumerate(tasks):
            with single_blas():
                out.append(fn(task))
            if progress is not None:
                progress(i + 1, len(tasks))
        return out


STREAMED = ("dm", "dr", "ipw", "sndr", "snipw")
"""The estimators computed from per-block sufficient statistics."""
TILE = 8192
"""Global rows per tile of Poisson bootstrap counts (one child seed per tile)."""
_REQUIRED = ("position", "reward", "propensity")


# ------------------------------------------------------------------------------------------------ the log
@dataclass(frozen=True)
class Block:
    """One row group of one Parquet file, and its rows' global offset."""

    path: str
    row_group: int
    start: int
    n_rows: int


@dataclass(frozen=True)
class ShardedLog:
    """A log stored as Parquet shards; see the module docstring. Build it with :meth:`open`."""

    blocks: tuple[Block, ...]
    key: str
    batch_rows: int = 262_144

    @classmethod
    def open(cls, source: str | os.PathLike[str], *, batch_rows: int = 262_144) -> ShardedLog:
        """The shards of ``source``: a folder of ``*.parquet`` files (file-name order) or one Parquet file."""
        import pyarrow.parquet as pq

        path = Path(source)
        files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
        if not files or not all(f.is_file() for f in files):
            raise InputError(f"{source}: no Parquet shards (*.parquet) found; give a folder of shards or a file.")
        blocks, start, key = [], 0, ""
        for file in files:
            meta = pq.ParquetFile(file)
            names = set(meta.schema_arrow.names)
            file_key = "action" if "action" in names else "item" if "item" in names else ""
            missing = [c for c in _REQUIRED if c not in names]
            if missing or not file_key:
                raise DataError(
                    f"{file}: a shard needs the columns position, reward, propensity and action (or item); "
                    f"missing {missing or ['action/item']}; it has {sorted(names)}."
                )
            if key and file_key != key:
                raise DataError(f"{file}: shards name their actions differently ({key!r} and {file_key!r}).")
            key = file_key
            for g in range(meta.metadata.num_row_groups):
                rows = meta.metadata.row_group(g).num_rows
                if rows:
                    blocks.append(Block(str(file), g, start, rows))
                    start += rows
        if start == 0:
            raise DataError(f"{source}: the shards hold no rows; there is nothing to evaluate.")
        return cls(tuple(blocks), key, batch_rows)

    @property
    def n_rows(self) -> int:
        return sum(b.n_rows for b in self.blocks)

    def batches(self, block: int, columns: Sequence[str]) -> Any:
        """``(global offset, pyarrow RecordBatch)`` of block ``block``, ``batch_rows`` rows at a time."""
        import pyarrow.parquet as pq

        b = self.blocks[block]
        start = b.start
        for batch in pq.ParquetFile(b.path).iter_batches(self.batch_rows, row_groups=[b.row_group], columns=columns):
            yield start, batch
            start += batch.num_rows


def write_shards(
    feedback: LoggedFeedback, folder: str | os.PathLike[str], *, n_shards: int = 4, row_group_rows: int = 100_000
) -> Path:
    """Write ``feedback``'s rows (action, position, reward, propensity) as ``n_shards`` Parquet files in ``folder``.

    Rows keep their order (shard ``j`` holds the ``j``-th contiguous part), so the global row indices match.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    edges = np.linspace(0, feedback.n_rows, n_shards + 1).round().astype(int)
    for j in range(n_shards):
        part = slice(edges[j], edges[j + 1])
        table = pa.table(
            {
                "action": feedback.action[part],
                "position": feedback.position[part],
                "reward": feedback.reward[part],
                "propensity": feedback.propensity[part],
            }
        )
        pq.write_table(table, out / f"part-{j:05d}.parquet", row_group_size=row_group_rows)
    return out


# ------------------------------------------------------------------------------------------------ folds
def fold_of(rows: npt.ArrayLike, seed: int, n_folds: int) -> IntArray:
    """The cross-fitting fold of each global row index: ``splitmix64(seed, row) mod n_folds``.

    Examples
    --------
    >>> fold_of([0, 1, 2, 3, 4, 5], seed=0, n_folds=3).tolist()
    [1, 2, 1, 0, 1, 2]
    """
    with np.errstate(over="ignore"):  # arithmetic modulo 2**64 is the point
        x = np.asarray(rows, dtype=np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    out: IntArray = (x % np.uint64(n_folds)).astype(np.int64)
    return out


# ------------------------------------------------------------------------------------------------ pass 1
@dataclass(frozen=True, eq=False)
class ModelStats:
    """Per (fold, action, position): rows and reward sums, and the log's reward moments; merge with ``+``.

    ``keys`` are the action keys (sorted): the action indices, or the item ids of an ``item`` column.
    """

    keys: npt.NDArray[Any]
    n: FloatArray  # (n_folds, n_keys, n_positions)
    total: FloatArray
    rows: int
    reward_sum: float
    reward_sq: float

    def __add__(self, other: ModelStats) -> ModelStats:
        keys = np.union1d(self.keys, other.keys)
        positions = max(self.n.shape[2], other.n.shape[2])
        n = np.zeros((self.n.shape[0], keys.size, positions))
        total = np.zeros_like(n)
        for part in (self, other):
            at = np.searchsorted(keys, part.keys)
            n[:, at, : part.n.shape[2]] += part.n
            total[:, at, : part.n.shape[2]] += part.total
        return ModelStats(
            keys,
            n,
            total,
            self.rows + other.rows,
            self.reward_sum + other.reward_sum,
            self.reward_sq + other.reward_sq,
        )

    def table(self) -> FloatArray:
        """The cross-fitted predictions ``q[fold, action, position]`` (see the module docstring)."""
        n_out = self.n.sum(axis=0)[None] - self.n
        s_out = self.total.sum(axis=0)[None] - self.total
        rows_p = n_out.sum(axis=1, keepdims=True)
        overall = s_out.sum(axis=(1, 2), keepdims=True) / np.maximum(n_out.sum(axis=(1, 2), keepdims=True), 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            prior = np.where(rows_p > 0, s_out.sum(axis=1, keepdims=True) / rows_p, overall)
        out: FloatArray = (s_out + prior) / (n_out + 1.0)
        return out


def _empty(keys: npt.NDArray[Any], n_folds: int, n_positions: int) -> ModelStats:
    zeros = np.zeros((n_folds, keys.size, n_positions))
    return ModelStats(keys, zeros, zeros.copy(), 0, 0.0, 0.0)


@dataclass(frozen=True)
class _ModelTask:
    log: ShardedLog
    block: int
    seed: int
    n_folds: int


def _model_stats(task: _ModelTask) -> ModelStats:
    key = task.log.key
    out: ModelStats | None = None
    for start, batch in task.log.batches(task.block, [key, "position", "reward"]):
        keys_raw = batch.column(key).to_numpy(zero_copy_only=False)
        position = batch.column("position").to_numpy(zero_copy_only=False).astype(np.int64)
        reward = batch.column("reward").to_numpy(zero_copy_only=False).astype(np.float64)
        keys, index = np.unique(keys_raw, return_inverse=True)
        fold = fold_of(np.arange(start, start + batch.num_rows), task.seed, task.n_folds)
        shape = (task.n_folds, keys.size, int(position.max()) + 1)
        cell = np.ravel_multi_index((fold, index.ravel(), position), shape)
        size = int(np.prod(shape))
        part = ModelStats(
            keys,
            np.bincount(cell, minlength=size).astype(np.float64).reshape(shape),
            np.bincount(cell, weights=reward, minlength=size).astype(np.float64).reshape(shape),
            batch.num_rows,
            float(reward.sum()),
            float(np.dot(reward, reward)),
        )
        out = part if out is None else out + part
    assert out is not None
    return out


# ------------------------------------------------------------------------------------------------ pass 2
@dataclass(frozen=True, eq=False)
class StreamStats:
    """One estimator's sufficient statistics over some blocks; merge with ``+`` (in block order).

    ``mean`` and ``m2`` are the terms' mean and centred cross-products (Chan et al.'s pairwise update);
    ``w_sum``/``w_sq`` the importance weights' sums (effective sample size); ``boot`` the ``(B, k)`` Poisson
    bootstrap sums of the terms and ``boot_n`` the resamples' row counts.
    """

    n: int
    total: FloatArray
    mean: FloatArray
    m2: FloatArray
    w_sum: float
    w_sq: float
    boot: FloatArray
    boot_n: FloatArray

    @classmethod
    def of(cls, terms: FloatArray, weight: FloatArray, counts: FloatArray) -> StreamStats:
        mean = terms.mean(axis=0)
        centred = terms - mean
        return cls(
            terms.shape[0],
            terms.sum(axis=0),
            mean,
            centred.T @ centred,
            float(weight.sum()),
            float(np.dot(weight, weight)),
            counts @ terms,
            counts.sum(axis=1),
        )

    def __add__(self, other: StreamStats) -> StreamStats:
        n = self.n + other.n
        delta = other.mean - self.mean
        return StreamStats(
            n,
            self.total + other.total,
            self.mean + delta * (other.n / n),
            self.m2 + other.m2 + np.outer(delta, delta) * (self.n * other.n / n),
            self.w_sum + other.w_sum,
            self.w_sq + other.w_sq,
            self.boot + other.boot,
            self.boot_n + other.boot_n,
        )


@dataclass(frozen=True)
class _TermsTask:
    log: ShardedLog
    block: int
    keys: npt.NDArray[Any]
    targets: tuple[FloatArray, ...]  # per target: (n_actions, n_positions)
    q: FloatArray | None  # (n_folds, n_actions, n_positions)
    estimators: tuple[str, ...]
    seed: int
    n_folds: int
    n_bootstrap: int


def poisson_counts(seed: int, start: int, stop: int, n_bootstrap: int) -> FloatArray:
    """``(n_bootstrap, stop - start)`` Poisson(1) counts of the global rows ``[start, stop)`` (tiles of :data:`TILE`).

    Examples
    --------
    >>> whole = poisson_counts(0, 0, 10_000, 3)
    >>> bool((np.hstack([poisson_counts(0, 0, 4_000, 3), poisson_counts(0, 4_000, 10_000, 3)]) == whole).all())
    True
    """
    out = np.empty((n_bootstrap, stop - start))
    for tile in range(start // TILE, (stop - 1) // TILE + 1 if stop > start else 0):
        lo = tile * TILE
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(tile,)))
        draws = rng.poisson(1.0, size=(n_bootstrap, TILE))
        a, b = max(start, lo), min(stop, lo + TILE)
        out[:, a - start : b - start] = draws[:, a - lo : b - lo]
    return out


def _check_scale(weight: FloatArray, start: int) -> None:
    """Refuse weights so extreme that the self-normalised estimators would rescale them block by block."""
    top = float(weight.max(initial=0.0))
    if top > 0 and not 2.0**-500 < top < 2.0**500:
        raise InputError(
            f"The importance weights of the rows from {start:,} reach {top:.3g}: too extreme to be summed block by "
            "block. Check the logged propensities, or evaluate the log in memory."
        )


def _terms_stats(task: _TermsTask) -> list[StreamStats | None]:
    """Per (target, estimator): the block's statistics (None where the estimator needs the missing model)."""
    key = task.log.key
    ests = [make_estimator(name) for name in task.estimators]
    out: list[StreamStats | None] = [None] * (len(task.targets) * len(ests))
    dm_tables = [
        None if task.q is None else np.einsum("ap,fap->fp", t, task.q) / t.sum(axis=0)[None, :] for t in task.targets
    ]
    for start, batch in task.log.batches(task.block, [key, "position", "reward", "propensity"]):
        raw = batch.column(key).to_numpy(zero_copy_only=False)
        action = np.searchsorted(task.keys, raw).astype(np.int64)
        position = batch.column("position").to_numpy(zero_copy_only=False).astype(np.int64)
        reward = batch.column("reward").to_numpy(zero_copy_only=False).astype(np.float64)
        propensity = batch.column("propensity").to_numpy(zero_copy_only=False).astype(np.float64)
        counts = poisson_counts(task.seed, start, start + batch.num_rows, task.n_bootstrap)
        fold = (
            fold_of(np.arange(start, start + batch.num_rows), task.seed, task.n_folds) if task.q is not None else None
        )
        for t, (table, dm_table) in enumerate(zip(task.targets, dm_tables, strict=True)):
            target = table[action, position]
            _check_scale(target / propensity, start)
            rows = Rows(
                reward=reward,
                weight=target / propensity,
                target=target,
                propensity=propensity,
                position=position,
                q_logged=None if task.q is None else task.q[fold, action, position],
                dm=None if dm_table is None else dm_table[fold, position],
            )
            for e, est in enumerate(ests):
                if est.needs_reward_model and task.q is None:
                    continue
                part = StreamStats.of(est._terms(rows), rows.weight, counts)
                i = t * len(ests) + e
                prev = out[i]
                out[i] = part if prev is None else prev + part
    return out


# ------------------------------------------------------------------------------------------------ results
def _result(est: Estimator, s: StreamStats, alpha: float, n_bootstrap: int, seed: int) -> EstimateResult:
    means = s.total / s.n
    value = float(est._combine(means[None, :], s.n)[0])
    grad = est._gradient(s.mean)
    se = math.nan
    if grad is not None and s.n > 1:
        se = float(np.sqrt(max(float(grad @ s.m2 @ grad), 0.0) / (s.n - 1) / s.n))
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    if n_bootstrap > 0:
        with np.errstate(invalid="ignore", divide="ignore"):
            boot = est._combine(s.boot / s.boot_n[:, None], s.n)
        finite = boot[np.isfinite(boot)]
        if math.isnan(se) and finite.size > 1:
            se = float(np.std(finite, ddof=1))
        low, high = (
            (float(x) for x in np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0]))
            if finite.size
            else (math.nan, math.nan)
        )
    else:
        low, high = value - z * se, value + z * se
    ess = s.w_sum**2 / s.w_sq if est.uses_weights and s.w_sq > 0 else (0.0 if est.uses_weights else math.nan)
    return EstimateResult(
        estimator=est.name,
        value=value,
        standard_error=se,
        ci_low=low,
        ci_high=high,
        alpha=alpha,
        n_bootstrap=n_bootstrap,
        seed=seed,
        n_rows=s.n,
        effective_sample_size=ess,
    )


@dataclass(frozen=True, eq=False)
class StreamedEstimates:
    """What :func:`stream_estimates` found: per target, its estimates and the estimators skipped (with why)."""

    estimates: dict[str, tuple[EstimateResult, ...]]
    skipped: dict[str, dict[str, str]]
    model: ModelStats
    heldout_brier: float
    n_folds: int
    n_bootstrap: int
    alpha: float
    seed: int

    @property
    def keys(self) -> npt.NDArray[Any]:
        return self.model.keys

    @property
    def n_rows(self) -> int:
        return self.model.rows


def _target_table(target: Policy | npt.ArrayLike, keys: npt.NDArray[Any], n_positions: int, seed: int) -> FloatArray:
    if isinstance(target, Policy):
        from .target import policy_action_dist

        if target.contextual:
            raise InputError(
                f"{target.name!r} decides on contexts; streamed shards carry none. Evaluate a context-free "
                "policy, or load the log in memory (abrec evaluate on one file)."
            )
        probe = LoggedFeedback.from_arrays(
            action=np.zeros(n_positions, dtype=np.int64),
            reward=0.0,
            propensity=1.0,
            position=np.arange(n_positions),
            n_actions=keys.size,
            n_positions=n_positions,
            item_ids=keys,
        )
        per_position = policy_action_dist(target, probe, n_draws=100_000, seed=seed)  # (n_positions, n_actions)
        return np.ascontiguousarray(per_position.T)
    table = np.asarray(target, dtype=np.float64)
    if table.ndim == 1:
        table = np.repeat(table[:, None], n_positions, axis=1)
    if table.shape != (keys.size, n_positions):
        raise InputError(
            f"A target table must have shape (n_actions, n_positions) = ({keys.size}, {n_positions}); "
            f"got {table.shape}."
        )
    if not (np.isfinite(table).all() and (table >= 0).all() and np.allclose(table.sum(axis=0), 1.0, atol=1e-6)):
        raise InputError("A target table must hold probabilities that sum to 1 over actions at each position.")
    return table


def stream_estimates(
    log: ShardedLog | str | os.PathLike[str],
    targets: dict[str, Policy | npt.ArrayLike],
    *,
    estimators: Sequence[str] | None = None,
    n_folds: int = 3,
    n_bootstrap: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    n_actions: int | None = None,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StreamedEstimates:
    """Estimate each target's value on a sharded log, block by block (see the module docstring).

    Parameters
    ----------
    log : ShardedLog or path
        The shards (a folder of Parquet files, or one file).
    targets : dict of str to Policy or array
        Label -> a context-free policy, or its table ``pi(a | position)`` of shape ``(n_actions, n_positions)``
        (actions in sorted key order) or ``(n_actions,)`` for every position.
    estimators : sequence of str, optional
        Among :data:`STREAMED` (default all).
    n_folds, n_bootstrap, alpha, seed :
        As :func:`~abrec.ope.evaluate_policies`; ``seed`` seeds the folds and the bootstrap.
    n_actions : int, optional
        For integer ``action`` shards: the number of actions, when some above the largest logged one exist
        (default: the largest logged index + 1, as :meth:`LoggedFeedback.from_arrays`).
    executor : Executor, optional
        Runs the blocks (default: in process).
    progress : callable(done, total), optional
        Called after each block of each pass.
    """
    names = tuple(estimators or STREAMED)
    for name in names:
        if name not in STREAMED:
            raise UnknownNameError("streamed estimator", name, STREAMED)
    if n_folds < 2:
        raise InputError(f"n_folds must be >= 2 (cross-fitting); got {n_folds}.")
    sharded = log if isinstance(log, ShardedLog) else ShardedLog.open(log)
    run = executor or _InProcess()
    nb = len(sharded.blocks)
    say = (lambda done, total: progress(done, 2 * nb)) if progress is not None else None
    parts = run.map(_model_stats, [_ModelTask(sharded, b, seed, n_folds) for b in range(nb)], progress=say)
    model = parts[0]
    for part in parts[1:]:
        model = model + part
    if sharded.key == "action":  # integer actions: every index below the largest logged one (or n_actions) is one
        top = max(int(model.keys.max()) + 1, n_actions or 0)
        model = model + _empty(np.arange(top, dtype=model.keys.dtype), model.n.shape[0], model.n.shape[2])
    n_positions = model.n.shape[2]
    tables = {label: _target_table(t, model.keys, n_positions, seed) for label, t in targets.items()}
    logged = model.n.sum(axis=0) > 0  # (n_actions, n_positions)
    skipped: dict[str, dict[str, str]] = {label: {} for label in tables}
    for label, table in tables.items():
        outside = float(table[~logged].sum())
        if outside > 0:
            for name in names:
                if make_estimator(name).requires_support:
                    skipped[label][name] = (
                        f"the target puts {outside:.3g} of its probability mass on (action, position) pairs never "
                        "logged; importance weights cannot see their rewards (use dm or dr)."
                    )
    q = model.table()
    offset = (lambda done, total: progress(nb + done, 2 * nb)) if progress is not None else None
    block_stats = run.map(
        _terms_stats,
        [
            _TermsTask(sharded, b, model.keys, tuple(tables.values()), q, names, seed, n_folds, n_bootstrap)
            for b in range(nb)
        ],
        progress=offset,
    )
    estimates: dict[str, tuple[EstimateResult, ...]] = {}
    for t, label in enumerate(tables):
        found = []
        for e, name in enumerate(names):
            if name in skipped[label]:
                continue
            total: StreamStats | None = None
            for stats in block_stats:
                s = stats[t * len(names) + e]
                if s is not None:
                    total = s if total is None else total + s
            assert total is not None
            found.append(_result(make_estimator(name), total, alpha, n_bootstrap, seed))
        estimates[label] = tuple(found)
    brier = _heldout_brier(model, q)
    return StreamedEstimates(estimates, skipped, model, brier, n_folds, n_bootstrap, alpha, seed)


def _heldout_brier(model: ModelStats, q: FloatArray) -> float:
    """Mean ``(r - q)^2`` of the logged rows, from the per-cell counts and sums (0/1 rewards: ``r^2 = r``)."""
    # sum over rows in cell c of (r - q_c)^2 = sum r^2 - 2 q_c sum r + n_c q_c^2; sum r^2 per cell is not
    # kept, so use the log's total sum of squares.
    cross = float((model.total * q).sum())
    square = float((model.n * q * q).sum())
    return (model.reward_sq - 2.0 * cross + square) / model.rows


# ------------------------------------------------------------------------------------------------ in memory
def tabular_rewards(feedback: LoggedFeedback, *, n_folds: int = 3, seed: int = 0) -> RewardEstimates:
    """The streamed path's cross-fitted tabular reward model, on a log in memory (rows are global rows ``0..n-1``).

    Given to the in-memory estimators, it makes them compute what :func:`stream_estimates` computes.
    """
    fold = fold_of(np.arange(feedback.n_rows), seed, n_folds)
    shape = (n_folds, feedback.n_actions, feedback.n_positions)
    cell = np.ravel_multi_index((fold, feedback.action, feedback.position), shape)
    size = int(np.prod(shape))
    stats = ModelStats(
        np.arange(feedback.n_actions),
        np.bincount(cell, minlength=size).astype(np.float64).reshape(shape),
        np.bincount(cell, weights=feedback.reward, minlength=size).astype(np.float64).reshape(shape),
        feedback.n_rows,
        float(feedback.reward.sum()),
        float(np.dot(feedback.reward, feedback.reward)),
    )
    q = stats.table()
    values = np.ascontiguousarray(q[fold, :, feedback.position])
    return RewardEstimates(
        values=values,
        fold=fold,
        model="tabular (per action and position, shrunk to the position mean)",
        n_folds=n_folds,
        seed=seed,
        heldout_brier=_heldout_brier(stats, q),
    )


def evaluate_shards(
    log: ShardedLog | str | os.PathLike[str],
    policies: dict[str, Policy | npt.ArrayLike],
    *,
    estimators: Sequence[str] | None = None,
    n_folds: int = 3,
    n_bootstrap: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    executor: Executor | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Evaluation:
    """:func:`stream_estimates` as an :class:`~abrec.ope.evaluation.Evaluation` (what ``abrec evaluate`` prints).

    No estimator selection and no replay (both need the rows); the logging policy's value is the mean reward.
    """
    from .evaluation import Evaluation, PolicyEvaluation

    found = stream_estimates(
        log,
        policies,
        estimators=estimators,
        n_folds=n_folds,
        n_bootstrap=n_bootstrap,
        alpha=alpha,
        seed=seed,
        executor=executor,
        progress=progress,
    )
    model = found.model
    n = model.rows
    mean = model.reward_sum / n
    var = (model.reward_sq - n * mean * mean) / (n - 1) if n > 1 else math.nan
    note = (
        "Streamed from Parquet shards: IPW, SNIPW, DM, DR and SNDR from per-block sufficient statistics; "
        "Poisson bootstrap; a tabular reward model cross-fitted on folds of the global row index."
    )
    return Evaluation(
        policies=tuple(
            PolicyEvaluation(
                name=label,
                estimates=found.estimates[label],
                skipped=found.skipped[label],
                selection=None,
                replay=None,
                learns=isinstance(p, Policy) and bool(p.learns),
                dist_source="policy" if isinstance(p, Policy) else "given",
            )
            for label, p in policies.items()
        ),
        logging_value=mean,
        logging_se=math.sqrt(max(var, 0.0) / n) if n > 1 else math.nan,
        n_rows=n,
        n_actions=int(model.keys.size),
        n_positions=int(model.n.shape[2]),
        reward_model="tabular (per action and position, shrunk to the position mean)",
        heldout_brier=found.heldout_brier,
        n_folds=n_folds,
        n_bootstrap=n_bootstrap,
        alpha=alpha,
        seed=seed,
        notes=(note,),
    )
