"""The terminal readout of an experiment on every metric (``abrec simulate``, ``abrec demo``, ``abrec analyze``)."""

from __future__ import annotations

import typer

from ..abtest.scorecard import MetricsReadout
from ..report.experiment import metrics_table, readout_table, relative_table
from ._output import table


def echo_readout(readout: MetricsReadout) -> None:
    """Print the primary metric's per-variant table, the secondary metrics' table and the correction (stdout)."""
    primary = readout.primary
    columns, rows = readout_table(primary)
    typer.echo(table(columns, rows))
    srm = primary.srm
    against = "the weights in force" if primary.srm_per_period else "an equal split"
    typer.echo(
        f"readout: {primary.metric} = {readout.metrics[0].label}, {primary.method}; "
        f"sample ratio check against {against}: p = {srm.p_value:.3g}" + ("  MISMATCH" if srm.mismatch() else " (ok)")
    )
    notes: dict[str, list[str]] = {}
    for v in primary.variants:
        for note in filter(None, v.note.split("; ")):
            notes.setdefault(note, []).append(v.variant)
    for note, variants in notes.items():
        typer.echo(f"  note ({', '.join(variants)}): {note}")
    columns, rows = relative_table(primary)
    if rows:
        typer.echo(f"\nrelative lift of {primary.metric} (its own test; always-valid interval beside it):")
        typer.echo(table(columns, rows))
    if readout.secondary:
        typer.echo(f"\nsecondary metrics (lift over {readout.control}):")
        columns, rows = metrics_table(readout)
        typer.echo(table(columns, rows))
        for metric, r in zip(readout.metrics[1:], readout.secondary, strict=True):
            typer.echo(f"  {r.metric} = {metric.label}, {r.method}")
    for name, why in readout.skipped:
        typer.echo(f"not read out: {name} ({why})")
    typer.echo(readout.correction)
