"""A tiny builder of one self-contained HTML page: inline CSS, inline SVG, no script, no external URL."""

from __future__ import annotations

import math
import numbers
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import numpy as np

from .._params import Options, StrOptions, validate_params
from ..data.io import write_text
from ..errors import InputError, UnknownNameError

__all__ = ["Report"]

_SVG_NS = "{http://www.w3.org/2000/svg}"
_LEVEL = {"level": Options("int", (2, 3, 4))}
_NOTE = {"kind": StrOptions(("info", "warning"))}
_WRAP = 40  # table cells of text longer than this may wrap

_CSS = """
:root{color-scheme:light dark;--fg:#1f2328;--bg:#fff;--muted:#59636e;--line:#d1d9e0;--stripe:#f6f8fa;
--info:#0969da;--info-bg:#ddf4ff;--warn:#9a6700;--warn-bg:#fff8c5}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--bg:#0d1117;--muted:#9198a1;--line:#3d444d;
--stripe:#151b23;--info:#4493f8;--info-bg:#0c2d4b;--warn:#d29922;--warn-bg:#3a2d05}}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.55 system-ui,-apple-system,"Segoe UI",sans-serif}
main{max-width:1180px;margin:0 auto;padding:20px 20px 56px}
h1{font-size:1.75em;margin:0 0 10px}h2{font-size:1.3em;margin:1.8em 0 .5em;padding-bottom:4px;
border-bottom:1px solid var(--line)}h3,h4{margin:1.4em 0 .4em}
p,dd,figcaption,.note{overflow-wrap:anywhere}
.conclusion{font-size:1.1em;line-height:1.6;margin:0 0 20px;padding:10px 16px;border-left:5px solid var(--info);
border-radius:4px;background:var(--info-bg)}.conclusion.warning{border-color:var(--warn);background:var(--warn-bg)}
.meta{color:var(--muted);font-size:.85em;margin:2.5em 0 0;padding-top:8px;border-top:1px solid var(--line)}
.table-wrap{max-width:100%;overflow-x:auto;margin:12px 0}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{padding:5px 10px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{border-bottom-width:2px;vertical-align:bottom;white-space:normal}td.wrap{white-space:normal;min-width:24em}
.num{text-align:right}tbody tr:nth-child(even){background:var(--stripe)}
figure{margin:18px 0}figcaption{color:var(--muted);font-size:.9em;margin-top:4px}
svg{display:block;max-width:100%;height:auto}
dl.kv{display:grid;grid-template-columns:max-content 1fr;gap:3px 18px;margin:12px 0}dt{color:var(--muted)}dd{margin:0}
.note{border-left:4px solid;border-radius:4px;padding:8px 12px;margin:12px 0}
.note.info{border-color:var(--info);background:var(--info-bg)}.note.warning{border-color:var(--warn);background:var(--warn-bg)}
@media print{:root{--fg:#000;--bg:#fff;--muted:#444;--line:#bbb;--stripe:#f2f2f2;--info-bg:#fff;--warn-bg:#fff}
main{max-width:none;padding:0}.table-wrap{overflow:visible}figure,table,.note,.conclusion,dl{break-inside:avoid}
h2,h3{break-after:avoid}}
"""


