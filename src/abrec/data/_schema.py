"""Column coercion and validation shared by every abrec table, with one error format.

Every check runs on a whole column at once (vectorised) and, on failure, raises
:class:`abrec.errors.DataError` naming the file (when there is one), the first offending row, the
column, what was expected and what was found, and how many other rows fail the same check::

    ratings.csv, row 3 (line 4), column 'propensity': propensity must be in (0, 1]; got 1.7

Row convention: ``row`` is the 1-based position of the data row (the first row after the header is
row 1); for CSV files the physical line number is given too (the header is line 1, so row ``r``
sits on line ``r + 1``). For in-memory frames ``row`` is the 1-based position, whatever the index.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd

from ..errors import DataError

__all__: list[str] = []

STRING: Final = "str"
TIMESTAMP_DTYPE: Final = "datetime64[us, UTC]"
_CANONICAL_INT = re.compile(r"^-?(0|[1-9][0-9]*)$")


@dataclass(frozen=True, slots=True)
class Source:
    """Where a frame came from, for error messages: a file (and whether it has CSV lines) or memory."""

    path: str | None = None
    line_offset: int | None = None

    def where(self, row: int | None = None, column: str | None = None) -> str:
        parts = [self.path] if self.path else []
        if row is not None:
            text = f"row {row}"
            if self.line_offset is not None:
                text += f" (line {row + self.line_offset})"
            parts.append(text)
        if column is not None:
            parts.append(f"column {column!r}")
        return ", ".join(parts) if parts else "frame"

    def error(self, message: str, *, row: int | None = None, column: str | None = None) -> DataError:
        return DataError(f"{self.where(row, column)}: {message}")


MEMORY = Source()


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_columns(
    found: Sequence[str],
    required: Sequence[str],
    optional: Sequence[str] = (),
    *,
    source: Source,
    allow_extra: bool = False,
    extra_hint: str = "",
) -> None:
    """Raise if a required column is missing or (unless ``allow_extra``) an unknown column is present."""
    found = [str(c) for c in found]
    found_set = set(found)
    listing = ", ".join(repr(c) for c in found) or "none"
    for name in required:
        if name not in found_set:
            hint = did_you_mean(name, found_set - set(required) - set(optional))
            raise source.error(f"missing required column {name!r}{hint}; found columns: {listing}")
    if allow_extra:
        return
    known = [*required, *optional]
    for name in found:
        if name not in known:
            hint = did_you_mean(name, known)
            expected = ", ".join(repr(c) for c in known)
            raise source.error(f"unexpected column {name!r}{hint}; expected columns: {expected}{extra_hint}")


def fail_at(
    bad: np.ndarray[Any, np.dtype[np.bool_]],
    values: pd.Series[Any] | np.ndarray[Any, Any],
    *,
    source: Source,
    column: str,
    message: str,
) -> None:
    """Raise for the first True in ``bad``; ``message`` gets ``{value}`` (the offending value's repr)."""
    hits = np.flatnonzero(bad)
    if hits.size == 0:
        return
    first = int(hits[0])
    value = values.iloc[first] if isinstance(values, pd.Series) else values[first]
    more = f" ({hits.size - 1} more rows fail this check)" if hits.size > 1 else ""
    raise source.error(message.format(value=show(value)) + more, row=first + 1, column=column)


def show(value: Any) -> str:
    if isinstance(value, float) and np.isnan(value):
        return "a missing value (NaN)"
    if value is None or value is pd.NA or value is pd.NaT:
        return "a missing value"
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str) and value == "":
        return "an empty string"
    return repr(value) if isinstance(value, str) else str(value)


