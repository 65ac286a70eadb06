"""Save and load policies: a versioned, pickle-free ``.npz`` file.

Layout: ``__header__`` holds abrec's file header (:class:`abrec._header.FileHeader` of kind
'policy': format name and version, abrec version) whose fields are the policy registry name and class
version, hyperparameters, dimensions and generator state; ``__item_ids__`` the item ids in row order;
every other entry is a learned array. Files are read with ``allow_pickle=False``: loading never
executes code.
"""

from __future__ import annotations

import os
import zipfile
from typing import IO, Any

import numpy as np

from .._header import FileHeader
from ..errors import StateError
from ._items import ItemIndex
from .base import Policy

KIND = "policy"
FORMAT_VERSION = 1


def _encode(value: Any) -> Any:
    if isinstance(value, dict):
        return {"__pairs__": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot save parameter value {value!r} of type {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and "__pairs__" in value:
        return {_key(_decode(k)): _decode(v) for k, v in value["__pairs__"]}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _key(k: Any) -> Any:
    return tuple(k) if isinstance(k, list) else k


def save_policy(policy: Policy, path: str | os.PathLike[str]) -> None:
    """Write ``policy`` to ``path`` (a ``.npz`` file), atomically."""
    path = os.fspath(path)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            save_policy_to(policy, fh)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def save_policy_to(policy: Policy, fh: IO[bytes]) -> None:
    """Write ``policy``'s ``.npz`` state to the binary file object ``fh`` (e.g. ``io.BytesIO``): the bytes
    :func:`save_policy` writes to a file."""
    params = dict(policy.get_params())
    params.pop("seed", None)
    seed = policy.seed
    fields = {
        "policy": policy.name,
        "policy_version": policy.version,
        "params": _encode(params),
        "seed": int(seed) if isinstance(seed, int | np.integer) and not isinstance(seed, bool) else None,
        "dim": policy._dim,
        "feature_dim": policy._feature_dim,
        "n_items": policy.n_items,
        "rng": policy._rng.bit_generator.state,
        "bit_generator": type(policy._rng.bit_generator).__name__,
    }
    n = policy.n_items
    arrays: dict[str, Any] = {f"item:{k}": v[:n] for k, v in policy._state.items()}
    arrays.update({f"extra:{k}": v for k, v in policy._extra_state().items()})
    ids = policy.item_ids
    if ids.dtype.kind == "O":
        raise StateError("item ids must be ints or strings to be saved.")
    header = FileHeader(KIND, FORMAT_VERSION, fields).encode()
    np.savez(fh, __header__=np.array(header), __item_ids__=ids, **arrays)


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read a policy written by :func:`save_policy`; any problem raises :class:`StateError`."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            return load_policy_from(fh, name=path)
    except OSError as exc:
        raise StateError(f"{path} is not a readable abrec policy file ({exc}).") from exc


def load_policy_from(fh: IO[bytes], *, name: str = "the policy state") -> Policy:
    """Read a policy from the binary file object ``fh`` (what :func:`save_policy_to` wrote); ``name`` says
    where it came from in error messages. Any problem raises :class:`StateError`."""
    from .registry import policy_class

    path = name
    try:
        with np.load(fh, allow_pickle=False) as z:
            data = {key: z[key] for key in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise StateError(f"{path} is not a readable abrec policy file ({exc}).") from exc
    raw = data.pop("__header__", None)
    header = FileHeader.decode(
        None if raw is None else str(raw), path=path, kind=KIND, version=FORMAT_VERSION, error=StateError
    ).fields
    if "__item_ids__" not in data:
        raise StateError(f"{path} is corrupt: it has no item ids.")
    missing_fields = sorted(
        {"policy", "policy_version", "params", "seed", "n_items", "dim", "feature_dim", "rng"} - set(header)
    )
    if missing_fields:
        raise StateError(f"{path} is corrupt: its header lacks {missing_fields}.")
    try:
        cls = policy_class(str(header["policy"]))
    except KeyError as exc:
        raise StateError(f"{path} holds a policy this abrec does not know: {exc}") from exc
    if header["policy_version"] != cls.version:
        raise StateError(
            f"{path} holds {cls.__name__} version {header['policy_version']}; this abrec has version {cls.version}."
        )
    policy = cls(**_decode(header["params"]), seed=header["seed"])
    ids = data.pop("__item_ids__")
    n_items = int(header["n_items"])
    if ids.shape != (n_items,):
        raise StateError(f"{path} is corrupt: {ids.shape[0]} item ids for {n_items} items.")
    policy._items = ItemIndex.from_ids(ids)
    policy._dim = header["dim"]
    policy._feature_dim = header["feature_dim"]
    policy._state.clear()
    policy._initialised_rows = 0
    policy._ensure_rows()
    spec = policy._item_state()
    extra: dict[str, Any] = {}
    for key, value in data.items():
        kind, _, name = key.partition(":")
        if kind == "item" and name in spec and name in policy._state:
            target = policy._state[name]
            if value.shape != (n_items, *target.shape[1:]):
                raise StateError(f"{path} is corrupt: array {name!r} has shape {value.shape}.")
            target[:n_items] = value
        elif kind == "extra":
            extra[name] = value
        else:
            raise StateError(f"{path} holds an unexpected array {key!r} for {cls.__name__}.")
    missing = set(spec) - {k.partition(":")[2] for k in data if k.startswith("item:")}
    if n_items and policy._state and missing:
        raise StateError(f"{path} is corrupt: arrays {sorted(missing)} are missing.")
    policy._load_extra_state(extra)
    try:
        policy._rng.bit_generator.state = header["rng"]
    except (TypeError, ValueError, KeyError) as exc:
        raise StateError(f"{path} has an unreadable generator state ({exc}).") from exc
    return policy
