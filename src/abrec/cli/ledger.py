"""``abrec ledger ...``: the launch ledger (each launch's offline prediction next to its online result).

- ``abrec ledger predict LEDGER --launch ID --evaluation EVAL.json --policy NAME``: record what
  ``abrec evaluate --json`` predicted for a challenger, before it goes online;
- ``abrec ledger observe LEDGER --launch ID --readout READOUT.json --variant NAME``: record what
  ``abrec analyze --json`` found online;
- ``abrec ledger show LEDGER``: every launch side by side and the calibration so far (``--report`` HTML);
- ``abrec ledger simulate LEDGER --launches N``: the calibration study on simulated launches.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from ..data.io import write_text
from ..errors import DataError, InputError, UnknownNameError
from ..experiments.executor import make_executor
from ..experiments.launches import simulate_launches
from ..experiments.ledger import Calibration, Ledger, Observation, Prediction
from ..report.ledger import calibration_rows, ledger_report
from ._help import ReadableCommand
from ._output import JSON, REPORT, Progress, check_output, json_text, table, writing

app = typer.Typer(
    name="ledger",
    help="The launch ledger: offline predictions next to online results, and their calibration.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_COLUMNS = ["group", "n", "coverage", "agreement", "bias", "rel. error", "sign agr.", "rank corr.", "lift rank"]


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not JSON ({exc}); give the file written by {what} --json.") from exc
    if not isinstance(loaded, dict):
        raise DataError(f"{path}: expected the JSON object written by {what} --json.")
    return loaded


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)


@app.command("predict", cls=ReadableCommand)
def predict(
    ledger: Annotated[Path, typer.Argument(help="The ledger file (.jsonl; created when absent).")],
    launch: Annotated[str, typer.Option(help="The launch's id (unique in the ledger).")],
    evaluation: Annotated[Path, typer.Option(help="The JSON written by abrec evaluate --json.")],
    policy: Annotated[str, typer.Option(help="The challenger (a policy of the evaluation).")],
    estimator: Annotated[str | None, typer.Option(help="Estimator to record (default: the chosen one).")] = None,
    data: Annotated[str, typer.Option(help="The log the prediction came from (recorded as given).")] = "",
) -> None:
    """Record a challenger's off-policy prediction, before it goes online."""
    ev = _read_json(evaluation, "abrec evaluate")
    policies = {p["name"]: p for p in ev.get("policies", [])}
    if policy not in policies:
        raise UnknownNameError("policy of the evaluation", policy, policies)
    found = policies[policy]
    name = estimator or (found.get("selection") or {}).get("chosen")
    if not name:
        raise InputError(f"No estimator was chosen for {policy!r} in {evaluation}; pass --estimator.")
    estimates = {e["estimator"]: e for e in found.get("estimates", [])}
    if name not in estimates:
        raise UnknownNameError("estimator of the evaluation", name, estimates)
    e = estimates[name]
    settings = ev.get("settings", {})
    rows = int(ev.get("log", {}).get("n_rows", 0))
    ess = e.get("effective_sample_size")
    prediction = Prediction(
        launch=launch,
        policy=policy,
        estimate=_num(e["value"]),
        ci_low=_num(e["ci_low"]),
        ci_high=_num(e["ci_high"]),
        estimator=name,
        baseline=_num(ev.get("logging_policy", {}).get("value")),
        data=data or str(evaluation),
        n_rows=rows,
        alpha=float(settings.get("alpha", 0.05)),
        seed=settings.get("seed"),
        conditions={"log_rows": rows, "ess_share": None if ess is None or not rows else float(ess) / rows},
    )
    Ledger(ledger).predict(prediction)
    typer.echo(
        f"recorded the prediction of {launch}: {name} {prediction.estimate:.6g} "
        f"[{prediction.ci_low:.6g}, {prediction.ci_high:.6g}]"
    )


@app.command("observe", cls=ReadableCommand)
def observe(
    ledger: Annotated[Path, typer.Argument(help="The ledger file (.jsonl).")],
    launch: Annotated[str, typer.Option(help="The launch's id (its prediction must be recorded).")],
    readout: Annotated[Path, typer.Option(help="The JSON written by abrec analyze --json.")],
    variant: Annotated[str, typer.Option(help="The challenger's variant in the readout.")],
    source: Annotated[str, typer.Option(help="The experiment it came from (recorded as given).")] = "",
) -> None:
    """Record a launch's online A/B result (the readout's primary metric)."""
    found = _read_json(readout, "abrec analyze")
    rows = {r["variant"]: r for r in found.get("readout", [])}
    if variant not in rows:
        raise UnknownNameError("variant of the readout", variant, rows)
    control = next(iter(rows.values()))  # the control comes first
    r = rows[variant]
    metric = str(((found.get("metrics") or {}).get("metrics") or [{}])[0].get("name", "primary metric"))
    observation = Observation(
        launch=launch,
        value=_num(r["mean"]),
        ci_low=_num(r["ci_low"]),
        ci_high=_num(r["ci_high"]),
        control_value=_num(control["mean"]),
        lift=_num(r["relative_lift"]),
        lift_low=_num(r["relative_low"]),
        lift_high=_num(r["relative_high"]),
        metric=metric,
        source=source or str(readout),
    )
    Ledger(ledger).observe(observation)
    typer.echo(
        f"recorded the online result of {launch}: {observation.value:.6g} "
        f"[{observation.ci_low:.6g}, {observation.ci_high:.6g}]"
    )


