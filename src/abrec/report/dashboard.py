"""The live experiment dashboard's pages, built from plain data (the service gathers it, this module lays it out).

A page reads top-down: the conclusion first ("ts leads: +7.1% clicks per user over random, 95% always-valid
CI [+2.0%, +12.3%]"), a loud banner when the sample ratio check fails, then the readout table (lift with its
always-valid interval, Holm-adjusted p-value, Bayesian chance to win), the lift chart, the metric over time
per variant with confidence bands, the allocation weights over time, the counts and learner status per variant
(policy version in service), the pre-launch offline estimates where recorded, the most shown items and the
audit trail. Everything is escaped; charts are the inline SVG of :mod:`abrec.report.svg` (no CDN, works
offline). A few lines of inline JavaScript refresh the page while traffic flows: every ``refresh`` seconds it
fetches the page again and swaps it in when its ``data-stamp`` (the counts) changed.

Numbers are shown with :func:`pct` and :func:`num`, and each readout cell carries its exact value in
``data-value``, so a test can check the page against ``/v1/experiments/{name}/results``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any

import numpy as np

from .html import _CSS
from .svg import interval_chart, line_chart, stacked_area_chart

__all__ = [
    "ExperimentView",
    "ExperimentSummary",
    "conclusion",
    "experiment_page",
    "index_page",
    "num",
    "pct",
]

_EXTRA_CSS = """
.srm{font-size:1.1em;font-weight:600;margin:0 0 16px;padding:12px 16px;border:3px solid #d1242f;border-radius:6px;
background:#ffebe9;color:#82071e}.ok{color:#1a7f37}.status{display:inline-block;padding:1px 10px;border-radius:10px;
border:1px solid var(--line);font-size:.85em;margin-left:8px;vertical-align:middle}
.status.paused,.status.stopped{border-color:var(--warn);background:var(--warn-bg)}
nav{margin:0 0 10px;font-size:.9em}a{color:var(--info)}tbody th{vertical-align:top;text-align:left}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:0 28px}
"""

_REFRESH_JS = """
(function(){var s=%d;if(!s)return;function tick(){if(document.hidden){return setTimeout(tick,s*1000);}
fetch(location.href,{cache:"no-store"}).then(function(r){return r.ok?r.text():null}).then(function(t){
if(t){var d=new DOMParser().parseFromString(t,"text/html"),m=d.querySelector("main"),c=document.querySelector("main");
if(m&&c&&m.dataset.stamp!==c.dataset.stamp){c.replaceWith(m);document.title=d.title;}}
setTimeout(tick,s*1000);}).catch(function(){setTimeout(tick,s*1000);});}setTimeout(tick,s*1000);})();
"""


def pct(x: Any, digits: int = 1) -> str:
    """A relative number in percent with its sign (``+7.1%``); ``n/a`` when missing or not finite."""
    if x is None or not isinstance(x, int | float) or not math.isfinite(x):
        return "n/a"
    return f"{x:+.{digits}%}"


def num(x: Any, digits: int = 4) -> str:
    """A number with ``digits`` significant digits; ``n/a`` when missing or not finite."""
    if x is None or not isinstance(x, int | float) or not math.isfinite(x):
        return "n/a"
    if isinstance(x, int):
        return f"{x:,}"
    return f"{x:.{digits}g}"


def _p(x: Any) -> str:
    if x is None or not isinstance(x, int | float) or not math.isfinite(x):
        return "n/a"
    return "<0.0001" if x < 1e-4 else f"{x:.4f}"


@dataclass(frozen=True)
class ExperimentSummary:
    """One row of the experiment list."""

    name: str
    status: str
    variants: Sequence[str]
    decisions: int
    conclusion: str


@dataclass(frozen=True)
class ExperimentView:
    """Everything the experiment page shows (see the module docstring).

    ``results`` is the JSON of ``/v1/experiments/{name}/results``; ``times`` (seconds since the first
    decision) with ``means``/``lows``/``highs`` per variant is the metric over time; ``allocations`` lists
    ``(seconds since the first decision, weights)`` per allocation period; ``offline`` maps a variant to its
    recorded pre-launch estimate (``value``, ``low``, ``high``, ``estimator``).
    """

    name: str
    status: str
    serve_with: str | None
    results: Mapping[str, Any]
    metric: str = "reward per unit"
    times: Sequence[float] = ()
    means: Mapping[str, Sequence[float]] = field(default_factory=dict)
    lows: Mapping[str, Sequence[float]] = field(default_factory=dict)
    highs: Mapping[str, Sequence[float]] = field(default_factory=dict)
    allocations: Sequence[tuple[float, Mapping[str, float]]] = ()
    offline: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    top_items: Mapping[str, Sequence[tuple[str, int, float]]] = field(default_factory=dict)
    audit: Sequence[Mapping[str, Any]] = ()
    stamp: str = ""
    generated_at: datetime | None = None


def _primary(results: Mapping[str, Any]) -> Mapping[str, Any] | None:
    readout = results.get("readout")
    if not readout or not readout.get("metrics"):
        return None
    metric: Mapping[str, Any] = readout["metrics"][0]
    return metric


def srm_failed(results: Mapping[str, Any], threshold: float = 0.001) -> bool:
    """Whether the readout's sample ratio check failed (p below ``threshold``, GrowthBook's default)."""
    readout = results.get("readout") or {}
    p = readout.get("srm_p_value")
    return isinstance(p, int | float) and p < threshold


def _value(row: Mapping[str, Any], key: str, default: float = math.nan) -> float:
    v = row.get(key)
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else default


def _signed(x: float) -> str:
    return f"{x:+.4g}"


def _lift_text(row: Mapping[str, Any], measure: str, control: str, level: str) -> str:
    """A variant's lift with its always-valid interval: relative when that interval exists, else the difference."""
    rel, rel_low, rel_high = (
        _value(row, k) for k in ("relative_lift", "relative_sequential_low", "relative_sequential_high")
    )
    low, high = _value(row, "sequential_low"), _value(row, "sequential_high")
    same_side = (rel_low > 0) == (low > 0) and (rel_high < 0) == (high < 0)
    if math.isfinite(rel) and math.isfinite(rel_low) and math.isfinite(rel_high) and same_side:
        return f"{pct(rel)} {measure} over {control}, {level} always-valid CI [{pct(rel_low)}, {pct(rel_high)}]"
    diff = _value(row, "lift")
    relative = f" ({pct(rel)})" if math.isfinite(rel) else ""
    return (
        f"{_signed(diff)} {measure} over {control}{relative}, {level} always-valid CI of the difference "
        f"[{_signed(low)}, {_signed(high)}]"
    )


