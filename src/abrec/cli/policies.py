"""``abrec policies``: list the registered policies and their default hyperparameters."""

from __future__ import annotations

import typer

from ..policies import registered_policies
from ._output import table


def list_policies() -> None:
    """List every registered policy with its kind and default hyperparameters."""
    from .. import agents  # noqa: F401 - registers the session agents (tabular_q, dqn) beside the policies

    rows = []
    for name, cls in registered_policies().items():
        kind = "item features" if cls.uses_item_features else "contextual" if cls.contextual else "context-free"
        params = ", ".join(f"{k}={v!r}" for k, v in cls().get_params().items() if k != "seed")
        rows.append([name, cls.__name__, kind, params])
    typer.echo(table(["name", "class", "kind", "defaults"], rows))
