"""The event record: one row per shown item, from ``Policy.decide`` through the log, OPE and the readout.

Every abrec table of interactions has this shape (schema version 2); the decision service, simulated
experiments and logged datasets all write it, and every reader (``abrec analyze``, ``abrec evaluate``,
off-policy estimators, replay, the readout) takes it. Columns, in this order (optional ones get their
default when absent from a frame or file):

================  =========================  ========  ======================================================
column            type                       required  meaning
================  =========================  ========  ======================================================
unit              str (non-empty)            yes       the randomisation unit: user, session, request
item              int64 or str (non-empty)   yes       the item shown (its public id)
timestamp         datetime64[us, UTC]        yes       when (naive times are taken as UTC)
position          int64 >= 0                 no (0)    slot in the slate, 0 = top/left
reward            float64, finite            yes       the primary reward (click, rating, ...)
(extras)          float64, finite            declared  further rewards named in ``reward_columns``
propensity        float64 in (0, 1] or NaN   no (NaN)  probability the logging policy put the item there
policy            str, may be empty          no ('')   the logging policy's name
experiment        str, may be empty          no ('')   the experiment the row belongs to
variant           str, may be empty          no ('')   the arm of the experiment
event_id          str, may be empty          no ('')   unique id of the event (request id and position)
request_id        str, may be empty          no ('')   the decision (one request; its slate's rows share it)
policy_version    str, may be empty          no ('')   the version of the logging policy's algorithm
propensity_draws  int64 >= 0                 no (0)    0: the propensity is exact; n: Monte Carlo, n draws
assignment_p      float64 in (0, 1] or NaN   no (NaN)  the variant's traffic weight in force at assignment
period            int64 >= 0                 no (0)    the allocation period (weights fixed within one)
session_id        str, may be empty          no ('')   the session, for agents (RL)
step              int64 >= 0                 no (0)    the step within the session (or of the simulator)
context           list of float, or absent   no        the request's context vector (all rows one length)
================  =========================  ========  ======================================================

``assignment_p`` and ``period`` are what a valid readout under adaptive allocation needs (each period's
weights, so the sample ratio check tests the weights that were in force and the means are
period-weighted); :meth:`InteractionLog.period_stats` derives the per-period sufficient statistics from
the rows. Parquet files keep every column exactly (the context as a list column); CSV files write the
context as a JSON list per cell and are read back to the same values.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._header import FileHeader
from ..errors import DataError
from . import io
from ._schema import (
    MEMORY,
    Source,
    as_float,
    as_id,
    as_int,
    as_str,
    as_timestamp,
    check_columns,
    did_you_mean,
    fail_at,
    show,
)

__all__ = ["InteractionLog"]

FloatArray = npt.NDArray[np.float64]

_KIND = "interaction_log"
_VERSION = 2
REQUIRED = ("unit", "item", "timestamp", "reward")
_STRING_COLUMNS = ("unit", "policy", "experiment", "variant", "event_id", "request_id", "policy_version", "session_id")
_HEAD = ("unit", "item", "timestamp", "position", "reward")
_TAIL = (
    "propensity",
    "policy",
    "experiment",
    "variant",
    "event_id",
    "request_id",
    "policy_version",
    "propensity_draws",
    "assignment_p",
    "period",
    "session_id",
    "step",
)
_BASE = (*_HEAD, *_TAIL, "context")
#: Every column of the event record that is not an extra reward, in file order.
SCHEMA_COLUMNS: tuple[str, ...] = _BASE
_OPTIONAL = tuple(c for c in _BASE if c not in REQUIRED)
_COUNTS = ("position", "propensity_draws", "period", "step")
_PROBABILITIES = ("propensity", "assignment_p")


def _order(reward_columns: Sequence[str], context: bool = False) -> list[str]:
    return [*_HEAD, *reward_columns, *_TAIL, *(["context"] if context else [])]


def _default(name: str, n: int) -> pd.Series[Any]:
    if name in _COUNTS:
        return pd.Series(np.zeros(n, dtype=np.int64))
    if name in _PROBABILITIES:
        return pd.Series(np.full(n, np.nan))
    return pd.Series([""] * n, dtype="str")


def _context(column: pd.Series[Any], source: Source) -> pd.Series[Any]:
    """The context column: one float vector per row (lists, arrays or JSON text), all of one length."""
    values = column.to_numpy(dtype=object)
    out = np.empty(len(values), dtype=object)
    dim: int | None = None
    for i, value in enumerate(values):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise source.error(
                    f"context must be a list of numbers; got {show(value)}", row=i + 1, column="context"
                ) from None
        try:
            vector = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise source.error(
                f"context must be a list of numbers; got {show(value)}", row=i + 1, column="context"
            ) from None
        if vector.ndim != 1 or not np.isfinite(vector).all():
            raise source.error(
                f"context must be a list of finite numbers; got {show(value)}", row=i + 1, column="context"
            )
        if dim is None:
            dim = vector.shape[0]
        elif vector.shape[0] != dim:
            raise source.error(
                f"context vectors must all have one length; got {vector.shape[0]} after {dim}",
                row=i + 1,
                column="context",
            )
        out[i] = vector
    return pd.Series(out, dtype=object)


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
    hint = "; declare extra reward columns with reward_columns=[...] (abrec analyze: --reward-columns)"
    check_columns(
        [str(c) for c in frame.columns], [*REQUIRED, *reward_columns], _OPTIONAL, source=source, extra_hint=hint
    )
    n = len(frame)
    frame = frame.reset_index(drop=True)
    out: dict[str, pd.Series[Any]] = {}
    for name in _order(reward_columns, "context" in frame.columns):
        if name not in frame.columns:
            out[name] = _default(name, n)
            continue
        column = frame[name]
        if name == "unit":
            out[name] = as_str(column, source=source, column=name, allow_empty=False)
        elif name in _STRING_COLUMNS:
            out[name] = as_str(column, source=source, column=name, allow_empty=True)
        elif name == "item":
            out[name] = as_id(column, source=source, column=name)
        elif name == "timestamp":
            out[name] = as_timestamp(column, source=source, column=name)
        elif name in _COUNTS:
            values = as_int(column, source=source, column=name)
            fail_at(
                values.to_numpy() < 0,
                column,
                source=source,
                column=name,
                message=f"{name} must be an integer >= 0; got {{value}}",
            )
            out[name] = values
        elif name in _PROBABILITIES:
            values = as_float(column, source=source, column=name, allow_missing=True)
            p = values.to_numpy()
            with np.errstate(invalid="ignore"):
                bad = ~np.isnan(p) & ((p <= 0.0) | (p > 1.0))
            fail_at(bad, column, source=source, column=name, message=f"{name} must be in (0, 1]; got {{value}}")
            out[name] = values
        elif name == "context":
            out[name] = _context(column, source)
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
        """A log from an already valid frame; absent optional columns get their defaults, columns their order."""
        out = cls.__new__(cls)
        frame = frame.reset_index(drop=True)
        order = _order(reward_columns, "context" in frame.columns)
        if list(frame.columns) != order:
            n = len(frame)
            frame = pd.DataFrame({name: frame[name] if name in frame.columns else _default(name, n) for name in order})
        out._frame = frame
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
        extra_rewards: Mapping[str, Any] | None = None,
        **columns: Any,
    ) -> InteractionLog:
        """Build a log from equal-length arrays (scalars are broadcast to every row).

        ``columns`` are any optional columns of the schema (``position``, ``propensity``, ``policy``,
        ``variant``, ``assignment_p``, ``period``, ``context`` as an ``(N, d)`` array, ...);
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
        unknown = [name for name in columns if name not in _OPTIONAL]
        if unknown:
            hint = did_you_mean(unknown[0], _OPTIONAL)
            raise DataError(
                f"from_arrays got an unknown column {unknown[0]!r}{hint}; the optional columns are {_OPTIONAL}"
            )
        extra = dict(extra_rewards or {})
        data: dict[str, Any] = {"unit": unit, "item": item, "timestamp": timestamp, "reward": reward}
        data.update(extra)
        data.update(columns)
        if "context" in data:
            vectors = np.asarray(data["context"], dtype=np.float64)
            if vectors.ndim != 2:
                raise DataError(f"context must be an (N, d) array of vectors; got shape {vectors.shape}")
            data["context"] = list(vectors)
        lengths = {k: len(v) for k, v in data.items() if np.ndim(v) > 0 and not isinstance(v, str)}
        if len(set(lengths.values())) > 1:
            raise DataError(f"from_arrays needs arrays of one length; got lengths {lengths}")
        n = next(iter(lengths.values()), 1)
        frame = pd.DataFrame({k: (v if k in lengths else [v] * n) for k, v in data.items()})
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

    def take(self, rows: npt.ArrayLike) -> InteractionLog:
        """The rows at the given positions (an int array), in that order."""
        return InteractionLog._trusted(self._frame.iloc[np.asarray(rows, dtype=np.int64)], self._reward_columns)

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

    @property
    def has_context(self) -> bool:
        """Whether the rows carry their request's context vector."""
        return "context" in self._frame.columns

    def contexts(self) -> FloatArray | None:
        """The ``(N, d)`` context vectors of the rows, or None when the log has none."""
        if not self.has_context:
            return None
        values = self._frame["context"].to_numpy()
        if len(values) == 0:
            return np.zeros((0, 0))
        out: FloatArray = np.stack(list(values)).astype(np.float64, copy=False)
        return out

    @property
    def assigned(self) -> bool:
        """Whether every row records its variant's assignment probability (the weight in force)."""
        p = self._frame["assignment_p"].to_numpy()
        return bool(len(p)) and not np.isnan(p).any()

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
            if log.has_context != first.has_context:
                raise DataError(f"log {i} and log 1 differ in having a context column; drop it from one first")
        order = _order(first._reward_columns, first.has_context)
        frame = pd.concat([log._frame[order] for log in logs], ignore_index=True)
        return InteractionLog._trusted(frame, first._reward_columns)

    @classmethod
    def read(cls, path: str | os.PathLike[str], *, reward_columns: Sequence[str] | None = None) -> InteractionLog:
        """Read and validate a log from ``.csv``/``.csv.gz`` or ``.parquet``; nothing is returned on error.

        Parquet files written by :meth:`write` remember their reward columns. In a CSV file without
        ``reward_columns``, every column outside the schema that is not a near-miss of a schema
        column's name (a typo is reported, with a "did you mean") is read as an extra reward
        column, so a CSV log written by :meth:`write` reads back as it was. In CSV, item ids that are
        all integers (no leading zeros) are read as ``int64``; an empty cell is a missing value
        (empty string for text columns); the context is a JSON list per cell.

        Examples
        --------
        >>> import pathlib, tempfile
        >>> log = InteractionLog.from_arrays(unit=["a"], item=["x"], timestamp=[0], reward=[1.0],
        ...                                  extra_rewards={"purchase": [0.0]}, context=[[0.5, 1.0]])
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
        >>> log.write(path)
        >>> InteractionLog.read(path) == log
        True
        """
        if io.file_format(path) == "parquet":
            frame, meta, source = io.read_parquet(path, kind=_KIND, version=_VERSION, oldest=1)
            if reward_columns is None:
                reward_columns = list(meta.get("reward_columns", []))
        else:
            frame, source = io.read_csv(path, str_columns=[*_STRING_COLUMNS, "item", "context"])
            if reward_columns is None:
                reward_columns = _inferred_rewards([str(c) for c in frame.columns], source)
        if isinstance(reward_columns, str):
            reward_columns = [reward_columns]
        reward_columns = list(reward_columns or [])
        return cls._trusted(_validate(frame, reward_columns, source), reward_columns)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write to ``.csv``/``.csv.gz`` or ``.parquet`` (which also stores the reward columns)."""
        meta = FileHeader(_KIND, _VERSION, {"reward_columns": list(self._reward_columns)})
        frame = self._frame
        if self.has_context and io.file_format(path) == "csv":
            frame = frame.copy()
            frame["context"] = [json.dumps(v.tolist()) for v in frame["context"]]
        elif self.has_context:
            frame = frame.copy()
            frame["context"] = [v.tolist() for v in frame["context"]]
        io.write_frame(frame, path, metadata=meta)


def _inferred_rewards(columns: Sequence[str], source: Source) -> list[str]:
    """Columns of a CSV log outside the schema, read as extra rewards (near-misses of schema names raise)."""
    check_columns(columns, REQUIRED, _OPTIONAL, source=source, allow_extra=True)  # a missing column first
    extra = []
    for name in columns:
        if name in _BASE:
            continue
        hint = did_you_mean(name, _BASE)
        if hint:
            raise source.error(f"unexpected column {name!r}{hint}; a misspelt schema column is not read as a reward")
        extra.append(name)
    return extra
