"""``abrec envs``: list the registered simulators (Gymnasium ids)."""

from __future__ import annotations

import typer

from ..envs import describe_envs
from ._output import table


def list_envs() -> None:
    """List every abrec simulator id with what it simulates (build one with abrec.envs.make_env)."""
    typer.echo(table(["id", "what it simulates"], describe_envs()))
