"""The interaction log: who was shown which item where and when, what it earned, and under which policy.

Columns, in this order (optional ones get their default when absent from a frame or file):

============  =========================  ========  ============================================
column        type                       required  meaning
============  =========================  ========  ============================================
unit          str (non-empty)            yes       the randomisation unit: user, session, request
item          int64 or str (non-empty)   yes       the item shown
timestamp     datetime64[us, UTC]        yes       when (naive times are taken as UTC)
position      int64 >= 0                 no (0)    slot in the list, 0 = top/left
reward        float64, finite            yes       the primary reward (click, rating, ...)
(extras)      float64, finite            declared  further rewards named in ``reward_columns``
propensity    float64 in (0, 1] or NaN   no (NaN)  probability the logging policy showed it there
policy        str, may be empty          no ('')   the logging policy
experiment    str, may be empty          no ('')   the experiment the row belongs to
variant       str, may be empty          no ('')   the arm of the experiment
============  =========================  ========  ============================================
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError
from . import io
from ._schema import MEMORY, Source, as_float, as_id, as_int, as_str, as_timestamp, check_columns, fail_at

__all__ = ["InteractionLog"]

_KIND = "interaction_log"
_VERSION = 1
REQUIRED = ("unit", "item", "timestamp", "reward")
_STRING_COLUMNS = ("unit", "policy", "experiment", "variant")
_BASE = ("unit", "item", "timestamp", "position", "reward", "propensity", "policy", "experiment", "variant")


def _order(reward_columns: Sequence[str]) -> list[str]:
    return ["unit", "item", "timestamp", "position", "reward", *reward_columns, "propensity", *_BASE[6:]]


def _validate(frame: pd.DataFrame, reward_columns: Sequence[str], source: Source) -> pd.DataFrame:
    """The canonical, validated copy of ``frame``; raises DataError at the first problem."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"an InteractionLog is built from a pandas DataFrame; got {type(frame).__name__}")
    reward_columns = list(reward_columns)
    for name in reward_columns:
        if name in _BASE:
            raise DataError(f"reward column {name!r} clashes with a standard column; pick another name")
    if len(set(reward_columns)) != len(reward_columns):
        raise DataError(f"reward_columns has duplicates: {reward_columns}")
    hint = "; declare extra reward columns with reward_columns=[...]"
    check_columns(
        [str(c) for c in frame.columns],
        [*REQUIRED, *reward_columns],
        ["position", "propensity", "policy", "experiment", "variant"],
        source=source,
        extra_hint=hint,
    )
    n = len(frame)
    frame = frame.reset_index(drop=True)
    out: dict[str, pd.Series[Any]] = {}
    for name in _order(reward_columns):
        if name not in frame.columns:
            if name == "position":
                out[name] = pd.Series(np.zeros(n, dtype=np.int64))
            elif name == "propensity":
                out[name] = pd.Series(np.full(n, np.nan))
            else:
                out[name] = pd.Series([""] * n, dtype="str")
            continue
        column = frame[name]
        if name in ("unit",):
            out[name] = as_str(column, source=source, column=name, allow_empty=False)
        elif name in _STRING_COLUMNS:
            out[name] = as_str(column, source=source, column=name, allow_empty=True)
        elif name == "item":
            out[name] = as_id(column, source=source, column=name)
        elif name == "timestamp":
            out[name] = as_timestamp(column, source=source, column=name)
        elif name == "position":
            values = as_int(column, source=source, column=name)
            fail_at(
                values.to_numpy() < 0,
                column,
                source=source,
                column=name,
                message="position must be an integer >= 0 (0 = top); got {value}",
            )
            out[name] = values
        elif name == "propensity":
            values = as_float(column, source=source, column=name, allow_missing=True)
            p = values.to_numpy()
            with np.errstate(invalid="ignore"):
                bad = ~np.isnan(p) & ((p <= 0.0) | (p > 1.0))
            fail_at(bad, column, source=source, column=name, message="propensity must be in (0, 1]; got {value}")
            out[name] = values
        else:  # reward and extra rewards
            out[name] = as_float(column, source=source, column=name, allow_missing=False)
    result = pd.DataFrame(out)
    return result


