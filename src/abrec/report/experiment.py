"""HTML and terminal readouts of experiments (simulated or logged), built on :mod:`abrec.report`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._interval import ConfidenceInterval
from ..abtest.readout import Readout, VariantReadout, sequential_path
from ..abtest.scorecard import MetricsReadout
from ..experiments.offline import OfflineEstimate
from ..experiments.sessions import SessionResult
from ..experiments.simulation import SimulationResult
from .conclusion import readout_conclusion
from .html import Report
from .offline import offline_section
from .svg import interval_chart, line_chart, stacked_area_chart

__all__ = [
    "metrics_section",
    "metrics_table",
    "readout_report",
    "readout_table",
    "relative_table",
    "session_report",
    "simulation_report",
]

_COLUMNS = ["variant", "units", "mean", "lift", "lift CI", "rel. lift", "p (adj.)", "always-valid CI", "P(win)"]


def _ci(pair: ConfidenceInterval, digits: int = 3) -> str:
    lo, hi = pair
    if not (math.isfinite(lo) or math.isfinite(hi)):
        return ""
    return f"[{lo:.{digits}g}, {hi:.{digits}g}]"


def _pct_ci(pair: ConfidenceInterval) -> str:
    lo, hi = pair
    if not (math.isfinite(lo) or math.isfinite(hi)):
        return ""
    return f"[{lo:.1%}, {hi:.1%}]"


def _p(p: float) -> str:
    return "<0.001" if p < 0.001 else f"{p:.2g}"


def _fmt(x: float, spec: str, star: bool = False) -> str:
    """``x`` formatted by ``spec`` (``" *"`` after it when ``star``), or blank when undefined (NaN): e.g. a
    quantile metric has no P(win), and a test without enough units no p-value."""
    if not math.isfinite(x):
        return ""
    return f"{x:{spec}}" + (" *" if star else "")


def _relative_cell(v: VariantReadout, control_mean: float, alpha: float) -> str:
    """The relative lift with its interval and its own (corrected) p-value, or why there is none."""
    if not math.isfinite(v.relative):
        return "n/a (control mean <= 0)" if not control_mean > 0 else "n/a (control mean ~ 0)"
    p = v.relative_p_adjusted
    test = f" p {_p(p)}" + ("*" if p < alpha else "") if math.isfinite(p) else ""
    return f"{v.relative:+.1%} {_pct_ci(v.relative_ci)}{test}"


def readout_table(readout: Readout) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the compact per-variant table (for the terminal and the report).

    "rel. lift" holds the relative lift, its interval and its own p-value after the readout's correction
    (``*`` below alpha); where the control mean is not clearly positive it says so and the readout is absolute.
    The table fits a laptop screen; :func:`relative_table` has the relative lift's always-valid numbers too.
    """
    control_mean = next((v.mean for v in readout.variants if v.variant == readout.control), math.nan)
    rows = []
    for v in readout.variants:
        control = v.variant == readout.control
        rows.append(
            [
                v.variant + (" (control)" if control else ""),
                v.units,
                v.mean,
                "" if control else _fmt(v.effect, "+.4g"),
                "" if control else _ci(v.effect_ci),
                "" if control else _relative_cell(v, control_mean, readout.alpha),
                "" if control else _fmt(v.p_adjusted, ".3g", v.significant),
                "" if control else _ci(v.sequential_ci, 2),
                "" if control else _fmt(v.chance_to_win, ".3f"),
            ]
        )
    return list(_COLUMNS), rows


_RELATIVE_COLUMNS = [
    "variant",
    "rel. lift",
    "rel. CI",
    "rel. p",
    "rel. p (adj.)",
    "always-valid rel. CI",
    "always-valid rel. p",
]


