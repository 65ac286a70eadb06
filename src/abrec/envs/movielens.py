"""A semi-synthetic world calibrated on MovieLens ratings: real users, real movies, simulated clicks.

:class:`MovieLensWorld` is a :class:`~abrec.envs.world.World` whose ground truth is fitted on a
MovieLens ratings table (see :func:`abrec.data.load_movielens`; the data is never shipped):

**Affinity.** A rating ``>= min_rating`` (default 4) is a *like*. The 0/1 users x movies like
matrix (every unrated pair a zero) is factorised by PureSVD (:mod:`abrec.envs._factorize`): user
factors ``U`` (n_users, rank) and item factors ``V`` (n_items, rank), rescaled so that the affinity
``u . v`` has unit standard deviation over all pairs.

**Link.** ``P(click | examined) = sigmoid(a + b * u . v + c * pop_i)`` where ``pop_i`` is the
centred ``log(1 + likes of movie i)``. ``b`` (``affinity_scale``) is given: it sets how personal the
clicks are (``b = 0``: everyone clicks by popularity alone). ``a`` and ``c`` are calibrated
(deterministically: a safeguarded Newton solve for ``a`` inside Brent's method for ``c``) so that,
over the (user, movie) pairs of the calibration users (all users when users x movies <= 2 million,
otherwise a seeded sample):

1. the mean attraction equals the **target click rate**; by default the data's own *like density*
   ``(#liked (user, movie) pairs) / (n_users * n_items)``: the click rate of a world in which every
   user is shown every movie once and clicks exactly the movies they rated >= 4 (ml-100k: 0.0349);
2. the **popularity skew** of simulated clicks under that uniform exposure, the Gini coefficient of
   the expected clicks per movie, equals the Gini coefficient of the data's likes per movie
   (ml-100k: 0.711). The share of clicks that goes to the top 10% of movies is reported next to the
   data's (it is not fitted). :attr:`MovieLensWorld.calibration` holds all the numbers.

**Users.** :meth:`~MovieLensWorld.sample_users` draws real users uniformly (with replacement). A
user's *taste* is their row of ``U``. Their observable *context* is what a recommender could
compute from their history: the mean item factor of the earliest half (by timestamp, at least one)
of the warm movies they liked; zeros for a user who liked no warm movie. With ``context_dim`` set,
that profile is multiplied by a fixed seeded Gaussian matrix (rank, context_dim) / sqrt(context_dim).

**Cold start.** ``round(cold_share * n_items)`` movies, drawn by the seed among the movies with at
least 20 ratings (so that their factors are informative), arrive at steps evenly spread over
``(0, horizon]``; the others are there from step 0. Their factors still come from all the data:
the world only holds ground truth. A fair experiment shows a policy the item *texts* only (never
the ratings of cold movies, nor ``item_vectors``, which are simulator-only).

**Items.** ``item_ids`` are the MovieLens ids, :meth:`~MovieLensWorld.item_texts` the catalog's
text ("Toy Story (1995). Genres: Animation, Children's, Comedy."), ``item_vectors`` is ``V``.
MovieLens has no prices: every ``price`` is 1.0, so revenue counts purchases, and
``P(purchase | click)`` is the attraction itself: a purchase (watching to the end) is a second,
independent yes of the same strength, so strong matches convert better and revenue ranks slates
as clicks do. Position ``j`` (0-based) is examined with probability ``1 / (1 + j) ** position_decay``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import brentq
from scipy.special import expit

from .._params import Constraint, Interval, validate_params
from .._random import Seed, as_generator
from ..data import MovieLens, load_movielens
from ..errors import DataError, ParameterError
from ._factorize import implicit_svd
from .world import FloatArray, IntArray, Users, World

__all__ = ["Calibration", "MovieLensWorld", "gini", "top_share"]

#: A movie needs this many ratings to be eligible as a cold (late-arriving) item.
MIN_COLD_RATINGS = 20
#: Pairs the calibration averages over at most (users are sampled by the seed above it).
_MAX_CALIBRATION_PAIRS = 2_000_000

_PARAMETERS: dict[str, Constraint] = {
    "rank": Interval("int", 1),
    "n_positions": Interval("int", 1),
    "position_decay": Interval("float", 0.0),
    "target_click_rate": Constraint("float", 0.0, 1.0, low_open=True, high_open=True, optional=True),
    "affinity_scale": Interval("float", 0.0),
    "min_rating": Interval("float", -math.inf),
    "cold_share": Interval("float", 0.0, 1.0, closed="left"),
    "horizon": Interval("int", 1),
    "context_dim": Constraint("int", 1.0, optional=True),
}


@dataclass(frozen=True, slots=True)
class Calibration:
    """How the click model of a :class:`MovieLensWorld` matches its data.

    Attributes
    ----------
    target_click_rate, click_rate : float
        The target mean attraction over (user, movie) pairs and the one achieved.
    data_gini, gini : float
        Gini coefficient of the likes per movie in the data, and of the expected clicks per movie
        when every calibration user is shown every movie once.
    data_top_share, top_share : float
        Share of those likes (clicks) that goes to the 10% most liked (clicked) movies.
    intercept, affinity_scale, popularity_scale : float
        ``a``, ``b`` and ``c`` of ``sigmoid(a + b * u . v + c * pop_i)``.
    n_users : int
        Users the calibration averaged over.
    """

    target_click_rate: float
    click_rate: float
    data_gini: float
    gini: float
    data_top_share: float
    top_share: float
    intercept: float
    affinity_scale: float
    popularity_scale: float
    n_users: int


def gini(values: npt.ArrayLike) -> float:
    """Gini coefficient of non-negative values (0: all equal; near 1: all on one).

    Examples
    --------
    >>> gini([1, 1, 1, 1]), gini([0, 0, 0, 4])
    (0.0, 0.75)
    """
    x = np.sort(np.asarray(values, dtype=np.float64))
    n, total = int(x.shape[0]), float(x.sum())
    if n == 0 or total <= 0:
        return 0.0
    return float((2.0 * np.arange(1, n + 1) - n - 1.0) @ x) / (n * total)


def top_share(values: npt.ArrayLike, fraction: float = 0.1) -> float:
    """Share of the total held by the ``ceil(fraction * n)`` largest values.

    Examples
    --------
    >>> top_share([5, 1, 1, 1, 1, 1, 0, 0, 0, 0])
    0.5
    """
    x = np.sort(np.asarray(values, dtype=np.float64))[::-1]
    total = float(x.sum())
    if total <= 0:
        return 0.0
    return float(x[: max(1, math.ceil(fraction * x.shape[0]))].sum()) / total


class MovieLensWorld(World):
    """Real MovieLens users and movies; clicks from a factorisation calibrated on the ratings.

    See the module docstring for the model and its calibration.

    Parameters
    ----------
    movielens : MovieLens or path
        A loaded dataset, or the folder to load with :func:`abrec.data.load_movielens`.
    rank : int, default 16
        Components of the factorisation (``< min(n_users, n_items)``).
    n_positions : int, default 3
        Slate positions.
    position_decay : float, default 0.8
        Position ``j`` is examined with probability ``1 / (1 + j) ** position_decay``.
    target_click_rate : float in (0, 1), optional
        Mean attraction over (user, movie) pairs; default the data's like density.
    affinity_scale : float, default 0.5
        ``b``: log-odds of a click per standard deviation of affinity ``u . v``.
    min_rating : float, default 4.0
        Ratings at or above it are likes.
    cold_share : float in [0, 1), default 0.2
        Share of all movies that arrive after step 0 (drawn among movies with >= 20 ratings).
    horizon : int, default 100
        Cold movies arrive at steps evenly spread over ``(0, horizon]``.
    context_dim : int, optional
        Dimension of the observable context; default ``rank`` (the history profile itself).
    seed : int, numpy.random.Generator or None, default 0
        Draws, in this order, the cold movies and their arrival order, (on large data) the
        calibration users, and the context projection. The factorisation is deterministic.

    Attributes
    ----------
    item_ids, item_vectors, price, arrival, examination
        As in :class:`~abrec.envs.world.World`.
    user_ids : (n_users,) int array
        MovieLens ids of the users, in the row order of ``user_factors``.
    user_factors : (n_users, rank) float array
        ``U``; a sampled user's taste is one of its rows.
    user_contexts : (n_users, context_dim) float array
        Each user's observable context.
    popularity : (n_items,) float array
        The centred ``log(1 + likes)`` of each movie.
    calibration : Calibration
        The achieved click rate and popularity skew next to the data's.

    Raises
    ------
    abrec.errors.ParameterError
        A parameter out of range; a rank too large for the data; more cold movies than eligible ones.
    abrec.errors.DataError
        Ratings with no like at all.

    Examples
    --------
    A toy dataset in memory (real use: ``MovieLensWorld("path/to/ml-100k")``):

    >>> import numpy as np, pandas as pd
    >>> from abrec.data import Catalog, MovieLens
    >>> rng = np.random.default_rng(0)
    >>> texts = [f"Movie {i} (1990). Genres: Drama." for i in range(1, 61)]
    >>> catalog = Catalog(pd.DataFrame({"item_id": range(1, 61), "text": texts}), text_columns=["text"])
    >>> ratings = pd.DataFrame({"user_id": rng.integers(1, 41, 3000), "item_id": rng.integers(1, 61, 3000),
    ...                         "rating": rng.integers(1, 6, 3000).astype(float),
    ...                         "timestamp": pd.Timestamp("2000-01-01", tz="UTC")})
    >>> world = MovieLensWorld(MovieLens("toy", catalog, ratings, None), rank=4, horizon=10, seed=1)
    >>> world.n_items, world.context_dim, world.n_positions, int((world.arrival > 0).sum())
    (60, 4, 3, 12)
    >>> users = world.sample_users(5, np.random.default_rng(2))
    >>> world.attraction(users, np.tile(world.available(0)[:7], (5, 1))).shape
    (5, 7)
    >>> c = world.calibration
    >>> abs(c.click_rate - c.target_click_rate) < 1e-9, abs(c.gini - c.data_gini) < 1e-4
    (True, True)
    """

    def __init__(
        self,
        movielens: MovieLens | str | os.PathLike[str],
        *,
        rank: int = 16,
        n_positions: int = 3,
        position_decay: float = 0.8,
        target_click_rate: float | None = None,
        affinity_scale: float = 0.5,
        min_rating: float = 4.0,
        cold_share: float = 0.2,
        horizon: int = 100,
        context_dim: int | None = None,
        seed: Seed = 0,
    ) -> None:
        given = {
            "rank": rank,
            "n_positions": n_positions,
            "position_decay": position_decay,
            "target_click_rate": target_click_rate,
            "affinity_scale": affinity_scale,
            "min_rating": min_rating,
            "cold_share": cold_share,
            "horizon": horizon,
            "context_dim": context_dim,
        }
        validate_params(type(self).__name__, _PARAMETERS, given)
        self.rank = rank
        self.position_decay = position_decay
        self.target_click_rate = target_click_rate
        self.affinity_scale = affinity_scale
        self.min_rating = min_rating
        self.cold_share = cold_share
        self.horizon = horizon
        self.seed = seed
        data = movielens if isinstance(movielens, MovieLens) else load_movielens(movielens)
        rng = as_generator(seed)

        self.item_ids = np.asarray(data.catalog.ids)
        self._texts = list(data.catalog.texts())
        ratings = data.ratings.drop_duplicates(["user_id", "item_id"], keep="last")
        self.user_ids = np.unique(ratings["user_id"].to_numpy()).astype(np.int64)
        user_rows = np.searchsorted(self.user_ids, ratings["user_id"].to_numpy()).astype(np.int64)
        item_rows = pd.Index(self.item_ids).get_indexer(ratings["item_id"].to_numpy()).astype(np.int64)
        liked = ratings["rating"].to_numpy() >= min_rating
        n_users, n_items = self.user_ids.shape[0], self.item_ids.shape[0]
        if not liked.any():
            raise DataError(f"{data.name}: no rating is >= min_rating={min_rating}; nothing to calibrate clicks on.")
        if rank >= min(n_users, n_items):
            raise ParameterError(
                f"The 'rank' parameter of {type(self).__name__} must be below min(n_users, n_items) = "
                f"{min(n_users, n_items)} for {data.name}. Got {rank} instead."
            )

        self.arrival = self._draw_arrival(np.bincount(item_rows, minlength=n_items), rng)
        U, V = implicit_svd(user_rows[liked], item_rows[liked], (n_users, n_items), rank)
        self.user_factors: FloatArray = U
        self.item_vectors = V
        likes = np.bincount(item_rows[liked], minlength=n_items).astype(np.float64)
        log_likes = np.log1p(likes)
        self.popularity: FloatArray = log_likes - log_likes.mean()

        target = float(liked.sum()) / (n_users * n_items) if target_click_rate is None else target_click_rate
        n_cal = min(n_users, max(1, _MAX_CALIBRATION_PAIRS // n_items))
        cal_rows = np.arange(n_users) if n_cal == n_users else np.sort(rng.choice(n_users, n_cal, replace=False))
        self.calibration = _calibrate(U[cal_rows] @ V.T, self.popularity, likes, target, affinity_scale)
        self._bias: FloatArray = self.calibration.intercept + self.calibration.popularity_scale * self.popularity
        self._scaled_vectors: FloatArray = affinity_scale * V

        self.price = np.ones(n_items)
        self.examination = 1.0 / (1.0 + np.arange(n_positions, dtype=np.float64)) ** position_decay

        profile = self._history_profiles(ratings, user_rows, item_rows, liked)
        if context_dim is None:
            self.user_contexts: FloatArray = profile
        else:
            self.user_contexts = profile @ (rng.standard_normal((rank, context_dim)) / np.sqrt(context_dim))

    def _draw_arrival(self, n_ratings: IntArray, rng: np.random.Generator) -> IntArray:
        n_items = self.item_ids.shape[0]
        n_cold = round(self.cold_share * n_items)
        eligible = np.flatnonzero(n_ratings >= MIN_COLD_RATINGS)
        if n_cold > eligible.shape[0]:
            raise ParameterError(
                f"The 'cold_share' parameter of {type(self).__name__} must be at most "
                f"{eligible.shape[0] / n_items:.3f} for this data (only {eligible.shape[0]} of {n_items} movies "
                f"have >= {MIN_COLD_RATINGS} ratings). Got {self.cold_share!r} instead."
            )
        arrival = np.zeros(n_items, dtype=np.int64)
        if n_cold:
            cold = rng.choice(eligible, n_cold, replace=False)
            arrival[cold] = np.ceil(np.arange(1, n_cold + 1) * self.horizon / n_cold).astype(np.int64)
        return arrival

    def _history_profiles(
        self, ratings: pd.DataFrame, user_rows: IntArray, item_rows: IntArray, liked: npt.NDArray[np.bool_]
    ) -> FloatArray:
        """Mean item factor of the earliest half of each user's liked warm movies (zeros if none)."""
        keep = liked & (self.arrival[item_rows] == 0)
        users, items = user_rows[keep], item_rows[keep]
        order = np.lexsort((ratings["timestamp"].to_numpy()[keep], users))
        users, items = users[order], items[order]
        n_users = self.user_ids.shape[0]
        counts = np.bincount(users, minlength=n_users)
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rank_in_user = np.arange(users.shape[0]) - starts[users]
        first_half = rank_in_user < np.ceil(counts[users] / 2.0)
        users, items = users[first_half], items[first_half]
        taken = np.bincount(users, minlength=n_users).astype(np.float64)
        weights = sp.csr_matrix(
            (1.0 / taken[users], (users, items)), shape=(n_users, self.item_ids.shape[0]), dtype=np.float64
        )
        profile: FloatArray = np.asarray(weights @ self.item_vectors, dtype=np.float64)
        return profile

    @property
    def n_users(self) -> int:
        return int(self.user_ids.shape[0])

    @property
    def context_dim(self) -> int:
        return int(self.user_contexts.shape[1])

    def item_texts(self) -> list[str]:
        """The catalog's text of each movie: "<title> (<year>). Genres: <genres>."."""
        return list(self._texts)

    def sample_users(self, n: int, rng: np.random.Generator) -> Users:
        """``n`` real users drawn uniformly with replacement: taste = row of ``U``, context = history profile."""
        rows = rng.integers(0, self.n_users, size=n)
        return Users(self.user_contexts[rows], self.user_factors[rows])

    def attraction(self, users: Users, items: IntArray) -> FloatArray:
        """``sigmoid(a + b * u . v + c * pop)`` for item rows ``items`` (n, m)."""
        items = np.asarray(items)
        scores = np.einsum("nk,nmk->nm", users.taste, self._scaled_vectors[items]) + self._bias[items]
        result: FloatArray = expit(scores)
        return result

    def purchase(self, users: Users, items: IntArray) -> FloatArray:
        """``P(purchase | click)``: the attraction itself (see the module docstring)."""
        return self.attraction(users, items)

    def __repr__(self) -> str:
        c = self.calibration
        return (
            f"MovieLensWorld(n_users={self.n_users}, n_items={self.n_items}, rank={self.rank}, "
            f"click_rate={c.click_rate:.4f}, gini={c.gini:.3f}, cold={int((self.arrival > 0).sum())})"
        )


