"""``abrec export OUT``: the decision service's joined log, as an interaction log every offline tool reads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import InputError, UnknownNameError
from ._output import LOG, check_output, writing
from .db import DATABASE_URL_HELP, ENV_VAR, load_store

__all__ = ["export"]


def export(
    out: Annotated[Path, typer.Argument(help="Where to write the log (.parquet, .csv or .csv.gz).")],
    experiment: Annotated[str | None, typer.Option(help="Only this experiment's decisions (default: all).")] = None,
    reward_kind: Annotated[
        str | None,
        typer.Option(
            help="The reward kind of the 'reward' column (default: each experiment's own; others are extra columns)."
        ),
    ] = None,
    variant: Annotated[
        str | None,
        typer.Option(
            help="Only this variant's decisions (needs --experiment): an agent's session log, whose contexts are its "
            "session states, for the sequential off-policy estimators."
        ),
    ] = None,
    url: Annotated[str | None, typer.Option("--database-url", envvar=ENV_VAR, help=DATABASE_URL_HELP)] = None,
) -> None:
    """Write the service's decisions joined with their rewards: one row per shown item, with propensities,
    variants and assignment probabilities, ready for abrec analyze, abrec evaluate and replay."""
    check_output(out, "OUT", LOG)
    if variant is not None and experiment is None:
        raise InputError("--variant needs --experiment: variant names belong to an experiment.")
    abrec_store = load_store()
    with abrec_store.EventStore(abrec_store.database_url(url)) as store:
        if experiment is not None:
            names = [row.name for row in store.experiments()]
            if experiment not in names:
                raise UnknownNameError("experiment", experiment, names)
            if variant is not None:
                variants = {v for row in store.allocations(experiment) for v in row.weights}
                if variant not in variants:
                    raise UnknownNameError(f"variant of experiment {experiment!r}", variant, variants)
        log = store.export_log(experiment, reward_kind=reward_kind, variant=variant)
    with writing(out) as (tmp,):
        assert tmp is not None
        log.write(tmp)
    events = log.frame["request_id"].nunique()
    typer.echo(f"wrote {len(log):,} rows ({events:,} decisions) to {out}")