def relative_table(readout: Readout) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the relative lift's own inference per treatment: fixed-horizon and always-valid."""
    control_mean = next((v.mean for v in readout.variants if v.variant == readout.control), math.nan)
    rows: list[list[Any]] = []
    for v in readout.variants:
        if v.variant == readout.control:
            continue
        if not math.isfinite(v.relative):
            rows.append([v.variant, _relative_cell(v, control_mean, readout.alpha), "", "", "", "", ""])
            continue
        rows.append(
            [
                v.variant,
                f"{v.relative:+.2%}",
                _pct_ci(v.relative_ci),
                _fmt(v.relative_p_value, ".3g"),
                _fmt(v.relative_p_adjusted, ".3g", v.relative_p_adjusted < readout.alpha),
                _pct_ci(v.relative_sequential_ci),
                _fmt(v.relative_sequential_p, ".3g"),
            ]
        )
    return list(_RELATIVE_COLUMNS), rows


_METRIC_COLUMNS = ["metric", "variant", "control mean", "mean", "lift", "lift CI", "rel. lift", "p (adj.)", "P(win)"]


def metrics_table(readout: MetricsReadout) -> tuple[list[str], list[list[Any]]]:
    """Columns and rows of the secondary metrics: one row per (metric, treatment), lifts over the control."""
    rows = []
    for metric, r in zip(readout.metrics[1:], readout.secondary, strict=True):
        base = next(v for v in r.variants if v.variant == r.control)
        for v in r.variants:
            if v.variant == r.control:
                continue
            rows.append(
                [
                    metric.name,
                    v.variant,
                    base.mean,
                    v.mean,
                    _fmt(v.effect, "+.4g"),
                    _ci(v.effect_ci),
                    _fmt(v.relative, "+.1%"),
                    _fmt(v.p_adjusted, ".3g", v.significant),
                    _fmt(v.chance_to_win, ".3f"),
                ]
            )
    return list(_METRIC_COLUMNS), rows


def metrics_section(report: Report, readout: MetricsReadout) -> None:
    """The secondary and guardrail metrics as one section: heading, table, methods and the correction."""
    report.heading("Secondary metrics")
    if readout.secondary:
        columns, rows = metrics_table(readout)
        report.table(rows, columns)
        methods = "; ".join(f"{r.metric}, {r.method}" for r in readout.secondary)
        report.paragraph(f"Lifts over {readout.control} at {1 - readout.alpha:.0%}. {methods}. * = significant.")
    report.paragraph(readout.correction)
    for name, why in readout.skipped:
        report.note(f"{name} not read out: {why}.", kind="info")


def _readout_section(report: Report, readout: Readout) -> None:
    columns, rows = readout_table(readout)
    report.table(rows, columns)
    level = 1 - readout.alpha
    report.paragraph(
        f"Metric: {readout.metric}. Test: {readout.method} at {level:.0%} ({readout.correction} correction across "
        f"treatments; * = significant after it). Rel. lift: the relative lift with its own {level:.0%} interval and "
        "p-value (delta method, same correction). Always-valid CI: mixture SPRT (tuning n* = "
        f"{readout.tuning_parameter:,.0f}), valid however often one looks (the relative lift's in the next table). "
        "P(win): Bayesian chance to beat control (flat prior, normal model)."
    )
    treatments = [v for v in readout.variants if v.variant != readout.control]
    if treatments:
        columns, rows = relative_table(readout)
        report.table(rows, columns)
        report.paragraph(
            f"The relative lift (treatment mean / control mean - 1) tested on its own: delta-method standard error of "
            f"the ratio of the two independent means, p-value of no relative lift and {level:.0%} interval, "
            f"{readout.correction} correction across treatments, and the always-valid (mSPRT) interval and p-value on "
            "the relative scale."
        )
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


def readout_report(
    readout: Readout,
    *,
    title: str = "Experiment readout",
    source: str = "",
    metrics: MetricsReadout | None = None,
) -> Report:
    """An HTML report of a logged experiment's readout (``metrics``: with the secondary metrics' section)."""
    report = Report(title)
    _conclude(report, readout)
    report.heading("Per-variant readout")
    _readout_section(report, readout)
    if metrics is not None:
        metrics_section(report, metrics)
    report.heading("All numbers")
    frame = (metrics or readout).to_frame()
    report.table(frame.to_numpy().tolist(), list(frame.columns))
    if source:
        report.heading("About this readout")
        report.key_values({"log": source, "control": readout.control, "alpha": readout.alpha})
    return report


