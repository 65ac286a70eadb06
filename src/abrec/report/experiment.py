"""HTML and terminal readouts of experiments (simulated or logged), built on :mod:`abrec.report`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._interval import ConfidenceInterval
from ..abtest.readout import Readout, sequential_path
from ..experiments.simulation import SimulationResult
from .html import Report
from .svg import interval_chart, line_chart, stacked_area_chart

__all__ = ["readout_report", "readout_table", "simulation_report"]

_COLUMNS = ["variant", "units", "mean", "lift", "lift CI", "rel. lift", "p (adj.)", "always-valid CI", "P(win)"]


def _ci(pair: ConfidenceInterval, digits: int = 4) -> str:
    lo, hi = pair
    if not (math.isfinite(lo) or math.isfinite(hi)):
        return ""
    return f"[{lo:.{digits}g}, {hi:.{digits}g}]"


def readout_table(readout: Readout) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the compact per-variant table (for the terminal and the report)."""
    rows = []
    for v in readout.variants:
        control = v.variant == readout.control
        rows.append(
            [
                v.variant + (" (control)" if control else ""),
                v.units,
                v.mean,
                "" if control else f"{v.effect:+.4g}",
                "" if control else _ci(v.effect_ci),
                "" if control or not math.isfinite(v.relative) else f"{v.relative:+.1%}",
                "" if control else f"{v.p_adjusted:.3g}" + (" *" if v.significant else ""),
                "" if control else _ci(v.sequential_ci),
                "" if control else f"{v.chance_to_win:.3f}",
            ]
        )
    return list(_COLUMNS), rows


def _readout_section(report: Report, readout: Readout) -> None:
    columns, rows = readout_table(readout)
    report.table(rows, columns)
    level = 1 - readout.alpha
    report.paragraph(
        f"Metric: {readout.metric}. Test: {readout.method} at {level:.0%} ({readout.correction} correction across "
        f"treatments; * = significant after it). Always-valid CI: mixture SPRT (tuning n* = "
        f"{readout.tuning_parameter:,.0f}), valid however often one looks. P(win): Bayesian chance to beat control "
        "(flat prior, normal model)."
    )
    treatments = [v for v in readout.variants if v.variant != readout.control]
    if treatments:
        report.figure(
            interval_chart(
                [v.variant for v in treatments],
                [v.effect for v in treatments],
                [v.effect_ci[0] for v in treatments],
                [v.effect_ci[1] for v in treatments],
                x_label=f"lift over {readout.control}",
                title=f"Lift over {readout.control}, {level:.0%} CI",
            ),
            caption="Dashed line: no lift.",
        )
    srm = readout.srm
    verdict = "mismatch: the split is broken, distrust the comparison" if srm.mismatch() else "no mismatch"
    kind = "warning" if srm.mismatch() else "info"
    report.note(
        f"Sample ratio check: chi-square {srm.statistic:.2f} on {srm.df} df, p = {srm.p_value:.3g} ({verdict}); "
        f"observed {list(srm.observed)}, expected {[round(e, 1) for e in srm.expected]}.",
        kind=kind,
    )
    notes = [f"{v.variant}: {v.note}" for v in readout.variants if v.note]
    for text in notes:
        report.note(text, kind="warning")


def readout_report(readout: Readout, *, title: str = "Experiment readout", source: str = "") -> Report:
    """An HTML report of a logged experiment's readout."""
    report = Report(title)
    if source:
        report.key_values({"log": source, "control": readout.control, "alpha": readout.alpha})
    report.heading("Per-variant readout")
    _readout_section(report, readout)
    report.heading("All numbers")
    frame = readout.to_frame()
    report.table(frame.to_numpy().tolist(), list(frame.columns))
    return report


def _per_period(values: np.ndarray[Any, Any], users: np.ndarray[Any, Any], period: int) -> np.ndarray[Any, Any]:
    n_steps = values.shape[0]
    groups = np.arange(n_steps) // period
    v = np.zeros((groups.max() + 1, values.shape[1]))
    u = np.zeros_like(v)
    np.add.at(v, groups, values)
    np.add.at(u, groups, users)
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray[Any, Any] = v / u
    return out