class Report:
    """An HTML report built block by block, rendered as one page that works offline.

    The page reads top-down: the title, then the :meth:`conclusion` (whenever it was set), then the
    blocks in the order they were added, then a footer that states when the page was generated
    (``generated_at``, or the time of rendering) and by which abrec version. All text is escaped;
    figures must be SVG strings (such as those of :mod:`abrec.report.svg`) and are checked to hold no
    script, event handler or link. Tables scroll sideways within their own box when they are wider than
    the page, never the page itself.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> r = Report("A/B test: ranker v2", generated_at=datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc))
    >>> r.heading("Results")
    >>> r.table([["A", 10_000, 0.0512], ["B", 10_021, 0.05433]], columns=["arm", "users", "ctr"],
    ...         formats={"ctr": "percent"})
    >>> r.note("Stopped early by the sequential test.", kind="info")
    >>> html = r.render()
    >>> "<td class=\\"num\\">5.433%</td>" in html, "2024-05-01T12:00:00+00:00" in html
    (True, True)
    """

    def __init__(self, title: str, *, generated_at: datetime | None = None) -> None:
        self.title = title
        self.generated_at = generated_at
        self._conclusion = ""
        self._blocks: list[str] = []

    def conclusion(self, text: str, *, warning: bool = False) -> None:
        """Set the page's opening paragraph: what was found, in words, with the key interval.

        It is shown right under the title wherever it is called; a second call replaces it. ``warning``
        styles it as a warning (the results are not to be trusted as they stand).
        """
        kind = "conclusion warning" if warning else "conclusion"
        self._conclusion = f'<p class="{kind}" id="conclusion">{escape(text)}</p>\n'

    def heading(self, text: str, level: int = 2) -> None:
        """Add a section heading (``level`` 2 to 4; the report title is the only level 1)."""
        validate_params("Report.heading", _LEVEL, {"level": level})
        self._blocks.append(f"<h{level}>{escape(text)}</h{level}>")

    def paragraph(self, text: str) -> None:
        """Add a paragraph of plain text (escaped)."""
        self._blocks.append(f"<p>{escape(text)}</p>")

    def note(self, text: str, kind: str = "info") -> None:
        """Add a highlighted note; ``kind`` is 'info' or 'warning'."""
        validate_params("Report.note", _NOTE, {"kind": kind})
        label = "Warning" if kind == "warning" else "Note"
        self._blocks.append(f'<div class="note {kind}" role="note"><strong>{label}:</strong> {escape(text)}</div>')

    def key_values(self, mapping: Mapping[str, object]) -> None:
        """Add a list of labelled values (numbers formatted as in :meth:`table`)."""
        items = "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(_format(v, None))}</dd>" for k, v in mapping.items())
        self._blocks.append(f'<dl class="kv">{items}</dl>')

    def table(
        self, rows: Iterable[Sequence[object]], columns: Sequence[str], formats: Mapping[str, str] | None = None
    ) -> None:
        """Add a table; numbers are right-aligned and formatted per column.

        ``formats`` maps a column to 'number' (4 significant digits, the default for floats), 'percent'
        (a fraction shown in percent, 4 significant digits), 'integer' (thousands separators, the default
        for ints), 'text', or a Python format spec such as ``'.2f'`` or ``'+.1%'``. NaN shows as 'n/a',
        None as an empty cell.
        """
        columns = [str(c) for c in columns]
        formats = dict(formats or {})
        for name in formats:
            if name not in columns:
                raise UnknownNameError("column", name, columns)
        head = "".join(f"<th>{escape(c)}</th>" for c in columns)
        body = []
        for i, row in enumerate(rows):
            cells = list(row)
            if len(cells) != len(columns):
                raise InputError(f"Row {i} of the table must have {len(columns)} cells. Got {len(cells)} instead.")
            tds = []
            for column, value in zip(columns, cells, strict=True):
                raw = _format(value, formats.get(column), column)
                text = escape(raw)
                numeric = isinstance(value, numbers.Number) and not isinstance(value, bool | np.bool_)
                if numeric:
                    tds.append(f'<td class="num">{text}</td>')
                else:  # long text wraps; short text (names, intervals) stays on one line
                    tds.append(f'<td class="wrap">{text}</td>' if len(raw) > _WRAP else f"<td>{text}</td>")
            body.append(f"<tr>{''.join(tds)}</tr>")
        self._blocks.append(
            f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
        )

    def figure(self, svg: str, caption: str | None = None) -> None:
        """Add an SVG chart, with an optional caption (escaped)."""
        _check_svg(svg)
        text = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
        self._blocks.append(f"<figure>{svg}{text}</figure>")

    def render(self) -> str:
        """The whole page as one string."""
        import abrec

        version = getattr(abrec, "__version__", None)
        when = (self.generated_at or datetime.now(UTC)).isoformat(timespec="seconds")
        made_by = f" by abrec {escape(str(version))}" if version else " by abrec"
        generator = f'<meta name="generator" content="abrec{" " + escape(str(version)) if version else ""}">'
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"{generator}<title>{escape(self.title)}</title><style>{_CSS}</style></head>\n<body><main>"
            f"<header><h1>{escape(self.title)}</h1></header>\n{self._conclusion}" + "\n".join(self._blocks) + "\n"
            f'<footer class="meta">Generated <time datetime="{when}">{when}</time>{made_by}.</footer>\n'
            "</main></body></html>\n"
        )

    def write(self, path: str | Path) -> Path:
        """Render the page to ``path`` (UTF-8, atomically: a failure leaves no partial page), creating parent
        folders; return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        return write_text(target, self.render())


def _format(value: object, spec: str | None, column: str = "") -> str:
    """Format one cell: 4 significant digits for floats, thousands separators for ints."""
    if value is None:
        return ""
    if spec == "text" or isinstance(value, str):
        return str(value)
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if not isinstance(value, numbers.Real):
        return str(value)
    try:
        v = float(value)
        if math.isnan(v):
            return "n/a"
        if math.isinf(v):
            return ("\u2212" if v < 0 else "") + "\u221e"
        if spec not in (None, "number", "percent", "integer"):
            return format(value, spec)
        if spec == "percent":
            return _significant(100 * v) + "%"
        if spec == "integer" or (spec is None and isinstance(value, numbers.Integral)):
            return f"{round(v):,}"
        return _significant(v)
    except (TypeError, ValueError) as exc:
        raise InputError(f"Column {column!r}: cannot format {value!r} with {spec!r} ({exc}).") from exc


def _significant(v: float, digits: int = 4) -> str:
    if v == 0:
        return "0"
    if 10**digits <= abs(v) < 1e9:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def _check_svg(svg: str) -> None:
    try:
        root = ET.fromstring(svg)
    except ET.ParseError as exc:
        raise InputError(f"A figure must be a well-formed SVG string. Got a parse error: {exc}.") from exc
    if root.tag != _SVG_NS + "svg":
        raise InputError(f"A figure must be an <svg> element. Got <{root.tag}> instead.")
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1].lower()
        bad = [a for a in element.attrib if a.lower().startswith("on") or a.rsplit("}", 1)[-1] == "href"]
        if tag in ("script", "foreignobject", "image", "a", "use") or bad:
            raise InputError(f"A figure must not hold scripts, links or external content. Got <{tag}> {bad}.")
