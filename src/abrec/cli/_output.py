"""What the commands put out: plain-text tables, strict JSON, checked and atomically written files, progress.

- :func:`table`: numeric columns right-aligned, text columns left-aligned.
- :func:`json_text`: valid JSON for every ``--json`` file (NaN and infinities as null, numpy numbers as
  numbers, an interval as ``[low, high]``).
- :func:`check_output` checks an output path before any work (known suffix, not a folder, a parent
  that is or can be made a writable folder); :func:`writing` stages a command's outputs in temporary
  files next to their targets and renames them all only when every one is written, so a failure
  leaves neither a partial file nor a half-updated set.
- :class:`Progress`: a bar on a terminal, "simulating step 20/100" lines otherwise (logs, CI).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import numbers
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import typer

from .._interval import ConfidenceInterval
from ..data.io import temp_file_for
from ..errors import InputError

REPORT = (".html", ".htm")
JSON = (".json",)
LOG = (".parquet", ".csv", ".csv.gz", ".pq")
EMBEDDINGS = (".npz", ".parquet")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Numeric columns right-aligned, text columns left-aligned."""
    numeric = [all(isinstance(row[i], int | float) for row in rows) and bool(rows) for i in range(len(headers))]
    cells = [[str(h) for h in headers], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for j, row in enumerate(cells):
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)]
        lines.append("  ".join(parts).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def json_text(payload: object) -> str:
    """``payload`` as strict JSON (what every parser reads): NaN and infinities become null.

    Numpy numbers and arrays become numbers and lists, a :class:`~abrec._interval.ConfidenceInterval`
    the list ``[low, high]``, a frozen record (dataclass) a mapping of its fields.

    Examples
    --------
    >>> print(json_text({"lift": float("nan"), "ci": (np.float64(0.1), np.inf), "n": np.int64(3)}), end="")
    {
     "lift": null,
     "ci": [
      0.1,
      null
     ],
     "n": 3
    }
    """
    return json.dumps(_plain(payload), indent=1, allow_nan=False) + "\n"


def _plain(value: object) -> object:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, ConfidenceInterval):
        return [_plain(value.low), _plain(value.high)]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | Sequence):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise TypeError(f"json_text cannot write a {type(value).__name__}: {value!r}")


def check_output(path: Path | None, option: str, suffixes: Sequence[str]) -> None:
    """Check, before any work, that ``path`` (given as ``option``) can be written.

    Its name must end in one of ``suffixes``; it must not be a folder; its nearest existing ancestor
    must be a folder this process may write in (the missing ones are made when writing).
    Raises :class:`~abrec.errors.InputError` naming the option and the path.
    """
    if path is None:
        return
    if not any(path.name.lower().endswith(s) for s in suffixes):
        listed = " or ".join([", ".join(suffixes[:-1]), suffixes[-1]] if len(suffixes) > 1 else suffixes)
        raise InputError(f"{option} {path}: unknown file type; the name must end in {listed}.")
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; give a file name (e.g. {path / ('out' + suffixes[0])}).")
    check_folder(path.parent, f"{option} {path}")


def check_folder(folder: Path, what: str) -> None:
    """Check that ``folder`` is, or can be made, a folder this process may write in."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise InputError(f"{what}: {existing} is a file, not a folder.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{what}: no permission to write in {existing}.")


@contextlib.contextmanager
def writing(*targets: Path | None) -> Iterator[list[Path | None]]:
    """Stage the outputs ``targets`` (None: not asked for) and write them all or none.

    Yields one temporary path per target (None for None), next to it and ending with its name (so a
    writer picks the same format); when the block ends, every temporary file replaces its target.
    When the block raises, the temporary files and the folders made for them are removed and no
    target is touched.
    """
    made: list[Path] = []
    staged: list[Path | None] = []
    done = False
    try:
        for target in targets:
            if target is None:
                staged.append(None)
                continue
            made.extend(p for p in [target.parent, *target.parent.parents] if not p.exists())
            target.parent.mkdir(parents=True, exist_ok=True)
            staged.append(temp_file_for(target))
        yield staged
        for tmp, target in zip(staged, targets, strict=True):
            if tmp is not None and target is not None:
                os.replace(tmp, target)
        done = True
    finally:
        for tmp in staged:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        for folder in [] if done else made:  # deepest first; only the ones left empty
            with contextlib.suppress(OSError):
                folder.rmdir()


class Progress:
    """Progress on stderr, called with ``(done, total)``: a bar on a terminal, else a line such as
    "simulating step 20/100 (3 s)" about every tenth of the way (for logs and CI). Use as a context manager.
    """

    def __init__(self, label: str, unit: str) -> None:
        self.label, self.unit = label, unit
        self.done = 0
        self.start = time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.bar: Any = None
        self.reported = -1

    def __call__(self, done: int, total: int) -> None:
        if self.tty:
            if self.bar is None:
                self.bar = typer.progressbar(length=total, label=self.label, file=sys.stderr)
                self.bar.__enter__()
            self.bar.update(done - self.done)
        elif total > 0 and (tenth := 10 * done // total) > self.reported:
            self.reported = tenth
            seconds = time.perf_counter() - self.start
            typer.echo(f"{self.label} {self.unit} {done:,}/{total:,} ({seconds:.0f} s)", err=True)
        self.done = done

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.bar is not None:
            self.bar.__exit__(kind, exc, tb)
