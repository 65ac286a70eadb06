"""``abrec analyze LOG``: the per-variant readout of a logged experiment (CSV or Parquet interaction log)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ..abtest.readout import analyze_log
from ..data.interactions import InteractionLog
from ..errors import AbrecError
from ..report.experiment import readout_report, readout_table
from ._output import table


def analyze(
    log: Annotated[Path, typer.Argument(help="Interaction log (.csv, .csv.gz or .parquet) with a 'variant' column.")],
    control: Annotated[
        str | None,
        typer.Option(help="The control variant (required for logs with assignment probabilities; else first sorted)."),
    ] = None,
    metric: Annotated[
        str, typer.Option(help="Per unit: mean (total per unit), proportion (any), ratio (per row).")
    ] = "mean",
    column: Annotated[str, typer.Option(help="Reward column to analyse.")] = "reward",
    alpha: Annotated[float, typer.Option(help="Significance level (the CI level is 1 - alpha).")] = 0.05,
    experiment: Annotated[str | None, typer.Option(help="Keep only this experiment's rows.")] = None,
    reward_columns: Annotated[
        str, typer.Option(help="Comma-separated extra reward columns of a CSV log (e.g. purchase).")
    ] = "",
    correction: Annotated[str, typer.Option(help="Multiple comparisons: holm, bh or none.")] = "holm",
    report: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the readout as JSON here.")] = None,
) -> None:
    """Print the per-variant readout of an experiment log (lift, CIs, sequential, Bayesian, SRM)."""
    try:
        extra = [c.strip() for c in reward_columns.split(",") if c.strip()]
        frame = InteractionLog.read(log, reward_columns=extra or None)
        readout = analyze_log(
            frame,
            control=control,
            metric=metric,
            column=column,
            alpha=alpha,
            experiment=experiment,
            correction=correction,
        )
    except AbrecError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    columns, rows = readout_table(readout)
    typer.echo(table(columns, rows))
    srm = readout.srm
    against = "the weights in force" if readout.method == "period-weighted z" else "an equal split"
    typer.echo(
        f"readout: {readout.metric}, {readout.method}; sample ratio check against {against}: "
        f"p = {srm.p_value:.3g}" + ("  MISMATCH" if srm.mismatch() else " (ok)")
    )
    if report is not None:
        path = readout_report(readout, title=f"Experiment readout: {log.name}", source=str(log)).write(report)
        typer.echo(f"wrote the report to {path}", err=True)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(readout.rows(), indent=1, default=float), encoding="utf-8")
