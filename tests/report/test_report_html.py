"""The HTML report: one well-formed, escaped, self-contained page, written as UTF-8."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

import abrec
from _html_page import Page
from abrec.errors import InputError, ParameterError, UnknownNameError
from abrec.report import Report, bar_chart, interval_chart, line_chart, stacked_area_chart

EVIL = '<script>alert("x")</script><link href="https://evil.example/x.css">'
WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def full_report(text: str = "plain") -> Report:
    r = Report(f"A/B test {text}", generated_at=WHEN)
    r.heading(f"Summary {text}")
    r.paragraph(f"Treatment won. {text}")
    r.key_values({"users": 20_000, "lift": 0.01234567, text: text, "stopped": True})
    r.note(f"Peeking. {text}", kind="warning")
    r.note(f"Info. {text}")
    r.table([["A", 10_000, 0.05, text], ["B", 10_000, 0.0543, None]], columns=["arm", "n", "ctr", "comment"])
    t = np.arange(200)
    r.figure(line_chart(t, {text: np.sqrt(t)}, bands={text: (np.sqrt(t) - 1, np.sqrt(t) + 1)}, title=text), text)
    r.figure(stacked_area_chart(t, {text: np.full(200, 0.4), "B": np.full(200, 0.6)}, title=text))
    r.figure(interval_chart([text], [0.01], [-0.01], [0.03], title=text), caption=text)
    r.figure(bar_chart([text], [3.0], title=text))
    return r


def test_page_is_well_formed_and_self_contained() -> None:
    html = full_report().render()
    page = Page(html)
    assert html.startswith("<!DOCTYPE html>")
    assert page.names()[:3] == ["html", "head", "meta"]
    assert re.findall(r"https?://[^\"]*", html) == ["http://www.w3.org/2000/svg"] * 4  # only the SVG namespace
    assert not {"script", "link", "iframe", "img", "object", "embed", "a"} & set(page.names())
    assert not any(k in ("src", "href") or k.startswith("on") for _, attrs in page.tags for k in attrs)
    assert "url(" not in html and "@import" not in html
    assert page.names().count("svg") == 4 and page.names().count("figcaption") == 2
    assert "prefers-color-scheme:dark" in html and "@media print" in html


def test_user_text_is_escaped_everywhere() -> None:
    html = full_report(EVIL).render()
    page = Page(html)
    assert "script" not in page.names() and "link" not in page.names()
    assert "evil.example" not in {v for _, attrs in page.tags for v in attrs.values()}
    text = "".join(page.text)
    assert text.count(EVIL) >= 10  # title, heading, paragraph, table, key-value, notes, captions, charts


def test_tables_format_numbers_sensibly() -> None:
    r = Report("t", generated_at=WHEN)
    rows = [
        ["a", 1234567, 0.000123456, 0.052341, 3.14159, np.float64(12345.678), np.bool_(True), None],
        ["b", np.int64(-5), float("nan"), float("inf"), -float("inf"), 1.5e12, False, "x"],
    ]
    columns = ["name", "n", "p", "rate", "pi", "big", "flag", "other"]
    r.table(rows, columns=columns, formats={"rate": "percent", "pi": ".2f"})
    page = Page(r.render())
    cells = page.text[page.text.index("other") + 1 :][: 2 * len(columns)]
    assert cells[:7] == ["a", "1,234,567", "0.0001235", "5.234%", "3.14", "12,346", "yes"]
    assert cells[7:14] == ["b", "-5", "n/a", "\u221e", "\u2212\u221e", "1.5e+12", "no"]
    assert cells[14] == "x"
    numeric = [attrs.get("class") for tag, attrs in page.tags if tag == "td"]
    assert numeric[:8] == [None, "num", "num", "num", "num", "num", None, None]


def test_key_values_and_metadata() -> None:
    r = Report("Readout", generated_at=WHEN)
    r.key_values({"users": 12_345, "p-value": 0.0312345, "winner": "B"})
    html = r.render()
    assert "<dt>users</dt><dd>12,345</dd>" in html and "<dd>0.03123</dd>" in html and "<dd>B</dd>" in html
    assert '<time datetime="2024-05-01T12:30:00+00:00">' in html
    assert f"abrec {abrec.__version__}" in html and f'content="abrec {abrec.__version__}"' in html
    stamp = re.search(r'<time datetime="([^"]+)">', Report("now").render())
    assert stamp is not None
    assert abs(datetime.fromisoformat(stamp.group(1)) - datetime.now(UTC)) < timedelta(minutes=5)


def test_write_creates_folders_and_a_self_contained_utf8_file(tmp_path: Path) -> None:
    r = full_report("\u0394 lift \u2014 \u65e5\u672c")
    target = r.write(tmp_path / "deep" / "er" / "report.html")
    assert target == tmp_path / "deep" / "er" / "report.html" and target.is_file()
    content = target.read_bytes().decode("utf-8")
    assert content == r.render() and '<meta charset="utf-8">' in content
    assert "\u0394 lift \u2014 \u65e5\u672c" in content
    Page(content)
    r.write(str(target))  # overwrite, str path


def test_figures_must_be_safe_svg() -> None:
    r = Report("t")
    bad = [
        "<div>not svg</div>",
        "<svg",
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
        '<svg xmlns="http://www.w3.org/2000/svg"><image href="https://x.example/a.png"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xl="http://www.w3.org/1999/xlink">'
        '<rect xl:href="https://x.example"/></svg>',
        '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>hi</p></foreignObject></svg>',
    ]
    for svg in bad:
        with pytest.raises(InputError, match="figure"):
            r.figure(svg)
    r.figure('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="5" height="5"/></svg>')


def test_bad_arguments_are_rejected() -> None:
    r = Report("t")
    heading = r"The 'level' parameter of Report\.heading must be an int among \{2, 3, 4\}\. Got 1 instead\."
    with pytest.raises(ParameterError, match=heading):
        r.heading("x", level=1)
    note = r"The 'kind' parameter of Report\.note must be a str among \{'info', 'warning'\}\. Got 'danger' instead\.$"
    with pytest.raises(ParameterError, match=note):
        r.note("x", kind="danger")
    with pytest.raises(InputError, match=r"Row 1 of the table must have 2 cells\. Got 1 instead\."):
        r.table([[1, 2], [3]], columns=["a", "b"])
    with pytest.raises(UnknownNameError, match="Did you mean 'rate'"):
        r.table([[1]], columns=["rate"], formats={"rat": "percent"})
    with pytest.raises(InputError, match="cannot format"):
        r.table([[1.5]], columns=["a"], formats={"a": "d"})


def test_the_conclusion_opens_the_page_and_the_metadata_closes_it() -> None:
    r = Report("Readout", generated_at=WHEN)
    r.heading("Readout")
    r.table([["A", 1]], columns=["arm", "n"])
    r.conclusion("B leads: +5.0% <b>clicks</b>.")  # set last, shown first
    html = r.render()
    assert (
        '</h1></header>\n<p class="conclusion" id="conclusion">B leads: +5.0% &lt;b&gt;clicks&lt;/b&gt;.</p>\n<h2>'
        in html
    )
    assert html.index('class="conclusion"') < html.index("<h2>") < html.index("<footer")
    assert re.search(r'<footer class="meta">Generated <time datetime="2024-05-01T12:30:00\+00:00">', html)
    r.conclusion("Results untrustworthy: the split is broken.", warning=True)  # replaces the first
    html = r.render()
    assert html.count('id="conclusion"') == 1 and '<p class="conclusion warning" id="conclusion">Results' in html
    Page(html)


def test_tables_scroll_in_their_own_box_and_long_text_wraps() -> None:
    r = Report("t")
    long = "a note long enough to wrap rather than widen its column " * 2
    r.table([["A", 1, long]], columns=["arm", "n", "note"])
    html = r.render()
    assert '<div class="table-wrap"><table>' in html and "</table></div>" in html
    assert ".table-wrap{max-width:100%;overflow-x:auto" in html
    assert f'<td>A</td><td class="num">1</td><td class="wrap">{long}</td>' in html