class InteractionLog:
    """Logged interactions, validated against one schema (see the module docstring for the columns).

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows; copied, coerced to the schema's types and validated as a whole before the log
        exists (all or nothing). Columns outside the schema are rejected, with a "did you mean".
    reward_columns : sequence of str, default ()
        Extra float reward columns (e.g. ``["purchase"]``) beside ``reward``.

    Raises
    ------
    abrec.errors.DataError
        Naming the row (1-based), the column, what was expected and what was found.

    Examples
    --------
    >>> import pandas as pd
    >>> log = InteractionLog(pd.DataFrame({
    ...     "unit": ["u1", "u2"], "item": [3, 5], "timestamp": ["2024-01-01T10:00Z", "2024-01-01T10:01Z"],
    ...     "reward": [1.0, 0.0], "propensity": [0.5, 0.25], "policy": "uniform",
    ... }))
    >>> len(log), log.frame["propensity"].tolist()
    (2, [0.5, 0.25])
    >>> InteractionLog(pd.DataFrame({"unit": ["u1"], "item": [3], "timestamp": [0], "reward": [1.0],
    ...                              "propensity": [1.7]}))
    Traceback (most recent call last):
    ...
    abrec.errors.DataError: row 1, column 'propensity': propensity must be in (0, 1]; got 1.7
    """

    __slots__ = ("_frame", "_reward_columns")

    def __init__(self, frame: pd.DataFrame, *, reward_columns: Sequence[str] = ()) -> None:
        if isinstance(reward_columns, str):
            reward_columns = [reward_columns]
        self._frame = _validate(frame, reward_columns, MEMORY)
        self._reward_columns = tuple(reward_columns)

    @classmethod
    def _trusted(cls, frame: pd.DataFrame, reward_columns: Sequence[str]) -> InteractionLog:
        out = cls.__new__(cls)
        out._frame = frame.reset_index(drop=True)
        out._reward_columns = tuple(reward_columns)
        return out

    @classmethod
    def from_arrays(
        cls,
        unit: Any,
        item: Any,
        timestamp: Any,
        reward: Any,
        *,
        position: Any = 0,
        propensity: Any = np.nan,
        policy: Any = "",
        experiment: Any = "",
        variant: Any = "",
        extra_rewards: Mapping[str, Any] | None = None,
    ) -> InteractionLog:
        """Build a log from equal-length arrays (scalars are broadcast to every row).

        ``timestamp`` may be datetimes, ISO 8601 text, or numbers (Unix seconds).

        Examples
        --------
        >>> import numpy as np
        >>> log = InteractionLog.from_arrays(
        ...     unit=["a", "b", "c"], item=[1, 2, 1], timestamp=[0, 60, 120], reward=[1, 0, 0],
        ...     propensity=0.5, policy="uniform", extra_rewards={"purchase": [1, 0, 0]},
        ... )
        >>> log.reward_columns, log.frame["timestamp"].iloc[1]
        (('purchase',), Timestamp('1970-01-01 00:01:00+0000', tz='UTC'))
        """
        extra = dict(extra_rewards or {})
        columns: dict[str, Any] = {"unit": unit, "item": item, "timestamp": timestamp, "reward": reward}
        columns.update(extra)
        columns.update(position=position, propensity=propensity, policy=policy, experiment=experiment, variant=variant)
        lengths = {k: len(v) for k, v in columns.items() if np.ndim(v) > 0 and not isinstance(v, str)}
        if len(set(lengths.values())) > 1:
            raise DataError(f"from_arrays needs arrays of one length; got lengths {lengths}")
        n = next(iter(lengths.values()), 1)
        frame = pd.DataFrame({k: (v if k in lengths else [v] * n) for k, v in columns.items()})
        return cls(frame, reward_columns=list(extra))

    @property
    def frame(self) -> pd.DataFrame:
        """A copy of the validated frame, columns in schema order."""
        return self._frame.copy()

    @property
    def reward_columns(self) -> tuple[str, ...]:
        """The extra reward columns (``reward`` itself not included)."""
        return self._reward_columns

    def __len__(self) -> int:
        return len(self._frame)

    def __repr__(self) -> str:
        policies = sorted(set(self._frame["policy"]))[:5]
        return (
            f"InteractionLog(n_rows={len(self)}, n_units={self._frame['unit'].nunique()}, "
            f"n_items={self._frame['item'].nunique()}, policies={policies}, "
            f"reward_columns={list(self._reward_columns)})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, InteractionLog):
            return NotImplemented
        return self._reward_columns == other._reward_columns and self._frame.equals(other._frame)

    __hash__ = None  # type: ignore[assignment]

    def _rows(self, mask: pd.Series[bool]) -> InteractionLog:
        return InteractionLog._trusted(self._frame[mask.to_numpy()], self._reward_columns)

    def for_policy(self, policy: str) -> InteractionLog:
        """The rows logged by ``policy``."""
        return self._rows(self._frame["policy"] == policy)

    def for_variant(self, variant: str, experiment: str | None = None) -> InteractionLog:
        """The rows of ``variant`` (within ``experiment`` when given)."""
        mask = self._frame["variant"] == variant
        if experiment is not None:
            mask &= self._frame["experiment"] == experiment
        return self._rows(mask)

    def for_experiment(self, experiment: str) -> InteractionLog:
        """The rows of ``experiment``."""
        return self._rows(self._frame["experiment"] == experiment)

    @staticmethod
    def concat(logs: Iterable[InteractionLog]) -> InteractionLog:
        """Stack logs with the same reward columns and the same kind of item id (int or str)."""
        logs = list(logs)
        if not logs:
            raise DataError("concat needs at least one InteractionLog")
        first = logs[0]
        int_items = pd.api.types.is_integer_dtype(first._frame["item"].dtype)
        for i, log in enumerate(logs[1:], start=2):
            if set(log._reward_columns) != set(first._reward_columns):
                raise DataError(
                    f"log {i} has reward columns {list(log._reward_columns)}, "
                    f"log 1 has {list(first._reward_columns)}; they must match"
                )
            if pd.api.types.is_integer_dtype(log._frame["item"].dtype) != int_items:
                raise DataError(f"log {i} and log 1 differ in item id type (int vs str); convert one first")
        order = _order(first._reward_columns)
        frame = pd.concat([log._frame[order] for log in logs], ignore_index=True)
        return InteractionLog._trusted(frame, first._reward_columns)

    @classmethod
    def read(cls, path: str | os.PathLike[str], *, reward_columns: Sequence[str] | None = None) -> InteractionLog:
        """Read and validate a log from ``.csv``/``.csv.gz`` or ``.parquet``; nothing is returned on error.

        Parquet files written by :meth:`write` remember their reward columns; for CSV, name any extra
        reward columns with ``reward_columns``. In CSV, item ids that are all integers (no leading
        zeros) are read as ``int64``; an empty cell is a missing value (empty string for text columns).

        Examples
        --------
        >>> import pathlib, tempfile
        >>> log = InteractionLog.from_arrays(unit=["a"], item=["x"], timestamp=[0], reward=[1.0])
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
        >>> log.write(path)
        >>> InteractionLog.read(path) == log
        True
        """
        if io.file_format(path) == "parquet":
            frame, meta, source = io.read_parquet(path)
            if meta and meta.get("kind") != _KIND:
                raise source.error(f"holds an abrec {meta.get('kind')!r}, not an interaction log")
            if reward_columns is None:
                reward_columns = list(meta.get("reward_columns", []))
        else:
            frame, source = io.read_csv(path, str_columns=[*_STRING_COLUMNS, "item"])
        if isinstance(reward_columns, str):
            reward_columns = [reward_columns]
        reward_columns = list(reward_columns or [])
        return cls._trusted(_validate(frame, reward_columns, source), reward_columns)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write to ``.csv``/``.csv.gz`` or ``.parquet`` (which also stores the reward columns)."""
        meta = {"kind": _KIND, "version": _VERSION, "reward_columns": list(self._reward_columns)}
        io.write_frame(self._frame, path, metadata=meta)
