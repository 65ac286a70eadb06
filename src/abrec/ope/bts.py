"""The action distribution of Bernoulli Thompson sampling over a slate, by Monte Carlo.

A Bernoulli TS policy with Beta(alpha_i, beta_i) posteriors fills a slate of ``n_positions``
slots by drawing one value per item from its posterior and showing the items of the largest
draws, in descending order. The probability that item ``i`` lands in slot ``j`` has no closed
form; :func:`bts_action_distribution` estimates it from ``n_draws`` independent draws, exactly as
OBP's ``BernoulliTS.compute_batch_action_dist`` does (Saito et al., NeurIPS 2021 Datasets and
Benchmarks), but vectorised over chunks of draws rather than a Python loop over them.

The draws are cut into fixed blocks of :data:`BLOCK_DRAWS` slates; block ``k`` reads its own
generator, the ``k``-th child spawned from the seed, in order. Blocks run on ``n_jobs`` threads
(numpy's samplers and the compiled counting loop release the GIL, so two cores halve the time) and
their integer counts are summed, so the estimate depends only on the seed and ``n_draws``: neither
the thread count nor the chunk size (which bounds memory) changes the result.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from .._params import Constraint, Interval, validate_params
from .._random import Seed, as_generator
from ..data.obd import CAMPAIGNS
from ..errors import DataError, ParameterError, UnknownNameError

__all__ = ["ActionDistribution", "bts_action_distribution", "zozotown_bts_action_distribution"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

CHUNK_BYTES = 16 * 2**20
"""Memory budget of one chunk of posterior draws (float64) per thread, when ``chunk`` is not given."""

BLOCK_DRAWS = 4096
"""Slates per block: each block has its own child generator (fixed, so results never depend on threads)."""

MAX_JOBS = 8
"""Default thread count: ``min(os.cpu_count(), MAX_JOBS)``."""

BACKENDS = ("auto", "numba", "numpy")

try:  # pragma: no cover - numba is a core dependency
    import numba

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover
    HAVE_NUMBA = False


@dataclass(frozen=True, eq=False)
class ActionDistribution:
    """A Monte Carlo estimate of a slate policy's action distribution.

    Attributes
    ----------
    probability : numpy.ndarray
        ``(n_items, n_positions)``: the estimated probability that item ``i`` is shown in slot
        ``j``; every column sums to 1.
    n_draws : int
        How many independent slates the estimate counts.

    Examples
    --------
    >>> dist = bts_action_distribution([1.0, 1.0], [1.0, 1.0], n_positions=1, n_draws=10_000, seed=0)
    >>> dist.probability.shape, dist.n_items, dist.n_positions
    ((2, 1), 2, 1)
    >>> round(float(dist.standard_error.max()), 4)
    0.005
    """

    probability: FloatArray
    n_draws: int

    @property
    def n_items(self) -> int:
        """Number of items (rows)."""
        return int(self.probability.shape[0])

    @property
    def n_positions(self) -> int:
        """Number of slate positions (columns)."""
        return int(self.probability.shape[1])

    @property
    def standard_error(self) -> FloatArray:
        """Binomial Monte Carlo standard error of each probability, ``sqrt(p (1 - p) / n_draws)``."""
        p = self.probability
        se: FloatArray = np.sqrt(p * (1.0 - p) / self.n_draws)
        return se


def _top_counts_numpy(draws: FloatArray, counts: IntArray) -> None:
    """Add to ``counts[i, j]`` the rows whose ``j``-th largest value is item ``i`` (numpy reference)."""
    n_items, k = counts.shape
    if k < n_items:
        top = np.argpartition(draws, n_items - k, axis=1)[:, n_items - k :]
    else:
        top = np.broadcast_to(np.arange(n_items), draws.shape).copy()
    order = np.argsort(-np.take_along_axis(draws, top, axis=1), axis=1, kind="stable")
    ranked = np.take_along_axis(top, order, axis=1)
    for j in range(k):
        counts[:, j] += np.bincount(ranked[:, j], minlength=n_items)


if HAVE_NUMBA:

    @numba.njit(cache=True, nogil=True)
    def _top_counts_nb(draws: Any, counts: Any) -> None:  # pragma: no cover - compiled
        n_rows, n_items = draws.shape
        k = counts.shape[1]
        best = np.empty(k)
        idx = np.empty(k, dtype=np.int64)
        for r in range(n_rows):
            filled = 0
            for i in range(n_items):
                v = draws[r, i]
                if filled < k:
                    pos = filled
                    filled += 1
                elif v > best[k - 1]:
                    pos = k - 1
                else:
                    continue
                while pos > 0 and best[pos - 1] < v:
                    best[pos] = best[pos - 1]
                    idx[pos] = idx[pos - 1]
                    pos -= 1
                best[pos] = v
                idx[pos] = i
            for j in range(k):
                counts[idx[j], j] += 1


def _check_prior(alpha: npt.ArrayLike, beta: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    a = np.asarray(alpha, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or a.size == 0:
        raise ParameterError(
            "The 'alpha' and 'beta' parameters of bts_action_distribution must be 1-D arrays of the same "
            f"non-zero length (one per item). Got shapes {a.shape} and {b.shape} instead."
        )
    for name, values in (("alpha", a), ("beta", b)):
        if not (np.isfinite(values).all() and (values > 0).all()):
            raise ParameterError(
                f"The {name!r} parameter of bts_action_distribution must hold finite positive numbers. "
                f"Got min {values.min()!r} instead."
            )
    return a, b


def bts_action_distribution(
    alpha: npt.ArrayLike,
    beta: npt.ArrayLike,
    n_positions: int = 3,
    n_draws: int = 1_000_000,
    seed: Seed = 0,
    chunk: int | None = None,
    backend: str = "auto",
    n_jobs: int | None = None,
) -> ActionDistribution:
    """Estimate where Bernoulli Thompson sampling puts each item in its slate, by Monte Carlo.

    Each draw samples ``theta_i ~ Beta(alpha_i, beta_i)`` for every item and shows the
    ``n_positions`` items of largest ``theta`` in descending order (slot 0 holds the largest), as
    OBP's ``BernoulliTS`` does. The estimate is the share of draws putting item ``i`` in slot ``j``.

    Parameters
    ----------
    alpha, beta : array_like of shape (n_items,)
        Positive Beta parameters of each item's posterior (prior plus clicks and non-clicks).
    n_positions : int, default 3
        Slots of the slate, at most ``n_items``.
    n_draws : int, default 1_000_000
        Monte Carlo draws (slates).
    seed : int, numpy.random.Generator or None, default 0
        Source of the draws; the result depends only on it and ``n_draws``.
    chunk : int, optional
        Draws per vectorised chunk (at most :data:`BLOCK_DRAWS`); by default as many as fit in 16 MiB
        of float64 posterior draws. It bounds memory per thread and does not change the result.
    backend : {"auto", "numba", "numpy"}, default "auto"
        How the top items of each draw are counted: a compiled loop (``"numba"``, taken by
        ``"auto"`` when numba imports) or ``numpy.argpartition`` (the reference). Both give the
        same counts.
    n_jobs : int, optional
        Threads sampling blocks of draws in parallel; default ``min(os.cpu_count(), 8)``. It does
        not change the result.

    Returns
    -------
    ActionDistribution
        ``probability`` of shape ``(n_items, n_positions)``, each column summing to 1, and its
        binomial ``standard_error``.

    Raises
    ------
    abrec.errors.ParameterError
        Non-positive or mismatched ``alpha``/``beta``, or an out-of-range count.

    Examples
    --------
    >>> dist = bts_action_distribution([50.0, 5.0, 1.0], [50.0, 95.0, 99.0], n_positions=2, n_draws=1000)
    >>> dist.probability.sum(axis=0).round(12).tolist()
    [1.0, 1.0]
    >>> float(dist.probability[0, 0])  # the item of posterior mean 0.5 always comes first
    1.0
    """
    a, b = _check_prior(alpha, beta)
    n_items = a.size
    validate_params(
        "bts_action_distribution",
        {
            "n_positions": Interval("int", 1, n_items),
            "n_draws": Interval("int", 1),
            "chunk": Constraint("int", 1, optional=True),
            "n_jobs": Constraint("int", 1, optional=True),
        },
        {"n_positions": n_positions, "n_draws": n_draws, "chunk": chunk, "n_jobs": n_jobs},
    )
    if backend not in BACKENDS:
        raise ParameterError(
            f"The 'backend' parameter of bts_action_distribution must be one of {BACKENDS}. Got {backend!r} instead."
        )
    if backend == "numba" and not HAVE_NUMBA:  # pragma: no cover
        raise ParameterError("backend='numba' needs numba installed; use backend='numpy'.")
    use_numba = HAVE_NUMBA and backend != "numpy"
    count = _top_counts_nb if use_numba else _top_counts_numpy
    rows = min(BLOCK_DRAWS, chunk if chunk is not None else max(1, CHUNK_BYTES // (8 * n_items)))
    n_blocks = -(-n_draws // BLOCK_DRAWS)
    generators = as_generator(seed).spawn(n_blocks)
    jobs = min(n_blocks, n_jobs if n_jobs is not None else min(os.cpu_count() or 1, MAX_JOBS))

    def run(first: int) -> IntArray:
        """Counts of the blocks ``first, first + jobs, ...`` (one thread's share)."""
        counts = np.zeros((n_items, n_positions), dtype=np.int64)
        for block in range(first, n_blocks, jobs):
            rng, todo = generators[block], min(BLOCK_DRAWS, n_draws - block * BLOCK_DRAWS)
            while todo > 0:
                size = min(rows, todo)
                count(rng.beta(a, b, size=(size, n_items)), counts)
                todo -= size
        return counts

    if jobs == 1:
        counts = run(0)
    else:
        with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="abrec-bts") as pool:
            counts = sum(pool.map(run, range(jobs)), np.zeros((n_items, n_positions), dtype=np.int64))
    probability = counts / float(n_draws)
    probability.setflags(write=False)
    return ActionDistribution(probability=probability, n_draws=n_draws)


