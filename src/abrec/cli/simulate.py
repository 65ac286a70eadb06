"""``abrec simulate CONFIG``: run a simulated A/B test of abrec policies and write its log and report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..abtest.readout import Readout
from ..errors import AbrecError
from ..experiments import ExperimentConfig, SimulationResult, load_config, run_simulation
from ..experiments.offline import replay_variants
from ..report.experiment import readout_table, simulation_report
from ._output import table
from .embed import default_cache_dir


def _echo_err(line: str) -> None:
    typer.echo(line, err=True)


def run_and_report(
    config: ExperimentConfig, *, report: Path | None, log: Path | None, json_out: Path | None, offline: bool
) -> tuple[SimulationResult, Readout]:
    """Run the experiment with a progress bar, print the readout, write the requested files."""
    with typer.progressbar(
        length=int(config.env.get("view", {}).get("horizon", 100)), label="simulating", file=sys.stderr
    ) as bar:
        done = {"n": 0}

        def progress(step: int, total: int) -> None:
            bar.update(step - done["n"])
            done["n"] = step

        result = run_simulation(
            config, progress=progress, notify=_echo_err, cache_dir=default_cache_dir() / "embeddings"
        )
    readout = result.readout()
    columns, rows = readout_table(readout)
    typer.echo(table(columns, rows))
    srm = readout.srm
    typer.echo(
        f"readout: {readout.metric}, {readout.method}; sample ratio check against the weights in force: "
        f"p = {srm.p_value:.3g}" + ("  MISMATCH" if srm.mismatch() else " (ok)")
    )
    estimates: list[dict[str, Any]] = []
    if offline and any(v.name == config.control and v.policy == "uniform" for v in config.variants):
        found = replay_variants(result)
        estimates = [e.as_row() for e in found]
        typer.echo("\noffline replay on the control's logs (clicks per shown item) vs online:")
        typer.echo(
            table(
                ["variant", "offline", "offline CI", "online", "online CI"],
                [
                    [
                        e.variant,
                        e.estimate,
                        f"[{e.ci_low:.4f}, {e.ci_high:.4f}]",
                        e.online,
                        f"[{e.online_ci_low:.4f}, {e.online_ci_high:.4f}]",
                    ]
                    for e in found
                ],
            )
        )
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        result.log.write(log)
        _echo_err(f"wrote the interaction log ({len(result.log):,} rows) to {log}")
    if report is not None:
        note = (
            "Each variant's policy, started fresh, is replayed on the uniformly random control's logs "
            "(Li et al. 2011, position-wise: a shown position counts when the policy would have put the "
            "same item there); the estimate is clicks per shown item, next to what the variant earned online."
        )
        path = simulation_report(result, readout, offline=estimates, offline_note=note).write(report)
        _echo_err(f"wrote the report to {path}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "readout": readout.rows(),
            "offline": estimates,
            "seconds": result.seconds,
            "weights": result.weights.tolist(),
        }
        json_out.write_text(json.dumps(payload, indent=1, default=float), encoding="utf-8")
    return result, readout


def simulate(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML), e.g. examples/experiment.yaml.")],
    report: Annotated[Path | None, typer.Option(help="Write the HTML report here.")] = None,
    log: Annotated[
        Path | None, typer.Option(help="Write the interaction log here (.csv, .csv.gz or .parquet).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the readout as JSON here.")] = None,
    offline: Annotated[bool, typer.Option(help="Replay every policy on a uniform control's logs.")] = True,
) -> None:
    """Run a simulated A/B test: policies as variants, adaptive allocation, full readout."""
    try:
        run_and_report(load_config(config), report=report, log=log, json_out=json_out, offline=offline)
    except AbrecError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
