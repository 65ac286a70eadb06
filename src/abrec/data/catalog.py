"""The item catalog: unique item ids, the text fields an encoder reads, and any other metadata."""

from __future__ import annotations

import os
import re
import string
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .._header import FileHeader
from ..errors import DataError
from . import io
from ._schema import MEMORY, Source, as_id, check_columns, did_you_mean, show

__all__ = ["Catalog"]

_KIND = "catalog"
_VERSION = 1
_SPACES = re.compile(r"\s+")


def _clean(value: Any) -> str:
    """Text of one cell: '' for a missing value, whitespace collapsed."""
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float) and np.isnan(value):
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    return _SPACES.sub(" ", str(value)).strip()


class Catalog:
    """Items with unique ids and the text fields that describe them.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per item. Copied and validated: the id column must exist, hold no missing value and
        no duplicate; ids become ``int64`` when they are all integers, else strings.
    id_column : str, default "item_id"
        The column holding the item ids.
    text_columns : sequence of str
        The columns that make up an item's text (at least one), in order.
    text_template : str, optional
        A :meth:`str.format` template over the frame's columns, e.g. ``"{title} ({year})"``; missing
        values format as ''. Without it, :meth:`texts` joins the non-empty text fields with ". ".

    Raises
    ------
    abrec.errors.DataError
        A missing id or text column, a missing or duplicate id, a template naming an unknown column.

    Examples
    --------
    >>> import pandas as pd
    >>> catalog = Catalog(
    ...     pd.DataFrame({"item_id": [7, 3], "title": ["Red  shoe", "Hat"], "colour": ["red", None]}),
    ...     text_columns=["title", "colour"],
    ... )
    >>> len(catalog), catalog.ids
    (2, array([7, 3]))
    >>> catalog.texts()
    ['Red shoe. red', 'Hat']
    >>> catalog.subset([3]).texts()
    ['Hat']
    """

    __slots__ = ("_frame", "_id_column", "_template", "_text_columns")

    def __init__(
        self,
        frame: pd.DataFrame,
        *,
        id_column: str = "item_id",
        text_columns: Sequence[str],
        text_template: str | None = None,
    ) -> None:
        self._init(frame, id_column=id_column, text_columns=text_columns, text_template=text_template, source=MEMORY)

    def _init(
        self,
        frame: pd.DataFrame,
        *,
        id_column: str,
        text_columns: Sequence[str],
        text_template: str | None,
        source: Source,
    ) -> None:
        if not isinstance(frame, pd.DataFrame):
            raise DataError(f"a Catalog is built from a pandas DataFrame; got {type(frame).__name__}")
        if isinstance(text_columns, str):
            text_columns = [text_columns]
        text_columns = tuple(str(c) for c in text_columns)
        if not text_columns:
            raise DataError("a Catalog needs at least one text column (text_columns=[...])")
        frame = frame.reset_index(drop=True).copy()
        check_columns(list(frame.columns), [id_column, *text_columns], source=source, allow_extra=True)
        ids = as_id(frame[id_column], source=source, column=id_column)
        duplicated = ids.duplicated(keep=False).to_numpy()
        if duplicated.any():
            rows = np.flatnonzero(duplicated)
            first = ids.iloc[int(rows[0])]
            same = np.flatnonzero((ids == first).to_numpy()) + 1
            raise source.error(
                f"duplicate {id_column} {show(first)} at rows {', '.join(map(str, same))}; ids must be unique",
                row=int(same[1]),
                column=id_column,
            )
        frame[id_column] = ids
        if text_template is not None:
            fields = [name for _, name, _, _ in string.Formatter().parse(text_template) if name is not None]
            for name in fields:
                key = re.split(r"[.\[]", name, maxsplit=1)[0]
                if key == "" or key.isdigit():
                    raise DataError(f"text_template {text_template!r} must name its fields, e.g. '{{title}}'")
                if key not in frame.columns:
                    raise DataError(
                        f"text_template {text_template!r} names unknown column {key!r}"
                        f"{did_you_mean(key, map(str, frame.columns))}; columns: {', '.join(map(str, frame.columns))}"
                    )
        self._frame = frame
        self._id_column = id_column
        self._text_columns = text_columns
        self._template = text_template

    @property
    def ids(self) -> np.ndarray[Any, Any]:
        """The item ids in row order (``int64``, or ``object`` holding str)."""
        return self._frame[self._id_column].to_numpy(dtype=np.int64 if self._int_ids else object, copy=True)

    @property
    def _int_ids(self) -> bool:
        return pd.api.types.is_integer_dtype(self._frame[self._id_column].dtype)

    @property
    def frame(self) -> pd.DataFrame:
        """A copy of the underlying frame."""
        return self._frame.copy()

    @property
    def id_column(self) -> str:
        """The name of the id column."""
        return self._id_column

    @property
    def text_columns(self) -> tuple[str, ...]:
        """The text columns, in order."""
        return self._text_columns

    @property
    def text_template(self) -> str | None:
        """The text template, if any."""
        return self._template

    def __len__(self) -> int:
        return len(self._frame)

    def __contains__(self, item_id: object) -> bool:
        return bool((self._frame[self._id_column] == item_id).any())

    def __repr__(self) -> str:
        return f"Catalog(n_items={len(self)}, id_column={self._id_column!r}, text_columns={list(self._text_columns)})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Catalog):
            return NotImplemented
        return (
            self._id_column == other._id_column
            and self._text_columns == other._text_columns
            and self._template == other._template
            and self._frame.equals(other._frame)
        )

    __hash__ = None  # type: ignore[assignment]

    def texts(self) -> list[str]:
        """One text per item, in row order.

        With a ``text_template``: the template formatted with the row (missing values as ''),
        whitespace collapsed. Without: the non-empty text fields joined with ". ".
        """
        if self._template is not None:
            records = self._frame.to_dict("records")
            return [
                _SPACES.sub(" ", self._template.format(**{str(k): _format_value(v) for k, v in row.items()})).strip()
                for row in records
            ]
        columns = [self._frame[c].tolist() for c in self._text_columns]
        out = []
        for values in zip(*columns, strict=True):
            out.append(". ".join(part for part in map(_clean, values) if part))
        return out

    def subset(self, ids: Iterable[Any]) -> Catalog:
        """A catalog of the given ids, in the given order (unknown ids raise DataError)."""
        wanted = list(np.asarray(list(ids), dtype=object))
        index = pd.Index(self._frame[self._id_column])
        positions = index.get_indexer(pd.Index(wanted, dtype=index.dtype if self._int_ids else object))
        if (positions < 0).any():
            unknown = [wanted[i] for i in np.flatnonzero(positions < 0)[:5]]
            raise DataError(f"unknown {self._id_column} values: {', '.join(map(show, unknown))}")
        return self._with_frame(self._frame.iloc[positions])

    def _with_frame(self, frame: pd.DataFrame) -> Catalog:
        out = Catalog.__new__(Catalog)
        out._frame = frame.reset_index(drop=True)
        out._id_column = self._id_column
        out._text_columns = self._text_columns
        out._template = self._template
        return out

    @classmethod
    def read(
        cls,
        path: str | os.PathLike[str],
        *,
        id_column: str | None = None,
        text_columns: Sequence[str] | None = None,
        text_template: str | None = None,
    ) -> Catalog:
        """Read a catalog from ``.csv``/``.csv.gz`` or ``.parquet``.

        A Parquet file written by :meth:`write` remembers its id column, text columns and template;
        arguments given here override them. A CSV file needs ``text_columns`` (the id column defaults
        to "item_id"); text columns are read as text, the others as pandas infers them.

        Examples
        --------
        >>> import pandas as pd, tempfile, pathlib
        >>> catalog = Catalog(pd.DataFrame({"item_id": ["a", "b"], "title": ["Hat", "Shoe"]}), text_columns=["title"])
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "items.parquet"
        >>> catalog.write(path)
        >>> Catalog.read(path) == catalog
        True
        """
        if io.file_format(path) == "parquet":
            frame, meta, source = io.read_parquet(path, kind=_KIND, version=_VERSION)
            id_column = id_column or meta.get("id_column", "item_id")
            text_columns = text_columns if text_columns is not None else meta.get("text_columns")
            text_template = text_template if text_template is not None else meta.get("text_template")
            if text_columns is None:
                raise source.error("has no abrec metadata: pass text_columns=[...] to say which columns are text")
        else:
            id_column = id_column or "item_id"
            if text_columns is None:
                raise DataError(f"{path}: a CSV catalog needs text_columns=[...] to say which columns are text")
            if isinstance(text_columns, str):
                text_columns = [text_columns]
            frame, source = io.read_csv(path, str_columns=[id_column, *text_columns])
        out = cls.__new__(cls)
        out._init(frame, id_column=id_column, text_columns=text_columns, text_template=text_template, source=source)
        return out

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write to ``.csv``/``.csv.gz`` or ``.parquet`` (which also stores the text settings)."""
        fields = {
            "id_column": self._id_column,
            "text_columns": list(self._text_columns),
            "text_template": self._template,
        }
        io.write_frame(self._frame, path, metadata=FileHeader(_KIND, _VERSION, fields))


def _format_value(value: Any) -> Any:
    text = _clean(value)
    if text == "":
        return ""
    if isinstance(value, np.generic):
        return value.item()
    return value