def _calibration_table(groups: dict[Any, Calibration]) -> str:
    return table(_COLUMNS, calibration_rows(groups))


@app.command("show", cls=ReadableCommand)
def show(
    ledger: Annotated[Path, typer.Argument(help="The ledger file (.jsonl).")],
    by: Annotated[
        str, typer.Option(help="Calibration per estimator, policy, or a condition (e.g. production, log_steps).")
    ] = "estimator",
    report: Annotated[Path | None, typer.Option(help="Write the HTML report here (.html).")] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write launches and calibration here (.json).")
    ] = None,
) -> None:
    """Every launch side by side, and the calibration of the offline predictions so far."""
    check_output(report, "--report", REPORT)
    check_output(json_out, "--json", JSON)
    if not ledger.is_file():
        raise InputError(f"No ledger at {ledger}; record a launch first (abrec ledger predict ...).")
    book = Ledger(ledger)
    frame = book.to_frame()
    columns = ["launch", "policy", "estimator", "predicted", "predicted_low", "predicted_high", "online"]
    shown = [c for c in columns if c in frame.columns]
    typer.echo(table(shown, frame[shown].to_numpy().tolist()))
    observed = [e for e in book.entries() if e.observation is not None]
    groups: dict[Any, Calibration] = {}
    if observed:
        result = book.calibration(by=by)
        assert isinstance(result, dict)
        groups = result
        typer.echo(f"\ncalibration by {by} ({len(observed)} launches with an online result):")
        typer.echo(_calibration_table(groups))
    else:
        typer.echo("\nno launch has an online result yet (abrec ledger observe ...).", err=True)
    with writing(report, json_out) as (report_tmp, json_tmp):
        if report_tmp is not None:
            ledger_report(book).write(report_tmp)
        if json_tmp is not None:
            payload = {
                "launches": frame.to_dict(orient="records"),
                "calibration": {str(k): v for k, v in groups.items()},
            }
            write_text(json_tmp, json_text(payload))
    if report is not None:
        typer.echo(f"wrote the report to {report}", err=True)


@app.command("simulate", cls=ReadableCommand)
def simulate(
    ledger: Annotated[Path, typer.Argument(help="The ledger file to write (.jsonl; must not exist).")],
    launches: Annotated[int, typer.Option(min=1, help="Simulated launches.")] = 200,
    seed: Annotated[
        int, typer.Option(min=0, help="The study's seed (launch i: SeedSequence(seed, spawn_key=(i,))).")
    ] = 0,
    backend: Annotated[str, typer.Option(help="local, processes or ray.")] = "local",
    workers: Annotated[
        int | None, typer.Option(min=1, help="Workers of a parallel backend (default: all cores).")
    ] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (with --backend ray).")] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples per offline interval.")] = 100,
    report: Annotated[Path | None, typer.Option(help="Write the HTML report here (.html).")] = None,
) -> None:
    """The calibration study: simulated launches, each predicted off-policy then A/B tested, into a ledger."""
    check_output(report, "--report", REPORT)
    if ledger.exists():
        raise InputError(f"{ledger} exists; the study writes a new ledger (remove it or choose another path).")
    with make_executor(backend, workers, address=address) as executor, Progress("simulating", "launch") as progress:
        book = simulate_launches(launches, seed=seed, executor=executor, n_bootstrap=bootstrap, progress=progress)
    tmp = ledger.with_name(ledger.name + ".tmp")
    tmp.unlink(missing_ok=True)
    Ledger(tmp).extend((e.prediction, e.observation) for e in book.entries())
    tmp.replace(ledger)
    result = Ledger(ledger).calibration(by="estimator")
    assert isinstance(result, dict)
    typer.echo(_calibration_table(result))
    if report is not None:
        ledger_report(Ledger(ledger)).write(report)
        typer.echo(f"wrote the report to {report}", err=True)
    typer.echo(f"wrote {len(book)} predictions of {launches} launches to {ledger}", err=True)
