"""The ``abrec`` command line: one Typer module per command group, results on stdout,
diagnostics and progress on stderr.

Every command runs inside one error boundary (:mod:`abrec.cli._errors`): an error of the user's
(abrec's own errors, OS and YAML errors) is one ``error: ...`` line on stderr and exit code 2;
``abrec --debug COMMAND`` shows its traceback.
"""

from __future__ import annotations

import collections.abc
import importlib.metadata
import typing

import typer

from . import (
    _errors,
    _help,
    analyze,
    db,
    demo,
    embed,
    envs,
    evaluate,
    export,
    finetune,
    policies,
    serve,
    simulate,
    train,
)

__all__ = ["app", "main"]

app = typer.Typer(
    name="abrec",
    help="Learning recommenders on text embeddings, evaluated off-policy and proven with A/B tests.",
    no_args_is_help=True,
    add_completion=False,
    cls=_errors.ErrorBoundary,
    rich_markup_mode=None,
    pretty_exceptions_show_locals=False,
)

_COMMANDS: dict[str, collections.abc.Callable[..., None]] = {
    "analyze": analyze.analyze,
    "demo": demo.demo,
    "embed": embed.embed,
    "envs": envs.list_envs,
    "evaluate": evaluate.evaluate,
    "export": export.export,
    "finetune": finetune.finetune,
    "policies": policies.list_policies,
    "serve": serve.serve,
    "simulate": simulate.simulate,
    "train": train.train,
}
for _name, _command in _COMMANDS.items():
    app.command(_name, cls=_help.ReadableCommand)(_command)

from . import ledger as _ledger  # noqa: E402  (a command group: abrec ledger predict|observe|show|simulate)

app.add_typer(_ledger.app, name="ledger")
app.add_typer(db.app, name="db")  # abrec db upgrade

from . import keys as _keys  # noqa: E402  (a command group: abrec keys create|list|revoke)

app.add_typer(_keys.app, name="keys")


def _version(value: bool) -> None:
    if value:
        try:
            typer.echo(f"abrec {importlib.metadata.version('abrec')}")
        except importlib.metadata.PackageNotFoundError:  # running from a source tree that was never installed
            from .. import __version__

            typer.echo(f"abrec {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: typing.Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_version, help="Print abrec's version and exit.")
    ] = False,
    debug: typing.Annotated[
        bool, typer.Option("--debug", help="Show the traceback of every error, the user's errors too.")
    ] = False,
) -> None:
    pass


def main() -> None:
    """Entry point of the ``abrec`` console script."""
    app()