@lru_cache(maxsize=1)
def _prior_file() -> tuple[str, Any]:
    """The packaged ``prior_bts.yaml``, parsed once per process (C loader when PyYAML has it)."""
    path = resources.files("abrec.data").joinpath("_obd_sample", "prior_bts.yaml")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return str(path), yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except yaml.YAMLError as exc:
        raise DataError(f"{path}: not valid YAML: {exc}") from exc


def _zozotown_prior(campaign: str) -> tuple[FloatArray, FloatArray]:
    if campaign not in CAMPAIGNS:
        raise UnknownNameError("OBD campaign", campaign, CAMPAIGNS)
    path, data = _prior_file()
    try:
        entry = data[campaign]
        return _check_prior(entry["alpha"], entry["beta"])
    except (KeyError, TypeError, ParameterError) as exc:
        raise DataError(f"{path}: no valid alpha/beta lists for campaign {campaign!r}: {exc}") from exc


def zozotown_bts_action_distribution(
    campaign: str = "all",
    n_positions: int = 3,
    n_draws: int = 1_000_000,
    seed: Seed = 0,
    chunk: int | None = None,
    backend: str = "auto",
    n_jobs: int | None = None,
) -> ActionDistribution:
    """The action distribution of ZOZOTOWN's Bernoulli TS policy in the Open Bandit Dataset.

    Uses the production priors of OBP's ``prior_bts.yaml`` (packaged with abrec's OBD sample), as
    ``BernoulliTS(is_zozotown_prior=True, campaign=...)`` does; see :func:`bts_action_distribution`
    for the other parameters.

    Parameters
    ----------
    campaign : {"all", "men", "women"}, default "all"
        The campaign (80, 34 or 46 items).

    Raises
    ------
    abrec.errors.UnknownNameError
        An unknown campaign.

    Examples
    --------
    >>> dist = zozotown_bts_action_distribution("men", n_draws=2000, seed=1)
    >>> dist.probability.shape, dist.probability.sum(axis=0).round(12).tolist()
    ((34, 3), [1.0, 1.0, 1.0])
    """
    a, b = _zozotown_prior(campaign)
    return bts_action_distribution(
        a, b, n_positions=n_positions, n_draws=n_draws, seed=seed, chunk=chunk, backend=backend, n_jobs=n_jobs
    )
