"""Hash-based assignment: the hash itself, proportions, stability, independence, holdout, minimal movement."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from abrec.abtest._hashing import siphash24
from abrec.abtest.assignment import N_BUCKETS, Assigner, BucketRange, Experiment, Layer, hash_units
from abrec.errors import InputError, ParameterError, UnknownNameError

# SipHash-2-4 test vectors of the reference implementation (Aumasson and Bernstein, github.com/veorq/SipHash,
# vectors.h, as 64-bit little-endian words): key 00 01 ... 0f, message 00 01 ... (i - 1) for i = 0, 1, ...
SIPHASH_VECTORS = [
    0x726FDB47DD0E0E31,
    0x74F839C593DC67FD,
    0x0D6C8009D9A94F5A,
    0x85676696D7FB7E2D,
    0xCF2794E0277187B7,
    0x18765564CD99A68D,
    0xCBC9466E58FEE3CE,
    0xAB0200F58B01D137,
    0x93F5F5799A932462,
    0x9E0082DF0BA9E4B0,
    0x7A5DBBC594DDB9F3,
    0xF4B32F46226BADA7,
    0x751E8FBC860EE5FB,
    0x14EA5627C0843D90,
    0xF723CA908E7AF2EE,
    0xA129CA6149BE45E5,
    0x3F2ACC7F57C29BDB,
]
MASK = (1 << 64) - 1
ALPHA = 0.05


def tolerance(p: float, n: int) -> float:
    """4.5 binomial standard errors of a rate p estimated from n trials."""
    return float(4.5 * np.sqrt(p * (1 - p) / n))


def siphash_reference(key: bytes, msg: bytes) -> int:
    """A plain scalar SipHash-2-4, written from the paper, to check the vectorised one."""
    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:16], "little")
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def rotl(x: int, b: int) -> int:
        return ((x << b) | (x >> (64 - b))) & MASK

    def sipround() -> None:
        v[0] = (v[0] + v[1]) & MASK
        v[1] = rotl(v[1], 13) ^ v[0]
        v[0] = rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & MASK
        v[3] = rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & MASK
        v[3] = rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & MASK
        v[1] = rotl(v[1], 17) ^ v[2]
        v[2] = rotl(v[2], 32)

    tail = len(msg) % 8
    blocks = [int.from_bytes(msg[i : i + 8], "little") for i in range(0, len(msg) - tail, 8)]
    blocks.append(int.from_bytes(msg[len(msg) - tail :], "little") | ((len(msg) & 0xFF) << 56))
    for m in blocks:
        v[3] ^= m
        sipround()
        sipround()
        v[0] ^= m
    v[2] ^= 0xFF
    for _ in range(4):
        sipround()
    return v[0] ^ v[1] ^ v[2] ^ v[3]


# ---------------------------------------------------------------------------------------------- the hash


def test_siphash_matches_published_vectors() -> None:
    key = bytes(range(16))
    k0, k1 = int.from_bytes(key[:8], "little"), int.from_bytes(key[8:], "little")
    # numpy bytes arrays drop trailing NULs, so the 1-byte message b"\x00" cannot be represented; skip it.
    lengths = [i for i in range(len(SIPHASH_VECTORS)) if i != 1]
    got = siphash24(np.array([bytes(range(i)) for i in lengths]), k0, k1)
    assert [int(x) for x in got] == [SIPHASH_VECTORS[i] for i in lengths]
    assert siphash_reference(key, b"\x00") == SIPHASH_VECTORS[1]
    assert all(siphash_reference(key, bytes(range(i))) == SIPHASH_VECTORS[i] for i in lengths)


def test_vectorised_hash_matches_scalar_reference_on_mixed_lengths() -> None:
    rng = np.random.default_rng(0)
    alphabet = list("abcXYZ019-_é漢🙂")
    units = ["".join(rng.choice(alphabet, size=int(n))) for n in rng.integers(1, 40, size=300)]
    units += ["", "a", "12345678", "123456789"]
    salt = "salt-α"  # noqa: RUF001
    key = hashlib.sha256(salt.encode()).digest()[:16]
    expected = np.array([siphash_reference(key, u.encode("utf-8")) >> 11 for u in units], dtype=np.float64)
    np.testing.assert_array_equal(hash_units(units, salt), expected * 2.0**-53)


def test_canonical_keys_of_ints_strings_and_bytes_agree() -> None:
    ref = hash_units(["42", "7", "-3"], "s")
    for same in ([42, 7, -3], np.array([42, 7, -3]), np.array([42, 7, -3], dtype=np.int16), [b"42", b"7", b"-3"]):
        np.testing.assert_array_equal(hash_units(same, "s"), ref)
    np.testing.assert_array_equal(hash_units(np.array(["42", "7", "-3"], dtype=object), "s"), ref)
    assert hash_units(["42"], "s")[0] != hash_units(["42"], "t")[0]
    assert hash_units([], "s").shape == (0,)
    with pytest.raises(InputError, match="float"):
        hash_units([1.5, 2.0], "s")
    with pytest.raises(InputError, match="1-d"):
        hash_units([[1, 2]], "s")
    with pytest.raises(InputError, match="salt"):
        hash_units([1], 3)  # type: ignore[arg-type]


def test_hash_is_uniform() -> None:
    h = hash_units(np.arange(200_000), "uniformity")
    assert stats.kstest(h, "uniform").pvalue > 1e-4
    buckets = np.floor(h * 64).astype(int)
    assert stats.chisquare(np.bincount(buckets, minlength=64)).pvalue > 1e-4


GOLDEN = ["green", "control", "control"]  # fixed by the hash; must never change across versions


def test_golden_assignments() -> None:
    exp = Experiment.create("button-color", {"control": 0.5, "green": 0.5})
    assert exp.assign(["alice", "bob", "carol"]).tolist() == GOLDEN
    assert int(hash_units(["alice"], "exp-1")[0] * 2**53) == 0x1552D6536FAB2C5A >> 11


def test_stable_across_processes_and_hash_seeds() -> None:
    code = (
        "import json, numpy as np\n"
        "from abrec.abtest.assignment import Experiment, hash_units\n"
        "exp = Experiment.create('e', {'a': 0.2, 'b': 0.3, 'c': 0.5}, coverage=0.9)\n"
        "units = [f'user-{i}' for i in range(500)] + list(range(500))\n"
        "print(json.dumps([exp.assign(units).tolist(), hash_units(units, 'x').tolist()]))\n"
    )
    exp = Experiment.create("e", {"a": 0.2, "b": 0.3, "c": 0.5}, coverage=0.9)
    units: list[str | int] = [f"user-{i}" for i in range(500)]
    units += list(range(500))
    here = [exp.assign(units).tolist(), hash_units(units, "x").tolist()]
    # This process runs under another (usually random) hash seed; str hashes differ, the assignment must not.
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == here


# ---------------------------------------------------------------------------------------- proportions


def test_proportions_match_weights_over_many_salts() -> None:
    weights = {"a": 0.5, "b": 0.3, "c": 0.2}
    coverage = 0.9
    units = np.array([f"u{i}" for i in range(3000)])
    expected = np.array([1 - coverage, *(coverage * w for w in weights.values())])
    pvalues = []
    for s in range(150):
        exp = Experiment.create("exp", weights, coverage=coverage, salt=f"salt-{s}")
        got = exp.assign(units)
        counts = np.array([(got == label).sum() for label in ["", *weights]])
        pvalues.append(stats.chisquare(counts, expected * units.size).pvalue)
    rate = float(np.mean(np.array(pvalues) < ALPHA))
    assert abs(rate - ALPHA) < tolerance(ALPHA, len(pvalues)), rate
    assert stats.kstest(pvalues, "uniform").pvalue > 1e-4


def test_exact_bucket_counts_follow_weights() -> None:
    exp = Experiment.create("e", {"a": 1.0, "b": 2.0, "c": 0.0}, coverage=0.75)
    owned = exp.traffic
    assert abs(owned["a"] - 0.25) <= 1 / N_BUCKETS and abs(owned["b"] - 0.5) <= 1 / N_BUCKETS
    assert owned["c"] == 0.0 and abs(exp.coverage - 0.75) <= 1 / N_BUCKETS
    assert sum(r.stop - r.start for r in exp.ranges) == N_BUCKETS
    assert Experiment.create("e", ["x", "y"]).weights == {"x": 0.5, "y": 0.5}


# ------------------------------------------------------------------------------- layers and independence


def test_layers_are_exclusive_inside_and_independent_across() -> None:
    units = np.array([f"id{i}" for i in range(4000)])
    pvalues_across, pvalues_member = [], []
    for s in range(120):
        e1 = Experiment.create("rank", ["c", "t"], salt=f"rank-{s}")
        e2 = Experiment.create("banner", {"c": 0.7, "t": 0.3}, salt=f"banner-{s}")
        e3 = Experiment.create("price", ["c", "t", "u"], salt=f"price-{s}")
        layer1 = Layer.create("L1", [e1, e2], shares={"rank": 0.6, "banner": 0.4}, salt=f"L1-{s}")
        layer2 = Layer.create("L2", [e3], salt=f"L2-{s}")
        out = Assigner((layer1, layer2)).assign(units)
        assert not ((out["rank"] != "") & (out["banner"] != "")).any()  # exclusive within a layer
        assert ((out["rank"] != "") | (out["banner"] != "")).all()  # shares sum to 1: everyone in one
        assert (out["price"] != "").all()
        # Across layers: rank's variant x price's variant is a table of independent factors.
        table = np.array([[np.sum((out["rank"] == a) & (out["price"] == b)) for b in "ctu"] for a in "ct"])
        pvalues_across.append(stats.chi2_contingency(table).pvalue)
        # Within a layer: which experiment a unit is in does not predict its variant in another layer.
        member = np.where(out["rank"] != "", 0, 1)
        table2 = np.array([[np.sum((member == m) & (out["price"] == b)) for b in "ctu"] for m in (0, 1)])
        pvalues_member.append(stats.chi2_contingency(table2).pvalue)
    for pvalues in (pvalues_across, pvalues_member):
        rate = float(np.mean(np.array(pvalues) < ALPHA))
        assert abs(rate - ALPHA) < tolerance(ALPHA, len(pvalues)), rate


def test_same_salt_is_refused() -> None:
    e1 = Experiment.create("a", ["x", "y"], salt="same")
    e2 = Experiment.create("b", ["x", "y"], salt="same")
    with pytest.raises(ParameterError, match="same"):
        Assigner((Layer.create("L1", [e1]), Layer.create("L2", [e2])))
    with pytest.raises(ParameterError, match="unique"):
        Assigner((Layer.create("L1", [e1]), Layer.create("L2", [e1])))


def test_layer_shares_and_reshare_moves_little() -> None:
    e1, e2 = Experiment.create("a", ["x", "y"]), Experiment.create("b", ["x", "y"])
    layer = Layer.create("L", [e1, e2], shares={"a": 0.3, "b": 0.3})
    units = np.arange(100_000)
    before = layer.which(units)
    for label, share in (("a", 0.3), ("b", 0.3), ("", 0.4)):
        rate = float(np.mean(before == label))
        assert abs(rate - share) < tolerance(share, units.size)
    after = layer.with_shares({"a": 0.5, "b": 0.3}).which(units)
    moved = before != after
    assert set(zip(before[moved].tolist(), after[moved].tolist(), strict=True)) == {("", "a")}
    assert abs(moved.mean() - 0.2) < tolerance(0.2, units.size)
    with pytest.raises(ParameterError, match="at most 1"):
        layer.with_shares({"a": 0.7, "b": 0.4})
    with pytest.raises(UnknownNameError, match="Did you mean 'a'"):
        layer.with_shares({"a2": 0.1})
    updated = layer.with_experiment(e1.reweight({"x": 0.9, "y": 0.1}))
    assert updated.experiments[0].weights["x"] > 0.89 and updated.ranges == layer.ranges


# -------------------------------------------------------------------------------------------- holdout


def test_holdout_is_excluded_consistently_and_nested() -> None:
    exp = Experiment.create("e", ["a", "b"])
    other = Experiment.create("f", ["a", "b"])
    units = np.arange(60_000)
    small = Assigner((Layer.create("L1", [exp]), Layer.create("L2", [other])), holdout=0.1)
    held = small.held_out(units)
    assert abs(held.mean() - 0.1) < tolerance(0.1, units.size)
    out = small.assign(units)
    for variant in out.values():
        assert (variant[held] == "").all() and (variant[~held] != "").all()
    # Held out units stay held out: same answer on a shuffled call, and a larger holdout is a superset.
    perm = np.random.default_rng(1).permutation(units.size)
    np.testing.assert_array_equal(small.held_out(units[perm]), held[perm])
    larger = Assigner(small.layers, holdout=0.25).held_out(units)
    assert (larger[held]).all() and abs(larger.mean() - 0.25) < tolerance(0.25, units.size)
    # Outside the holdout, variants are those of the experiment alone.
    np.testing.assert_array_equal(out["e"][~held], exp.assign(units[~held]))


# ---------------------------------------------------------------------------------- minimal movement


def _random_weights(rng: np.random.Generator, names: list[str]) -> dict[str, float]:
    w = rng.dirichlet(np.ones(len(names)))
    w[rng.random(len(names)) < 0.2] = 0.0  # some variants drop to zero
    if w.sum() == 0:
        w[0] = 1.0
    return dict(zip(names, w.tolist(), strict=True))


def test_reweight_moves_only_the_minimal_fraction() -> None:
    rng = np.random.default_rng(7)
    units = np.arange(40_000)
    for case in range(40):
        names = ["a", "b", "c", "d"][: 2 + case % 3]
        old = Experiment.create("e", _random_weights(rng, names), coverage=float(rng.uniform(0.3, 1.0)), salt="s")
        new_names = names + (["z"] if case % 4 == 0 else [])  # sometimes a new variant appears
        if case % 5 == 0:
            new_names = new_names[1:]  # sometimes one disappears
        new = old.reweight(_random_weights(rng, new_names), coverage=float(rng.uniform(0.3, 1.0)))
        before, after = old.traffic | {"": 1 - old.coverage}, new.traffic | {"": 1 - new.coverage}
        labels = set(before) | set(after)
        shrink = {k: before.get(k, 0.0) - after.get(k, 0.0) for k in labels}
        minimal = sum(max(0.0, d) for d in shrink.values())
        assert abs(old.moved_fraction(new) - minimal) < 1e-12
        a, b = old.assign(units), new.assign(units)
        moved = a != b
        for src, dst in set(zip(a[moved].tolist(), b[moved].tolist(), strict=True)):
            assert shrink[src] > 0 and shrink[dst] < 0, (src, dst)  # out of shrinking, into growing labels
        for label in labels:
            if shrink[label] <= 0:
                assert (b[a == label] == label).all()  # a label that did not shrink keeps all its units
        assert abs(moved.mean() - minimal) < tolerance(max(minimal, 1e-3), units.size) + 1e-9


def test_reweight_moves_exactly_the_transferred_buckets() -> None:
    old = Experiment.create("e", {"a": 0.5, "b": 0.5})
    new = old.reweight({"a": 0.2, "b": 0.8})
    assert new.ranges == (
        BucketRange("a", 0, 858993459),
        BucketRange("b", 858993459, N_BUCKETS),
    )
    units = np.arange(20_000)
    buckets = old.buckets(units)
    moved = old.assign(units) != new.assign(units)
    np.testing.assert_array_equal(moved, (buckets >= 858993459) & (buckets < 2**31))
    # Movement is minimal with respect to the current version: going back moves 30% again (b's last buckets
    # go to a), it does not restore the first version's ranges.
    back = new.reweight({"a": 0.5, "b": 0.5})
    assert back.traffic == old.traffic and abs(new.moved_fraction(back) - 0.3) < 1e-9


def test_sticky_storage_never_moves_assigned_units() -> None:
    exp = Experiment.create("e", {"a": 0.5, "b": 0.5}, coverage=0.5)
    units = [f"u{i}" for i in range(5000)]
    store: dict[str, str] = {}
    first = exp.assign(units, sticky=store)
    assert set(store) == {u for u, v in zip(units, first.tolist(), strict=True) if v}  # only enrolled units
    shrunk = exp.reweight({"a": 0.1, "b": 0.9}, coverage=1.0)
    again = shrunk.assign(units, sticky=store)
    enrolled = first != ""
    np.testing.assert_array_equal(again[enrolled], first[enrolled])
    assert (again[~enrolled] != "").all() and all(store[u] == v for u, v in zip(units, again.tolist(), strict=True))
    without = shrunk.assign(units)
    assert (without[enrolled] != first[enrolled]).any()  # without storage some units did move
    # A stored variant that no longer exists is replaced.
    renamed = shrunk.reweight({"b": 1.0})
    assert set(renamed.assign(units, sticky=store).tolist()) == {"b"}


def test_sticky_storage_through_the_assigner() -> None:
    exp = Experiment.create("e", {"a": 0.5, "b": 0.5})
    stores: dict[str, dict[str, str]] = {"e": {}}
    assigner = Assigner((Layer.create("L", [exp]),), holdout=0.2)
    units = np.arange(1000)
    out = assigner.assign(units, sticky=stores)["e"]
    assert len(stores["e"]) == int((out != "").sum())
    assert all(stores["e"][str(u)] == v for u, v in zip(units.tolist(), out.tolist(), strict=True) if v)


def test_invalid_configurations_are_refused() -> None:
    with pytest.raises(ParameterError, match="coverage"):
        Experiment.create("e", ["a"], coverage=1.5)
    with pytest.raises(ParameterError, match="positive weight"):
        Experiment.create("e", {"a": 0.0})
    with pytest.raises(ParameterError, match="weight of 'a'"):
        Experiment.create("e", {"a": -1.0, "b": 1.0})
    with pytest.raises(ParameterError, match="non-empty"):
        Experiment.create("e", {"": 1.0})
    with pytest.raises(ParameterError, match="must end at"):
        Experiment("e", ("a",), (BucketRange("a", 0, 10),), "e")
    with pytest.raises(ParameterError, match="tile"):
        Experiment("e", ("a",), (BucketRange("a", 0, 10), BucketRange("a", 20, N_BUCKETS)), "e")
    with pytest.raises(UnknownNameError):
        Experiment("e", ("a",), (BucketRange("b", 0, N_BUCKETS),), "e")
    with pytest.raises(ParameterError, match="holdout"):
        Assigner((), holdout=-0.1)
    with pytest.raises(InputError, match="salts differ"):
        Experiment.create("e", ["a"]).moved_fraction(Experiment.create("e", ["a"], salt="other"))