def conclusion(results: Mapping[str, Any]) -> tuple[str, bool]:
    """The page's opening sentence from the results JSON, and whether it is a warning.

    A treatment leads when the always-valid interval of its lift lies above 0 (valid however often the page
    is looked at); it is worse when the interval lies below 0; otherwise nothing is decided yet. The lift is
    said relative to the control when its relative always-valid interval is known, else as a difference.
    """
    metric = _primary(results)
    if metric is None:
        return (str(results.get("readout_note") or "No readout yet: no decisions so far."), False)
    readout = results["readout"]
    control = str(readout["control"])
    level = f"{1 - float(readout['alpha']):.0%}"
    measure = str(metric.get("measure") or metric.get("name"))
    rows = [r for r in metric["rows"] if r["variant"] != control]
    up = sorted((r for r in rows if _value(r, "sequential_low", -math.inf) > 0), key=lambda r: -_value(r, "lift"))
    down = [r for r in rows if _value(r, "sequential_high", math.inf) < 0]
    if up:
        text = f"{up[0]['variant']} leads: {_lift_text(up[0], measure, control, level)}."
    elif down:
        worst = min(down, key=lambda r: _value(r, "lift"))
        text = f"{worst['variant']} is worse than {control}: {_lift_text(worst, measure, control, level)}."
    elif rows:
        best = max(rows, key=lambda r: _value(r, "lift", -math.inf))
        text = (
            f"No variant is distinguishable from {control} yet; the largest lift, {best['variant']}, is "
            f"{_lift_text(best, measure, control, level)}."
        )
    else:
        text = f"Only {control} has units so far: nothing to compare yet."
    if srm_failed(results):
        p = readout.get("srm_p_value")
        return (f"Do not trust these numbers: the sample ratio check failed (p = {p:.2g}). As measured, {text}", True)
    return text, False


