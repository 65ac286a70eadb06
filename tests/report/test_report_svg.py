"""SVG charts: well-formed, self-contained, escaped, NaN-safe, downsampled, nice ticks, right pixels."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

import numpy as np
import pytest

from abrec.errors import InputError, ParameterError
from abrec.report import (
    PALETTE,
    bar_chart,
    downsample_indices,
    interval_chart,
    line_chart,
    nice_ticks,
    stacked_area_chart,
)

NS = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(\"x\")</script> & 'q'"
rng = np.random.default_rng(20240501)
WALK = np.cumsum(rng.normal(size=20_000))
WALK_GAPPY = WALK.copy()
WALK_GAPPY[5_000:5_200] = np.nan
WALK_GAPPY[9_000] = np.inf

CASES: dict[str, Callable[[], str]] = {
    "line": lambda: line_chart([1, 2, 3], {"A": [0.1, 0.2, 0.15], "B": [0.2, 0.1, 0.3]}, x_label="t", y_label="y"),
    "line_band": lambda: line_chart([0, 1, 2], {"lift": [0, 1, 2]}, bands={"lift": ([-1, 0, 1], [1, 2, np.inf])}),
    "line_nan": lambda: line_chart([0, 1, np.nan, 3, 4], {"A": [1, np.nan, 2, 3, np.inf]}),
    "line_single": lambda: line_chart([5], {"A": [2.0]}),
    "line_constant": lambda: line_chart(np.arange(10), {"A": np.full(10, 3.0)}),
    "line_empty": lambda: line_chart([], {}),
    "line_all_nan": lambda: line_chart([0, 1], {"A": [np.nan, np.nan]}),
    "line_many": lambda: line_chart(np.arange(WALK.size), {"walk": WALK, "gappy": WALK_GAPPY}),
    "line_many_series": lambda: line_chart([0, 1], {f"s{i}": [i, i + 1] for i in range(12)}),
    "area": lambda: stacked_area_chart([0, 1, 2], {"A": [0.2, 0.5, 0.9], "B": [0.8, 0.5, 0.1]}),
    "area_nan": lambda: stacked_area_chart([0, 1, 2, 3], {"A": [0.2, np.nan, 0.5, 0.4], "B": [0.8, 0.5, 0.5, 0.6]}),
    "area_single": lambda: stacked_area_chart([0], {"A": [0.3], "B": [0.7]}),
    "area_empty": lambda: stacked_area_chart([], {}),
    "area_many": lambda: stacked_area_chart(np.arange(WALK.size), {"A": np.abs(np.sin(WALK)), "B": np.ones(WALK.size)}),
    "interval": lambda: interval_chart(["a", "b"], [0.1, -0.2], [0.0, -np.inf], [0.2, 0.1], reference=0.0),
    "interval_nan": lambda: interval_chart(["a", "b"], [np.nan, 1.0], [0.0, np.nan], [1.0, 2.0], reference=None),
    "interval_single": lambda: interval_chart(["a"], [1.0], [1.0], [1.0], reference=None),
    "interval_empty": lambda: interval_chart([], [], [], []),
    "bar": lambda: bar_chart(["a", "b", "c"], [3, -1, np.nan]),
    "bar_constant": lambda: bar_chart(["a", "b"], [0, 0]),
    "bar_empty": lambda: bar_chart([], []),
}


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == NS + "svg"
    return root


def plot_area(root: ET.Element) -> tuple[float, float, float, float]:
    rect = next(e for e in root.iter(NS + "rect") if e.get("class") == "plot-area")
    left, top = float(rect.get("x", "")), float(rect.get("y", ""))
    return left, top, left + float(rect.get("width", "")), top + float(rect.get("height", ""))


def path_points(d: str) -> list[list[tuple[float, float]]]:
    """The sub-paths of a path made of M, L and Z commands, as lists of points."""
    return [[(float(a), float(b)) for a, b in re.findall(r"(-?[\d.]+) (-?[\d.]+)", part)] for part in d.split("M")[1:]]


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_chart_is_well_formed_accessible_and_offline(name: str) -> None:
    svg = CASES[name]()
    root = parse(svg)
    width, height = (float(v) for v in root.get("viewBox", "").split()[2:])
    assert width > 0 and height > 0 and root.get("width") == "100%"
    assert root.get("role") == "img" and root.get("aria-label")
    assert root.find(NS + "title") is not None
    assert re.findall(r"https?://[^\"]*", svg) == ["http://www.w3.org/2000/svg"]
    assert "<script" not in svg and "href" not in svg and "nan" not in svg.lower().replace("n/a", "")
    assert "inf" not in svg.lower()
    assert len(svg) < 120_000  # downsampled: two 20,000-point series stay small
    for element in root.iter():  # every coordinate stays inside the canvas
        for attr in ("x", "y", "x1", "x2", "y1", "y2", "cx", "cy"):
            if attr in element.attrib:
                assert -1 <= float(element.attrib[attr]) <= max(width, height) + 1, (element.tag, element.attrib)


@pytest.mark.parametrize("name", ["line_empty", "line_all_nan", "area_empty", "interval_empty", "bar_empty"])
def test_empty_input_gives_an_explicit_no_data_chart(name: str) -> None:
    root = parse(CASES[name]())
    assert "No data" in "".join(root.itertext())
    assert not any(e.tag in (NS + "path", NS + "circle") for e in root.iter())


def test_user_text_is_escaped_and_stays_text() -> None:
    charts = [
        line_chart([0, 1], {EVIL: [0, 1]}, bands={EVIL: ([0, 0], [1, 1])}, x_label=EVIL, y_label=EVIL, title=EVIL),
        stacked_area_chart([0, 1], {EVIL: [1, 1]}, x_label=EVIL, title=EVIL),
        interval_chart([EVIL], [0.0], [-1.0], [1.0], x_label=EVIL, title=EVIL),
        bar_chart([EVIL], [1.0], x_label=EVIL, title=EVIL),
    ]
    for svg in charts:
        root = parse(svg)
        assert not [e for e in root.iter() if "script" in e.tag]
        assert root.get("aria-label") == EVIL
        texts = ["".join(e.itertext()) for e in root.iter(NS + "text")]
        assert EVIL in texts or any(EVIL.startswith(t.rstrip("\u2026")) for t in texts if t.endswith("\u2026"))


def test_nan_breaks_the_line_and_isolated_points_become_dots() -> None:
    root = parse(line_chart(np.arange(9), {"A": [0, 1, 2, np.nan, 4, 5, np.inf, 7, np.nan]}))
    path = next(e for e in root.iter(NS + "path") if e.get("class") == "series")
    runs = path_points(path.get("d", ""))
    assert [len(r) for r in runs] == [3, 2]  # 0-2, 4-5; the lone point 7 is a dot
    assert len(list(root.iter(NS + "circle"))) == 1
    # a NaN x drops the point too
    root = parse(line_chart([0, 1, np.nan, 3, 4], {"A": [1, 2, 3, 4, 5]}))
    runs = path_points(next(root.iter(NS + "path")).get("d", ""))
    assert [len(r) for r in runs] == [2, 2]


def test_points_map_to_the_right_pixels() -> None:
    root = parse(line_chart([0, 5, 10], {"A": [0.0, 0.5, 1.0]}, width=800, height=400))
    left, top, right, bottom = plot_area(root)
    assert left < right <= 800 and top < bottom <= 400
    (points,) = path_points(next(root.iter(NS + "path")).get("d", ""))
    expected = [(left, bottom), ((left + right) / 2, (top + bottom) / 2), (right, top)]
    np.testing.assert_allclose(points, expected, atol=0.051)
    # the y axis runs 0..2 with ticks of 0.5: y = 1.0 sits half way up
    root = parse(line_chart([0, 10], {"A": [0.0, 2.0]}, bands={"A": ([0.0, 1.0], [1.0, 2.0])}))
    left, top, right, bottom = plot_area(root)
    band = next(e for e in root.iter(NS + "path") if e.get("class") == "band")
    (polygon,) = path_points(band.get("d", ""))
    np.testing.assert_allclose(polygon, [(left, (top + bottom) / 2), (right, top), (right, (top + bottom) / 2),
                                         (left, bottom)], atol=0.051)  # fmt: skip


def test_y_range_fixes_the_axis_and_clips() -> None:
    root = parse(line_chart([0, 1, 2, 3], {"A": [-50.0, 0.5, np.nan, 50.0]}, bands={"A": ([-np.inf, 0, 0, 0], [1] * 4)},
                            y_range=(0.0, 1.0)))  # fmt: skip
    left, top, right, bottom = plot_area(root)
    series = next(e for e in root.iter(NS + "path") if e.get("class") == "series")
    (run,) = path_points(series.get("d", ""))
    np.testing.assert_allclose(run, [(left, bottom), (left + (right - left) / 3, (top + bottom) / 2)], atol=0.051)
    assert len(list(root.iter(NS + "circle"))) == 1  # the clipped lone point at x=3 sits on the top edge
    band = next(e for e in root.iter(NS + "path") if e.get("class") == "band")
    assert min(y for run in path_points(band.get("d", "")) for _, y in run) == top
    with pytest.raises(ParameterError, match="y_range"):
        line_chart([0], {"A": [1]}, y_range=(1.0, 1.0))


def test_stacked_shares_fill_the_plot_from_bottom_to_top() -> None:
    root = parse(stacked_area_chart([0, 1], {"A": [0.25, 0.5], "B": [0.75, 0.5]}))
    left, top, right, bottom = plot_area(root)
    layers = [path_points(e.get("d", ""))[0] for e in root.iter(NS + "path") if e.get("class") == "layer"]
    a_upper = bottom - np.array([0.25, 0.5]) * (bottom - top)
    np.testing.assert_allclose(layers[0], [(left, a_upper[0]), (right, a_upper[1]), (right, bottom), (left, bottom)],
                               atol=0.051)  # fmt: skip
    np.testing.assert_allclose(layers[1], [(left, top), (right, top), (right, a_upper[1]), (left, a_upper[0])],
                               atol=0.051)  # fmt: skip
    labels = [t.text for t in root.iter(NS + "text")]
    assert "0%" in labels and "100%" in labels


def test_interval_and_bar_positions() -> None:
    root = parse(interval_chart(["a", "b"], [0.0, 1.0], [-1.0, 0.5], [1.0, 1.5], reference=0.0))
    left, _, right, _ = plot_area(root)  # ticks -1..1.5 in steps of 0.5
    ref = next(e for e in root.iter(NS + "line") if "reference" in (e.get("class") or "").split())
    circles = [float(c.get("cx", "")) for c in root.iter(NS + "circle")]
    expected = left + (np.array([0.0, 0.0, 1.0]) + 1.0) / 2.5 * (right - left)
    np.testing.assert_allclose([float(ref.get("x1", "")), *circles], expected, atol=0.051)
    root = parse(interval_chart(["up"], [1.0], [0.0], [np.inf], reference=None))
    assert len(list(root.iter(NS + "path"))) == 1  # the unbounded side ends in an arrowhead
    root = parse(bar_chart(["a", "b"], [100.0, 50.0]))
    widths = [float(r.get("width", "")) for r in root.iter(NS + "rect") if r.get("class") == "bar"]
    left, _, right, _ = plot_area(root)
    np.testing.assert_allclose(widths, [right - left, (right - left) / 2], atol=0.051)


def test_downsampling_keeps_endpoints_extremes_and_gaps() -> None:
    for n, max_points in [(100_000, 1000), (20_001, 1000), (1_234, 50), (10_007, 10)]:
        y = np.cumsum(rng.normal(size=n))
        y[rng.choice(n, size=5, replace=False)] = np.nan
        idx = downsample_indices(y, max_points)
        assert len(idx) <= max_points and np.all(np.diff(idx) > 0)
        assert idx[0] == 0 and idx[-1] == n - 1
        assert {int(np.nanargmin(y)), int(np.nanargmax(y))} <= set(idx.tolist())
        assert np.isnan(y[idx]).sum() >= 1  # gaps survive
        # every bin's extremes are kept: the downsampled running range matches the full one per bin
        bins = np.arange(n) * (max_points // 5) // n
        for b in rng.choice(bins.max() + 1, size=5):
            inside = np.flatnonzero(bins == b)
            kept = np.intersect1d(idx, inside)
            assert np.nanmax(y[inside]) == np.nanmax(y[kept]) and np.nanmin(y[inside]) == np.nanmin(y[kept])
    short = np.arange(999.0)
    np.testing.assert_array_equal(downsample_indices(short), np.arange(999))
    path = next(e for e in parse(line_chart(np.arange(WALK.size), {"w": WALK})).iter(NS + "path"))
    assert sum(len(r) for r in path_points(path.get("d", ""))) <= 1000


def test_ticks_are_nice_and_cover_the_range() -> None:
    lows = rng.normal(scale=10.0 ** rng.uniform(-6, 6, size=3000))
    spans = 10.0 ** rng.uniform(-6, 6, size=3000) * (rng.random(3000) > 0.02)  # some zero-width ranges
    for low, high in zip(lows, lows + spans, strict=True):
        ticks = nice_ticks(float(low), float(high))
        step = ticks[1] - ticks[0]
        exponent = math.floor(math.log10(step) + 1e-9)
        rounding = 1e-10 * (abs(ticks[0]) + abs(ticks[-1])) / step  # float error of a difference of ticks
        assert min(abs(step / 10.0**exponent - m) for m in (1, 2, 2.5, 5, 10)) < 1e-6 + rounding, (low, high, ticks)
        assert 3 <= len(ticks) <= 11
        np.testing.assert_allclose(np.diff(ticks), step, rtol=1e-6, atol=1e-9 * abs(ticks[0]))
        assert ticks[0] <= low + 1e-6 * step and ticks[-1] >= high - 1e-6 * step
        if high - low > 1e-9 * max(abs(low), abs(high)):  # tight: no whole step beyond the range
            assert ticks[0] > low - step * (1 + 1e-6) and ticks[-1] < high + step * (1 + 1e-6)
        else:  # a single value (at float precision) is widened around it
            assert ticks[0] < low < ticks[-1]
    assert nice_ticks(0, 1) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(-0.013, 0.032) == [-0.02, -0.01, 0.0, 0.01, 0.02, 0.03, 0.04]
    assert nice_ticks(0, 10, target=4) == [0.0, 2.5, 5.0, 7.5, 10.0]
    root = parse(line_chart([0, 10], {"A": [0.0, 1.0]}))
    labels = [t.text for t in root.iter(NS + "text")]
    assert {"0", "2", "10", "0.2", "1.0"} <= set(labels)
    with pytest.raises(InputError):
        nice_ticks(0.0, math.inf)


def test_bad_input_is_rejected_with_clear_errors() -> None:
    with pytest.raises(InputError, match="length 3"):
        line_chart([0, 1, 2], {"A": [1, 2]})
    with pytest.raises(InputError, match="must name a series"):
        line_chart([0, 1], {"A": [1, 2]}, bands={"B": ([0, 1], [1, 2])})
    with pytest.raises(InputError, match="numbers"):
        bar_chart(["a"], ["x"])
    with pytest.raises(InputError, match="length 2"):
        interval_chart(["a", "b"], [1, 2], [0], [3, 4])
    with pytest.raises(ParameterError, match="The 'width' parameter of line_chart must be an int in"):
        line_chart([0], {"A": [1]}, width=10)
    with pytest.raises(ParameterError, match="max_points"):
        downsample_indices([1.0], max_points=3)


def test_series_get_distinct_colour_blind_safe_styles() -> None:
    svg = line_chart([0, 1], {f"s{i}": [i, i + 1] for i in range(len(PALETTE) + 1)})
    strokes = [(e.get("stroke"), e.get("stroke-dasharray")) for e in parse(svg).iter(NS + "path")]
    assert len(set(strokes)) == len(PALETTE) + 1
    assert all(colour in PALETTE for colour, _ in strokes)


@pytest.mark.parametrize(
    ("low", "high"), [(0, 1), (0, 10), (-3, 7), (42504.84397, 42504.84399), (1e-7, 3e-7), (2e6, 9e6), (0, 0.75)]
)
def test_tick_labels_are_distinct_and_read_back_as_the_ticks(low: float, high: float) -> None:
    root = parse(line_chart([low, high], {"A": [low, high]}))
    _, top, _, bottom = plot_area(root)
    y_labels = [t for t in root.iter(NS + "text") if t.get("text-anchor") == "end"]
    values = [float(t.text or "") for t in y_labels]
    assert len(set(values)) == len(values) >= 3
    # each label sits at the pixel its value maps to (text baseline is 4 px below the tick)
    span = values[-1] - values[0]
    for t, v in zip(y_labels, values, strict=True):
        assert abs(float(t.get("y", "")) - 4 - (bottom - (v - values[0]) / span * (bottom - top))) < 0.06


def test_zero_line_on_lift_charts() -> None:
    root = parse(line_chart([0, 1, 2], {"lift": [0.2, 0.3, 0.25]}, zero_line=True))  # zero joins the range
    left, _, right, bottom = plot_area(root)
    (zero,) = [e for e in root.iter(NS + "line") if e.get("class") == "zero"]
    assert float(zero.get("y1", "")) == float(zero.get("y2", "")) == bottom
    assert (float(zero.get("x1", "")), float(zero.get("x2", ""))) == (left, right)
    assert root.get("class") == "chart line-chart"
    root = parse(line_chart([0, 1], {"lift": [1.0, 2.0]}, zero_line=True, y_range=(0.5, 3.0)))  # outside: none
    assert not [e for e in root.iter(NS + "line") if e.get("class") == "zero"]
    # an interval chart keeps zero on its axis, marked solid when the dashed reference is elsewhere
    root = parse(interval_chart(["a"], [0.5], [0.4], [0.6], reference=0.45))
    left, _, right, _ = plot_area(root)
    (zero,) = [e for e in root.iter(NS + "line") if e.get("class") == "zero"]
    assert left < float(zero.get("x1", "")) < left + 0.05 * (right - left)  # ticks 0 .. 0.6: zero moved off the edge
    assert [e.get("class") for e in root.iter(NS + "line") if "reference" in (e.get("class") or "")] == ["reference"]
    root = parse(interval_chart(["a"], [0.5], [0.4], [0.6], reference=None, zero_line=False))
    assert not [e for e in root.iter(NS + "line") if "zero" in (e.get("class") or "")]


def test_interval_chart_markers_and_readable_defaults() -> None:
    root = parse(interval_chart(["a", "b"], [0.1, 0.2], [0.0, 0.1], [0.2, 0.3], markers=[0.15, np.nan],
                                marker_label="online"))  # fmt: skip
    assert len([e for e in root.iter(NS + "path") if e.get("class") == "marker"]) == 2  # one row, one legend
    assert "online" in ["".join(t.itertext()) for t in root.iter(NS + "text")]
    width = float(root.get("viewBox", "").split()[2])
    assert width >= 860 and root.get("font-size") == "13"  # 13 px text at the chart's natural width
    assert root.get("style") == f"max-width:{width:.0f}px;height:auto"


def test_whole_number_x_gets_whole_ticks() -> None:
    root = parse(line_chart([1, 2, 3], {"A": [0.1, 0.2, 0.3]}))
    x_labels = [t.text for t in root.iter(NS + "text") if t.get("text-anchor") == "middle" and t.text]
    assert x_labels[:3] == ["1", "2", "3"]
