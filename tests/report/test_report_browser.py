"""Every report in a real browser: headless Chromium at a laptop's 1366 x 768, as a reader first sees it.

Checks what only a layout engine can tell: no table pushes the page sideways (each scrolls in its own box, and
the readout table fits whole, P(win) column included), the conclusion is on the first screen, chart text is at
least 12 px, and every lift or interval chart has its zero line. Screenshots (first screen and full page) go to
pytest's temporary folder. Needs /usr/bin/chromium (``make browser``) and the ``playwright`` package; without them
the test skips locally and fails under CI (the environment variable ``CI`` set).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _experiments import small_experiment, variant
from _shared import missing
from abrec.abtest.readout import analyze_log
from abrec.data import InteractionLog
from abrec.experiments import ExperimentConfig, run_simulation
from abrec.experiments.offline import replay_variants
from abrec.ope import LoggedFeedback, evaluate_policies
from abrec.policies import BernoulliThompson, UniformRandom
from abrec.report.evaluation import evaluation_report
from abrec.report.experiment import readout_report, simulation_report

CHROMIUM = Path("/usr/bin/chromium")
WIDTH, HEIGHT = 1366, 768
READOUT_COLUMNS = 9  # variant ... P(win): the readout table must show all of them without scrolling


def _unavailable(reason: str) -> None:
    missing(f"{reason} (install it with `make browser`)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.is_file():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium, or `make browser`)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--disable-gpu"])
        yield chromium
        chromium.close()


def _simulation_page(folder: Path) -> Path:
    variants = [
        variant("random", "uniform"),
        variant("bernoulli TS", "bernoulli_ts", 20),
        variant("epsilon-greedy with a long name", "epsilon_greedy"),
    ]
    config = ExperimentConfig.from_mapping(small_experiment("browser-test", 3, variants=variants))
    result = run_simulation(config)
    metrics = result.readouts()
    report = simulation_report(result, metrics.primary, offline=replay_variants(result), metrics=metrics)
    return report.write(folder / "simulation.html")


def _readout_page(folder: Path) -> Path:
    rng = np.random.default_rng(4)
    n = 3000
    arm = np.array(["control", "ranker v2", "ranker v3 (text embeddings)"])[rng.integers(0, 3, n)]
    click = (rng.random(n) < np.select([arm == "control", arm == "ranker v2"], [0.10, 0.14], 0.11)).astype(float)
    log = InteractionLog.from_arrays(unit=np.arange(n), item=0, timestamp=np.arange(n), reward=click, variant=arm)
    source = "/data/experiments/2024/ranker-v2-against-v3/exported/interaction-log-with-a-long-name.parquet"
    return readout_report(analyze_log(log, control="control"), title="Readout", source=source).write(
        folder / "readout.html"
    )


def _evaluation_page(folder: Path) -> Path:
    rng = np.random.default_rng(5)
    n, arms = 3000, 5
    action = rng.integers(0, arms, n)
    reward = (rng.random(n) < np.array([0.05, 0.05, 0.08, 0.05, 0.2])[action]).astype(float)
    log = LoggedFeedback.from_arrays(action=action, reward=reward, propensity=1 / arms, n_actions=arms)
    policies = {"uniform": UniformRandom(), "thompson": BernoulliThompson()}
    ev = evaluate_policies(log, policies, n_bootstrap=50, seed=0)
    return evaluation_report(ev, "Counterfactual A/B test: browser-test").write(folder / "evaluation.html")


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("reports")
    return {
        "simulation": _simulation_page(folder),
        "readout": _readout_page(folder),
        "evaluation": _evaluation_page(folder),
    }


LAYOUT = """() => {
  const box = (e) => e.getBoundingClientRect();
  const tables = [...document.querySelectorAll("table")].map((t) => {
    const wrap = t.parentElement;
    return {wrapped: wrap.classList.contains("table-wrap"), overflowX: getComputedStyle(wrap).overflowX,
            right: box(wrap).right, scrollWidth: wrap.scrollWidth, clientWidth: wrap.clientWidth,
            headers: [...t.querySelectorAll("th")].map((th) => [th.textContent, box(th).right])};
  });
  const charts = [...document.querySelectorAll("svg.chart")].map((svg) => {
    const scale = box(svg).width / svg.viewBox.baseVal.width;
    const sizes = [...svg.querySelectorAll("text")].map((t) => parseFloat(getComputedStyle(t).fontSize) * scale);
    return {kind: svg.getAttribute("class"), label: svg.getAttribute("aria-label"), minText: Math.min(...sizes),
            zero: svg.querySelectorAll("line.zero").length, reference: svg.querySelectorAll("line.reference").length,
            width: box(svg).width};
  });
  const conclusion = document.querySelector("main > header + p.conclusion");
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth, tables, charts,
          conclusion: conclusion && {top: box(conclusion).top, bottom: box(conclusion).bottom,
                                     text: conclusion.textContent},
          footerLast: document.querySelector("main").lastElementChild.tagName};
}"""


@pytest.mark.parametrize("name", ["simulation", "readout", "evaluation"])
def test_report_reads_well_at_1366_by_768(name: str, pages: dict[str, Path], browser: Any) -> None:
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    try:
        page.goto(pages[name].as_uri())
        shots = pages[name].parent
        page.screenshot(path=str(shots / f"{name}-first-screen.png"))
        page.screenshot(path=str(shots / f"{name}-full.png"), full_page=True)
        layout = page.evaluate(LAYOUT)
    finally:
        page.close()
    # no page-level sideways scroll: every table scrolls, if at all, inside its own box
    assert layout["scrollWidth"] <= layout["innerWidth"] == WIDTH, layout["scrollWidth"]
    assert layout["tables"]
    for table in layout["tables"]:
        assert table["wrapped"] and table["overflowX"] in ("auto", "scroll"), table
        assert table["right"] <= WIDTH, table
    # the first table (the readout or the summary) fits whole: its last column is on screen, no scrolling
    first = layout["tables"][0]
    assert first["scrollWidth"] <= first["clientWidth"], first
    assert all(right <= WIDTH for _, right in first["headers"]), first["headers"]
    if name != "evaluation":
        assert len(first["headers"]) == READOUT_COLUMNS and first["headers"][-1][0] == "P(win)"
    # the conclusion opens the page and is read without scrolling; the metadata footer closes it
    conclusion = layout["conclusion"]
    assert conclusion is not None, "the conclusion must follow the title"
    assert 0 < conclusion["top"] and conclusion["bottom"] < HEIGHT, conclusion
    assert len(conclusion["text"]) > 40
    assert layout["footerLast"] == "FOOTER"
    # charts: readable text, laptop-sized, a zero line on every lift plot, and on every interval plot unless it
    # compares with another reference (an off-policy estimate with the logging policy's value)
    assert layout["charts"]
    for chart in layout["charts"]:
        assert chart["minText"] >= 12, chart
        assert chart["width"] >= 600, chart
        if "lift" in chart["label"] or "interval-chart" in chart["kind"]:
            compared = chart["zero"] or ("lift" not in chart["label"] and chart["reference"])
            assert compared, f"no zero line in {chart['label']!r}"
    assert (shots / f"{name}-first-screen.png").stat().st_size > 10_000


def test_a_missing_browser_skips_here_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium is missing"):
        _unavailable("chromium is missing")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="in CI every test must run"):
        _unavailable("chromium is missing")
