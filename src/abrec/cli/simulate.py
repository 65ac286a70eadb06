"""``abrec simulate CONFIG``: run a simulated A/B test of abrec policies and write its log and report.

On a session view (``…-Session-v0``) the variants may be agents too, the unit is the session and the readout
is on the session metrics (:mod:`abrec.experiments.sessions`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ..abtest.readout import Readout
from ..data.io import write_text
from ..errors import InputError
from ..experiments import (
    ExperimentConfig,
    SessionResult,
    SimulationResult,
    load_config,
    run_session_experiment,
    run_simulation,
)
from ..experiments.executor import advise, make_executor
from ..experiments.offline import OfflineEstimate, replay_variants
from ..experiments.replicates import ReplicateSummary, run_replicates
from ..report.experiment import session_report, simulation_report
from ._output import JSON, LOG, REPORT, Progress, check_output, json_text, table, writing
from ._readout import echo_readout
from .embed import default_cache_dir


def _echo_err(line: str) -> None:
    typer.echo(line, err=True)


def run_and_report(
    config: ExperimentConfig, *, report: Path | None, log: Path | None, json_out: Path | None, offline: bool
) -> tuple[SimulationResult, Readout]:
    """Run the experiment with progress on stderr, print the readout, write the requested files.

    The output paths are checked before the simulation starts, and the files are written together:
    all of them or, when one fails, none.
    """
    check_output(report, "--report", REPORT)
    check_output(log, "--log", LOG)
    check_output(json_out, "--json", JSON)
    with Progress("simulating", "step") as progress:
        result = run_simulation(
            config, progress=progress, notify=_echo_err, cache_dir=default_cache_dir() / "embeddings"
        )
    metrics = result.readouts()
    readout = metrics.primary
    echo_readout(metrics)
    found: list[OfflineEstimate] = []
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
    note = (
        "Each variant's policy, started fresh, is replayed on the uniformly random control's logs "
        "(Li et al. 2011, position-wise: a shown position counts when the policy would have put the "
        "same item there); the estimate is clicks per shown item, next to what the variant earned online."
    )
    with writing(log, report, json_out) as (log_tmp, report_tmp, json_tmp):
        if log_tmp is not None:
            result.log.write(log_tmp)
        if report_tmp is not None:
            simulation_report(result, readout, offline=estimates, offline_note=note, metrics=metrics).write(report_tmp)
        if json_tmp is not None:
            payload = {
                "readout": readout.rows(),
                "metrics": metrics.to_dict(),
                "offline": found,
                "seconds": result.seconds,
                "weights": result.weights,
            }
            write_text(json_tmp, json_text(payload))
    if log is not None:
        _echo_err(f"wrote the interaction log ({len(result.log):,} rows) to {log}")
    if report is not None:
        _echo_err(f"wrote the report to {report}")
    return result, readout


def run_sessions_and_report(
    config: ExperimentConfig, *, report: Path | None, log: Path | None, json_out: Path | None
) -> tuple[SessionResult, Readout]:
    """Run a session experiment with progress on stderr, print its readout, write the requested files (all or none)."""
    check_output(report, "--report", REPORT)
    check_output(log, "--log", LOG)
    check_output(json_out, "--json", JSON)
    with Progress("simulating", "step") as progress:
        result = run_session_experiment(
            config, progress=progress, notify=_echo_err, cache_dir=default_cache_dir() / "embeddings"
        )
    metrics = result.readouts()
    echo_readout(metrics)
    typer.echo(
        f"the unit of every metric is the session ({len(result.sessions):,} sessions, {config.episodes} episode(s))"
    )
    with writing(log, report, json_out) as (log_tmp, report_tmp, json_tmp):
        if log_tmp is not None:
            result.log.write(log_tmp)
        if report_tmp is not None:
            session_report(result, metrics).write(report_tmp)
        if json_tmp is not None:
            payload = {
                "readout": metrics.primary.rows(),
                "metrics": metrics.to_dict(),
                "episode_returns": {n: result.episode_returns[:, i] for i, n in enumerate(result.variants)},
                "seconds": result.seconds,
                "weights": result.weights,
            }
            write_text(json_tmp, json_text(payload))
    if log is not None:
        _echo_err(f"wrote the interaction log ({len(result.log):,} rows) to {log}")
    if report is not None:
        _echo_err(f"wrote the report to {report}")
    return result, metrics.primary


def simulate(
    config: Annotated[Path, typer.Argument(help="Experiment config (YAML), e.g. examples/experiment.yaml.")],
    report: Annotated[Path | None, typer.Option(help="Write the HTML report here (.html).")] = None,
    log: Annotated[
        Path | None, typer.Option(help="Write the interaction log here (.csv, .csv.gz or .parquet).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the readout as JSON here (.json).")] = None,
    offline: Annotated[bool, typer.Option(help="Replay every policy on a uniform control's logs.")] = True,
    replicates: Annotated[
        int,
        typer.Option(
            min=1,
            help="Run the experiment N times (replicate i: seed SeedSequence(seed, spawn_key=(i,)), salt NAME/ri) "
            "and report each lift's within-run interval next to its spread over replicates.",
        ),
    ] = 1,
    backend: Annotated[
        str, typer.Option(help="Where replicates run: local (in process), processes or ray (abrec[ray]).")
    ] = "local",
    workers: Annotated[
        int | None, typer.Option(min=1, help="Workers of the processes or ray backend (default: all cores).")
    ] = None,
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address, e.g. ray://head:10001 (with --backend ray).")
    ] = None,
) -> None:
    """Run a simulated A/B test: policies as variants, adaptive allocation, full readout."""
    cfg = load_config(config)
    if cfg.sessions:
        if replicates > 1 or backend != "local" or address is not None or workers is not None:
            raise InputError(
                "--replicates, --backend, --workers and --address run bandit experiments; a session "
                "experiment runs once (raise 'episodes' in the config for more sessions)."
            )
        run_sessions_and_report(cfg, report=report, log=log, json_out=json_out)
        return
    if replicates > 1:
        if report is not None or log is not None:
            raise InputError("--report and --log write one run; with --replicates use --json (or run once).")
        run_replicated(cfg, replicates, backend=backend, workers=workers, address=address, json_out=json_out)
        return
    if backend != "local" or address is not None or workers is not None:
        raise InputError("--backend, --workers and --address run replicates: add --replicates N (N >= 2).")
    run_and_report(cfg, report=report, log=log, json_out=json_out, offline=offline)


def run_replicated(
    config: ExperimentConfig,
    replicates: int,
    *,
    backend: str,
    workers: int | None,
    address: str | None,
    json_out: Path | None,
) -> ReplicateSummary:
    """Run ``replicates`` replicates on ``backend``, print the within-run vs between-replicate table."""
    check_output(json_out, "--json", JSON)
    with make_executor(backend, workers, address=address) as executor:
        with Progress("simulating", "replicate") as progress:
            summary = run_replicates(config, replicates, executor=executor, progress=progress)
        if executor.startup_seconds:
            _echo_err(f"{backend} backend started in {executor.startup_seconds:.1f} s ({executor.workers} workers)")
    rows = summary.table()
    typer.echo(f"{replicates} replicates of {config.name!r}: relative lift of clicks per user over {config.control!r}")
    typer.echo(
        table(
            ["variant", "mean lift", "within-run CI (mean)", "between replicates", "sd", "significant"],
            [
                [
                    r["variant"],
                    r["lift"],
                    f"[{r['within_low']:+.3f}, {r['within_high']:+.3f}]",
                    f"[{r['between_low']:+.3f}, {r['between_high']:+.3f}]",
                    r["between_sd"],
                    f"{r['significant']:.0%}",
                ]
                for r in rows
            ],
        )
    )
    typer.echo(
        "within-run: one run's interval (did this deployment win?); between replicates: the middle "
        f"{1 - config.alpha:.0%} of the lifts over replicates (will it win when deployed again?)."
    )
    note = advise(replicates, summary.seconds / replicates, backend, workers)
    if note:
        _echo_err(note)
    if json_out is not None:
        payload = {
            "replicates": replicates,
            "backend": backend,
            "fingerprint": summary.fingerprint(),
            "table": rows,
            "lifts": {r["variant"]: summary.relative_lifts(r["variant"]) for r in rows},
            "seeds": [o.seed for o in summary.outcomes],
        }
        with writing(json_out) as (json_tmp,):
            assert json_tmp is not None
            write_text(json_tmp, json_text(payload))
    return summary