def _conclude(report: Report, readout: Readout) -> None:
    conclusion = readout_conclusion(readout)
    report.conclusion(conclusion.text, warning=conclusion.warning)


def _sequential_figures(report: Report, result: SimulationResult) -> None:
    """The always-valid interval of each treatment's lift after each period, on one shared y range with zero."""
    cfg = result.config
    periods = np.arange(1, result.weights.shape[0] + 1)
    paths = {
        name: sequential_path(result.periods, control=cfg.control, treatment=name, alpha=cfg.alpha)
        for name in result.variants
        if name != cfg.control
    }
    tails = []  # the later half of each path: the early, very wide intervals are clipped, not shown in full
    for _, low, high in paths.values():
        finite = np.isfinite(low) & np.isfinite(high)
        half = max(1, int(finite.sum()) // 2)
        tails += [low[finite][-half:], high[finite][-half:]]
    tail = np.concatenate([np.zeros(1), *tails])
    spread = float(tail.max() - tail.min()) or 1.0
    y_range = (float(tail.min() - 0.25 * spread), float(tail.max() + 0.25 * spread))
    level = f"{1 - cfg.alpha:.0%}"
    for name, (effect, low, high) in paths.items():
        label = f"{name} - {cfg.control}"
        report.figure(
            line_chart(
                periods,
                {label: effect},
                bands={label: (low, high)},
                x_label="period",
                y_label="lift (clicks per user)",
                title=f"{name}: lift over {cfg.control}, always-valid {level} interval after each period",
                y_range=y_range,
                zero_line=True,
            )
        )


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
    offline: Sequence[OfflineEstimate | Mapping[str, Any]] = (),
    offline_note: str = "",
    title: str | None = None,
    metrics: MetricsReadout | None = None,
) -> Report:
    """The report of a simulated experiment, top-down: conclusion, readout, evidence, then the run's settings.

    The conclusion in words (:func:`~abrec.report.conclusion.readout_conclusion`) opens the page; then the
    readout table and forest plot, the always-valid interval of each lift over time (one y range for all),
    the offline replay next to the online values with a sentence on each difference, the curves over time
    and the allocation, all numbers, and last the settings of the run.

    ``metrics`` (e.g. ``result.readouts()``) adds the secondary metrics' section after the readout.

    ``offline`` (:class:`~abrec.experiments.OfflineEstimate`, or their ``as_row()`` dicts) compares what the
    replay on the control's logs predicted with what each variant earned online; ``offline_note`` replaces
    the section's opening paragraph.
    """
    cfg = result.config
    names = list(result.variants)
    report = Report(title or f"Simulated A/B test: {cfg.name}")
    _conclude(report, readout)
    report.heading("Readout (clicks per user)")
    _readout_section(report, readout)
    if metrics is not None:
        metrics_section(report, metrics)
    if len(names) > 1:
        report.heading("The lift as the experiment ran")
        _sequential_figures(report, result)
    offline_section(report, result, offline, offline_note)
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
            zero_line=True,
        ),
        caption="Regret sums over each variant's own users, so it also grows with the traffic a variant receives.",
    )
    report.figure(
        stacked_area_chart(
            periods, {n: result.weights[:, i] for i, n in enumerate(names)}, x_label="period", title="Allocation"
        ),
        caption="Share of new users assigned to each variant in each period.",
    )
    report.heading("All numbers")
    frame = (metrics or readout).to_frame()
    report.table(frame.to_numpy().tolist(), list(frame.columns))
    per_variant = [
        [n, int(result.step_users[:, i].sum()), float(result.step_clicks[:, i].sum()), float(regret[-1, i])]
        for i, n in enumerate(names)
    ]
    report.table(per_variant, ["variant", "users", "clicks", "regret (expected clicks)"])
    report.heading("About this run")
    report.key_values(
        {
            "environment": cfg.env.get("env", ""),
            "variants": ", ".join(f"{v.name} ({v.policy})" for v in cfg.variants),
            "control": cfg.control,
            "allocation": ", ".join(f"{k}={v}" for k, v in cfg.allocation.items()),
            "users": f"{int(result.step_users.sum()):,}",
            "steps": result.step_users.shape[0],
            "shown items (log rows)": f"{len(result.log):,}",
            "text encoder": result.encoder or "(not needed)",
            "seed": cfg.seed,
            "run time": f"{result.seconds:.1f} s",
        }
    )
    return report


