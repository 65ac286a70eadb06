"""QuantileSketch (DDSketch): quantiles within the stated relative error of the exact ones, exact merging across
shards, and quantile tests on sketches that agree with the tests on the values within that error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from abrec.abtest import QuantileSample, QuantileSketch, quantile_test
from abrec.errors import InputError, ParameterError

PROBABILITIES = np.r_[0.0, 0.001, 0.01, np.linspace(0.05, 0.95, 19), 0.99, 0.999, 1.0]


def _data(kind: str, rng: np.random.Generator, n: int) -> np.ndarray:
    if kind == "lognormal":
        return rng.lognormal(0.0, 2.0, n)
    if kind == "normal":  # negative and positive values
        return rng.normal(0.5, 3.0, n)
    if kind == "zeros":  # a point mass at 0 (no purchase) and a skewed tail
        return np.where(rng.random(n) < 0.4, 0.0, rng.exponential(30.0, n))
    if kind == "pareto":  # heavy tail over many orders of magnitude
        return (rng.pareto(0.8, n) + 1e-6) * 1e3
    assert kind == "tiny-and-huge"
    return rng.choice([-1.0, 1.0], n) * 10.0 ** rng.uniform(-200, 200, n)


KINDS = ["lognormal", "normal", "zeros", "pareto", "tiny-and-huge"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("accuracy", [0.001, 0.01, 0.05])
def test_every_quantile_within_the_stated_relative_error(kind: str, accuracy: float) -> None:
    # The guarantee: order statistic k within a |x_(k)|; the interpolated quantile within
    # a max(|x_(floor h)|, |x_(ceil h)|) of numpy.quantile (linear). 5 seeds, sizes 1 to 20,000.
    for seed, n in enumerate((1, 2, 37, 1000, 20000)):
        x = _data(kind, np.random.default_rng(seed), n)
        sketch = QuantileSketch.from_values(x, relative_accuracy=accuracy)
        s = np.sort(x)
        ranks = np.arange(n)
        err = np.abs(sketch.order_statistics(ranks) - s)
        assert np.all(err <= accuracy * np.abs(s) * (1 + 1e-9) + 1e-300)
        for p in PROBABILITIES:
            h = p * (n - 1)
            bound = accuracy * max(abs(s[math.floor(h)]), abs(s[math.ceil(h)]))
            assert abs(sketch.quantile(float(p)) - float(np.quantile(x, p))) <= bound * (1 + 1e-9) + 1e-300
        assert sketch.n == n


def test_the_error_bound_is_tight_not_loose() -> None:
    # The sketch does use its error budget (a sketch that returned exact values, or one 10x coarser,
    # would show here): the worst relative error over many order statistics is close to a.
    x = np.random.default_rng(1).lognormal(0, 1, 50_000)
    sketch = QuantileSketch.from_values(x, relative_accuracy=0.02)
    s = np.sort(x)
    worst = np.max(np.abs(sketch.order_statistics(np.arange(x.size)) - s) / s)
    assert 0.015 < worst <= 0.02 * (1 + 1e-9)


@pytest.mark.parametrize("kind", KINDS)
def test_merging_shards_is_the_sketch_of_the_pooled_values(kind: str) -> None:
    rng = np.random.default_rng(7)
    x = _data(kind, rng, 5000)
    whole = QuantileSketch.from_values(x)
    for n_shards in (2, 3, 10):
        cuts = np.sort(rng.choice(np.arange(1, x.size), n_shards - 1, replace=False))
        shards = [QuantileSketch.from_values(part) for part in np.split(rng.permutation(x), cuts)]
        assert sum(shards) == whole  # sum() starts at 0: __radd__
        assert sum(shards[1:-1], shards[-1] + shards[0]) == whole  # order does not matter
    empty = QuantileSketch.from_values(np.zeros(0))
    assert empty + whole == whole and empty.n == 0 and math.isnan(empty.quantile(0.5))


def test_size_is_the_number_of_buckets_not_of_values() -> None:
    # 1e6 values over 6 orders of magnitude at a = 0.01: about ln(1e6) / ln(gamma) ~ 690 buckets.
    x = 10.0 ** np.random.default_rng(2).uniform(-3, 3, 1_000_000)
    sketch = QuantileSketch.from_values(x)
    assert sketch.n == 1_000_000
    assert sketch.size <= math.ceil(math.log(1e6) / math.log(sketch.gamma)) + 2


def test_quantile_test_on_sketches_agrees_with_the_values_within_the_error() -> None:
    # The effect differs by at most a (|Q_c| + |Q_t|) (each quantile within a |Q|); the standard error
    # by at most a (|Q(p+zs)| + |Q(p-zs)|) / (2 z) per arm (the bounds' own errors), bounded here by 3 a Q.
    rng = np.random.default_rng(3)
    c, t = rng.lognormal(0.0, 1.0, 8000), rng.lognormal(0.05, 1.0, 9000)
    for p in (0.5, 0.9, 0.99):
        exact = quantile_test(QuantileSample.from_values(c), QuantileSample.from_values(t), probability=p)
        sketched = quantile_test(QuantileSketch.from_values(c), QuantileSketch.from_values(t), probability=p)
        a = 0.01
        assert abs(sketched.effect - exact.effect) <= a * (exact.control_quantile + exact.treatment_quantile)
        assert abs(sketched.control_se - exact.control_se) <= 3 * a * exact.control_quantile
        assert sketched.p_value == pytest.approx(exact.p_value, abs=0.05)
        assert sketched.relative_effect == pytest.approx(exact.relative_effect, abs=2.5 * a)


def test_bootstrap_and_mismatched_accuracies_are_refused() -> None:
    a = QuantileSketch.from_values([1.0, 2.0, 3.0])
    with pytest.raises(InputError, match="QuantileSample for method='bootstrap'"):
        a.quantile_standard_error(0.5, "bootstrap")
    with pytest.raises(InputError, match="different relative accuracy"):
        _ = a + QuantileSketch.from_values([1.0], relative_accuracy=0.02)
    with pytest.raises(ParameterError, match="relative_accuracy"):
        QuantileSketch.from_values([1.0], relative_accuracy=1.0)
    with pytest.raises(InputError, match="ranks"):
        a.order_statistics([3])
    with pytest.raises(InputError, match="strictly increasing"):
        QuantileSketch(0.01, np.array([2, 1]), np.array([1, 1]))
