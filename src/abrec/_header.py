"""The one header of every versioned file abrec writes, and the one check of it when the file is read.

Policies (``.npz``), PCA reducers (``.npz``), embeddings files (``.npz``/``.parquet``), embedding
caches (SQLite) and data tables (Parquet) all carry the same JSON object::

    {"format": "abrec.<kind>", "format_version": <int>, "abrec_version": "<x.y.z>", ...fields}

in a ``__header__`` array, a Parquet schema-metadata entry ``abrec``, or one SQLite row per key.
:meth:`FileHeader.decode` reads it back and, given the kind and versions the caller reads, refuses
anything else with one message format, in the error type the caller raises (``StateError``,
``DataError``, ``CacheError``)::

    p.npz holds an abrec 'policy' file of version 2; this abrec reads version 1: upgrade abrec to
    read it (it was written by abrec 0.3.0).

Parquet tables written before this header (``{"kind": "catalog", "version": 1, ...}``) and
embeddings files that also held ``"kind"`` and ``"abrec"`` keys are still read.

This module imports nothing from abrec but its version, so that any layer may use it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import __version__

__all__ = ["FileHeader"]

PREFIX = "abrec."
_RESERVED = frozenset({"format", "format_version", "abrec_version", "kind", "version"})


@dataclass(frozen=True)
class FileHeader:
    """What a file is (``kind``), its layout version, the abrec that wrote it, and the writer's own fields.

    Attributes
    ----------
    kind : str
        'policy', 'pca-reducer', 'embeddings', 'embedding-cache', 'catalog', 'interaction_log', ...
    version : int
        The layout version of that kind (>= 1), raised whenever an older reader could misread it.
    fields : Mapping[str, Any]
        JSON-serialisable entries of the writer (identity, dimensions, hyperparameters, ...).
    abrec_version : str or None
        The abrec version that wrote the file (this one by default; None when an old file did not say).

    Examples
    --------
    >>> header = FileHeader("embeddings", 1, {"identity": "fake:2", "dim": 2}, abrec_version="0.1.0")
    >>> header.encode()
    '{"format": "abrec.embeddings", "format_version": 1, "abrec_version": "0.1.0", "identity": "fake:2", "dim": 2}'
    >>> FileHeader.decode(header.encode(), path="e.npz", kind="embeddings", version=1, error=ValueError) == header
    True
    >>> FileHeader.decode(header.encode(), path="e.npz", kind="policy", version=1, error=ValueError)
    Traceback (most recent call last):
    ...
    ValueError: e.npz holds an abrec 'embeddings' file, not an abrec 'policy' file.
    """

    kind: str
    version: int
    fields: Mapping[str, Any] = field(default_factory=dict)
    abrec_version: str | None = __version__

    def __post_init__(self) -> None:
        if not isinstance(self.kind, str) or not self.kind:
            raise ValueError(f"A file header needs a non-empty kind. Got {self.kind!r}.")
        if not _is_version(self.version):
            raise ValueError(f"A file header's version is an int >= 1. Got {self.version!r}.")
        clash = sorted(_RESERVED.intersection(self.fields))
        if clash:
            raise ValueError(f"A file header's fields may not be named {clash}: the header uses those names.")
        object.__setattr__(self, "fields", dict(self.fields))

    def as_dict(self) -> dict[str, Any]:
        """The JSON object written to disk: ``format``, ``format_version``, ``abrec_version``, then the fields."""
        return {
            "format": PREFIX + self.kind,
            "format_version": self.version,
            "abrec_version": self.abrec_version,
            **self.fields,
        }

    def encode(self) -> str:
        """:meth:`as_dict` as JSON text."""
        return json.dumps(self.as_dict())

    @classmethod
    def decode(
        cls,
        raw: str | bytes | Mapping[str, Any] | None,
        *,
        path: str | os.PathLike[str],
        error: type[Exception],
        kind: str | None = None,
        version: int | None = None,
        oldest: int | None = None,
    ) -> FileHeader:
        """Read a header (JSON text, or the already parsed object) and check it is one this abrec reads.

        Parameters
        ----------
        raw : str, bytes, mapping or None
            The header as stored; None when the file has none.
        path : the file, named in every message.
        error : the exception type to raise (the caller's: StateError, DataError, CacheError, ...).
        kind : the kind expected; None accepts any (and then no version is checked).
        version, oldest : int, optional
            The newest and oldest versions of ``kind`` this abrec reads (``oldest`` defaults to
            ``version``); None skips the version check.

        Raises
        ------
        error
            No header, a corrupt one (not JSON, not an object, no format or version), another
            program's format, another kind, or a version outside ``[oldest, version]``.
        """
        what = f"abrec {kind!r} file" if kind else "abrec file"
        if raw is None:
            raise error(f"{path} is not an {what} (no header).")
        if isinstance(raw, str | bytes):
            try:
                doc = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise error(f"{path} has a corrupt abrec header ({exc}).") from exc
        else:
            doc = raw
        if not isinstance(doc, Mapping):
            raise error(f"{path} has a corrupt abrec header (not a JSON object).")
        rest = dict(doc)
        if "format" in rest:
            fmt = rest.pop("format")
            if not isinstance(fmt, str) or not fmt.startswith(PREFIX) or fmt == PREFIX:
                raise error(f"{path} is not an {what} (format {fmt!r}).")
            found, found_version = fmt[len(PREFIX) :], rest.pop("format_version", None)
            written_by = rest.pop("abrec_version", None)
            if rest.get("kind") == found:  # embeddings files written before this header repeated the kind
                del rest["kind"]
            if written_by is None and isinstance(rest.get("abrec"), str):  # ... and named the abrec version so
                written_by = rest.pop("abrec")
        elif "kind" in rest:  # Parquet tables written before this header: {"kind": ..., "version": ...}
            found, found_version, written_by = rest.pop("kind"), rest.pop("version", 1), None
        else:
            raise error(f"{path} has a corrupt abrec header (it names no format).")
        if not isinstance(found, str) or not found:
            raise error(f"{path} has a corrupt abrec header (kind {found!r}).")
        if kind is not None and found != kind:
            raise error(f"{path} holds an abrec {found!r} file, not an abrec {kind!r} file.")
        if not _is_version(found_version):
            raise error(f"{path} has a corrupt abrec header (version {found_version!r} is not an int >= 1).")
        if written_by is not None and not isinstance(written_by, str):
            raise error(f"{path} has a corrupt abrec header (abrec version {written_by!r}).")
        if kind is not None and version is not None:
            low = version if oldest is None else oldest
            if not low <= found_version <= version:
                readable = f"version {version}" if low == version else f"versions {low} to {version}"
                by = f" (it was written by abrec {written_by})" if written_by else ""
                advice = f"upgrade abrec to read it{by}" if found_version > version else "re-create it with this abrec"
                raise error(
                    f"{path} holds an abrec {found!r} file of version {found_version}; this abrec reads {readable}: "
                    f"{advice}."
                )
        rest = {k: v for k, v in rest.items() if k not in _RESERVED}
        return cls(found, found_version, rest, abrec_version=written_by)


def _is_version(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
