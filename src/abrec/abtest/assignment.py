"""Deterministic assignment of units (users, sessions) to experiment variants by salted hashing.

Every unit id is hashed with SipHash-2-4 keyed by a salt (see :func:`hash_units`); the top 32 bits of the
hash are the unit's *bucket* in ``[0, 2**32)``. An :class:`Experiment` partitions the bucket space into
ranges, each owned by one variant or by ``""`` (not in the experiment, the part that ``coverage`` leaves
out). A :class:`Layer` partitions its own bucket space (its own salt) between experiments, so experiments in
one layer never share a unit, while experiments in different layers, hashed with different salts, are
independent. An :class:`Assigner` puts layers together behind a global holdout.

Changing weights moves as few units as possible. :meth:`Experiment.reweight` edits the ranges in place:
every variant whose share shrank gives up buckets from the end of its ranges, and the freed buckets go to
the variants whose share grew; nothing else changes. The fraction of units that move is therefore
``sum(max(0, old - new))`` over variants (traffic shares, ``""`` included), the least any reassignment can
achieve, and no unit ever moves between two variants that both kept or grew their share (the "sticky" range
editing of Optimizely and GrowthBook). A unit that must never move at all, even when its variant shrinks,
is served from *sticky storage*: pass ``sticky=`` a dict-like mapping (one per experiment, keyed by the
unit's canonical key, see :func:`hash_units`) and every unit keeps the variant recorded the first time it
was assigned, for as long as that variant exists.

References
----------
Tang, Agarwal, O'Brien and Meyer (2010), "Overlapping experiment infrastructure: more, better, faster
experimentation", KDD (layers and salted hashing). Aumasson and Bernstein (2012), "SipHash: a fast
short-input PRF", INDOCRYPT.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from .._params import Interval, validate_params
from ..errors import InputError, ParameterError, UnknownNameError
from ._hashing import hash64, unit_bytes

__all__ = ["N_BUCKETS", "Assigner", "BucketRange", "Experiment", "Layer", "hash_units"]

N_BUCKETS = 2**32
"""Size of the bucket space: a unit's bucket is the top 32 bits of its 64-bit hash."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
StrArray = npt.NDArray[np.str_]
BoolArray = npt.NDArray[np.bool_]
Sticky = MutableMapping[str, str]


def hash_units(units: npt.ArrayLike, salt: str) -> FloatArray:
    """Uniform hashes in ``[0, 1)`` of unit ids, stable across processes, platforms and ``PYTHONHASHSEED``.

    The hash is SipHash-2-4 of the UTF-8 bytes of the unit's canonical key (a string as it is, an integer
    as its decimal digits, so ``42`` and ``"42"`` are one unit; ``bytes`` as they are, and they must not
    end in a NUL byte) under the 128-bit key ``sha256(utf8(salt))[:16]`` (two little-endian 64-bit words).
    The returned float is the top 53 bits of the hash over ``2**53``; a unit's bucket is
    ``floor(hash * 2**32)``. Any SipHash implementation reproduces it.

    Parameters
    ----------
    units : 1-d array-like of str, bytes or int
        The unit ids.
    salt : str
        The salt: hashes under different salts are independent.

    Returns
    -------
    (n,) float array in [0, 1).

    Examples
    --------
    >>> h = hash_units(["alice", "bob", 42], salt="exp-1")
    >>> bool(((h >= 0) & (h < 1)).all()), bool(hash_units([42], "exp-1")[0] == hash_units(["42"], "exp-1")[0])
    (True, True)
    """
    out: FloatArray = (hash64(units, salt) >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return out


def _buckets(units: npt.ArrayLike, salt: str) -> IntArray:
    return (hash64(units, salt) >> np.uint64(32)).astype(np.int64)


class BucketRange(NamedTuple):
    """Buckets ``start <= b < stop`` of ``[0, 2**32)`` owned by one label (a variant, or "" for none)."""

    label: str
    start: int
    stop: int


def _counts(weights: Mapping[str, float], total: int) -> dict[str, int]:
    """Integer bucket counts proportional to ``weights`` summing to ``total`` (largest remainder)."""
    names = list(weights)
    w = np.array([weights[k] for k in names], dtype=np.float64)
    exact = w / w.sum() * total
    base = np.floor(exact).astype(np.int64)
    rest = int(total - base.sum())
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:rest]] += 1
    return {k: int(c) for k, c in zip(names, base, strict=True)}


