"""The dashboard in process: its numbers are the results endpoint's, names are escaped, a failed SRM is loud."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from _ops import Keys
from _service_config import config_mapping, experiment
from fastapi.testclient import TestClient

from _html_page import Page
from abrec.report.dashboard import conclusion, num, pct
from abrec.service.dashboard import metric_over_time

Make = Callable[..., TestClient]
CANDIDATES = ["a", "b", "c", "d"]


def _traffic(client: TestClient, n: int, *, rate: dict[str, float], seed: int = 0, name: str = "home") -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        d = client.post("/v1/decide", json={"experiment": name, "unit": f"u{seed}-{i}", "candidates": CANDIDATES})
        assert d.status_code == 200, d.text
        body = d.json()
        value = float(rng.random() < rate.get(body["variant"], 0.1))
        item = body["slate"][0]["item"]
        r = client.post("/v1/rewards", json={"rewards": [{"event_id": body["event_id"], "item": item, "value": value}]})
        assert r.status_code == 200, r.text


def _shown(x: Any) -> str | None:
    return None if x is None else repr(x)


def _cells(html: str, table: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    """``(variant, field) -> (text, data-value)`` of a table of the page."""
    section = html[html.index(f'<table id="{table}">') :]
    section = section[: section.index("</table>")]
    out = {}
    for row in re.findall(r"<tr>(.*?)</tr>", section, flags=re.S):
        variant = re.search(r'<th scope="row"[^>]*>(.*?)</th>', row)
        if variant is None:
            continue
        for attrs, text in re.findall(r"<td([^>]*)>(.*?)</td>", row, flags=re.S):
            field = re.search(r'data-field="([^"]+)"', attrs)
            value = re.search(r'data-value="([^"]*)"', attrs)
            if field:
                out[(variant.group(1), field.group(1))] = (text, value.group(1) if value else None)
    return out


def test_the_page_shows_the_results_endpoints_numbers(sqlite_url: str, make_client: Make) -> None:
    client = make_client(sqlite_url)
    _traffic(client, 150, rate={"random": 0.1, "ts": 0.3, "lin": 0.2})
    results = client.get("/v1/experiments/home/results").json()
    html = client.get("/experiments/home").text
    Page(html)  # well formed
    readout = _cells(html, "readout")
    rows = results["readout"]["metrics"][0]["rows"]
    assert {r["variant"] for r in rows} == {"random", "ts", "lin"}
    for r in rows:
        v = r["variant"]
        assert readout[(v, "units")] == (num(r["units"]), _shown(r["units"]))
        assert readout[(v, "mean")] == (num(r["mean"]), _shown(r["mean"]))
        assert readout[(v, "chance_to_win")][1] == _shown(r["chance_to_win"])
        if v != "random":
            assert readout[(v, "lift")] == (num(r["lift"]), _shown(r["lift"]))
            assert readout[(v, "relative_lift")] == (pct(r["relative_lift"]), _shown(r["relative_lift"]))
            assert readout[(v, "p_adjusted")][1] == _shown(r["p_adjusted"]) != None  # noqa: E711
            low, high = num(r["sequential_low"]), num(r["sequential_high"])
            assert readout[(v, "always_valid_ci")][0] == f"[{low}, {high}]"
    counts = _cells(html, "variants")
    for v in results["variants"]:
        for field in ("decisions", "rewards", "late", "defaulted", "waiting"):
            assert counts[(v["variant"], field)][1] == repr(v[field]), field
    # the conclusion opens the page, straight after the title
    text, warning = conclusion(results)
    assert '</h1></header>\n<p class="conclusion" id="conclusion">' in html and not warning
    assert text in html.replace("&#x27;", "'")
    # charts: lift, metric over time with bands, allocation weights
    assert html.count("<svg") == 3 and "always-valid" in html
    listing = client.get("/").text
    Page(listing)
    assert 'href="/experiments/home"' in listing and "150" in listing


def test_every_name_is_escaped(sqlite_url: str, make_client: Make) -> None:
    evil = "<script>alert(1)</script>"
    config = experiment(
        variants=[{"name": "<b>ctl</b>", "policy": "uniform"}, {"name": evil, "policy": "uniform"}],
        control="<b>ctl</b>",
    )
    client = make_client(sqlite_url, config_mapping(config))
    for i in range(30):
        d = client.post("/v1/decide", json={"experiment": "home", "unit": f"u{i}", "candidates": ["<script>", "a&b"]})
        assert d.status_code == 200, d.text
    for path in ("/", "/experiments/home"):
        html = client.get(path).text
        page = Page(html)
        assert [tag for tag, _ in page.tags].count("script") == 1  # only the page's own refresh script
        assert "<b>" not in html and evil not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    html = client.get("/experiments/home").text
    assert '<td class="item">&lt;script&gt;</td>' in html and "a&amp;b" in html


def test_the_conclusion_says_who_leads_by_how_much_and_how_sure_and_flags_a_failed_srm_first() -> None:
    row: dict[str, Any] = {
        "variant": "b",
        "lift": 0.01,
        "sequential_low": 0.002,
        "sequential_high": 0.02,
        "relative_lift": 0.071,
        "relative_sequential_low": 0.02,
        "relative_sequential_high": 0.123,
    }
    results: dict[str, Any] = {
        "readout": {
            "control": "a",
            "alpha": 0.05,
            "srm_p_value": 0.3,
            "metrics": [{"measure": "clicks per user", "rows": [{"variant": "a"}, row]}],
        }
    }
    text, warning = conclusion(results)
    assert text == "b leads: +7.1% clicks per user over a, 95% always-valid CI [+2.0%, +12.3%]." and not warning
    row["relative_sequential_low"] = None  # no relative interval (the control's mean may be 0): the difference
    assert conclusion(results)[0] == (
        "b leads: +0.01 clicks per user over a (+7.1%), 95% always-valid CI of the difference [+0.002, +0.02]."
    )
    results["readout"]["srm_p_value"] = 1e-6
    text, warning = conclusion(results)
    assert warning and text.startswith("Do not trust these numbers: the sample ratio check failed (p = 1e-06).")
    results["readout"]["srm_p_value"] = 0.3
    row.update(sequential_low=-0.001, relative_sequential_low=-0.01)
    assert conclusion(results)[0] == (
        "No variant is distinguishable from a yet; the largest lift, b, is +7.1% clicks per user over a, "
        "95% always-valid CI [-1.0%, +12.3%]."
    )
    row.update(lift=-0.005, sequential_low=-0.009, sequential_high=-0.001)
    row.update(relative_lift=-0.05, relative_sequential_low=-0.09, relative_sequential_high=-0.01)
    assert conclusion(results)[0].startswith("b is worse than a: -5.0% clicks per user over a")


def test_the_srm_banner_shows_when_the_split_is_broken(sqlite_url: str, make_client: Make) -> None:
    from abrec.report.dashboard import ExperimentView, experiment_page

    results = {
        "readout": {
            "control": "a",
            "alpha": 0.05,
            "srm_p_value": 1e-9,
            "metrics": [{"measure": "m", "method": "z", "correction": "holm", "rows": [{"variant": "a"}]}],
        },
        "variants": [],
    }
    html = experiment_page(ExperimentView(name="x", status="running", serve_with=None, results=results))
    assert 'id="srm" role="alert"' in html and html.index('id="conclusion"') < html.index('id="srm"')
    results["readout"]["srm_p_value"] = 0.5  # type: ignore[index]
    html = experiment_page(ExperimentView(name="x", status="running", serve_with=None, results=results))
    assert 'id="srm"' not in html and 'id="srm-ok"' in html


def test_metric_over_time_is_the_running_mean_per_unit_with_its_band() -> None:
    # the store's history: (variant, at, units, sum of the units' totals, sum of their squares)
    history = [
        ("a", 0.0, 1.0, 1.0, 1.0),  # u1 total 1
        ("a", 10.0, 2.0, 1.0, 1.0),  # u1 1, u2 0
        ("a", 20.0, 2.0, 2.0, 4.0),  # u1 2, u2 0
        ("a", 30.0, 3.0, 2.0, 4.0),  # u1 2, u2 0, u3 0
        ("b", 30.0, 1.0, 1.0, 1.0),
    ]
    times, means, lows, highs = metric_over_time(history, ["a", "b"], start=0.0, checkpoints=4)
    assert times == [0.0, 10.0, 20.0, 30.0]
    assert np.isnan(means["a"][0]) and means["a"][1:] == pytest.approx([0.5, 1.0, 2 / 3])
    sd = np.std([2.0, 0.0, 0.0], ddof=1)
    assert highs["a"][3] - means["a"][3] == pytest.approx(1.959963984540054 * sd / np.sqrt(3))
    assert lows["a"][3] == pytest.approx(2 * means["a"][3] - highs["a"][3])
    assert all(np.isnan(means["b"]))  # one unit: no band yet
    times, means, _, _ = metric_over_time(history, ["a", "b"], start=5.0, checkpoints=2)
    assert times == [-5.0, 25.0] and means["a"][1] == pytest.approx(2 / 3)  # evenly thinned, first and last kept


def test_the_dashboard_may_require_a_key(sqlite_url: str, make_client: Make) -> None:
    client = make_client(sqlite_url, dashboard_key=True)
    keys = Keys(client.app.state.service.store)  # type: ignore[attr-defined]
    assert client.get("/").status_code == 401
    assert client.get(f"/experiments/home?key={keys.revoked}").status_code == 401
    page = client.get(f"/?key={keys.client}")
    assert page.status_code == 200 and f'href="/experiments/home?key={keys.client}"' in page.text
    assert client.get("/experiments/home", headers=Keys.header(keys.client)).status_code == 200


def test_recorded_offline_estimates_are_shown_next_to_the_live_numbers(sqlite_url: str, make_client: Make) -> None:
    client = make_client(sqlite_url)
    keys = Keys(client.app.state.service.store)  # type: ignore[attr-defined]
    assert 'id="offline">No pre-launch offline estimate' in client.get("/experiments/home").text
    estimates = {"ts": {"value": 0.125, "low": 0.1, "high": 0.15, "estimator": "dr"}, "lin": {"value": 0.5}}
    r = client.post(
        "/v1/admin/experiments/home/offline", json={"estimates": estimates}, headers=Keys.header(keys.admin)
    )
    assert r.status_code == 200, r.text
    bad = {"estimates": {"nope": {"value": 1.0}}}
    assert (
        client.post("/v1/admin/experiments/home/offline", json=bad, headers=Keys.header(keys.admin)).status_code == 404
    )
    html = client.get("/experiments/home").text
    table = html[html.index('<table id="offline">') :]
    table = table[: table.index("</table>")]
    assert re.findall(r'<th scope="row">(\w+)</th>', table) == ["ts", "lin"]
    assert 'data-value="0.125">0.125</td><td>[0.1, 0.15]</td><td>dr</td>' in table
    assert 'data-value="0.5">0.5</td><td>[n/a, n/a]</td>' in table