def simulation_report(
    result: SimulationResult,
    readout: Readout,
    *,
    offline: Sequence[Mapping[str, Any]] = (),
    offline_note: str = "",
    title: str | None = None,
) -> Report:
    """The report of a simulated experiment: readout, curves over time, allocation, and offline estimates.

    ``offline`` rows (``variant``, ``policy``, ``estimate``, ``ci_low``, ``ci_high``, ``online``, ...) compare
    what off-policy evaluation predicted from the control's logs with what each variant earned online.
    """
    cfg = result.config
    names = list(result.variants)
    report = Report(title or f"Simulated A/B test: {cfg.name}")
    total_users = int(result.step_users.sum())
    report.key_values(
        {
            "environment": cfg.env.get("env", ""),
            "variants": ", ".join(f"{v.name} ({v.policy})" for v in cfg.variants),
            "control": cfg.control,
            "allocation": ", ".join(f"{k}={v}" for k, v in cfg.allocation.items()),
            "users": f"{total_users:,}",
            "steps": result.step_users.shape[0],
            "shown items (log rows)": f"{len(result.log):,}",
            "text encoder": result.encoder or "(not needed)",
            "seed": cfg.seed,
            "run time": f"{result.seconds:.1f} s",
        }
    )
    report.heading("Readout (clicks per user)")
    _readout_section(report, readout)
    period = int(cfg.allocation.get("period", 1))
    periods = np.arange(1, result.weights.shape[0] + 1)
    ctr = _per_period(result.step_clicks, result.step_users, period)
    report.heading("Over time")
    report.figure(
        line_chart(
            periods,
            {n: ctr[:, i] for i, n in enumerate(names)},
            x_label="period",
            y_label="clicks per user",
            title="Clicks per user in each period",
        )
    )
    steps = np.arange(1, result.step_clicks.shape[0] + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        cum_reward = np.cumsum(result.step_clicks, axis=0) / np.maximum(np.cumsum(result.step_users, axis=0), 1)
        regret = np.cumsum(result.step_oracle - result.step_expected, axis=0)
    report.figure(
        line_chart(
            steps,
            {n: cum_reward[:, i] for i, n in enumerate(names)},
            x_label="step",
            y_label="clicks per user so far",
            title="Cumulative reward per user",
        )
    )
    report.figure(
        line_chart(
            steps,
            {n: regret[:, i] for i, n in enumerate(names)},
            x_label="step",
            y_label="expected clicks lost",
            title="Cumulative regret (oracle slate minus chosen slate, expected clicks)",
        ),
        caption="Regret sums over each variant's own users, so it also grows with the traffic a variant receives.",
    )
    report.figure(
        stacked_area_chart(
            periods, {n: result.weights[:, i] for i, n in enumerate(names)}, x_label="period", title="Allocation"
        ),
        caption="Share of new users assigned to each variant in each period.",
    )
    for name in names:
        if name == cfg.control:
            continue
        effect, low, high = sequential_path(
            result.periods, control=cfg.control, treatment=name, alpha=cfg.alpha, tuning_parameter=None
        )
        finite = np.isfinite(low) & np.isfinite(high)
        y_range = None
        if finite.any():
            tail = np.concatenate(
                [low[finite][-max(1, finite.sum() // 2) :], high[finite][-max(1, finite.sum() // 2) :]]
            )
            spread = float(tail.max() - tail.min()) or 1.0
            y_range = (float(tail.min() - spread), float(tail.max() + spread))
        report.figure(
            line_chart(
                periods,
                {f"{name} - {cfg.control}": effect},
                bands={f"{name} - {cfg.control}": (low, high)},
                x_label="period",
                y_label="lift (clicks per user)",
                title=f"{name}: always-valid {1 - cfg.alpha:.0%} interval after each period",
                y_range=y_range,
            )
        )
    if offline:
        report.heading("Off-policy evaluation on the control's logs")
        if offline_note:
            report.paragraph(offline_note)
        cols = list(offline[0])
        report.table([[row[c] for c in cols] for row in offline], cols)
        report.figure(
            interval_chart(
                [str(r["variant"]) for r in offline],
                [float(r["estimate"]) for r in offline],
                [float(r["ci_low"]) for r in offline],
                [float(r["ci_high"]) for r in offline],
                reference=None,
                x_label="clicks per shown item",
                title="Offline estimate (replay) per policy",
            )
        )
    report.heading("All numbers")
    frame = readout.to_frame()
    report.table(frame.to_numpy().tolist(), list(frame.columns))
    per_variant = [
        [n, int(result.step_users[:, i].sum()), float(result.step_clicks[:, i].sum()), float(regret[-1, i])]
        for i, n in enumerate(names)
    ]
    report.table(per_variant, ["variant", "users", "clicks", "regret (expected clicks)"])
    return report
