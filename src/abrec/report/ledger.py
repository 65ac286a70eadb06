"""The launch ledger's report: predicted vs observed with the diagonal, the calibration, and every launch.

Every number on the page is computed from the ledger (:meth:`abrec.experiments.ledger.Ledger.calibration`).
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

import numpy as np

from ..experiments.ledger import Calibration, Ledger
from .html import Report
from .svg import _FONT, _LEFT, _RIGHT, PALETTE, _Frame, _num, _svg, _x_axis, _y_axis, nice_ticks

__all__ = ["calibration_rows", "ledger_report", "predicted_vs_observed"]

_SIZE = 560


def predicted_vs_observed(
    predicted: Any, observed: Any, *, low: Any = None, high: Any = None, title: str = "", label: str = "value"
) -> str:
    """A scatter of predicted (x, with its interval as a horizontal bar) against observed (y), and the diagonal.

    Examples
    --------
    >>> svg = predicted_vs_observed([0.1, 0.2], [0.12, 0.18], low=[0.08, 0.15], high=[0.12, 0.25])
    >>> svg.startswith("<svg") and svg.count("<circle") == 2 and 'class="diagonal"' in svg
    True
    """
    x = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(observed, dtype=np.float64)
    lo = x if low is None else np.asarray(low, dtype=np.float64)
    hi = x if high is None else np.asarray(high, dtype=np.float64)
    keep = np.isfinite(x) & np.isfinite(y)
    values = np.concatenate([x[keep], y[keep], lo[keep & np.isfinite(lo)], hi[keep & np.isfinite(hi)]])
    if not values.size:
        values = np.array([0.0, 1.0])
    ticks = nice_ticks(float(values.min()), float(values.max()))
    a, b = min(ticks[0], float(values.min())), max(ticks[-1], float(values.max()))
    side = _SIZE - _LEFT - _RIGHT
    f = _Frame(_LEFT, 36.0 if title else 14.0, _LEFT + side, 36.0 + side, a, b, a, b, tuple(ticks), tuple(ticks))
    body = _x_axis(f, f"predicted offline ({label})") + _y_axis(f, f"observed online ({label})")
    ends = np.array([a, b])
    px, py = f.px(ends), f.py(ends)
    body.append(
        f'<line class="diagonal" x1="{_num(px[0])}" y1="{_num(py[0])}" x2="{_num(px[1])}" y2="{_num(py[1])}" '
        'stroke="currentColor" stroke-opacity="0.6" stroke-dasharray="5 4"/>'
    )
    colour = PALETTE[0]
    for i in np.flatnonzero(keep):
        cx, cy = float(f.px(x[i : i + 1])[0]), float(f.py(y[i : i + 1])[0])
        if math.isfinite(lo[i]) and math.isfinite(hi[i]):
            x0, x1 = f.px(np.array([lo[i], hi[i]]))
            body.append(
                f'<line x1="{_num(x0)}" x2="{_num(x1)}" y1="{_num(cy)}" y2="{_num(cy)}" stroke="{colour}" '
                'stroke-opacity="0.35"/>'
            )
        body.append(
            f'<circle cx="{_num(cx)}" cy="{_num(cy)}" r="3" fill="{colour}" fill-opacity="0.8">'
            f"<title>{escape(f'predicted {x[i]:.4g}, observed {y[i]:.4g}')}</title></circle>"
        )
    return _svg(title, _SIZE, 36.0 + side + 50 + _FONT, body, "scatter-chart")


def calibration_rows(groups: dict[Any, Calibration]) -> list[list[Any]]:
    """One table row per group: n, coverage, agreement, bias, mean relative error, sign agreement, rank correlations."""
    return [
        [
            str(g),
            c.n,
            c.coverage,
            c.agreement,
            c.bias,
            c.mean_relative_error,
            c.sign_agreement,
            c.rank_correlation,
            c.lift_rank_correlation,
        ]
        for g, c in groups.items()
    ]


_COLUMNS = ["group", "launches", "coverage", "agreement", "bias", "mean rel. error", "sign agreement", "rank corr."]
_COLUMNS += ["lift rank corr."]


def ledger_report(ledger: Ledger, title: str = "Launch ledger: offline predictions vs online results") -> Report:
    """The ledger as an HTML report (see the module docstring)."""
    report = Report(title)
    entries = [e for e in ledger.entries() if e.observation is not None]
    if not entries:
        report.conclusion("No launch has an online result yet: nothing to calibrate.", warning=True)
        return report
    chosen = [e for e in entries if e.prediction.conditions.get("chosen", True)]
    overall = ledger.calibration(by=lambda e: "chosen" if e.prediction.conditions.get("chosen", True) else "other")
    assert isinstance(overall, dict)
    c = overall["chosen"]
    report.conclusion(
        f"Over {c.n} launches, the offline {c.level:.0%} interval held the online value in {c.coverage:.0%} of them "
        f"(95% CI {c.coverage_ci[0]:.0%} to {c.coverage_ci[1]:.0%}); offline and online agreed within their joint "
        f"interval in {c.agreement:.0%}; the predicted lift had the observed sign in {c.sign_agreement:.0%}; "
        f"rank correlation {c.rank_correlation:.2f}; mean bias {c.bias:+.4g}."
    )
    report.figure(
        predicted_vs_observed(
            [e.prediction.estimate for e in chosen],
            [e.observation.value for e in chosen if e.observation is not None],
            low=[e.prediction.ci_low for e in chosen],
            high=[e.prediction.ci_high for e in chosen],
            title="Predicted vs observed (the chosen estimator of each launch)",
            label=chosen[0].observation.metric if chosen[0].observation is not None else "value",
        ),
        "Each point is a launch; the bar is the offline interval; on the dashed diagonal offline equals online.",
    )
    report.heading("Calibration")
    report.paragraph(
        "coverage: the offline interval holds the online value (the online value is noisy too, so even calibrated "
        "intervals cover it less often than their level); agreement: |offline - online| within z times the "
        "combined standard error (near the level when both are calibrated and unbiased); bias: mean offline - "
        "online; sign agreement: the predicted and observed lifts over production have one sign."
    )
    for by in ("estimator", "policy"):
        groups = ledger.calibration(by=by)
        assert isinstance(groups, dict)
        report.heading(f"By {by}", level=3)
        report.table(calibration_rows(groups), columns=_COLUMNS)
    report.heading("Launches")
    frame = ledger.to_frame()
    keep = [
        "launch",
        "policy",
        "estimator",
        "predicted",
        "predicted_low",
        "predicted_high",
        "online",
        "online_low",
        "online_high",
        "predicted_lift",
        "online_lift",
        "data",
    ]
    shown = frame[[k for k in keep if k in frame.columns]]
    report.table(shown.to_numpy().tolist(), columns=list(shown.columns))
    return report
