"""SyntheticCatalog: reproducible, calibrated, its compiled kernels agree with numpy, and its text matters."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import KFold, cross_val_predict

from abrec.embeddings import Encoder, HashingEncoder, SentenceTransformerEncoder
from abrec.envs import _sim_kernels as kernels
from abrec.envs import _vocabulary as vocab
from abrec.envs.synthetic import SyntheticCatalog
from abrec.envs.world import Users
from abrec.errors import InputError, ParameterError


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def test_same_seed_same_world_and_different_seeds_differ() -> None:
    a, b, c = (SyntheticCatalog(n_items=100, seed=s) for s in (3, 3, 4))
    assert a.item_texts() == b.item_texts() and a.item_texts() != c.item_texts()
    for name in ("item_vectors", "price", "arrival", "quality", "examination"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.item_vectors, c.item_vectors)
    ua, ub = (w.sample_users(50, np.random.default_rng(9)) for w in (a, b))
    assert np.array_equal(ua.taste, ub.taste) and np.array_equal(ua.context, ub.context)
    assert a.get_params()["seed"] == 3 and "n_items=100" in repr(a)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"click_rate": 1.5}, "The 'click_rate' parameter of SyntheticCatalog must be a float in (0, 1). Got 1.5"),
        ({"n_items": 0}, "The 'n_items' parameter of SyntheticCatalog must be an int in [1, inf). Got 0"),
        ({"new_item_share": 1.0}, "The 'new_item_share' parameter of SyntheticCatalog must be a float in [0, 1)"),
        ({"horizon": 1}, "The 'horizon' parameter of SyntheticCatalog must be an int in [2, inf). Got 1"),
    ],
)
def test_parameters_are_validated(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ParameterError) as err:
        SyntheticCatalog(**kwargs)  # type: ignore[arg-type]
    assert str(err.value).startswith(message)


def test_items_are_described_by_their_attributes(world: SyntheticCatalog) -> None:
    table = world.item_table()
    forms = {name: {v[0]: v for v in values} for name, values in vocab.GROUPS}
    for row in table.itertuples():
        text = str(row.text)
        for name in ("category", "brand", "colour", "material", "style"):
            value = getattr(row, name)
            assert any(form.lower() in text.lower() for form in forms[name][value]), (name, value, text)
        new = row.arrival > 0
        assert (any(p in text for p in vocab.NEW_ARRIVAL)) == new, text
    bands = {words[0]: limits for words, limits in vocab.PRICE_BANDS}
    for band, price in zip(table["price_band"], table["price"], strict=True):
        low, high = bands[band]
        assert low - 0.01 <= price <= high + 0.5
    assert len(set(world.item_texts())) == world.n_items


def test_item_vectors_are_weighted_one_hots(world: SyntheticCatalog) -> None:
    v = world.item_vectors
    assert v.shape == (world.n_items, world.latent_dim)
    assert ((v != 0).sum(axis=1) <= 7).all() and ((v[:, :-1] != 0).sum(axis=1) == 6).all()
    assert (v >= 0).all() and (v[:, -1] <= 1).all()


def test_attraction_is_the_documented_model(world: SyntheticCatalog) -> None:
    users = world.sample_users(64, np.random.default_rng(0))
    items = np.random.default_rng(1).integers(0, world.n_items, (64, 30))
    dense = np.einsum("nk,nmk->nm", users.taste, world.item_vectors[items])
    expected = _sigmoid(world.bias + world.preference_scale * dense + world.quality[items])
    np.testing.assert_allclose(world.attraction(users, items), expected, rtol=1e-12, atol=1e-15)
    s = -users.taste[:, -1:]
    level = world.item_vectors[items, -1]
    buy = _sigmoid(world.purchase_bias - world.price_effect * s * level)
    np.testing.assert_allclose(world.purchase(users, items), buy, rtol=1e-12)
    assert ((s >= 0) & (s <= 1)).all()


def test_click_and_purchase_rates_are_calibrated() -> None:
    world = SyntheticCatalog(n_items=500, click_rate=0.08, purchase_rate=0.2, seed=5)
    rng = np.random.default_rng(2)
    users = world.sample_users(4000, rng)
    items = rng.integers(0, world.n_items, (4000, 100))
    a, p = world.attraction(users, items), world.purchase(users, items)
    # The biases are calibrated on 1,000 other users: allow their sampling error (~2% relative).
    assert a.mean() == pytest.approx(0.08, rel=0.08)
    assert p.mean() == pytest.approx(0.2, rel=0.08)
    np.testing.assert_allclose(world.examination[:3], [1, 1 / 2, 1 / 3])


def test_popularity_is_skewed(catalog: SyntheticCatalog) -> None:
    users = catalog.sample_users(500, np.random.default_rng(3))
    appeal = catalog.attraction(users, np.tile(np.arange(catalog.n_items), (500, 1))).mean(axis=0)
    share_top10 = np.sort(appeal)[::-1][: catalog.n_items // 10].sum() / appeal.sum()
    assert share_top10 > 0.3  # the top 10% of items draw far more than 10% of the clicks


def test_context_is_a_noisy_standardised_view_of_taste(catalog: SyntheticCatalog) -> None:
    users = catalog.sample_users(20_000, np.random.default_rng(4))
    assert users.context.shape == (20_000, 24)
    expected_sd = math.sqrt(1 + catalog.context_noise**2)
    np.testing.assert_allclose(users.context.std(axis=0), expected_sd, rtol=0.08)
    np.testing.assert_allclose(users.context.mean(axis=0), 0, atol=0.08)
    # The noise-free part is an exact linear function of the taste.
    signal = users.taste @ catalog._projection + catalog._context_offset
    residual = users.context - signal
    assert np.abs(residual).max() <= catalog.context_noise * math.sqrt(3) + 1e-9
    assert residual.std() == pytest.approx(catalog.context_noise, rel=0.02)


def test_cold_start_items_arrive_over_the_horizon(catalog: SyntheticCatalog) -> None:
    new = catalog.arrival > 0
    assert new.sum() == 200 and catalog.arrival.max() <= 99
    assert catalog.available(0).shape[0] == 800
    assert catalog.available(99).shape[0] == 1000
    assert np.array_equal(catalog.available(50), np.flatnonzero(catalog.arrival <= 50))


def test_bad_inputs_are_refused(world: SyntheticCatalog) -> None:
    users = world.sample_users(2, np.random.default_rng(0))
    with pytest.raises(InputError, match=r"item rows in \[0, 199\]"):
        world.attraction(users, np.array([[0, 200], [1, 2]]))
    with pytest.raises(InputError, match=r"item rows in \[0, 199\]"):
        world.purchase(users, np.array([[0, -1], [1, 2]]))
    with pytest.raises(InputError, match="shape"):
        world.attraction(users, np.array([0, 1]))
    with pytest.raises(InputError, match="integer"):
        world.attraction(users, np.zeros((2, 2)))
    with pytest.raises(InputError, match="users of this world"):
        world.attraction(Users(np.zeros((2, 3)), np.zeros((2, 3))), np.zeros((2, 2), dtype=np.int64))


# ---------------------------------------------------------------------------- kernels vs numpy references
def test_kernels_agree_with_their_numpy_references(world: SyntheticCatalog) -> None:
    rng = np.random.default_rng(7)
    bits = kernels.random_bits(rng, (300, world._words_per_user))
    args = (
        bits,
        world._like_offset,
        world._like_cdf,
        world._dislike_offset,
        world._dislike_size,
        world._price_col,
        world._projection,
        world._context_offset,
        0.7,
    )
    (t1, c1), (t2, c2) = kernels.draw_users(*args), kernels.draw_users_numpy(*args)
    np.testing.assert_allclose(t1, t2, atol=1e-12)
    np.testing.assert_allclose(c1, c2, atol=1e-9)

    items = rng.integers(0, world.n_items, (300, 17))
    logits = kernels.logits_numpy(t1, items, world._cols, world._vals, world._offset, 1.5)
    fast = kernels.attraction(t1, items, world._cols, world._vals, world._offset, 1.5)
    assert fast is not None
    np.testing.assert_allclose(fast, _sigmoid(logits), rtol=1e-12)

    pool = np.sort(rng.choice(1000, 120, replace=False)).astype(np.int64)
    cand_bits = kernels.random_bits(rng, (300, 10))
    np.testing.assert_array_equal(
        kernels.sample_rows(pool, cand_bits, 19), kernels.sample_rows_numpy(pool, cand_bits, 19)
    )

    values = rng.random((300, 12))
    values[:, 3] = values[:, 5]  # ties
    for k in (1, 2, 3, 4, 6):
        weights = rng.random(k)
        np.testing.assert_allclose(kernels.top_k_sum(values, weights), kernels.top_k_sum_numpy(values, weights))

    cols = rng.integers(0, 12, (300, 4))
    cand = rng.integers(0, 50, (300, 12))
    fast_show, slow_show = (
        kernels.show(cols, cand, values, np.array([1.0, 0.5, 0.3, 0.2])),
        kernels.show_numpy(cols, cand, values, np.array([1.0, 0.5, 0.3, 0.2])),
    )
    assert fast_show is not None and slow_show is not None
    for x, y in zip(fast_show, slow_show, strict=True):
        np.testing.assert_allclose(x, y)


def test_sample_rows_is_uniform_and_without_replacement() -> None:
    pool = np.arange(10, 22, dtype=np.int64)  # 12 items
    bits = kernels.random_bits(np.random.default_rng(0), (24_000, 2))
    rows = kernels.sample_rows(pool, bits, 4)
    assert (np.sort(rows, axis=1)[:, 1:] != np.sort(rows, axis=1)[:, :-1]).all()
    assert np.isin(rows, pool).all()
    # each (item, position) cell has probability 1/12: binomial tolerance, 4.5 standard errors
    counts = np.stack([(rows == item).sum(axis=0) for item in pool])
    n, p = rows.shape[0], 1 / 12
    assert np.abs(counts - n * p).max() < 4.5 * math.sqrt(n * p * (1 - p))


# ---------------------------------------------------------------------------- the text matters
def _appeal(world: SyntheticCatalog, n_users: int = 4000) -> np.ndarray:
    """Each item's true appeal: the logit of its mean attraction over a large sample of users."""
    users = world.sample_users(n_users, np.random.default_rng(11))
    a = world.attraction(users, np.tile(np.arange(world.n_items), (n_users, 1))).mean(axis=0)
    return np.asarray(np.log(a / (1 - a)))


