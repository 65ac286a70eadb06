"""SyntheticCatalog: the built-in world, a fashion catalog generated from attributes, no data needed.

Everything below is drawn from ``seed`` when the world is built, so the same seed gives the same
world in every process.

**Items.** Each item has a category, brand, colour, material, style and pattern (word lists in
:mod:`abrec.envs._vocabulary`), a price band (budget, mid-range, premium, luxury) and a price drawn
log-uniformly inside its band. Its description is written from those attributes with one of several
templates and synonyms ("A striped navy wool blazer by Northwind, classic style, premium price.
Highly rated by customers."), so a text encoder sees what drives appeal. The latent item vector
(``item_vectors``, simulator-only) has one block per attribute group plus one price column: a
*weighted one-hot* of the item's attribute values (group weights :data:`GROUP_WEIGHTS`, each entry
jittered by ``x (1 + 0.1 N(0, 1))``: similar items have similar, not equal, vectors) and the item's
price level in [0, 1] (log price, from the cheapest to the dearest band).

**Popularity.** Each item has a quality ``q ~ N(0, popularity_sd^2)`` added to its click logit, so
its odds multiplier ``exp(q)`` is log-normal: a few items are much more popular than the rest. The
description carries a noisy reading of it (a review phrase from the tier of ``q / popularity_sd +
N(0, 0.5^2)``); items arriving later say "New arrival, no reviews yet." instead.

**Users.** A user's taste (same columns as the item vectors) has a few *liked* values per group
(:data:`LIKES`, drawn from a per-world Dirichlet popularity of each value, so some colours or
styles are in fashion), a few *disliked* ones (:data:`DISLIKES`, uniform), with strengths
``U(0.5, 1.5)`` (negative for dislikes), and ``-s`` in the price column, ``s ~ U(0, 1)`` the
user's price sensitivity. The observable ``context`` (``context_dim`` columns) is a noisy
low-dimensional view of the taste: ``taste @ P`` with ``P`` a fixed Gaussian random projection,
each column standardised over the population, plus independent uniform noise of standard deviation
``context_noise``.

**Clicks and purchases.** ``attraction = sigmoid(bias + preference_scale * taste . v + q)``, with
``bias`` calibrated (on 1,000 users x up to 1,000 items drawn at build time) so that the mean
attraction of a random user and a random item is ``click_rate``: the click rate of a random item
in the first position (examined with probability 1). Position ``j`` is examined with probability
``(j + 1) ** -position_bias``. ``P(purchase | click) = sigmoid(purchase_bias - price_effect * s *
price_level)``, with ``purchase_bias`` calibrated in the same way to ``purchase_rate``: dear items
sell less, above all to price-sensitive users.

**Cold start.** A share ``new_item_share`` of the items arrives after step 0, at steps drawn
uniformly in ``1 .. horizon - 1``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .._params import Constraint, Interval, validate_params
from .._random import Seed, as_generator
from ..errors import InputError
from . import _sim_kernels as kernels
from . import _vocabulary as vocab
from .world import FloatArray, IntArray, Users, World

__all__ = ["DISLIKES", "GROUP_WEIGHTS", "LIKES", "SyntheticCatalog"]

#: Weight of each attribute group's one-hot block in the item vectors (category, brand, colour,
#: material, style, pattern).
GROUP_WEIGHTS = (1.0, 0.6, 0.8, 0.5, 0.8, 0.4)
#: Liked values per user in each group (drawn from the world's popularity of each value).
LIKES = (2, 1, 2, 1, 2, 1)
#: Disliked values per user in each group (drawn uniformly).
DISLIKES = (1, 0, 1, 0, 1, 1)
_BAND_SHARES = (0.3, 0.35, 0.25, 0.1)
_JITTER = 0.1
_REVIEW_NOISE = 0.5
_REVIEW_CUTS = (1.2, 0.4, -0.4, -1.2)  # on the noisy standardised quality, best tier first
_CALIBRATION_USERS = 1000
_CALIBRATION_ITEMS = 1000


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return out


def _calibrate(logits: FloatArray, target: float) -> float:
    """The shift ``b`` with ``mean(sigmoid(b + logits)) == target`` (Newton's method, safeguarded by bisection)."""
    lo, hi = -50.0 - float(logits.max()), 50.0 - float(logits.min())
    b = float(np.log(target / (1 - target)) - np.median(logits))
    for _ in range(100):
        p = _sigmoid(b + logits)
        gap = float(p.mean()) - target
        if abs(gap) < 1e-12:
            break
        if gap > 0:
            hi = b
        else:
            lo = b
        slope = float((p * (1 - p)).mean())
        step = b - gap / slope if slope > 0 else np.nan
        b = step if lo < step < hi else (lo + hi) / 2
    return b


class SyntheticCatalog(World):
    """A simulated fashion catalog: items written from attributes, users with attribute tastes.

    See the module docstring for the model. Items are rows ``0 .. n_items - 1`` and their public
    ids are the same integers (``item_ids = arange(n_items)``).

    Parameters
    ----------
    n_items : number of items (including the ones arriving later).
    context_dim : dimension of a user's observable context.
    n_positions : number of slate positions with an examination probability.
    position_bias : position ``j`` (from 0) is examined with probability ``(j + 1) ** -position_bias``.
    click_rate : mean attraction of a random user and a random item (the click rate at position 0).
    purchase_rate : mean ``P(purchase | click)`` of a random user and a random item.
    preference_scale : weight of the taste match ``taste . item_vector`` in the click logit.
    popularity_sd : standard deviation of the item quality term of the click logit (popularity skew).
    price_effect : how much price lowers ``P(purchase | click)`` for the most price-sensitive users (logits).
    new_item_share : share of items arriving after step 0 (cold start), in [0, 1).
    horizon : arrivals are spread uniformly over steps ``1 .. horizon - 1``.
    context_noise : standard deviation of the noise added to the (standardised) context.
    seed : int, ``numpy.random.Generator`` or None; everything is drawn from it at construction.

    Examples
    --------
    >>> import numpy as np
    >>> world = SyntheticCatalog(n_items=200, seed=0)
    >>> world.item_texts()[0]
    "Lumen's relaxed sandals in tan linen with a flower-print look. Budget, at $20.99. Rated 4 stars."
    >>> users = world.sample_users(4, np.random.default_rng(1))
    >>> users.context.shape, world.attraction(users, np.array([[0, 1, 2]] * 4)).shape
    ((4, 24), (4, 3))
    >>> bool(world.arrival.max() > 0), world.available(0).shape[0] < world.n_items
    (True, True)
    """

    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "n_items": Interval("int", 1),
        "context_dim": Interval("int", 1),
        "n_positions": Interval("int", 1),
        "position_bias": Interval("float", 0),
        "click_rate": Interval("float", 0, 1, closed="neither"),
        "purchase_rate": Interval("float", 0, 1, closed="neither"),
        "preference_scale": Interval("float", 0),
        "popularity_sd": Interval("float", 0),
        "price_effect": Interval("float", 0),
        "new_item_share": Interval("float", 0, 1, closed="left"),
        "horizon": Interval("int", 2),
        "context_noise": Interval("float", 0),
    }

    def __init__(
        self,
        n_items: int = 1000,
        *,
        context_dim: int = 24,
        n_positions: int = 10,
        position_bias: float = 1.0,
        click_rate: float = 0.05,
        purchase_rate: float = 0.1,
        preference_scale: float = 1.5,
        popularity_sd: float = 1.0,
        price_effect: float = 3.0,
        new_item_share: float = 0.2,
        horizon: int = 100,
        context_noise: float = 0.5,
        seed: Seed = None,
    ) -> None:
        params = {
            "n_items": n_items,
            "context_dim": context_dim,
            "n_positions": n_positions,
            "position_bias": position_bias,
            "click_rate": click_rate,
            "purchase_rate": purchase_rate,
            "preference_scale": preference_scale,
            "popularity_sd": popularity_sd,
            "price_effect": price_effect,
            "new_item_share": new_item_share,
            "horizon": horizon,
            "context_noise": context_noise,
        }
        validate_params(type(self).__name__, self._parameter_constraints, params)
        self._params: dict[str, Any] = {**params, "seed": seed}
        self.position_bias = position_bias
        self.click_rate = click_rate
        self.purchase_rate = purchase_rate
        self.preference_scale = preference_scale
        self.popularity_sd = popularity_sd
        self.price_effect = price_effect
        self.new_item_share = new_item_share
        self.horizon = horizon
        self.context_noise = context_noise
        self.seed = seed
        self._context_dim = context_dim
        rng = as_generator(seed)

        sizes = np.array([len(values) for _, values in vocab.GROUPS], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self._price_col = int(sizes.sum())
        self.latent_dim = self._price_col + 1
        self.examination = (np.arange(1, n_positions + 1, dtype=np.float64)) ** -float(position_bias)
        self.item_ids = np.arange(n_items, dtype=np.int64)

        # ---- items: attributes, prices, sparse latent vectors, quality, arrivals
        codes = np.column_stack([rng.integers(0, s, n_items) for s in sizes]).astype(np.int64)
        band = rng.choice(len(vocab.PRICE_BANDS), size=n_items, p=_BAND_SHARES).astype(np.int64)
        bounds = np.log(np.array([b for _, b in vocab.PRICE_BANDS]))
        log_price = bounds[band, 0] + rng.random(n_items) * (bounds[band, 1] - bounds[band, 0])
        self.price = np.maximum(np.round(np.exp(log_price)) - 0.01, 0.99)
        level = np.clip((np.log(self.price) - bounds[0, 0]) / (bounds[-1, 1] - bounds[0, 0]), 0.0, 1.0)
        jitter = np.clip(1.0 + _JITTER * rng.standard_normal(codes.shape), 0.5, 1.5)
        self._cols = np.ascontiguousarray(np.column_stack([codes + self._offsets, np.full(n_items, self._price_col)]))
        self._vals = np.ascontiguousarray(np.column_stack([np.asarray(GROUP_WEIGHTS) * jitter, level]))
        self._level = level
        self.item_vectors = np.zeros((n_items, self.latent_dim))
        np.put_along_axis(self.item_vectors, self._cols, self._vals, axis=1)
        z = rng.standard_normal(n_items)
        self.quality = float(popularity_sd) * z
        n_new = round(new_item_share * n_items)
        self.arrival = np.zeros(n_items, dtype=np.int64)
        self.arrival[rng.choice(n_items, size=n_new, replace=False)] = rng.integers(1, horizon, size=n_new)
        tier = np.searchsorted(-np.asarray(_REVIEW_CUTS), -(z + _REVIEW_NOISE * rng.standard_normal(n_items)))
        self._codes, self._band, self._tier = codes, band, tier.astype(np.int64)

        # ---- population tastes: a Dirichlet popularity of each attribute value
        like_group = np.repeat(np.arange(len(sizes)), LIKES)
        dislike_group = np.repeat(np.arange(len(sizes)), DISLIKES)
        self._like_cdf = np.full((like_group.shape[0], int(sizes.max())), 2.0)
        for g, size in enumerate(sizes):
            cdf = np.cumsum(rng.dirichlet(np.ones(size)))
            cdf[-1] = 1.0
            self._like_cdf[like_group == g, :size] = cdf
        self._like_offset = self._offsets[like_group]
        self._dislike_offset = self._offsets[dislike_group]
        self._dislike_size = sizes[dislike_group]
        n_fields = 2 * (like_group.shape[0] + dislike_group.shape[0]) + 1 + context_dim
        self._words_per_user = -(-n_fields // 4)

        self._texts = self._write_texts(rng)

        # ---- context projection (standardised over the population), calibration of the biases
        projection = rng.standard_normal((self.latent_dim, context_dim))
        self._projection = projection
        self._context_offset = np.zeros(context_dim)
        sample, signal = self._draw(_CALIBRATION_USERS, rng, noise=False)
        scale = signal.std(axis=0)
        scale[scale == 0] = 1.0
        self._projection = np.ascontiguousarray(projection / scale)
        self._context_offset = -signal.mean(axis=0) / scale
        subset = (
            np.arange(n_items)
            if n_items <= _CALIBRATION_ITEMS
            else np.sort(rng.choice(n_items, _CALIBRATION_ITEMS, replace=False))
        )
        logits = preference_scale * (sample @ self.item_vectors[subset].T) + self.quality[subset]
        self.bias = _calibrate(logits, click_rate)
        buy = -float(price_effect) * np.outer(-sample[:, self._price_col], level[subset])
        self.purchase_bias = _calibrate(buy, purchase_rate)
        self._offset = np.ascontiguousarray(self.bias + self.quality)

    # ------------------------------------------------------------------ parameters
    @property
    def context_dim(self) -> int:
        return self._context_dim

    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments, as given."""
        return dict(self._params)

    def __repr__(self) -> str:
        changed = {k: v for k, v in self._params.items() if k in ("n_items", "seed") or v != _DEFAULTS.get(k)}
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    # ------------------------------------------------------------------ items
    def item_texts(self) -> list[str]:
        return list(self._texts)

    def item_table(self) -> Any:
        """A pandas DataFrame of the items: id, text, attributes (canonical names), price, arrival, quality.

        Examples
        --------
        >>> SyntheticCatalog(n_items=5, seed=0).item_table().columns.tolist()[:4]
        ['item_id', 'text', 'category', 'brand']
        """
        import pandas as pd

        table: dict[str, Any] = {"item_id": self.item_ids, "text": self._texts}
        for g, (name, values) in enumerate(vocab.GROUPS):
            table[name] = np.array([v[0] for v in values])[self._codes[:, g]]
        table["price_band"] = np.array([words[0] for words, _ in vocab.PRICE_BANDS])[self._band]
        table["price"] = self.price
        table["arrival"] = self.arrival
        table["quality"] = self.quality
        return pd.DataFrame(table)

    def _write_texts(self, rng: np.random.Generator) -> list[str]:
        n = self.item_ids.shape[0]
        templates: list[int] = rng.integers(0, len(vocab.TEMPLATES), size=(n,)).tolist()
        picks: list[list[int]] = rng.integers(0, 1 << 30, (n, len(vocab.GROUPS) + 2)).tolist()
        codes: list[list[int]] = self._codes.tolist()
        bands: list[int] = self._band.tolist()
        tiers: list[int] = self._tier.tolist()
        texts = []
        for i in range(n):
            pick = picks[i]
            words = {}
            for g, (name, values) in enumerate(vocab.GROUPS):
                forms = values[codes[i][g]]
                words[name] = forms[pick[g] % len(forms)]
            band_words = vocab.PRICE_BANDS[bands[i]][0]
            price_word = band_words[pick[-2] % len(band_words)]
            phrases = vocab.NEW_ARRIVAL if self.arrival[i] > 0 else vocab.REVIEWS[tiers[i]]
            text = vocab.TEMPLATES[templates[i]].format(
                **words,
                Style=words["style"].capitalize(),
                Pattern=words["pattern"].capitalize(),
                price=price_word,
                Price=price_word.capitalize(),
                cost=f"${self.price[i]:.2f}",
                reviews=phrases[pick[-1] % len(phrases)],
            )
            texts.append(text)
        return texts

    # ------------------------------------------------------------------ users
    def _draw(self, n: int, rng: np.random.Generator, noise: bool = True) -> tuple[FloatArray, FloatArray]:
        bits = kernels.random_bits(rng, (n, self._words_per_user))
        noise_scale = float(self.context_noise) * np.sqrt(12.0) if noise else 0.0
        return kernels.draw_users(
            bits,
            self._like_offset,
            self._like_cdf,
            self._dislike_offset,
            self._dislike_size,
            self._price_col,
            self._projection,
            self._context_offset,
            noise_scale,
        )

    def sample_users(self, n: int, rng: np.random.Generator) -> Users:
        """Draw ``n`` users (tastes and noisy contexts) from the world's population.

        Examples
        --------
        >>> import numpy as np
        >>> users = SyntheticCatalog(n_items=20, seed=0).sample_users(3, np.random.default_rng(0))
        >>> users.taste.shape, users.context.shape
        ((3, 63), (3, 24))
        """
        taste, context = self._draw(n, rng)
        return Users(context, taste)

    # ------------------------------------------------------------------ click model
    def _check(self, users: Users, items: IntArray) -> tuple[FloatArray, IntArray]:
        rows = np.asarray(items)
        taste = users.taste
        if rows.ndim != 2 or rows.shape[0] != taste.shape[0]:
            raise InputError(f"items must have shape (n, m) with n = {taste.shape[0]} users. Got {rows.shape}.")
        if rows.dtype.kind not in "iu":
            raise InputError(f"items must be integer item rows. Got dtype {rows.dtype}.")
        if taste.ndim != 2 or taste.shape[1] != self.latent_dim:
            raise InputError(
                f"users.taste must have shape (n, {self.latent_dim}): users of this world "
                f"(sample_users). Got {taste.shape}."
            )
        return np.ascontiguousarray(taste, dtype=np.float64), np.ascontiguousarray(rows, dtype=np.int64)

    def _out_of_range(self, rows: IntArray) -> InputError:
        return InputError(
            f"items must be item rows in [0, {self.n_items - 1}]. Got values in [{rows.min()}, {rows.max()}]."
        )

    def attraction(self, users: Users, items: IntArray) -> FloatArray:
        """``P(click | examined) = sigmoid(bias + preference_scale * taste . v + quality)`` (n, m).

        Examples
        --------
        >>> import numpy as np
        >>> world = SyntheticCatalog(n_items=50, seed=0)
        >>> users = world.sample_users(2, np.random.default_rng(0))
        >>> a = world.attraction(users, np.array([[3, 4], [5, 6]]))
        >>> a.shape, bool(((a > 0) & (a < 1)).all())
        ((2, 2), True)
        """
        taste, rows = self._check(users, items)
        out = kernels.attraction(taste, rows, self._cols, self._vals, self._offset, float(self.preference_scale))
        if out is None:
            raise self._out_of_range(rows)
        return out

    def purchase(self, users: Users, items: IntArray) -> FloatArray:
        """``P(purchase | click) = sigmoid(purchase_bias - price_effect * s * price_level)`` (n, m)."""
        taste, rows = self._check(users, items)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_items):
            raise self._out_of_range(rows)
        sensitivity = -taste[:, self._price_col : self._price_col + 1]
        return _sigmoid(self.purchase_bias - float(self.price_effect) * sensitivity * self._level[rows])


_DEFAULTS: dict[str, Any] = {
    "context_dim": 24,
    "n_positions": 10,
    "position_bias": 1.0,
    "click_rate": 0.05,
    "purchase_rate": 0.1,
    "preference_scale": 1.5,
    "popularity_sd": 1.0,
    "price_effect": 3.0,
    "new_item_share": 0.2,
    "horizon": 100,
    "context_noise": 0.5,
}
