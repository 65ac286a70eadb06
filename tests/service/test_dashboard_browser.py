"""The live dashboard in a real browser: ``abrec serve`` as a process, traffic through the API, headless Chromium.

Checks what a person would: the page shows the numbers of ``/v1/experiments/{name}/results``, the conclusion is
on the first screen of a 1366 x 768 laptop and nothing scrolls sideways, the page updates by itself when more
traffic comes, and a change made through the admin API (a pause) shows up in the status and the audit trail.
Screenshots go to the test's tmp folder. Needs /usr/bin/chromium (``make browser``) and ``playwright``; without
them it skips locally and fails under CI.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import yaml
from _server import Server, start_server
from _service_config import config_mapping, experiment

from _shared import missing
from abrec.report.dashboard import num, pct
from abrec.store import EventStore, upgrade
from abrec.store.admin import create_key

CHROMIUM = Path("/usr/bin/chromium")
WIDTH, HEIGHT = 1366, 768
CANDIDATES = ["a", "b", "c", "d", "e", "f"]
RATES = {"random": 0.10, "ts": 0.30}

READ = """() => {
  const rows = {};
  for (const tr of document.querySelectorAll("#readout tbody tr")) {
    const v = tr.querySelector("th").textContent;
    rows[v] = {};
    for (const td of tr.querySelectorAll("td[data-field]")) {
      rows[v][td.dataset.field] = [td.textContent, td.dataset.value ?? null];
    }
  }
  const counts = {};
  for (const tr of document.querySelectorAll("#variants tbody tr")) {
    const v = tr.querySelector("th").textContent;
    counts[v] = {};
    for (const td of tr.querySelectorAll("td[data-field]")) counts[v][td.dataset.field] = td.dataset.value;
  }
  const c = document.querySelector("main > header + p.conclusion").getBoundingClientRect();
  return {rows, counts, conclusion: [c.top, c.bottom, document.querySelector("#conclusion").textContent],
          scrollWidth: document.documentElement.scrollWidth, status: document.querySelector("#status").textContent,
          audit: [...document.querySelectorAll("#audit td[data-field=action]")].map((td) => td.textContent),
          charts: document.querySelectorAll("main svg").length, stamp: document.querySelector("main").dataset.stamp};
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("the playwright package is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.is_file():
        missing(f"{CHROMIUM} is missing (apt-get install chromium, or `make browser`)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[Server, str]]:
    url = f"sqlite:///{tmp_path / 'abrec.db'}"
    upgrade(url)
    with EventStore(url) as store:
        token, _ = create_key(store, "release manager", "admin", actor="test")
    variants = [{"name": "random", "policy": "uniform"}, {"name": "ts", "policy": "bernoulli_ts"}]
    config = tmp_path / "service.yaml"
    config.write_text(yaml.safe_dump(config_mapping(experiment(variants=variants, control="random"))))
    running = start_server(config, url, env={"ABREC_POLL_INTERVAL": "0.05"})
    try:
        yield running, token
    finally:
        running.stop()


def _traffic(base: str, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with httpx.Client(base_url=base, timeout=10.0) as http:
        for i in range(n):
            d = http.post("/v1/decide", json={"experiment": "home", "unit": f"s{seed}-{i}", "candidates": CANDIDATES})
            assert d.status_code == 200, d.text
            body = d.json()
            value = float(rng.random() < RATES[body["variant"]])
            reward = {"event_id": body["event_id"], "item": body["slate"][0]["item"], "value": value}
            assert http.post("/v1/rewards", json={"rewards": [reward]}).status_code == 200


def _expected(results: dict[str, Any]) -> dict[str, dict[str, list[str | None]]]:
    """What the readout table must show for each variant: text and exact value of each cell."""
    out = {}
    for r in results["readout"]["metrics"][0]["rows"]:

        def value(key: str, row: dict[str, Any] = r) -> str | None:
            return None if row[key] is None else repr(row[key])

        out[r["variant"]] = {
            "units": [num(r["units"]), value("units")],
            "mean": [num(r["mean"]), value("mean")],
            "lift": [num(r["lift"]), value("lift")],
            "always_valid_ci": [f"[{num(r['sequential_low'])}, {num(r['sequential_high'])}]", None],
            "relative_lift": [pct(r["relative_lift"]), value("relative_lift")],
            "p_adjusted": [None, value("p_adjusted")],
            "chance_to_win": [None, value("chance_to_win")],
        }
    return out


def _wait(page: Any, check: Any, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        state: dict[str, Any] = page.evaluate(READ)
        if check(state) or time.monotonic() > deadline:
            return state
        time.sleep(0.25)


def test_the_dashboard_in_chromium_shows_live_numbers_updates_itself_and_shows_admin_changes(
    server: tuple[Server, str], browser: Any, tmp_path: Path
) -> None:
    running, token = server
    _traffic(running.url, 160, seed=1)
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    try:
        page.goto(f"{running.url}/experiments/home?refresh=1")
        results = httpx.get(f"{running.url}/v1/experiments/home/results").json()
        page.screenshot(path=str(tmp_path / "dashboard-first-screen.png"))
        page.screenshot(path=str(tmp_path / "dashboard-full.png"), full_page=True)
        state = page.evaluate(READ)
        # the numbers shown are the results endpoint's
        expected = _expected(results)
        assert set(state["rows"]) == set(expected) == {"random", "ts"}
        for variant, fields in expected.items():
            for field, (text, value) in fields.items():
                shown_text, shown_value = state["rows"][variant][field]
                if text is not None:
                    assert shown_text == text, (variant, field)
                if value is not None or field in ("p_adjusted", "chance_to_win"):
                    assert shown_value == value, (variant, field)
        for v in results["variants"]:
            assert state["counts"][v["variant"]]["decisions"] == repr(v["decisions"])
        # a laptop screen: the conclusion is read first, without scrolling; nothing scrolls sideways
        top, bottom, text = state["conclusion"]
        assert 0 < top and bottom < HEIGHT and len(text) > 40
        assert state["scrollWidth"] <= WIDTH and state["charts"] == 3
        # more traffic: the page updates by itself (no reload)
        before = sum(int(c["decisions"]) for c in state["counts"].values())
        _traffic(running.url, 40, seed=2)
        state = _wait(page, lambda s: sum(int(c["decisions"]) for c in s["counts"].values()) == before + 40)
        assert sum(int(c["decisions"]) for c in state["counts"].values()) == before + 40
        # an admin change through the API shows up: the status and the audit trail
        r = httpx.post(
            f"{running.url}/v1/admin/experiments/home/pause",
            json={"serve": "ts"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        state = _wait(page, lambda s: "pause" in s["audit"])
        assert state["audit"][0] == "pause" and state["status"].startswith("paused: ts serves everyone")
        page.screenshot(path=str(tmp_path / "dashboard-paused.png"), full_page=True)
        # the list of experiments links to the page
        page.goto(f"{running.url}/?refresh=0")
        page.click("text=home")
        assert page.url.startswith(f"{running.url}/experiments/home")
    finally:
        page.close()
    assert (tmp_path / "dashboard-first-screen.png").stat().st_size > 10_000