def _text_fit(world: SyntheticCatalog, encoder: Encoder, texts: list[str] | None = None) -> tuple[float, float]:
    """Out-of-sample (5-fold) R^2 and Spearman correlation of a ridge regression text embedding -> appeal."""
    x = encoder.encode(world.item_texts() if texts is None else texts)
    y = _appeal(world)
    model = RidgeCV(alphas=np.logspace(-3, 3, 13))
    pred = cross_val_predict(model, x, y, cv=KFold(5, shuffle=True, random_state=0))
    return float(r2_score(y, pred)), float(spearmanr(y, pred).statistic)


def _rank_lower_bound(rho: float, n: int) -> float:
    """Lower end of rho's ~3-standard-error interval (Fisher z, Spearman variance 1.06 / (n - 3))."""
    return math.tanh(math.atanh(rho) - 3 * math.sqrt(1.06 / (n - 3)))


def test_text_predicts_appeal_with_the_light_encoder(catalog: SyntheticCatalog) -> None:
    encoder = HashingEncoder()
    r2, rho = _text_fit(catalog, encoder)
    # measured (seed 0, 1,000 items): R^2 = 0.43, Spearman 0.67
    assert r2 > 0.25 and _rank_lower_bound(rho, catalog.n_items) > 0.45, (r2, rho)
    # control: the same texts shuffled across items carry no signal
    shuffled = list(np.random.default_rng(0).permutation(catalog.item_texts()))
    r2_null, rho_null = _text_fit(catalog, encoder, shuffled)
    assert r2_null < 0.02 and abs(rho_null) < 3 * math.sqrt(1.06 / (catalog.n_items - 3)), (r2_null, rho_null)


def test_text_predicts_appeal_with_minilm(catalog: SyntheticCatalog, minilm: SentenceTransformerEncoder) -> None:
    r2, rho = _text_fit(catalog, minilm)
    # measured (seed 0, 1,000 items): R^2 = 0.34, Spearman 0.60
    assert r2 > 0.15 and _rank_lower_bound(rho, catalog.n_items) > 0.4, (r2, rho)
