"""Vectorised SipHash-2-4 of unit ids: the stable hash behind every assignment.

A unit id is hashed as the UTF-8 bytes of its canonical key: a string as it is, an integer as its decimal
digits (so ``42`` and ``"42"`` are the same unit), ``bytes`` as they are. The hash is SipHash-2-4
(Aumasson and Bernstein 2012, the keyed hash behind Python's own ``str`` hash before 3.11, Rust's
``HashMap`` and Linux' hash tables) with the 128-bit key ``sha256(utf8(salt))[:16]`` read as two
little-endian 64-bit words. It depends on nothing but these bytes: not on ``PYTHONHASHSEED``, the process,
the platform's byte order or numpy's version, and any SipHash library reproduces it, e.g. in Go::

    key := sha256.Sum256([]byte(salt)); h := siphash.Hash(le64(key[0:8]), le64(key[8:16]), []byte(unit))

SipHash is a pseudorandom function of its key, so hashes under two salts behave as independent uniform
draws: that is what makes experiments with different salts independent.

The implementation runs the compression over all ids at once, one 8-byte word at a time (numpy ``uint64``
arithmetic wraps modulo 2**64 like C's), masking the ids that have fewer words.
"""

from __future__ import annotations

import hashlib

import numpy as np
import numpy.typing as npt

from ..errors import InputError

U64Array = npt.NDArray[np.uint64]

_MASK = (1 << 64) - 1
_INIT = (0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573)


def salt_key(salt: str) -> tuple[int, int]:
    """The SipHash key ``(k0, k1)`` of a salt: the first 16 bytes of ``sha256(utf8(salt))``, little-endian."""
    digest = hashlib.sha256(salt.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little"), int.from_bytes(digest[8:16], "little")


def unit_bytes(units: npt.ArrayLike) -> npt.NDArray[np.bytes_]:
    """The canonical keys of unit ids as a 1-d numpy bytes array (UTF-8 of strings, decimal digits of ints)."""
    arr = np.asarray(units)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InputError(f"units must be a 1-d array of ids. Got shape {arr.shape}.")
    if arr.size == 0:
        return np.zeros(0, dtype="S1")
    kind = arr.dtype.kind
    if kind == "O":
        if any(isinstance(u, bool | float | np.bool_ | np.floating) for u in arr):
            raise InputError("unit ids must be strings, bytes or integers, not floats or bools.")
        keys = [u if isinstance(u, bytes) else str(int(u) if isinstance(u, np.integer) else u) for u in arr]
        return unit_bytes(np.array(keys))
    if kind in "iu":
        return arr.astype("S")
    if kind == "U":
        try:
            return arr.astype("S")  # ASCII fast path
        except UnicodeEncodeError:
            return np.char.encode(arr, "utf-8")
    if kind == "S":
        return arr
    raise InputError(
        f"unit ids must be strings, bytes or integers. Got an array of dtype {arr.dtype}; "
        "convert float ids to int or str first."
    )


def _rounds(v: list[U64Array], count: int) -> None:
    """``count`` SipRounds on the state ``v = [v0, v1, v2, v3]``, in place."""
    v0, v1, v2, v3 = v
    tmp = np.empty_like(v0)

    def rotl(x: U64Array, b: int) -> None:
        np.left_shift(x, np.uint64(b), out=tmp)
        np.right_shift(x, np.uint64(64 - b), out=x)
        x |= tmp

    for _ in range(count):
        v0 += v1
        rotl(v1, 13)
        v1 ^= v0
        rotl(v0, 32)
        v2 += v3
        rotl(v3, 16)
        v3 ^= v2
        v0 += v3
        rotl(v3, 21)
        v3 ^= v0
        v2 += v1
        rotl(v1, 17)
        v1 ^= v2
        rotl(v2, 32)


def siphash24(keys: npt.NDArray[np.bytes_], k0: int, k1: int) -> U64Array:
    """SipHash-2-4 of every byte string in ``keys`` under the key ``(k0, k1)``, as ``uint64``.

    numpy's bytes arrays drop trailing NUL bytes, so a key must not end in ``b"\\x00"``.
    """
    n = keys.shape[0]
    lengths = np.char.str_len(keys).astype(np.int64) if n else np.zeros(0, dtype=np.int64)
    longest = int(lengths.max(initial=0))
    n_words = longest // 8 + 1
    padded = np.zeros((n, 8 * n_words), dtype=np.uint8)
    if n and longest:
        raw = np.frombuffer(keys.astype(f"S{longest}").tobytes(), dtype=np.uint8).reshape(n, longest)
        padded[:, :longest] = raw
    words = padded.view("<u8").astype(np.uint64)
    last = lengths // 8
    # The last word carries the message length (mod 256) in its top byte.
    words[np.arange(n), last] |= (lengths & 0xFF).astype(np.uint64) << np.uint64(56)
    v = [np.full(n, np.uint64((k ^ c) & _MASK)) for k, c in zip((k0, k1, k0, k1), _INIT, strict=True)]
    for w in range(n_words):
        m = words[:, w]
        active = last >= w
        before = None if active.all() else [x.copy() for x in v]
        v[3] ^= m
        _rounds(v, 2)
        v[0] ^= m
        if before is not None:
            v = [np.where(active, new, old) for new, old in zip(v, before, strict=True)]
    v[2] ^= np.uint64(0xFF)
    _rounds(v, 4)
    out: U64Array = v[0] ^ v[1] ^ v[2] ^ v[3]
    return out


def hash64(units: npt.ArrayLike, salt: str) -> U64Array:
    """SipHash-2-4 of the canonical keys of ``units`` under the key derived from ``salt``."""
    if not isinstance(salt, str):
        raise InputError(f"salt must be a str. Got {salt!r}.")
    k0, k1 = salt_key(salt)
    return siphash24(unit_bytes(units), k0, k1)
