"""Reading and writing tables as CSV (optionally gzip-compressed) or Parquet, chosen by suffix; writing text.

Reads turn every parser failure into :class:`abrec.errors.DataError` naming the file; writes (tables
with :func:`write_frame`, text, JSON or HTML with :func:`write_text`) go to a temporary file in the
same folder (:func:`temp_file_for`) that replaces the target only once complete, so a failed write
never leaves a truncated file behind; the file gets the mode that the umask gives a new file
(usually 0644), as ``open`` would. Parquet files carry abrec's file header
(:class:`abrec._header.FileHeader`: what kind of table it is, its version, and how to rebuild it)
under the schema metadata key ``abrec``.
"""

from __future__ import annotations

import csv
import errno
import os
import secrets
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .._header import FileHeader
from ..errors import DataError
from ._schema import Source

__all__ = ["file_format", "read_csv", "read_parquet", "temp_file_for", "write_frame", "write_text"]

Format = Literal["csv", "parquet"]
_METADATA_KEY = b"abrec"
_SUFFIXES: dict[str, Format] = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".pq": "parquet"}


def file_format(path: str | os.PathLike[str]) -> Format:
    """The table format implied by a file name: ``.csv``/``.csv.gz`` or ``.parquet``/``.pq``.

    Examples
    --------
    >>> file_format("log.csv.gz"), file_format("log.parquet")
    ('csv', 'parquet')
    """
    name = Path(path).name.lower()
    for suffix, fmt in sorted(_SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return fmt
    raise DataError(f"{path}: unknown table format; use one of the suffixes {', '.join(_SUFFIXES)}")


def read_csv(
    path: str | os.PathLike[str],
    *,
    str_columns: Sequence[str] = (),
    index_col: int | None = None,
    sep: str = ",",
    names: Sequence[str] | None = None,
    encoding: str = "utf-8",
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_MINIMAL,
) -> tuple[pd.DataFrame, Source]:
    """Read a CSV file (``.gz`` decompressed on the fly) into a frame and its error-reporting source.

    Columns named in ``str_columns`` are kept as text; the others are inferred by pandas. Only empty
    cells count as missing ("NA", "null" stay text). With ``names`` the file has no header line.
    The returned :class:`Source` numbers rows as in :mod:`abrec.data._schema` (with a header,
    row 1 = line 2).
    """
    source = Source(str(path), line_offset=0 if names is not None else 1)
    options: dict[str, Any] = {"sep": sep, "encoding": encoding, "quoting": quoting, "index_col": index_col}
    if names is not None:
        options.update(header=None, names=list(names))
    try:
        header = pd.read_csv(path, nrows=0, **options)
        dtypes = {name: "str" for name in str_columns if name in header.columns}
        frame = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""], low_memory=False, **options)
    except FileNotFoundError:
        raise
    except pd.errors.EmptyDataError as exc:
        raise source.error("the file is empty (no header line)") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError, EOFError) as exc:
        raise source.error(f"cannot be read as CSV: {exc}") from exc
    return frame, source


def read_parquet(
    path: str | os.PathLike[str], *, kind: str | None = None, version: int | None = None, oldest: int | None = None
) -> tuple[pd.DataFrame, dict[str, Any], Source]:
    """Read a Parquet file into a frame, abrec's metadata and its error-reporting source.

    The metadata is what :func:`write_frame` was given: the header's fields with its ``kind`` and
    ``version`` (``{}`` for a file without abrec's header, e.g. one written by pandas). With ``kind``
    (and ``version``, the newest readable, and ``oldest``), a file whose header is of another kind or
    of a version outside ``[oldest, version]`` raises :class:`~abrec.errors.DataError`, as does a
    corrupt header.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "t.parquet"
    >>> write_frame(pd.DataFrame({"a": [1]}), path, metadata=FileHeader("table", 1, {"note": "x"}))
    >>> read_parquet(path, kind="table", version=1)[1]
    {'kind': 'table', 'version': 1, 'note': 'x'}
    >>> read_parquet(path, kind="catalog", version=1)
    Traceback (most recent call last):
    ...
    abrec.errors.DataError: ... holds an abrec 'table' file, not an abrec 'catalog' file.
    """
    source = Source(str(path))
    if not Path(path).exists():
        raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
    try:
        table = pq.read_table(path)
        frame = table.to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise source.error(f"cannot be read as Parquet: {exc}") from exc
    raw = (table.schema.metadata or {}).get(_METADATA_KEY)
    if not raw:
        return frame, {}, source
    header = FileHeader.decode(raw, path=path, kind=kind, version=version, oldest=oldest, error=DataError)
    return frame, {"kind": header.kind, "version": header.version, **header.fields}, source


def write_frame(frame: pd.DataFrame, path: str | os.PathLike[str], *, metadata: FileHeader | Mapping[str, Any]) -> None:
    """Write ``frame`` (without its index) to ``path``; ``metadata`` goes into Parquet files only.

    ``metadata`` is abrec's file header, or a mapping with its ``kind`` and ``version`` and the other
    fields (what :func:`read_parquet` returns).
    """
    if not isinstance(metadata, FileHeader):
        fields = dict(metadata)
        try:
            kind, version = fields.pop("kind"), fields.pop("version")
        except KeyError as exc:
            raise ValueError(f"write_frame's metadata needs a 'kind' and a 'version'; got {sorted(metadata)}.") from exc
        metadata = FileHeader(kind, version, fields)
    fmt = file_format(path)
    target = Path(path)
    tmp = temp_file_for(target)
    try:
        if fmt == "csv":
            compression: Literal["gzip"] | None = "gzip" if target.name.lower().endswith(".gz") else None
            frame.to_csv(tmp, index=False, compression=compression)
        else:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            merged = dict(table.schema.metadata or {})
            merged[_METADATA_KEY] = metadata.encode().encode()
            pq.write_table(table.replace_schema_metadata(merged), tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically: through a temporary file in the same folder; return the path.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = write_text(pathlib.Path(tempfile.mkdtemp()) / "readout.json", "{}\\n")
    >>> path.read_text(encoding="utf-8"), sorted(p.name for p in path.parent.iterdir())
    ('{}\\n', ['readout.json'])
    """
    target = Path(path)
    tmp = temp_file_for(target)
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def temp_file_for(target: str | os.PathLike[str]) -> Path:
    """Create an empty, uniquely named hidden file next to ``target`` and return its path.

    Its name ends with ``target``'s name (so the format that a suffix such as ``.csv.gz`` implies is
    kept), and it is created with mode 0666 less the umask, as ``open`` creates files (unlike
    :func:`tempfile.mkstemp`'s 0600): the file that replaces ``target`` has the mode a new file gets.
    """
    target = Path(target)
    while True:
        tmp = target.with_name(f".{secrets.token_hex(4)}.tmp-{target.name}")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except FileExistsError:
            continue
        return tmp
