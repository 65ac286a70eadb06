"""The HTML report of a counterfactual A/B test (:class:`~abrec.ope.Evaluation`): summary, forest plots, curves."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from ..ope.evaluation import Evaluation
from ..ope.result import EstimateResult
from .html import Report
from .svg import interval_chart, line_chart

__all__ = ["evaluation_report"]

FloatArray = npt.NDArray[np.float64]


def _label(result: EstimateResult, chosen: str | None) -> str:
    return f"{result.estimator} (chosen)" if result.estimator == chosen else result.estimator


def _pad(curves: Iterable[FloatArray], length: int) -> list[FloatArray]:
    return [np.concatenate([c, np.full(length - c.shape[0], np.nan)]) for c in curves]


def evaluation_report(evaluation: Evaluation, title: str = "Counterfactual A/B test") -> Report:
    """An HTML report of an :class:`Evaluation`: summary, one forest plot per policy, replay curves, all numbers.

    Examples
    --------
    >>> import numpy as np
    >>> from abrec.ope import LoggedFeedback, evaluate_policies
    >>> from abrec.policies import UniformRandom
    >>> log = LoggedFeedback.from_arrays(action=[0, 1, 0, 1] * 50, reward=[1, 0, 0, 0] * 50, propensity=0.5)
    >>> ev = evaluate_policies(log, {"uniform": UniformRandom()}, n_bootstrap=20)
    >>> html = evaluation_report(ev, "Offline test").render()
    >>> "Offline test" in html and "<svg" in html
    True
    """
    ev = evaluation
    level = f"{100 * (1 - ev.alpha):g}%"
    report = Report(title)
    report.paragraph(
        "What each policy would have earned per logged action, had it run instead of the logging policy, "
        "estimated off-policy from the log. The estimators evaluate each policy frozen as it stands; "
        "'replay_learning' estimates a learning policy's online value, learning included (Li et al. 2011)."
    )
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
    for text in ev.notes:
        report.note(text, kind="warning")

    report.heading("Summary")
    summary = []
    for p in ev.policies:
        c = p.chosen
        summary.append(
            [
                p.name,
                p.selection.chosen if p.selection else "",
                c.value if c else math.nan,
                c.ci_low if c else math.nan,
                c.ci_high if c else math.nan,
                p.replay.value if p.replay else None,
                (c.value / ev.logging_value - 1.0) if c and ev.logging_value else math.nan,
            ]
        )
    report.table(
        summary,
        columns=["policy", "chosen estimator", "value", "ci low", "ci high", "replay learning", "lift vs logging"],
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
            lo, hi = r.confidence_interval(1.0 - ev.alpha)
            report.paragraph(
                f"Replay learning: {r.value:.6g} [{lo:.6g}, {hi:.6g}] over {r.n_accepted:,} accepted of "
                f"{r.n_rows:,} rows."
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
        report.figure(
            line_chart(
                np.arange(1, length + 1),
                {name: c for (name, _), c in zip(replays, curves, strict=True)},
                x_label="accepted rows (the policy's online rounds)",
                y_label="mean reward so far",
                title="Replay (Li et al. 2011): running mean reward of each learning policy",
            ),
            caption="Each curve is the mean reward of a policy's first t accepted rows while it learns from them.",
        )

    report.heading("All numbers")
    report.table(
        [[r.policy, r.estimator, r.value, r.ci_low, r.ci_high, r.se, r.ess, r.chosen] for r in ev.table()],
        columns=["policy", "estimator", "value", "ci low", "ci high", "se", "ess", "chosen"],
    )
    return report