def _owned(ranges: Sequence[BucketRange]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in ranges:
        out[r.label] = out.get(r.label, 0) + r.stop - r.start
    return out


def _edit(ranges: Sequence[BucketRange], targets: Mapping[str, int]) -> tuple[BucketRange, ...]:
    """Minimal-movement edit: shrinking labels free buckets from their last ranges, growing labels take them."""
    owned = _owned(ranges)
    excess = {k: owned.get(k, 0) - targets.get(k, 0) for k in set(owned) | set(targets)}
    kept: list[BucketRange] = []
    freed: list[tuple[int, int]] = []
    for r in reversed(ranges):  # give up buckets from the end of each shrinking label's ranges
        give = min(max(excess[r.label], 0), r.stop - r.start)
        if give:
            excess[r.label] -= give
            freed.append((r.stop - give, r.stop))
        if r.stop - give > r.start:
            kept.append(BucketRange(r.label, r.start, r.stop - give))
    freed.sort()
    growing = [k for k in targets if excess[k] < 0]  # in the order of the new weights
    out = kept
    for label in growing:
        need = -excess[label]
        while need:
            start, stop = freed[0]
            take = min(need, stop - start)
            out.append(BucketRange(label, start, start + take))
            need -= take
            if start + take == stop:
                freed.pop(0)
            else:
                freed[0] = (start + take, stop)
    return _merge(out)


def _merge(ranges: Iterable[BucketRange]) -> tuple[BucketRange, ...]:
    merged: list[BucketRange] = []
    for r in sorted(ranges, key=lambda r: r.start):
        if r.stop <= r.start:
            continue
        if merged and merged[-1].label == r.label and merged[-1].stop == r.start:
            merged[-1] = BucketRange(r.label, merged[-1].start, r.stop)
        else:
            merged.append(r)
    return tuple(merged)


def _lookup(ranges: Sequence[BucketRange], buckets: IntArray) -> StrArray:
    starts = np.array([r.start for r in ranges], dtype=np.int64)
    labels = np.array([r.label for r in ranges], dtype=np.str_)
    out: StrArray = labels[np.searchsorted(starts, buckets, side="right") - 1]
    return out


def _check_partition(owner: str, ranges: Sequence[BucketRange], labels: Sequence[str]) -> None:
    position = 0
    for r in ranges:
        if r.start != position or r.stop <= r.start:
            raise ParameterError(
                f"The ranges of {owner} must tile [0, 2**32) in order without gaps or overlaps. "
                f"Got {r!r} after bucket {position}."
            )
        if r.label != "" and r.label not in labels:
            raise UnknownNameError("label", r.label, labels)
        position = r.stop
    if position != N_BUCKETS:
        raise ParameterError(f"The ranges of {owner} must end at 2**32 = {N_BUCKETS}. Got {position} instead.")


def _check_weights(owner: str, weights: Mapping[str, float]) -> None:
    for name, w in weights.items():
        if not isinstance(name, str) or not name:
            raise ParameterError(f"The names in {owner} must be non-empty strings. Got {name!r} instead.")
        validate_params(owner, {f"weight of {name!r}": Interval("float", 0.0)}, {f"weight of {name!r}": w})
    if not weights or sum(weights.values()) <= 0:
        raise ParameterError(f"The weights of {owner} must include a positive weight. Got {dict(weights)!r} instead.")


_COVERAGE = {"coverage": Interval("float", 0.0, 1.0)}


@dataclass(frozen=True, slots=True)
class Experiment:
    """One experiment: its variants, each owning ranges of the bucket space of the experiment's salt.

    Build it with :meth:`create` and change its weights or coverage with :meth:`reweight`, which moves the
    fewest units possible (see the module docstring).

    Attributes
    ----------
    name : str
        The experiment's name, unique in an :class:`Assigner`.
    variants : tuple of str
        All variant names, in order (a variant of weight 0 owns no buckets but keeps its sticky units).
    ranges : tuple of BucketRange
        The partition of ``[0, 2**32)``; the label ``""`` marks units outside the experiment.
    salt : str
        The hash salt (by default the name).

    Examples
    --------
    >>> exp = Experiment.create("button-color", {"control": 0.5, "green": 0.5})
    >>> exp.assign(["alice", "bob", "carol"]).tolist() == exp.assign(["alice", "bob", "carol"]).tolist()
    True
    >>> bigger = exp.reweight({"control": 0.2, "green": 0.8})
    >>> round(exp.moved_fraction(bigger), 6)  # only 30% of units move, all of them from control to green
    0.3
    """

    name: str
    variants: tuple[str, ...]
    ranges: tuple[BucketRange, ...]
    salt: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ParameterError(f"The 'name' parameter of Experiment must be a non-empty str. Got {self.name!r}.")
        if len(set(self.variants)) != len(self.variants) or "" in self.variants:
            raise ParameterError(
                f"The variants of Experiment {self.name!r} must be distinct non-empty strings. Got {self.variants!r}."
            )
        _check_partition(f"Experiment {self.name!r}", self.ranges, self.variants)

    @classmethod
    def create(
        cls,
        name: str,
        weights: Mapping[str, float] | Sequence[str],
        *,
        coverage: float = 1.0,
        salt: str | None = None,
    ) -> Experiment:
        """A new experiment splitting ``coverage`` of the units between variants in proportion to ``weights``.

        ``weights`` maps variant names to non-negative weights (normalised), or lists names for an even
        split. Bucket counts are rounded to whole buckets of ``2**-32`` by largest remainder.
        """
        w = _as_weights(weights)
        _check_weights(f"Experiment {name!r}", w)
        validate_params("Experiment", _COVERAGE, {"coverage": coverage})
        targets = _targets(w, coverage)
        ranges: list[BucketRange] = []
        position = 0
        for label, count in targets.items():
            ranges.append(BucketRange(label, position, position + count))
            position += count
        return cls(name, tuple(w), _merge(ranges), name if salt is None else salt)

    @property
    def coverage(self) -> float:
        """Fraction of units in the experiment."""
        return 1.0 - _owned(self.ranges).get("", 0) / N_BUCKETS

    @property
    def traffic(self) -> dict[str, float]:
        """Fraction of all units that each variant receives (exact, from the bucket counts)."""
        owned = _owned(self.ranges)
        return {v: owned.get(v, 0) / N_BUCKETS for v in self.variants}

    @property
    def weights(self) -> dict[str, float]:
        """Fraction of the units in the experiment that each variant receives."""
        covered = N_BUCKETS - _owned(self.ranges).get("", 0)
        owned = _owned(self.ranges)
        return {v: owned.get(v, 0) / covered if covered else 0.0 for v in self.variants}

    def reweight(
        self, weights: Mapping[str, float] | Sequence[str] | None = None, *, coverage: float | None = None
    ) -> Experiment:
        """The same experiment with new weights and/or coverage, moving the fewest units possible.

        Variants missing from ``weights`` are removed (their units move); new names are added. Units move
        only out of variants (or out of "not in the experiment") whose traffic share shrank, and only into
        ones whose share grew; the moved fraction is :meth:`moved_fraction`.
        """
        w = self.weights if weights is None else _as_weights(weights)
        _check_weights(f"Experiment {self.name!r}", w)
        cov = self.coverage if coverage is None else coverage
        validate_params("Experiment", _COVERAGE, {"coverage": cov})
        ranges = _edit(self.ranges, _targets(w, cov))
        return Experiment(self.name, tuple(w), ranges, self.salt)

    def moved_fraction(self, other: Experiment) -> float:
        """Exact fraction of units whose assignment differs between this experiment and ``other``."""
        if other.salt != self.salt:
            raise InputError(
                f"moved_fraction compares two versions of one experiment; the salts differ "
                f"({self.salt!r} and {other.salt!r}), so every unit is rehashed."
            )
        cuts = sorted({r.start for r in self.ranges} | {r.start for r in other.ranges} | {N_BUCKETS})
        starts = np.array(cuts[:-1], dtype=np.int64)
        widths = np.diff(np.array(cuts, dtype=np.int64))
        differ = _lookup(self.ranges, starts) != _lookup(other.ranges, starts)
        return float(widths[differ].sum()) / N_BUCKETS

    def buckets(self, units: npt.ArrayLike) -> IntArray:
        """The units' buckets in ``[0, 2**32)`` under this experiment's salt."""
        return _buckets(units, self.salt)

    def assign(self, units: npt.ArrayLike, *, sticky: Sticky | None = None) -> StrArray:
        """The variant of every unit, ``""`` for units outside the experiment.

        Parameters
        ----------
        units : 1-d array-like of str, bytes or int
            Unit ids (see :func:`hash_units` for how they are keyed).
        sticky : mutable mapping from str to str, optional
            Sticky storage of this experiment: units found in it get the stored variant (if it still
            exists), and units newly assigned to a variant are recorded in it.
        """
        keys = unit_bytes(units)
        out = _lookup(self.ranges, _buckets(keys, self.salt))
        if sticky is not None:
            out = out.astype(object)
            names = set(self.variants)
            for i, key in enumerate(np.char.decode(keys, "utf-8").tolist()):
                stored = sticky.get(key)
                if stored is not None and stored in names:
                    out[i] = stored
                elif out[i]:
                    sticky[key] = out[i]
            out = out.astype(np.str_) if out.size else np.zeros(0, dtype=np.str_)
        return out


def _as_weights(weights: Mapping[str, float] | Sequence[str]) -> dict[str, float]:
    if isinstance(weights, Mapping):
        return dict(weights)
    if isinstance(weights, str):
        raise ParameterError(f"weights must be a mapping of names to weights or a list of names. Got {weights!r}.")
    return dict.fromkeys(weights, 1.0)


def _targets(weights: Mapping[str, float], coverage: float) -> dict[str, int]:
    covered = round(coverage * N_BUCKETS)
    return {"": N_BUCKETS - covered, **(_counts(weights, covered) if covered else dict.fromkeys(weights, 0))}


@dataclass(frozen=True, slots=True)
class Layer:
    """Mutually exclusive experiments: each owns ranges of the layer's bucket space (the layer's salt).

    A unit is in at most one experiment of a layer; which one depends only on the layer's hash, so it is
    independent of the unit's variant inside that experiment (another salt) and of other layers.

    Examples
    --------
    >>> a = Experiment.create("ranking", ["control", "new"])
    >>> b = Experiment.create("banner", ["control", "big"])
    >>> layer = Layer.create("homepage", [a, b], shares={"ranking": 0.5, "banner": 0.5})
    >>> out = layer.assign(["alice", "bob", "carol", "dave"])
    >>> bool(((out["ranking"] == "") | (out["banner"] == "")).all())  # never in both
    True
    """

    name: str
    experiments: tuple[Experiment, ...]
    ranges: tuple[BucketRange, ...]
    salt: str

    def __post_init__(self) -> None:
        names = [e.name for e in self.experiments]
        if len(set(names)) != len(names):
            raise ParameterError(f"The experiments of Layer {self.name!r} must have distinct names. Got {names!r}.")
        _check_partition(f"Layer {self.name!r}", self.ranges, names)

    @classmethod
    def create(
        cls,
        name: str,
        experiments: Sequence[Experiment],
        *,
        shares: Mapping[str, float] | None = None,
        salt: str | None = None,
    ) -> Layer:
        """A layer giving each experiment a share of its units (even shares of the whole layer by default).

        Shares are fractions of all units and may sum to less than 1 (the rest is free for later
        experiments).
        """
        names = [e.name for e in experiments]
        if shares is None:
            shares = dict.fromkeys(names, 1.0 / len(names)) if names else {}
        layer_salt = f"layer:{name}" if salt is None else salt
        return Layer(name, tuple(experiments), (BucketRange("", 0, N_BUCKETS),), layer_salt).with_shares(shares)

    def with_shares(self, shares: Mapping[str, float]) -> Layer:
        """The layer with new experiment shares, moving the fewest units between experiments."""
        names = [e.name for e in self.experiments]
        for key, value in shares.items():
            if key not in names:
                raise UnknownNameError("experiment", key, names)
            label = f"share of {key!r}"
            validate_params(f"Layer {self.name!r}", {label: Interval("float", 0.0, 1.0)}, {label: value})
        total = sum(shares.values())
        if total > 1.0 + 1e-12:
            raise ParameterError(f"The shares of Layer {self.name!r} must sum to at most 1. Got {total!r} instead.")
        counts = {k: round(min(v, 1.0) * N_BUCKETS) for k, v in shares.items()}
        spill = sum(counts.values()) - N_BUCKETS
        if spill > 0:  # rounding pushed the total over 2**32 by a bucket or two
            counts[max(counts, key=counts.__getitem__)] -= spill
        targets = {**counts, "": N_BUCKETS - sum(counts.values())}
        return Layer(self.name, self.experiments, _edit(self.ranges, targets), self.salt)

    def with_experiment(self, experiment: Experiment) -> Layer:
        """The layer with ``experiment`` replacing the one of the same name (e.g. after a reweight)."""
        names = [e.name for e in self.experiments]
        if experiment.name not in names:
            raise UnknownNameError("experiment", experiment.name, names)
        exps = tuple(experiment if e.name == experiment.name else e for e in self.experiments)
        return Layer(self.name, exps, self.ranges, self.salt)

    def which(self, units: npt.ArrayLike) -> StrArray:
        """The experiment each unit belongs to in this layer, ``""`` for none."""
        return _lookup(self.ranges, _buckets(units, self.salt))

    def assign(
        self, units: npt.ArrayLike, *, sticky: Mapping[str, Sticky] | None = None, mask: BoolArray | None = None
    ) -> dict[str, StrArray]:
        """Each experiment's variant for every unit (``""`` outside it); ``mask`` limits who is eligible."""
        keys = unit_bytes(units)
        member = self.which(keys)
        out: dict[str, StrArray] = {}
        for exp in self.experiments:
            inside = member == exp.name
            if mask is not None:
                inside &= mask
            result = np.full(keys.shape[0], "", dtype=object)
            if inside.any():
                store = None if sticky is None else sticky.get(exp.name)
                result[inside] = exp.assign(keys[inside], sticky=store)
            out[exp.name] = result.astype(np.str_) if result.size else np.zeros(0, dtype=np.str_)
        return out


_HOLDOUT = {"holdout": Interval("float", 0.0, 1.0)}


@dataclass(frozen=True, slots=True)
class Assigner:
    """Layers of experiments behind a global holdout: a stable fraction of units that sees no experiment.

    The holdout takes the units whose bucket under ``holdout_salt`` is below ``holdout * 2**32``, so
    raising ``holdout`` only adds units to it. Salts must be distinct across layers and experiments.

    Examples
    --------
    >>> exp = Experiment.create("ranking", ["control", "new"])
    >>> assigner = Assigner((Layer.create("main", [exp]),), holdout=0.1)
    >>> out = assigner.assign(["alice", "bob"])
    >>> sorted(out)
    ['ranking']
    >>> bool((out["ranking"][assigner.held_out(["alice", "bob"])] == "").all())
    True
    """

    layers: tuple[Layer, ...]
    holdout: float = 0.0
    holdout_salt: str = "abrec:holdout"

    def __post_init__(self) -> None:
        validate_params("Assigner", _HOLDOUT, {"holdout": self.holdout})
        names = [e.name for layer in self.layers for e in layer.experiments]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ParameterError(f"Experiment names must be unique across layers. Got duplicates {dupes!r}.")
        salts = [self.holdout_salt, *(layer.salt for layer in self.layers)]
        salts += [e.salt for layer in self.layers for e in layer.experiments]
        same = sorted({s for s in salts if salts.count(s) > 1})
        if same:
            raise ParameterError(
                f"Salts must be distinct across the holdout, layers and experiments (a shared salt correlates "
                f"their assignments). Got repeated salts {same!r}; pass salt= to tell them apart."
            )

    def held_out(self, units: npt.ArrayLike) -> BoolArray:
        """Whether each unit is in the global holdout."""
        out: BoolArray = _buckets(units, self.holdout_salt) < round(self.holdout * N_BUCKETS)
        return out

    def assign(self, units: npt.ArrayLike, *, sticky: Mapping[str, Sticky] | None = None) -> dict[str, StrArray]:
        """Every experiment's variant for every unit, ``""`` where the unit is not in it.

        ``sticky`` maps experiment names to their sticky storage (see :meth:`Experiment.assign`); the
        holdout and the layers are applied first, so sticky storage never pulls a unit out of the holdout.
        """
        keys = unit_bytes(units)
        eligible = ~self.held_out(keys)
        out: dict[str, StrArray] = {}
        for layer in self.layers:
            out.update(layer.assign(keys, sticky=sticky, mask=eligible))
        return out
