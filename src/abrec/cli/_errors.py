"""The one error boundary of the ``abrec`` command line.

Every command runs inside :class:`ErrorBoundary` (the app's group class), so none catches errors itself:

- abrec's own errors (:class:`~abrec.errors.AbrecError` and its subclasses), OS errors (a missing
  file, a permission, a parent that is a file, a folder where a file is expected) and YAML errors are
  the user's to fix: they become one ``error: ...`` line on stderr, naming what and where, and exit
  code 2, like Click's usage errors;
- any other exception is a bug in abrec: it keeps its traceback (exit code 1);
- ``abrec --debug COMMAND ...`` shows the traceback of the user's errors too.
"""

from __future__ import annotations

from typing import Any

import typer
import yaml
from typer.core import TyperGroup

from ..errors import AbrecError

__all__ = ["USER_ERRORS", "ErrorBoundary", "error_line"]

#: The exceptions that mean the input, the config or the file system needs fixing, not abrec.
USER_ERRORS: tuple[type[Exception], ...] = (AbrecError, OSError, yaml.YAMLError)


def error_line(exc: BaseException) -> str:
    """The one line that states a user error: ``error: <what and where>``.

    Examples
    --------
    >>> error_line(FileNotFoundError(2, "No such file or directory", "log.csv"))
    'error: log.csv: No such file or directory'
    >>> from abrec.errors import InputError
    >>> error_line(InputError("variants[1].params: bad\\n  value"))
    'error: variants[1].params: bad value'
    """
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
        if exc.filename2 is not None:
            text += f" (to {exc.filename2})"
    elif isinstance(exc, yaml.YAMLError):
        text = f"invalid YAML: {exc}"
    else:
        text = str(exc) or type(exc).__name__
    return "error: " + " ".join(text.split())


class ErrorBoundary(TyperGroup):
    """The ``abrec`` group: runs a command and turns the user's errors into one line and exit code 2."""

    def invoke(self, ctx: Any) -> Any:  # a click Context (Typer's own click since typer 0.20)
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            if ctx.params.get("debug"):
                raise
            typer.echo(error_line(exc), err=True)
            raise typer.Exit(2) from None