def _solve_intercept(z: FloatArray, target: float, start: float) -> tuple[float, FloatArray]:
    """The ``a`` with ``mean(sigmoid(a + z)) = target``: Newton steps kept inside a shrinking bracket."""
    logit = math.log(target / (1.0 - target))
    low, high = logit - float(z.max()) - 1.0, logit - float(z.min()) + 1.0
    a = min(max(start, low), high)
    for _ in range(100):
        p = expit(a + z)
        gap = float(p.mean()) - target
        if abs(gap) <= 1e-12 * target:
            break
        if gap > 0:
            high = a
        else:
            low = a
        slope = float((p * (1.0 - p)).mean())
        step = a - gap / slope if slope > 0 else math.nan
        a = step if low < step < high else 0.5 * (low + high)
        if high - low < 1e-13:
            break
    return a, expit(a + z)


def _calibrate(
    scores: FloatArray, popularity: FloatArray, likes: FloatArray, target: float, affinity_scale: float
) -> Calibration:
    """Fit ``a`` (mean attraction = target) and ``c`` (Gini of expected clicks per movie = the data's)."""
    base = affinity_scale * scores
    data_gini = gini(likes)
    state = {"a": math.log(target / (1.0 - target))}

    def clicks_per_item(c: float) -> FloatArray:
        a, p = _solve_intercept(base + c * popularity, target, state["a"])
        state["a"] = a
        column_sums: FloatArray = p.sum(axis=0)
        return column_sums

    def gap(c: float) -> float:
        return gini(clicks_per_item(c)) - data_gini

    # The skew grows with c >= 0 (for c < 0 the least liked movies would become the most clicked).
    high = 10.0 / (float(popularity.std()) or 1.0)
    gap_low, gap_high = gap(0.0), gap(high)
    if gap_low < 0 < gap_high:
        c = float(brentq(gap, 0.0, high, xtol=1e-8))
    else:
        c = 0.0 if gap_low >= 0 else high
    a, p = _solve_intercept(base + c * popularity, target, state["a"])
    clicks = p.sum(axis=0)
    return Calibration(
        target_click_rate=target,
        click_rate=float(p.mean()),
        data_gini=data_gini,
        gini=gini(clicks),
        data_top_share=top_share(likes),
        top_share=top_share(clicks),
        intercept=a,
        affinity_scale=affinity_scale,
        popularity_scale=c,
        n_users=int(scores.shape[0]),
    )
