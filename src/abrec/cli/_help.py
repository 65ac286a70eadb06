"""Help that reads like a Unix tool's: ``Usage: abrec analyze [OPTIONS] LOG`` and ``--alpha ALPHA``.

Typer's own placeholders (``{log}``, ``<path>``, ``<bool>``) are replaced: an argument shows as its
name in capitals (``[LOG]`` when optional), an option that takes a value shows its ``metavar`` or
else its name in capitals, a flag shows nothing.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand

__all__ = ["ReadableCommand"]


class ReadableCommand(TyperCommand):
    """A Typer command whose usage line and option list show plain placeholders."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if param.metavar is not None or getattr(param, "is_flag", False):
                continue
            if isinstance(param, TyperArgument):  # also what Click's errors call it: "Missing argument 'LOG'"
                param.metavar = (param.name or "").upper()
            else:
                param.metavar = param.opts[0].lstrip("-").replace("-", "_").upper()

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(_name(param) if param.required else f"[{_name(param)}]")
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                arguments.append((_name(param), param.help or ""))
            elif (record := param.get_help_record(ctx)) is not None:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _name(argument: TyperArgument) -> str:
    return argument.metavar or argument.name.upper()
