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
the thread count nor the chunk size (which bounds memory) changes the result. The counting itself lives
with the policies (``abrec.policies._bts_distribution``), where
:meth:`abrec.policies.BernoulliThompson.action_distribution` uses it too: a context-free Bernoulli TS
policy and :func:`bts_action_distribution` with the same Beta parameters, seed and draws agree exactly,
and both answer with the one record of an action distribution, :class:`abrec.policies.ActionDistribution`
(here for a single request: the policy ignores contexts).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from .._params import Constraint, Interval, StrOptions, validate_params
from .._random import Seed, as_generator
from ..data.obd import CAMPAIGNS
from ..errors import DataError, ParameterError, UnknownNameError
from ..policies import ActionDistribution
from ..policies._bts_distribution import BLOCK_DRAWS as BLOCK_DRAWS
from ..policies._bts_distribution import CHUNK_BYTES as CHUNK_BYTES
from ..policies._bts_distribution import HAVE_NUMBA, beta_top_counts
from ..policies._bts_distribution import MAX_JOBS as MAX_JOBS

__all__ = ["bts_action_distribution", "zozotown_bts_action_distribution"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

BACKENDS = ("auto", "numba", "numpy")


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
    abrec.policies.ActionDistribution
        The record :meth:`abrec.policies.Policy.action_distribution` answers with, for one request
        (the policy ignores contexts): ``probabilities`` of shape ``(1, n_items, n_positions)``, each
        position summing to 1 over the items, their binomial ``standard_error``
        ``sqrt(p (1 - p) / n_draws)``, ``exact=False`` and ``draws=n_draws``. Every estimator reads it
        as one table for all logged rows (:func:`~abrec.ope.at_logged_positions`).

    Raises
    ------
    abrec.errors.ParameterError
        Non-positive or mismatched ``alpha``/``beta``, or an out-of-range count.

    Examples
    --------
    >>> dist = bts_action_distribution([50.0, 5.0, 1.0], [50.0, 95.0, 99.0], n_positions=2, n_draws=1000)
    >>> dist.probabilities.shape, dist.exact, dist.draws
    ((1, 3, 2), False, 1000)
    >>> dist.probabilities[0].sum(axis=0).round(12).tolist()
    [1.0, 1.0]
    >>> float(dist.probabilities[0, 0, 0])  # the item of posterior mean 0.5 always comes first
    1.0
    >>> uniform = bts_action_distribution([1.0, 1.0], [1.0, 1.0], n_positions=1, n_draws=10_000, seed=0)
    >>> round(float(uniform.standard_error.max()), 4)  # binomial: sqrt(p (1 - p) / n_draws)
    0.005
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
            "backend": StrOptions(BACKENDS),
        },
        {"n_positions": n_positions, "n_draws": n_draws, "chunk": chunk, "n_jobs": n_jobs, "backend": backend},
    )
    if backend == "numba" and not HAVE_NUMBA:  # pragma: no cover
        raise ParameterError("backend='numba' needs numba installed; use backend='numpy'.")
    use_numba = HAVE_NUMBA and backend != "numpy"
    counts = beta_top_counts(
        a, b, n_positions, n_draws, as_generator(seed), chunk=chunk, use_numba=use_numba, n_jobs=n_jobs
    )
    probabilities = (counts / float(n_draws))[None, :, :]  # one request: the policy ignores contexts
    standard_error = np.sqrt(probabilities * (1.0 - probabilities) / n_draws)
    return ActionDistribution(probabilities, standard_error, exact=False, draws=n_draws)


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
    >>> dist.probabilities.shape, dist.probabilities[0].sum(axis=0).round(12).tolist()
    ((1, 34, 3), [1.0, 1.0, 1.0])
    """
    a, b = _zozotown_prior(campaign)
    return bts_action_distribution(
        a, b, n_positions=n_positions, n_draws=n_draws, seed=seed, chunk=chunk, backend=backend, n_jobs=n_jobs
    )
