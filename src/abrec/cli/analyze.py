"""``abrec analyze LOG``: the per-variant readout of a logged experiment (CSV or Parquet interaction log)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..abtest.metrics import Metric
from ..abtest.scorecard import analyze_metrics
from ..data.interactions import InteractionLog
from ..data.io import write_text
from ..report.experiment import readout_report
from ._output import JSON, REPORT, check_output, json_text, writing
from ._readout import echo_readout


def analyze(
    log: Annotated[Path, typer.Argument(help="Interaction log (.csv, .csv.gz or .parquet) with a 'variant' column.")],
    control: Annotated[
        str | None,
        typer.Option(help="The control variant (required for logs with assignment probabilities; else first sorted)."),
    ] = None,
    metric: Annotated[
        str,
        typer.Option(
            help="Primary metric per unit: mean (total per unit), proportion (any), ratio (per row), or p50, p90, "
            "p99 (that quantile of the units' totals: quantile test, no always-valid or Bayesian numbers, periods "
            "pooled); clicks per user, CTR, conversion and revenue per user are read out too, as secondary metrics."
        ),
    ] = "mean",
    column: Annotated[str, typer.Option(help="Reward column of the primary metric.")] = "reward",
    alpha: Annotated[float, typer.Option(help="Significance level (the CI level is 1 - alpha).")] = 0.05,
    experiment: Annotated[str | None, typer.Option(help="Keep only this experiment's rows.")] = None,
    reward_columns: Annotated[
        str, typer.Option(help="Comma-separated extra reward columns of a CSV log (e.g. purchase).")
    ] = "",
    correction: Annotated[
        str, typer.Option(help="Multiple comparisons: holm, holm-sidak, bonferroni, sidak, bh, by or none.")
    ] = "holm",
    report: Annotated[Path | None, typer.Option(help="Write the HTML report here (.html).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the readout as JSON here (.json).")] = None,
) -> None:
    """Print the per-variant readout of an experiment log on every metric (lift, CIs, sequential, Bayesian, SRM)."""
    check_output(report, "--report", REPORT)
    check_output(json_out, "--json", JSON)
    extra = [c.strip() for c in reward_columns.split(",") if c.strip()]
    frame = InteractionLog.read(log, reward_columns=extra or None)
    metrics = analyze_metrics(
        frame,
        control=control,
        primary=Metric.of(metric, column),
        alpha=alpha,
        experiment=experiment,
        correction=correction,
    )
    readout = metrics.primary
    if control is None:
        typer.echo(f"control: {readout.control!r} (first in sorted order; pass --control)", err=True)
    echo_readout(metrics)
    with writing(report, json_out) as (report_tmp, json_tmp):
        if report_tmp is not None:
            title = f"Experiment readout: {log.name}"
            readout_report(readout, title=title, source=str(log), metrics=metrics).write(report_tmp)
        if json_tmp is not None:
            write_text(json_tmp, json_text({"readout": readout.rows(), "metrics": metrics.to_dict()}))
    if report is not None:
        typer.echo(f"wrote the report to {report}", err=True)