def _status(status: str, serve_with: str | None) -> str:
    label = status if status == "running" else f"{status}: {serve_with or 'control'} serves everyone"
    return f'<span class="status {escape(status)}" id="status">{escape(label)}</span>'


def _page(title: str, body: str, *, stamp: str, refresh: int, generated_at: datetime | None) -> str:
    import abrec

    when = (generated_at or datetime.now(UTC)).isoformat(timespec="seconds")
    version = escape(str(getattr(abrec, "__version__", "")))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="abrec {version}"><title>{escape(title)}</title>'
        f"<style>{_CSS}{_EXTRA_CSS}</style></head>\n<body>"
        f'<main data-stamp="{escape(stamp)}">{body}'
        f'<footer class="meta">Updated <time datetime="{when}">{when}</time> by abrec {version}'
        f"{'; refreshes itself every ' + str(refresh) + ' s while traffic flows' if refresh else ''}.</footer>"
        f"</main><script>{_REFRESH_JS % refresh}</script></body></html>\n"
    )


def _table(columns: Sequence[str], rows: Sequence[Sequence[str]], *, table_id: str = "") -> str:
    """A table of pre-rendered (already escaped) cells."""
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cells) + "</tr>" for cells in rows)
    ident = f' id="{escape(table_id)}"' if table_id else ""
    return f'<div class="table-wrap"><table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _td(text: str, *, value: Any = None, field: str = "", numeric: bool = False) -> str:
    attrs = ' class="num"' if numeric else ""
    if field:
        attrs += f' data-field="{escape(field)}"'
    if value is not None:
        attrs += f' data-value="{escape(repr(value))}"'
    return f"<td{attrs}>{escape(text)}</td>"


def readout_rows(results: Mapping[str, Any]) -> list[list[str]]:
    """The readout table's cells: variant, units, mean [CI], lift [always-valid CI], relative lift, Holm p, P(win)."""
    metric = _primary(results)
    if metric is None:
        return []
    out = []
    for r in metric["rows"]:
        out.append(
            [
                f'<th scope="row" data-variant="{escape(str(r["variant"]))}">{escape(str(r["variant"]))}</th>',
                _td(num(r.get("units")), value=r.get("units"), field="units", numeric=True),
                _td(num(r.get("mean")), value=r.get("mean"), field="mean", numeric=True),
                _td(f"[{num(r.get('ci_low'))}, {num(r.get('ci_high'))}]", field="ci"),
                _td(num(r.get("lift")), value=r.get("lift"), field="lift", numeric=True),
                _td(f"[{num(r.get('sequential_low'))}, {num(r.get('sequential_high'))}]", field="always_valid_ci"),
                _td(pct(r.get("relative_lift")), value=r.get("relative_lift"), field="relative_lift", numeric=True),
                _td(_p(r.get("p_adjusted")), value=r.get("p_adjusted"), field="p_adjusted", numeric=True),
                _td(
                    pct(r.get("chance_to_win"), 1).lstrip("+"),
                    value=r.get("chance_to_win"),
                    field="chance_to_win",
                    numeric=True,
                ),
            ]
        )
    return out


def _lift_chart(results: Mapping[str, Any], offline: Mapping[str, Mapping[str, Any]]) -> str:
    metric = _primary(results)
    if metric is None:
        return ""
    control = results["readout"]["control"]
    rows = [r for r in metric["rows"] if r["variant"] != control]
    if not rows:
        return ""

    labels = [str(r["variant"]) for r in rows]
    measure = str(metric.get("measure") or "")
    return interval_chart(
        labels,
        [_value(r, "lift") for r in rows],
        [_value(r, "sequential_low") for r in rows],
        [_value(r, "sequential_high") for r in rows],
        x_label=f"{measure}: difference from {control} (always-valid interval)",
        title="Lift per variant",
    )


