"""The HTML report of a counterfactual A/B test (:class:`~abrec.ope.Evaluation`): conclusion, summary, evidence."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from ..ope.evaluation import Evaluation
from ..ope.replay import ReplayResult
from ..ope.result import EstimateResult
from .conclusion import evaluation_conclusion
from .html import Report
from .svg import interval_chart, line_chart

__all__ = ["evaluation_report"]

FloatArray = npt.NDArray[np.float64]


def _label(result: EstimateResult, chosen: str | None) -> str:
    return f"{result.estimator} (chosen)" if result.estimator == chosen else result.estimator


def _pad(curves: Iterable[FloatArray], length: int) -> list[FloatArray]:
    return [np.concatenate([c, np.full(length - c.shape[0], np.nan)]) for c in curves]


def _replay_text(replay: ReplayResult, alpha: float) -> str:
    """'0.0612 [0.0551, 0.0677] over 412 accepted rows', or 'no estimate' when no row was accepted."""
    if replay.n_accepted == 0 or not math.isfinite(replay.value):
        return "no estimate"
    low, high = replay.confidence_interval(1.0 - alpha)
    return f"{replay.value:.4g} [{low:.4g}, {high:.4g}]"


def _curve_range(bands: list[tuple[FloatArray, FloatArray]]) -> tuple[float, float] | None:
    """A y range for learning curves: zero and the later half of every band (the early, wide bands are clipped)."""
    tails = [np.zeros(1)]
    for low, high in bands:
        finite = np.isfinite(low) & np.isfinite(high)
        half = max(1, int(finite.sum()) // 2)
        tails += [low[finite][-half:], high[finite][-half:]]
    tail = np.concatenate(tails)
    spread = float(tail.max() - tail.min())
    return None if spread <= 0 else (float(tail.min()), float(tail.max() + 0.25 * spread))


def evaluation_report(evaluation: Evaluation, title: str = "Counterfactual A/B test") -> Report:
    """An HTML report of an :class:`Evaluation`, top-down: conclusion, summary, evidence per policy, settings.

    The conclusion in words (:func:`~abrec.report.conclusion.evaluation_conclusion`) opens the page, with
    the log's warnings right under it; then a summary table, one forest plot per policy (the logging
    policy's value as the dashed reference, zero marked), the learning curves of the replayed policies with
    their running intervals, all numbers, and last the log and the settings.

    Examples
    --------
    >>> import numpy as np
    >>> from abrec.ope import LoggedFeedback, evaluate_policies
    >>> from abrec.policies import UniformRandom
    >>> log = LoggedFeedback.from_arrays(action=[0, 1, 0, 1] * 50, reward=[1, 0, 0, 0] * 50, propensity=0.5)
    >>> ev = evaluate_policies(log, {"uniform": UniformRandom()}, n_bootstrap=20)
    >>> html = evaluation_report(ev, "Offline test").render()
    >>> "Offline test" in html and "<svg" in html and 'class="conclusion"' in html
    True
    """
    ev = evaluation
    level = f"{100 * (1 - ev.alpha):g}%"
    report = Report(title)
    conclusion = evaluation_conclusion(ev)
    report.conclusion(conclusion.text, warning=conclusion.warning)
    for text in ev.notes:
        report.note(text, kind="warning")

    report.heading("Summary")
    report.paragraph(
        "What each policy would have earned per logged action, had it run instead of the logging policy, "
        "estimated off-policy from the log. The estimators evaluate each policy frozen as it stands; "
        "'replay learning' estimates a learning policy's online value, learning included (Li et al. 2011), "
        "from the rows where it agreed with the log."
    )
    summary = []
    for p in ev.policies:
        c = p.chosen
        summary.append(
            [
                p.name,
                p.selection.chosen if p.selection else "",
                c.value if c else "no estimate",
                f"[{c.ci_low:.4g}, {c.ci_high:.4g}]" if c else "",
                (c.value / ev.logging_value - 1.0) if c and ev.logging_value else math.nan,
                _replay_text(p.replay, ev.alpha) if p.replay else "",
                p.replay.n_accepted if p.replay else None,
            ]
        )
    report.table(
        summary,
        columns=[
            "policy",
            "chosen estimator",
            "value",
            f"{level} CI",
            "lift vs logging",
            f"replay learning ({level} CI)",
            "accepted rows",
        ],
        formats={"lift vs logging": "+.1%"},
    )

    for p in ev.policies:
        report.heading(f"Policy: {p.name}")
        chosen = p.selection.chosen if p.selection else None
        if p.estimates:
            report.figure(
                interval_chart(
                    [_label(r, chosen) for r in p.estimates],
                    [r.value for r in p.estimates],
                    [r.ci_low for r in p.estimates],
                    [r.ci_high for r in p.estimates],
                    reference=ev.logging_value,
                    zero_line=False,  # values, not lifts: the logging policy's value is the line to compare with
                    x_label="estimated value per logged action",
                    title=f"{p.name}: estimates with {level} bootstrap intervals",
                ),
                caption="Dashed line: the logging policy's on-policy value. '(chosen)' marks the selected estimator.",
            )
        if p.selection is not None:
            report.paragraph(f"Selection ({p.selection.method}): {p.selection.reason}")
            keys = [
                k for k in ("name", "value", "standard_error", "bias", "mse", "kept") if k in p.selection.candidates[0]
            ]
            report.table([[c[k] for k in keys] for c in p.selection.candidates], columns=keys)
        if p.replay is not None:
            r = p.replay
            if r.n_accepted == 0:
                report.note(
                    f"Replay learning: no estimate: none of the {r.n_rows:,} rows was accepted (the policy never "
                    "chose the logged action), so the log says nothing about it learning online.",
                    kind="warning",
                )
            else:
                how = "Wilson score interval, rewards 0/1" if r.binary else "normal interval"
                report.paragraph(
                    f"Replay learning: {_replay_text(r, ev.alpha)} ({level} CI, {how}) over {r.n_accepted:,} "
                    f"accepted of {r.n_rows:,} rows."
                )
        for name, why in p.skipped.items():
            report.note(f"{name} not run: {why}", kind="info")
        for text in p.notes:
            report.note(text, kind="warning")

    replays = [(p.name, p.replay) for p in ev.policies if p.replay is not None and p.replay.n_accepted]
    if replays:
        report.heading("Replay learning curves")
        length = max(r.n_accepted for _, r in replays)
        curves = _pad([r.curve for _, r in replays], length)
        bands = [tuple(_pad(r.curve_interval(1.0 - ev.alpha), length)) for _, r in replays]
        report.figure(
            line_chart(
                np.arange(1, length + 1),
                {name: c for (name, _), c in zip(replays, curves, strict=True)},
                bands={name: (b[0], b[1]) for (name, _), b in zip(replays, bands, strict=True)},
                x_label="accepted rows (the policy's online rounds)",
                y_label="mean reward so far",
                title=f"Replay (Li et al. 2011): running mean reward of each learning policy, {level} band",
                y_range=_curve_range([(b[0], b[1]) for b in bands]),
                zero_line=True,
            ),
            caption="Each curve is the mean reward of a policy's first t accepted rows while it learns from them; "
            "the band is its interval after t rows (clipped where the first rows make it very wide).",
        )

    report.heading("All numbers")
    rows = []
    for row in ev.table():
        empty = row.estimator == "replay_learning" and row.ess == 0
        value = "no estimate" if empty else row.value
        rows.append([row.policy, row.estimator, value, row.ci_low, row.ci_high, row.se, row.ess, row.chosen])
    report.table(rows, columns=["policy", "estimator", "value", "ci low", "ci high", "se", "ess", "chosen"])

    report.heading("Log and settings")
    low, high = ev.logging_ci()
    report.key_values(
        {
            "logged rows": ev.n_rows,
            "actions x positions": f"{ev.n_actions} x {ev.n_positions}",
            "logging policy value (mean reward)": f"{ev.logging_value:.6g} [{low:.6g}, {high:.6g}]",
            "reward model": ev.reward_model or "none",
            "cross-fitting folds": ev.n_folds,
            "held-out Brier score": ev.heldout_brier,
            "reward model's error in the intervals": (
                "included (linear model: first-order refit on every resample)"
                if ev.model_error_in_intervals
                else "not included (model held fixed)"
            ),
            "bootstrap resamples": ev.n_bootstrap,
            "confidence level": level,
            "seed": ev.seed,
        }
    )
    return report
