"""``abrec evaluate``: the counterfactual A/B test of one or more policies from a log.

The log is an Open Bandit Dataset folder (or ``obd`` for the sample packaged with abrec: its ``random``
log of ``--campaign``) or an InteractionLog file (CSV or Parquet with item, position, reward and
propensity; items are mapped to actions in sorted order; no context unless ``--context-columns``), or a
folder of Parquet shards larger than memory, streamed block by block (:mod:`abrec.ope.streaming`; IPW,
SNIPW, DM, DR and SNDR of context-free policies; ``--backend processes|ray`` spreads the blocks).
Estimates go to stdout as a table; progress, notes and warnings to stderr.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
import yaml

from ..data.io import write_text
from ..errors import DataError, InputError, UnknownNameError, unknown_key
from ..ope import LoggedFeedback, zozotown_bts_policy
from ..ope.evaluation import LOGGING, evaluate_policies
from ..policies import Policy, make_policy, registered_policies
from ..policies.registry import check_policy_params
from ..report.evaluation import evaluation_report
from ._output import JSON, REPORT, Progress, check_output, json_text, table, writing

ZOZOTOWN = "zozotown_bts"


def _parse_params(items: list[str], policies: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        name, dot, param = key.partition(".")
        if not sep or not dot or not name or not param:
            raise InputError(f"--param must look like policy.key=value (e.g. linucb.alpha=0.5); got {item!r}.")
        if name not in policies:
            raise UnknownNameError("policy in --param", name, policies)
        out.setdefault(name, {})[param] = parse_value(raw, f"--param {item}")
    for name, params in out.items():
        if name == ZOZOTOWN:
            known = list(inspect.signature(zozotown_bts_policy).parameters)[1:]  # after the campaign
            for key in params:
                if key not in known or key == "seed":
                    raise unknown_key(key, f"--param {name}", [k for k in known if k != "seed"])
        else:
            check_policy_params(name, params, f"--param {name}")
    return out


def parse_value(raw: str, where: str) -> Any:
    """A ``--param`` value: a number as Python reads it (``1e-2`` too, which YAML 1.1 reads as text), else YAML.

    Examples
    --------
    >>> parse_value("1e-2", "--param"), parse_value("3", "--param"), parse_value("[1, 2]", "--param")
    (0.01, 3, [1, 2])
    """
    for number in (int, float):
        try:
            return number(raw)
        except ValueError:
            pass
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise InputError(f"{where}: the value is not valid YAML ({' '.join(str(exc).split())}).") from exc


def _make(name: str, params: dict[str, Any], campaign: str, seed: int) -> Policy:
    if name == ZOZOTOWN:
        return zozotown_bts_policy(campaign, seed=seed, **params)
    known = [*registered_policies(), ZOZOTOWN]
    if name not in registered_policies():
        raise UnknownNameError("policy", name, known)
    return make_policy(name, seed=seed, **params)


def _split_context(path: Path, columns: list[str]) -> tuple[Any, np.ndarray[Any, np.dtype[np.float64]]]:
    """The InteractionLog of ``path`` without ``columns``, and those columns as a context matrix."""
    import pandas as pd

    from ..data import io
    from ..data.interactions import InteractionLog

    if io.file_format(path) == "parquet":
        frame, _, _ = io.read_parquet(path)
    else:
        frame, _ = io.read_csv(path, str_columns=["unit", "policy", "experiment", "variant", "item"])
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: no context column(s) {missing}; columns are {list(frame.columns)}.")
    ctx = frame[columns]
    numeric = ctx.select_dtypes("number")
    other = ctx.drop(columns=numeric.columns)
    parts = [numeric.to_numpy(dtype=np.float64)]
    if not other.empty:
        parts.append(pd.get_dummies(other.astype(str), drop_first=True).to_numpy(dtype=np.float64))
    return InteractionLog(frame.drop(columns=columns)), np.hstack(parts)


def load_feedback(
    log: str, campaign: str, context_columns: list[str] | None, variant: str | None = None
) -> tuple[LoggedFeedback, str]:
    """The feedback of ``log`` (``obd``, an OBD folder or an InteractionLog file) and a description of it."""
    from ..data.interactions import InteractionLog
    from ..data.obd import load_obd

    path = Path(log)
    if log == "obd" or path.is_dir():
        if variant is not None:
            raise InputError("--variant selects rows of a log file; an Open Bandit Dataset log has one logging policy.")
        obd = load_obd(None if log == "obd" else path, campaign=campaign, policy="random")
        where = "the packaged sample" if log == "obd" else str(path)
        return LoggedFeedback.from_obd(obd), f"Open Bandit Dataset ({where}), random/{campaign}"
    if not path.is_file():
        raise InputError(f"No such log: {log!r}. Give an OBD folder, the word 'obd', or a CSV/Parquet log file.")
    if context_columns:
        interactions, context = _split_context(path, context_columns)
    else:
        interactions, context = InteractionLog.read(path), None
    if len(interactions) == 0:
        raise DataError(f"{path}: the log holds no rows (only a header); there is nothing to evaluate.")
    feedback = LoggedFeedback.from_log(interactions, context=context, logging_policy=variant)
    return feedback, str(path) + ("" if variant is None else f" (variant {variant})")


def evaluate(
    log: Annotated[str, typer.Argument(help="OBD folder, 'obd' (packaged sample), or an InteractionLog CSV/Parquet.")],
    policy: Annotated[
        list[str],
        typer.Option("--policy", metavar="NAME", help="Policy to evaluate (registered name or zozotown_bts); repeat."),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", metavar="POLICY.KEY=VALUE", help="Policy parameter (a number or a YAML value); repeat."
        ),
    ] = None,
    campaign: Annotated[str, typer.Option(help="OBD campaign: all, men or women.")] = "all",
    context_columns: Annotated[
        str | None, typer.Option(help="Comma-separated context columns of a log file (text columns one-hot).")
    ] = None,
    estimators: Annotated[
        str | None, typer.Option(help="Comma-separated estimators (default: every one that applies).")
    ] = None,
    select: Annotated[str, typer.Option(help="Estimator selection: slope, mse or none.")] = "slope",
    variant: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Evaluate on one logging policy's rows of a log file: a variant (a policy name in a log without "
            "variants). Required when the log mixes several.",
        ),
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the HTML report here (.html).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write all results as JSON here (.json).")] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples per interval.")] = 200,
    alpha: Annotated[float, typer.Option(min=0.0, max=1.0, help="1 - confidence level.")] = 0.05,
    draws: Annotated[
        int, typer.Option(min=1, help="Monte Carlo slates for a sampling policy's distribution.")
    ] = 100_000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of folds, Monte Carlo, bootstrap and replay.")] = 0,
    backend: Annotated[
        str,
        typer.Option(help="For a folder of Parquet shards: where the blocks are processed (local, processes, ray)."),
    ] = "local",
    workers: Annotated[
        int | None, typer.Option(min=1, help="Workers of the processes or ray backend (default: all cores).")
    ] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster address (with --backend ray).")] = None,
) -> None:
    """Estimate what each policy would have earned on the log (off-policy), with intervals and a chosen estimator."""
    check_output(report, "--report", REPORT)
    check_output(json_out, "--json", JSON)
    if select not in ("mse", "slope", "none"):
        raise InputError(f"--select must be mse, slope or none; got {select!r}.")
    names = list(dict.fromkeys(policy))
    params = _parse_params(param or [], names)
    policies = {name: _make(name, params.get(name, {}), campaign, seed) for name in names}
    if is_shard_folder(log):
        if context_columns or variant is not None:
            raise InputError(
                "--context-columns and --variant read one log file; Parquet shards are streamed as they are."
            )
        ev = _evaluate_shards(
            Path(log), policies, _split(estimators), bootstrap, alpha, seed, backend, workers, address
        )
        where = f"{log} (Parquet shards, streamed)"
    else:
        if backend != "local" or workers is not None or address is not None:
            raise InputError(
                "--backend, --workers and --address stream a folder of Parquet shards; this log is read whole."
            )
        feedback, where = load_feedback(log, campaign, _split(context_columns), variant)
        typer.echo(
            f"Log: {where}: {feedback.n_rows:,} rows, {feedback.n_actions} actions, {feedback.n_positions} positions.",
            err=True,
        )
        ev = evaluate_policies(
            feedback,
            policies,
            estimators=_split(estimators),
            n_bootstrap=bootstrap,
            alpha=alpha,
            seed=seed,
            select=select != "none",
            select_method=select if select != "none" else "slope",
            n_draws=draws,
        )
    rows = []
    for r in ev.table():
        label = r.policy if r.policy != LOGGING else "(logging)"
        rows.append([label, r.estimator + (" *" if r.chosen else ""), r.value, r.ci_low, r.ci_high, r.se, r.ess])
    typer.echo(
        table(
            ["policy", "estimator", "value", "ci_low", "ci_high", "se", "ess"],
            [[*r[:2], *map(_num, r[2:])] for r in rows],
        )
    )
    typer.echo(
        f"* chosen estimator ({select}); intervals at {100 * (1 - alpha):g}%; reward model held-out Brier "
        f"{ev.heldout_brier:.6g}."
    )
    for note in ev.notes:
        typer.echo(f"note: {note}", err=True)
    for p in ev.policies:
        if p.selection is not None:
            typer.echo(f"{p.name}: {p.selection.reason}", err=True)
        for name, why in p.skipped.items():
            typer.echo(f"{p.name}: {name} skipped: {why}", err=True)
        for note in p.notes:
            typer.echo(f"{p.name}: {note}", err=True)
    with writing(report, json_out) as (report_tmp, json_tmp):
        if report_tmp is not None:
            evaluation_report(ev, f"Counterfactual A/B test: {where}").write(report_tmp)
        if json_tmp is not None:
            write_text(json_tmp, json_text(ev.to_dict()))
    for label, path in (("Report", report), ("JSON", json_out)):
        if path is not None:
            typer.echo(f"{label}: {path}", err=True)


def is_shard_folder(log: str) -> bool:
    """Whether ``log`` is a folder of Parquet shards (``*.parquet`` files at its top), evaluated streamed."""
    path = Path(log)
    return path.is_dir() and any(path.glob("*.parquet"))


def _evaluate_shards(
    folder: Path,
    policies: dict[str, Policy],
    estimators: list[str] | None,
    bootstrap: int,
    alpha: float,
    seed: int,
    backend: str,
    workers: int | None,
    address: str | None,
) -> Any:
    """Stream the shards block by block on ``backend`` (see :mod:`abrec.ope.streaming`)."""
    from ..experiments.executor import make_executor
    from ..ope.streaming import ShardedLog, evaluate_shards

    shards = ShardedLog.open(folder)
    typer.echo(
        f"Log: {folder}: {shards.n_rows:,} rows in {len(shards.blocks)} blocks (Parquet row groups), streamed "
        f"on the {backend} backend.",
        err=True,
    )
    with make_executor(backend, workers, address=address) as executor, Progress("evaluating", "block") as progress:
        return evaluate_shards(
            shards,
            dict(policies),
            estimators=estimators,
            n_bootstrap=bootstrap,
            alpha=alpha,
            seed=seed,
            executor=executor,
            progress=progress,
        )


def _split(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def _num(value: object) -> object:
    """Six significant digits as text (click rates are small); NaN as n/a."""
    if isinstance(value, float):
        return "n/a" if np.isnan(value) else f"{value:.6g}"
    return value