def _over_time(view: ExperimentView) -> str:
    if len(view.times) < 2 or not view.means:
        return ""
    minutes = np.asarray(view.times, dtype=np.float64) / 60.0
    return line_chart(
        minutes,
        {v: np.asarray(m, dtype=np.float64) for v, m in view.means.items()},
        bands={
            v: (np.asarray(view.lows[v], dtype=np.float64), np.asarray(view.highs[v], dtype=np.float64))
            for v in view.means
            if v in view.lows and v in view.highs
        },
        x_label="minutes since the first decision",
        y_label=view.metric,
        title=f"{view.metric} over time (95% confidence bands)",
    )


def _allocation_chart(view: ExperimentView) -> str:
    if not view.allocations:
        return ""
    names = list(view.allocations[0][1])
    for _, weights in view.allocations:
        names += [n for n in weights if n not in names]
    end = max([view.allocations[-1][0], *(view.times[-1:] or [0.0])]) + 1.0
    xs: list[float] = []
    series: dict[str, list[float]] = {n: [] for n in names}
    for i, (start, weights) in enumerate(view.allocations):
        stop = view.allocations[i + 1][0] if i + 1 < len(view.allocations) else end
        for x in (start, stop):
            xs.append(x / 60.0)
            for n in names:
                series[n].append(float(weights.get(n, 0.0)))
    return stacked_area_chart(
        xs, series, x_label="minutes since the first decision", title="Allocation weights over time"
    )


def _variants_table(results: Mapping[str, Any]) -> str:
    rows = []
    for v in results.get("variants", []):
        built = v.get("built_at") or ""
        rows.append(
            [
                f'<th scope="row">{escape(str(v["variant"]))}</th>',
                _td(str(v.get("policy", ""))),
                _td(num(v.get("decisions")), value=v.get("decisions"), field="decisions", numeric=True),
                _td(num(v.get("rewards")), value=v.get("rewards"), field="rewards", numeric=True),
                _td(num(v.get("late")), value=v.get("late"), field="late", numeric=True),
                _td(num(v.get("defaulted")), value=v.get("defaulted"), field="defaulted", numeric=True),
                _td(num(v.get("waiting")), value=v.get("waiting"), field="waiting", numeric=True),
                _td(
                    f"v{v.get('snapshot_version', 0)}" + (f" ({str(built)[:19]})" if built else " (fresh)"),
                    value=v.get("snapshot_version"),
                    field="snapshot_version",
                ),
                f'<td class="wrap">{escape(str(v.get("status", "")))}</td>',
            ]
        )
    columns = [
        "variant",
        "policy",
        "decisions",
        "rewards",
        "late",
        "defaulted",
        "waiting",
        "policy version",
        "learning",
    ]
    return _table(columns, rows, table_id="variants")


def _offline_table(view: ExperimentView) -> str:
    if not view.offline:
        return (
            '<p id="offline">No pre-launch offline estimate recorded (POST /v1/admin/experiments/{name}/offline).</p>'
        )
    rows = []
    for variant, est in view.offline.items():
        rows.append(
            [
                f'<th scope="row">{escape(variant)}</th>',
                _td(num(est.get("value")), value=est.get("value"), numeric=True),
                _td(f"[{num(est.get('low'))}, {num(est.get('high'))}]"),
                _td(str(est.get("estimator", ""))),
            ]
        )
    return _table(["variant", "offline estimate", "interval", "estimator"], rows, table_id="offline")


def _items_table(view: ExperimentView) -> str:
    rows = []
    for variant, items in view.top_items.items():
        for item, shown, total in items:
            rows.append(
                [
                    f"<td>{escape(variant)}</td>",
                    f'<td class="item">{escape(item)}</td>',
                    _td(num(shown), numeric=True),
                    _td(num(total / shown if shown else math.nan), numeric=True),
                ]
            )
    return _table(["variant", "item", "shown", "mean reward"], rows, table_id="items")


def _audit_table(audit: Sequence[Mapping[str, Any]]) -> str:
    if not audit:
        return '<p id="audit">No changes through the admin API yet.</p>'
    rows = []
    for e in audit:
        details = {k: v for k, v in dict(e.get("details") or {}).items() if k != "final" and k != "config"}
        rows.append(
            [
                _td(str(e.get("at", ""))[:19]),
                _td(str(e.get("actor", ""))),
                f'<td data-field="action">{escape(str(e.get("action", "")))}</td>',
                f'<td class="wrap">{escape(", ".join(f"{k}={v}" for k, v in details.items()))}</td>',
            ]
        )
    return _table(["when (UTC)", "who", "what", "details"], rows, table_id="audit")


