"""HTML readouts of experiments: well-formed, self-contained pages holding the readout table."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from _experiments import small_experiment, variant
from _html_page import Page
from abrec.abtest.readout import Readout, analyze_log, analyze_periods
from abrec.data import InteractionLog
from abrec.experiments import ExperimentConfig, SimulationResult, run_simulation
from abrec.experiments.offline import replay_variants
from abrec.report.experiment import readout_report, readout_table, simulation_report

SVG = "{http://www.w3.org/2000/svg}"
COLUMNS = ["variant", "units", "mean", "lift", "lift CI", "rel. lift", "p (adj.)", "always-valid CI", "P(win)"]


def assert_self_contained(html: str) -> Page:
    page = Page(html)
    names = page.names()
    assert names.count("html") == 1 and names.count("h1") == 1
    assert "script" not in names and "iframe" not in names and "link" not in names
    for tag, attrs in page.tags:
        for key in ("src", "href"):
            value = attrs.get(key)
            assert value is None or not re.match(r"^(https?:)?//", value), f"<{tag} {key}={value}> loads a resource"
    assert "@import" not in html and "url(http" not in html
    return page


def headers(html: str) -> list[list[str]]:
    """The header cells of every table of a rendered page."""
    return [re.findall(r"<th>(.*?)</th>", head) for head in re.findall(r"<thead>(.*?)</thead>", html)]


@pytest.fixture(scope="module")
def simulated() -> tuple[SimulationResult, Readout]:
    variants = [
        variant("random", "uniform"),
        variant("ts", "bernoulli_ts", 20),
        variant("<b>bold</b>", "bernoulli_ts", 20),
    ]
    config = ExperimentConfig.from_mapping(small_experiment("report-test", 2, variants=variants))
    result = run_simulation(config)
    readout = analyze_periods(result.periods, result.weights, control="random", metric="clicks per user")
    return result, readout


def test_simulation_report_is_well_formed_and_self_contained(
    simulated: tuple[SimulationResult, Readout], tmp_path: Path
) -> None:
    result, readout = simulated
    offline = [e.as_row() for e in replay_variants(result)]
    report = simulation_report(result, readout, offline=offline, offline_note="Replay on the control's logs.")
    html = report.render()
    page = assert_self_contained(html)
    text = page.all_text()
    assert "Simulated A/B test: report-test" in text
    assert "Readout (clicks per user)" in text and "Offline replay on the control's logs vs online" in text
    assert "Replay on the control's logs." in text
    # the readout table: the compact columns, one row per variant, control first and marked
    all_headers = headers(html)
    assert COLUMNS in all_headers
    assert ["variant", "policy", "offline", "offline 95% CI", "accepted positions"] in [h[:5] for h in all_headers]
    # every variant's offline estimate is explained in a sentence, with the replay's accepted positions
    for row in offline:
        assert f"{row['variant']}: the replay accepted {row['accepted positions']:,} of the control's" in text
    assert "random (control)" in text and "ts" in text
    # a variant name is escaped, never markup
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "b" not in page.names()
    # charts: allocation, curves, one always-valid path per treatment, the lift and the offline estimates
    assert page.names().count("svg") >= 7
    path = report.write(tmp_path / "sub" / "report.html")
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_simulation_report_without_offline_rows(simulated: tuple[SimulationResult, Readout]) -> None:
    result, readout = simulated
    html = simulation_report(result, readout, title="Custom title").render()
    page = assert_self_contained(html)
    assert "Custom title" in page.all_text()
    assert "Off-policy evaluation" not in html


def test_readout_table_matches_the_readout(simulated: tuple[SimulationResult, Readout]) -> None:
    _, readout = simulated
    columns, rows = readout_table(readout)
    assert columns == COLUMNS
    assert [r[0] for r in rows] == ["random (control)", "ts", "<b>bold</b>"]
    assert rows[0][3:] == [""] * 6  # the control has no lift
    for row, v in zip(rows[1:], readout.variants[1:], strict=True):
        assert row[1] == v.units and row[2] == v.mean
        assert row[3] == f"{v.effect:+.4g}"
        assert row[6].startswith(f"{v.p_adjusted:.3g}")


def make_log(seed: int = 0, n: int = 2000) -> InteractionLog:
    rng = np.random.default_rng(seed)
    variant = np.array(["control", "treatment"])[rng.integers(0, 2, n)]
    reward = (rng.random(n) < np.where(variant == "treatment", 0.2, 0.1)).astype(np.float64)
    return InteractionLog.from_arrays(
        unit=[f"u{i}" for i in range(n)], item=0, timestamp=np.arange(n), reward=reward, variant=variant
    )


def test_readout_report_for_a_logged_experiment(tmp_path: Path) -> None:
    readout = analyze_log(make_log(), control="control")
    report = readout_report(readout, title="Readout of log.csv", source="log.csv")
    html = report.render()
    page = assert_self_contained(html)
    text = page.all_text()
    assert "Readout of log.csv" in text and "Per-variant readout" in text and "All numbers" in text
    assert "control (control)" in text and "log.csv" in text
    all_headers = headers(html)
    assert all_headers[0] == COLUMNS
    assert list(readout.to_frame().columns) in all_headers
    treatment = readout.variants[1]
    assert treatment.significant and f"{treatment.p_adjusted:.3g} *" in text
    assert "Sample ratio check" in text
    assert math.isfinite(treatment.chance_to_win)
    assert report.write(tmp_path / "r.html").exists()


def test_a_sample_ratio_mismatch_is_a_warning() -> None:
    log = make_log()
    keep = ~((log.frame["variant"] == "treatment").to_numpy() & (np.arange(len(log)) % 3 == 0))
    readout = analyze_log(log.frame[keep], control="control")
    assert readout.srm.mismatch()
    html = readout_report(readout).render()
    assert 'class="note warning"' in html and "mismatch: the split is broken" in html


def charts(html: str) -> list[ET.Element]:
    return [ET.fromstring(svg) for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S)]


def y_ticks(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{SVG}text") if t.get("text-anchor") == "end"]


def test_simulation_report_reads_top_down(simulated: tuple[SimulationResult, Readout]) -> None:
    result, readout = simulated
    html = simulation_report(result, readout, offline=replay_variants(result)).render()
    # title, then the conclusion in words, then the readout ... and the run's settings and the metadata last
    assert re.search(r"</h1></header>\n<p class=\"conclusion\" id=\"conclusion\">[^<]+</p>\n<h2>Readout", html)
    sections = re.findall(r"<h2>(.*?)</h2>", html)
    assert sections[0] == "Readout (clicks per user)" and sections[-2:] == ["All numbers", "About this run"]
    assert sections.index("The lift as the experiment ran") < sections.index("Over time")
    assert re.search(r"<footer class=\"meta\">Generated <time[^>]*>[^<]*</time> by abrec[^<]*</footer>\n</main>", html)


def test_always_valid_plots_share_one_y_range_with_a_zero_line(simulated: tuple[SimulationResult, Readout]) -> None:
    result, readout = simulated
    paths = [
        svg
        for svg in charts(simulation_report(result, readout).render())
        if "always-valid" in svg.get("aria-label", "")
    ]
    assert len(paths) == 2  # one per treatment
    assert y_ticks(paths[0]) == y_ticks(paths[1]) and "0" in y_ticks(paths[0])
    for svg in paths:
        (zero,) = [e for e in svg.iter(f"{SVG}line") if e.get("class") == "zero"]
        assert zero.get("y1") == zero.get("y2")


def test_lift_forest_plot_has_its_zero_line(simulated: tuple[SimulationResult, Readout]) -> None:
    _, readout = simulated
    (forest,) = [svg for svg in charts(readout_report(readout).render()) if "interval-chart" in svg.get("class", "")]
    assert [e.get("class") for e in forest.iter(f"{SVG}line") if "zero" in (e.get("class") or "")] == ["reference zero"]
