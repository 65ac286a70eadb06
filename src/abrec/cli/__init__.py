"""The ``abrec`` command line: one Typer module per command group, results on stdout,
diagnostics and progress on stderr."""

from __future__ import annotations

import typer

from . import analyze, demo, embed, envs, evaluate, policies, simulate

__all__ = ["app", "main"]

app = typer.Typer(
    name="abrec",
    help="Learning recommenders on text embeddings, evaluated off-policy and proven with A/B tests.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("analyze")(analyze.analyze)
app.command("demo")(demo.demo)
app.command("embed")(embed.embed)
app.command("envs")(envs.list_envs)
app.command("evaluate")(evaluate.evaluate)
app.command("policies")(policies.list_policies)
app.command("simulate")(simulate.simulate)


def main() -> None:
    """Entry point of the ``abrec`` console script."""
    app()