def experiment_page(view: ExperimentView, *, refresh: int = 5, home: str = "/", query: str = "") -> str:
    """The page of one experiment (see the module docstring)."""
    results = view.results
    text, warning = conclusion(results)
    kind = "conclusion warning" if warning else "conclusion"
    parts = [
        f'<nav><a href="{escape(home + query)}">All experiments</a></nav>',
        f"<header><h1>{escape(view.name)}{_status(view.status, view.serve_with)}</h1></header>",
        f'<p class="{kind}" id="conclusion">{escape(text)}</p>',
    ]
    readout = results.get("readout") or {}
    p = readout.get("srm_p_value")
    if srm_failed(results):
        parts.append(
            f'<div class="srm" id="srm" role="alert">Sample ratio mismatch: units were not split as the weights '
            f"intended (p = {escape(_p(p))}). Every comparison may be biased: find the cause first.</div>"
        )
    metric = _primary(results)
    parts.append("<h2>Readout</h2>")
    if metric is None:
        parts.append(f"<p>{escape(str(results.get('readout_note', '')))}</p>")
    else:
        parts.append(
            f"<p>{escape(str(metric.get('measure')))} ({escape(str(metric.get('method')))}); p-values "
            f"{escape(str(metric.get('correction')))}-adjusted; sample ratio check "
            + (
                f'<span class="ok" id="srm-ok">passed (p = {escape(_p(p))})</span>'
                if not srm_failed(results)
                else "<strong>failed</strong>"
            )
            + ".</p>"
        )
        columns = ["variant", "units", "mean", "95% CI", "lift", "always-valid CI", "relative", "p (Holm)", "P(win)"]
        parts.append(_table(columns, readout_rows(results), table_id="readout"))
    charts = [c for c in (_lift_chart(results, view.offline), _over_time(view), _allocation_chart(view)) if c]
    if charts:
        parts.append('<div class="grid">' + "".join(f"<figure>{c}</figure>" for c in charts) + "</div>")
    parts.append("<h2>Traffic and learning</h2>")
    parts.append(
        f"<p>Reward: {escape(str(results.get('reward_kind', '')))}; allocation period "
        f"{escape(str(results.get('period', 0)))}, weights "
        f"{escape(', '.join(f'{k} {v:.0%}' for k, v in dict(results.get('weights') or {}).items()))}.</p>"
    )
    parts.append(_variants_table(results))
    parts.append("<h2>Pre-launch offline estimates</h2>")
    parts.append(_offline_table(view))
    parts.append("<h2>Most shown items</h2>")
    parts.append(_items_table(view))
    parts.append("<h2>Changes</h2>")
    parts.append(_audit_table(view.audit))
    return _page(
        f"{view.name}: abrec experiment",
        "\n".join(parts),
        stamp=view.stamp,
        refresh=refresh,
        generated_at=view.generated_at,
    )


def index_page(experiments: Sequence[ExperimentSummary], *, refresh: int = 5, query: str = "", stamp: str = "") -> str:
    """The list of experiments, each with its status, decisions and conclusion."""
    rows = []
    for e in experiments:
        link = f'<a href="/experiments/{escape(e.name)}{escape(query)}">{escape(e.name)}</a>'
        rows.append(
            [
                f'<th scope="row">{link}</th>',
                f"<td>{_status(e.status, None) if e.status != 'running' else 'running'}</td>",
                _td(num(e.decisions), value=e.decisions, field="decisions", numeric=True),
                _td(", ".join(e.variants)),
                f'<td class="wrap">{escape(e.conclusion)}</td>',
            ]
        )
    body = "<header><h1>abrec experiments</h1></header>" + _table(
        ["experiment", "status", "decisions", "variants", "conclusion"], rows, table_id="experiments"
    )
    return _page("abrec experiments", body, stamp=stamp, refresh=refresh, generated_at=None)