def session_report(result: SessionResult, metrics: MetricsReadout, *, title: str | None = None) -> Report:
    """The report of a session experiment (agents and bandits as variants), top-down like :func:`simulation_report`.

    The conclusion, the readout of the return per session and of the other session metrics (the unit is the
    session), each variant's mean return per session episode by episode (its learning across episodes), the
    allocation, a per-variant table of the sessions, all numbers and the run's settings.
    """
    cfg = result.config
    names = list(result.variants)
    readout = metrics.primary
    report = Report(title or f"Simulated A/B test on sessions: {cfg.name}")
    _conclude(report, readout)
    report.heading(f"Readout ({readout.metric}; the unit is the session)")
    _readout_section(report, readout)
    metrics_section(report, metrics)
    episodes = np.arange(1, result.episode_returns.shape[0] + 1)
    report.heading("Across episodes")
    report.figure(
        line_chart(
            episodes,
            {n: result.episode_returns[:, i] for i, n in enumerate(names)},
            x_label="episode",
            y_label="return per session",
            title="Mean return per session in each episode (every variant keeps learning)",
        ),
        caption="From the environment's own per-session returns; each episode is a fresh set of sessions.",
    )
    if result.weights.shape[0] > 1:
        periods = np.arange(1, result.weights.shape[0] + 1)
        report.figure(
            stacked_area_chart(
                periods, {n: result.weights[:, i] for i, n in enumerate(names)}, x_label="period", title="Allocation"
            ),
            caption=f"Share of new sessions assigned to each variant; a period is {cfg.allocation.get('period', 1)} "
            "episode(s).",
        )
    sessions = result.sessions.groupby("variant", sort=False)
    rows = [
        [
            name,
            int(sessions.size().get(name, 0)),
            float(sessions["return"].mean().get(name, np.nan)),
            float(sessions["length"].mean().get(name, np.nan)),
            float(sessions["clicks"].mean().get(name, np.nan)),
            float(sessions["purchases"].mean().get(name, np.nan)),
            float(sessions["left_early"].mean().get(name, np.nan)),
        ]
        for name in names
    ]
    report.heading("Sessions")
    report.table(
        rows,
        ["variant", "sessions", "return", "length (steps)", "clicks", "purchases", "left early"],
        formats={"left early": "percent"},
    )
    report.paragraph(
        f"Means per session over the whole run (not period-weighted). A session left early when its user left "
        f"before the episode's last step ({result.max_steps} steps)."
    )
    report.heading("All numbers")
    frame = metrics.to_frame()
    report.table(frame.to_numpy().tolist(), list(frame.columns))
    report.heading("About this run")
    report.key_values(
        {
            "environment": cfg.env.get("env", ""),
            "variants": ", ".join(f"{v.name} ({v.policy})" for v in cfg.variants),
            "control": cfg.control,
            "allocation": ", ".join(f"{k}={v}" for k, v in cfg.allocation.items()),
            "episodes": cfg.episodes,
            "sessions": f"{len(result.sessions):,}",
            "shown items (log rows)": f"{len(result.log):,}",
            "text encoder": result.encoder,
            "seed": cfg.seed,
            "run time": f"{result.seconds:.1f} s",
        }
    )
    return report