def _missing(series: pd.Series[Any]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return np.asarray(series.isna(), dtype=bool)


def _is_textual(series: pd.Series[Any]) -> bool:
    return pd.api.types.is_string_dtype(series.dtype) or series.dtype == object


def as_str(series: pd.Series[Any], *, source: Source, column: str, allow_empty: bool) -> pd.Series[Any]:
    """Coerce to pandas' string dtype; integers become their decimal text, missing values ''."""
    if len(series) == 0:
        return pd.Series([], dtype=STRING, name=series.name)
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_float_dtype(series.dtype):
        bad = np.ones(len(series), dtype=bool)
        fail_at(bad, series, source=source, column=column, message=f"{column} must be a string; got {{value}}")
    if pd.api.types.is_integer_dtype(series.dtype):
        out = series.astype(STRING)
    elif _is_textual(series):
        missing = _missing(series)
        if series.dtype == object:
            is_str = np.fromiter((isinstance(v, str) for v in series), dtype=bool, count=len(series))
            is_int = np.fromiter(
                (isinstance(v, int | np.integer) and not isinstance(v, bool) for v in series),
                dtype=bool,
                count=len(series),
            )
            fail_at(
                ~(is_str | is_int | missing),
                series,
                source=source,
                column=column,
                message=f"{column} must be a string; got {{value}}",
            )
        out = series.astype(STRING).fillna("")
    else:
        bad = np.ones(len(series), dtype=bool)
        fail_at(bad, series, source=source, column=column, message=f"{column} must be a string; got {{value}}")
        raise AssertionError  # unreachable
    if not allow_empty:
        fail_at(
            np.asarray(out == "", dtype=bool),
            series,
            source=source,
            column=column,
            message=f"{column} must be a non-empty string; got {{value}}",
        )
    result: pd.Series[Any] = out.reset_index(drop=True)
    return result


def _to_number(series: pd.Series[Any], *, source: Source, column: str, what: str) -> pd.Series[Any]:
    """Numbers stay, text is parsed; unparseable text raises (missing values become NaN)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("float64")
    if pd.api.types.is_numeric_dtype(series.dtype):
        return series
    if not _is_textual(series):
        fail_at(
            np.ones(len(series), dtype=bool),
            series,
            source=source,
            column=column,
            message=f"{column} must be {what}; got {{value}}",
        )
    parsed = pd.to_numeric(series.astype(object).where(~_missing(series), np.nan), errors="coerce")
    bad = _missing(parsed) & ~_missing(series)
    if series.dtype == object:
        blank = np.fromiter((isinstance(v, str) and v.strip() == "" for v in series), dtype=bool, count=len(series))
        bad &= ~blank
    fail_at(bad, series, source=source, column=column, message=f"{column} must be {what}; got {{value}}")
    return parsed.astype("float64") if not pd.api.types.is_numeric_dtype(parsed.dtype) else parsed


def as_float(series: pd.Series[Any], *, source: Source, column: str, allow_missing: bool) -> pd.Series[Any]:
    """Coerce to float64; missing values are NaN and rejected unless ``allow_missing``; +-inf always rejected."""
    out = _to_number(series, source=source, column=column, what="a number").astype("float64")
    values = out.to_numpy()
    if not allow_missing:
        fail_at(
            np.isnan(values),
            series,
            source=source,
            column=column,
            message=f"{column} must be a number, not missing; got {{value}}",
        )
    fail_at(np.isinf(values), series, source=source, column=column, message=f"{column} must be finite; got {{value}}")
    return out.reset_index(drop=True)


def as_int(series: pd.Series[Any], *, source: Source, column: str) -> pd.Series[Any]:
    """Coerce to int64; missing and non-integral values are rejected."""
    if pd.api.types.is_integer_dtype(series.dtype) and not _missing(series).any():
        return series.astype("int64").reset_index(drop=True)
    out = _to_number(series, source=source, column=column, what="an integer").astype("float64")
    values = out.to_numpy()
    fail_at(
        np.isnan(values), series, source=source, column=column, message=f"{column} must be an integer; got {{value}}"
    )
    with np.errstate(invalid="ignore"):
        fractional = ~np.isfinite(values) | (np.floor(values) != values) | (np.abs(values) > 2.0**62)
    fail_at(fractional, series, source=source, column=column, message=f"{column} must be an integer; got {{value}}")
    return pd.Series(values.astype(np.int64), name=series.name)


def as_id(series: pd.Series[Any], *, source: Source, column: str) -> pd.Series[Any]:
    """Ids: int64 when every value is an integer (or canonical integer text), else non-empty strings."""
    if pd.api.types.is_integer_dtype(series.dtype) or pd.api.types.is_float_dtype(series.dtype):
        return as_int(series, source=source, column=column)
    out = as_str(series, source=source, column=column, allow_empty=False)
    if len(out) and bool(out.str.fullmatch(_CANONICAL_INT).all()):
        return pd.Series(out.astype("int64").to_numpy(), name=series.name)
    if series.dtype == object and len(series):
        has_int = any(isinstance(v, int | np.integer) for v in series)
        if has_int:
            is_int = np.fromiter((isinstance(v, int | np.integer) for v in series), dtype=bool, count=len(series))
            fail_at(
                is_int,
                series,
                source=source,
                column=column,
                message=f"{column} ids must be all integers or all strings; got the integer {{value}} among strings",
            )
    return out


def as_timestamp(series: pd.Series[Any], *, source: Source, column: str) -> pd.Series[Any]:
    """Coerce to ``datetime64[us, UTC]``.

    Time-zone aware values are converted to UTC; naive values and text without an offset are taken
    as UTC; numbers are Unix seconds; text must be ISO 8601 (``2019-11-24 00:00:34.762830+00:00``).
    """
    dtype = series.dtype
    if len(series) == 0:
        return pd.Series([], dtype=TIMESTAMP_DTYPE, name=series.name)
    if isinstance(dtype, pd.DatetimeTZDtype):
        out = series.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(dtype):
        out = series.dt.tz_localize("UTC")
    elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        values = series.astype("float64")
        fail_at(
            ~np.isfinite(values.to_numpy()),
            series,
            source=source,
            column=column,
            message=f"{column} must be a time; got {{value}}",
        )
        out = pd.to_datetime((values * 1e6).round().astype("int64"), unit="us", utc=True)
    elif _is_textual(series):
        missing = _missing(series)
        fail_at(missing, series, source=source, column=column, message=f"{column} must be a time; got {{value}}")
        try:
            out = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce")
        except (TypeError, ValueError):  # e.g. objects pandas cannot even try
            out = pd.Series([pd.NaT] * len(series), dtype=TIMESTAMP_DTYPE)
        fail_at(
            _missing(out),
            series,
            source=source,
            column=column,
            message=f"{column} must be an ISO 8601 time such as '2019-11-24 00:00:34+00:00'; got {{value}}",
        )
    else:
        fail_at(
            np.ones(len(series), dtype=bool),
            series,
            source=source,
            column=column,
            message=f"{column} must be a time; got {{value}}",
        )
        raise AssertionError  # unreachable
    fail_at(_missing(out), series, source=source, column=column, message=f"{column} must be a time; got {{value}}")
    result: pd.Series[Any] = out.dt.as_unit("us").reset_index(drop=True)
    return result
