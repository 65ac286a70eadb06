"""Charts as pure functions that return self-contained SVG strings (no JavaScript, no external URL).

Every chart has a ``viewBox`` and a responsive width, a ``<title>`` and an ``aria-label``, axes with
"nice" tick values (1, 2, 2.5 or 5 times a power of ten), axis labels and a legend. Colours come from
the Okabe-Ito colour-blind-safe palette; text and axes use ``currentColor`` so the charts follow the
page's light or dark theme. All text is XML-escaped. Non-finite values are skipped and break lines;
an input with no finite point gives an explicit "No data" chart. Series longer than ``max_points`` are
downsampled per bin, keeping each bin's first, last, minimum and maximum point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from html import escape

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .._params import Constraint, Interval, validate_params
from ..errors import InputError, ParameterError

__all__ = [
    "PALETTE",
    "bar_chart",
    "downsample_indices",
    "interval_chart",
    "line_chart",
    "nice_ticks",
    "stacked_area_chart",
]

FloatArray = NDArray[np.float64]

#: Okabe-Ito colours (black left out so that charts stay visible on a dark page).
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
_DASHES = ("", "6 3", "2 3", "8 3 2 3")  # a new dash pattern each time the palette wraps around
_SIZE: dict[str, Constraint] = {
    "width": Interval("int", 200, 4000),
    "height": Interval("int", 120, 4000),
    "max_points": Interval("int", 10),
}
_LEFT, _RIGHT, _ROW = 72.0, 20.0, 30.0
_FONT = 13  # px at the chart's natural width; a chart is never drawn wider than that (``max-width``)
_CHAR = 0.58 * _FONT  # average width of a character, for fitting labels
_WIDTH, _HEIGHT = 880, 400  # fits the text column of a laptop screen (1366 px) with room to spare
_LEGEND = 200.0  # width of one legend entry


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Return about ``target`` evenly spaced "nice" tick values whose span covers ``[low, high]``.

    The step is 1, 2, 2.5 or 5 times a power of ten; a zero-width range is widened around its value.

    Examples
    --------
    >>> nice_ticks(0.0, 0.93)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    >>> nice_ticks(3.0, 3.0)
    [2.6, 2.8, 3.0, 3.2, 3.4]
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        raise InputError(f"Tick range must be finite. Got [{low}, {high}] instead.")
    low, high = min(low, high), max(low, high)
    if high - low <= 1e-9 * max(abs(low), abs(high)):  # no visible width at float precision: widen it
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(target, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw * (1 - 1e-9))
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    digits = 2 - math.floor(math.log10(step))  # rounding away float noise (0.6000000000000001 -> 0.6)
    return [round(i * step, digits) + 0.0 for i in range(first, last + 1)]


def downsample_indices(values: ArrayLike, max_points: int = 1000) -> NDArray[np.intp]:
    """Indices (sorted) of at most ``max_points`` points that keep the shape of a long series.

    The series is cut into ``max_points // 5`` bins; each keeps its first, last, minimum and maximum
    point, and its first non-finite point so that gaps survive. Short series are returned whole.

    Examples
    --------
    >>> y = np.sin(np.linspace(0, 20, 100_000))
    >>> idx = downsample_indices(y)
    >>> len(idx) <= 1000, int(idx[0]), int(idx[-1]), int(np.argmax(y)) in idx
    (True, 0, 99999, True)
    """
    validate_params("downsample_indices", {"max_points": _SIZE["max_points"]}, {"max_points": max_points})
    y = np.asarray(values, dtype=np.float64).ravel()
    n = y.size
    if n <= max_points:
        return np.arange(n)
    bins = np.arange(n) * (max_points // 5) // n
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    ends = np.r_[starts[1:], n] - 1
    finite = np.isfinite(y)
    low, high = np.where(finite, y, np.inf), np.where(finite, y, -np.inf)

    def first_per_bin(mask: NDArray[np.bool_]) -> NDArray[np.intp]:
        idx = np.flatnonzero(mask)
        return idx[np.r_[True, bins[idx][1:] != bins[idx][:-1]]] if idx.size else idx

    lowest = first_per_bin(low == np.minimum.reduceat(low, starts)[bins])
    highest = first_per_bin(high == np.maximum.reduceat(high, starts)[bins])
    return np.unique(np.concatenate([starts, ends, lowest, highest, first_per_bin(~finite)]))


# ---------------------------------------------------------------------------------------- helpers
@dataclass(frozen=True, slots=True)
class _Frame:
    """The plot area in pixels and the data domain it shows."""

    left: float
    top: float
    right: float
    bottom: float
    x0: float
    x1: float
    y0: float = 0.0
    y1: float = 1.0
    xt: tuple[float, ...] = ()  # the tick values drawn on each axis
    yt: tuple[float, ...] = ()

    def px(self, x: FloatArray) -> FloatArray:
        return self.left + (x - self.x0) / (self.x1 - self.x0) * (self.right - self.left)

    def py(self, y: FloatArray) -> FloatArray:
        return self.bottom - (y - self.y0) / (self.y1 - self.y0) * (self.bottom - self.top)


def _arr(values: ArrayLike, what: str, n: int | None = None) -> FloatArray:
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be numbers. Got {values!r} instead.") from exc
    if a.ndim != 1 or (n is not None and a.size != n):
        want = "a 1-d array" + (f" of length {n} (one value per x)" if n is not None else "")
        raise InputError(f"{what} must be {want}. Got shape {a.shape} instead.")
    return a


def _num(v: float) -> str:
    return f"{v:.1f}"


def _tick_text(v: float, step: float, percent: bool = False) -> str:
    if percent:
        v, step = v * 100, step * 100
    exponent = math.floor(math.log10(step) + 1e-9)
    quarter = abs(step / 10.0**exponent - 2.5) < 1e-6  # a step of 2.5, 0.25, ... needs one more digit
    if abs(v) >= 1e6 or step < 1e-4:  # enough significant digits to tell neighbouring ticks apart
        text = f"{v:.{max(1, math.floor(math.log10(abs(v) or step)) - exponent + 1 + quarter)}g}"
    else:
        text = f"{v:.{max(0, quarter - exponent)}f}"
    text = "0" if float(text) == 0 else text
    return text + ("%" if percent else "")


def _svg(title: str, width: int, height: float, body: list[str], kind: str) -> str:
    t = escape(title or "Chart")
    h = math.ceil(height)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" viewBox="0 0 {width} {h}" width="100%" '
        f'style="max-width:{width}px;height:auto" role="img" aria-label="{t}" '
        f'font-family="system-ui, sans-serif" font-size="{_FONT}"><title>{t}</title>'
        f'<text x="8" y="21" font-size="{_FONT + 2}" font-weight="600" fill="currentColor">{escape(title)}</text>'
        + "".join(body)
        + "</svg>"
    )


def _no_data(title: str, width: int, height: int, kind: str) -> str:
    text = f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle" fill="currentColor" opacity="0.7">'
    return _svg(title, width, height, [text + "No data</text>"], kind)


def _zero_line(f: _Frame, vertical: bool) -> list[str]:
    """A solid line at zero, when zero lies inside the plotted range (lifts: the no-effect line)."""
    lo, hi = (f.x0, f.x1) if vertical else (f.y0, f.y1)
    if not lo <= 0.0 <= hi:
        return []
    if vertical:
        x = _num(float(f.px(np.zeros(1))[0]))
        a, b, c, d = x, x, _num(f.top), _num(f.bottom)
    else:
        y = _num(float(f.py(np.zeros(1))[0]))
        a, b, c, d = _num(f.left), _num(f.right), y, y
    return [
        f'<line class="zero" x1="{a}" x2="{b}" y1="{c}" y2="{d}" stroke="currentColor" stroke-opacity="0.75" '
        'stroke-width="1.2"/>'
    ]


def _x_axis(f: _Frame, label: str, percent: bool = False) -> list[str]:
    ticks = f.xt
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    out = [
        f'<rect class="plot-area" x="{_num(f.left)}" y="{_num(f.top)}" width="{_num(f.right - f.left)}" '
        f'height="{_num(f.bottom - f.top)}" fill="none" stroke="currentColor" stroke-opacity="0.3"/>'
    ]
    for t, x in zip(ticks, f.px(np.array(ticks)), strict=True):
        out.append(
            f'<line x1="{_num(x)}" x2="{_num(x)}" y1="{_num(f.top)}" y2="{_num(f.bottom + 4)}" '
            f'stroke="currentColor" stroke-opacity="0.12"/><text x="{_num(x)}" y="{_num(f.bottom + 18)}" '
            f'text-anchor="middle" fill="currentColor">{_tick_text(t, step, percent)}</text>'
        )
    mid = (f.left + f.right) / 2
    out.append(f'<text x="{_num(mid)}" y="{_num(f.bottom + 36)}" text-anchor="middle" fill="currentColor">')
    return [*out, f"{escape(label)}</text>"]


def _y_axis(f: _Frame, label: str, percent: bool = False) -> list[str]:
    ticks = f.yt
    step = ticks[1] - ticks[0] if len(ticks) > 1 else 1.0
    out = []
    for t, y in zip(ticks, f.py(np.array(ticks)), strict=True):
        out.append(
            f'<line x1="{_num(f.left - 4)}" x2="{_num(f.right)}" y1="{_num(y)}" y2="{_num(y)}" '
            f'stroke="currentColor" stroke-opacity="0.12"/><text x="{_num(f.left - 7)}" y="{_num(y + 4)}" '
            f'text-anchor="end" fill="currentColor">{_tick_text(t, step, percent)}</text>'
        )
    mid = (f.top + f.bottom) / 2
    out.append(f'<text transform="translate(16 {_num(mid)}) rotate(-90)" text-anchor="middle" fill="currentColor">')
    return [*out, f"{escape(label)}</text>"]


def _style(i: int) -> tuple[str, str]:
    dash = _DASHES[(i // len(PALETTE)) % len(_DASHES)]
    return PALETTE[i % len(PALETTE)], f' stroke-dasharray="{dash}"' if dash else ""


def _legend(names: Sequence[str], top: float, width: int, area: bool = False) -> list[str]:
    out, per_row = [], max(1, int((width - _LEFT - _RIGHT) // _LEGEND))
    for i, name in enumerate(names):
        x, y = _LEFT + _LEGEND * (i % per_row), top + 20 * (i // per_row)
        colour, dash = _style(i)
        mark = (
            f'<rect x="{_num(x)}" y="{_num(y - 9)}" width="18" height="10" fill="{colour}"/>'
            if area
            else f'<line x1="{_num(x)}" x2="{_num(x + 18)}" y1="{_num(y - 4)}" y2="{_num(y - 4)}" '
            f'stroke="{colour}" stroke-width="2.5"{dash}/>'
        )
        room = int((_LEGEND - 32) // _CHAR)
        shown = name if len(name) <= room else name[: room - 1] + "\u2026"
        out.append(f'<g>{mark}<text x="{_num(x + 24)}" y="{_num(y)}" fill="currentColor">{escape(shown)}</text></g>')
    return out


def _legend_height(n: int, width: int) -> float:
    return 20.0 * math.ceil(n / max(1, int((width - _LEFT - _RIGHT) // _LEGEND))) if n else 0.0


def _runs(valid: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Half-open ``(start, stop)`` index ranges of consecutive True values."""
    edges = np.diff(np.r_[0, valid.astype(np.int8), 0])
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist(), strict=True))


def _points(px: FloatArray, py: FloatArray) -> str:
    return "L".join(f"{_num(a)} {_num(b)}" for a, b in zip(px, py, strict=True))


def _xy_frame(xs: FloatArray, ys: FloatArray, n_legend: int, title: str, width: int, height: int) -> _Frame:
    """The frame of an x-y chart: nice ticks around the data, room for the title, axis labels and legend."""
    xt, yt = nice_ticks(float(xs.min()), float(xs.max())), nice_ticks(float(ys.min()), float(ys.max()))
    if xs.max() > xs.min() and xt[1] - xt[0] < 1 and bool(np.all(xs == np.round(xs))):  # steps, periods: whole ticks
        xt = [float(v) for v in range(math.floor(xs.min()), math.ceil(xs.max()) + 1)]
    bottom = height - 50 - _legend_height(n_legend, width)
    x0, x1 = min(xt[0], float(xs.min())), max(xt[-1], float(xs.max()))
    y0, y1 = min(yt[0], float(ys.min())), max(yt[-1], float(ys.max()))
    return _Frame(_LEFT, 36.0 if title else 14.0, width - _RIGHT, bottom, x0, x1, y0, y1, tuple(xt), tuple(yt))


# ---------------------------------------------------------------------------------------- charts
def line_chart(
    x: ArrayLike,
    series: Mapping[str, ArrayLike],
    *,
    bands: Mapping[str, tuple[ArrayLike, ArrayLike]] | None = None,
    x_label: str = "",
    y_label: str = "",
    title: str = "",
    width: int = _WIDTH,
    height: int = _HEIGHT,
    max_points: int = 1000,
    y_range: tuple[float, float] | None = None,
    zero_line: bool = False,
) -> str:
    """A line per series over a shared ``x`` (a metric over time, cumulative reward or regret).

    ``bands`` maps a series name to ``(low, high)`` arrays drawn as a shaded band in the series' colour
    (a confidence interval narrowing over time). Non-finite points break the line; a point with no
    neighbour is drawn as a dot. ``y_range`` fixes the y axis and clips values to it (so that the wide
    early intervals of a sequential test do not flatten the rest, and so that charts compared side by
    side share one scale). ``zero_line`` draws a solid line at y = 0 (a lift's no-effect line) and keeps
    zero in the y range (with ``y_range``, only when it lies inside).

    Examples
    --------
    >>> svg = line_chart([1, 2, 3], {"A": [0.10, 0.12, 0.11]}, bands={"A": ([0.0, 0.05, 0.08], [0.2, 0.19, 0.14])},
    ...                  x_label="day", y_label="CTR", title="Click-through rate")
    >>> svg.startswith("<svg") and svg.count("<path") == 2
    True
    """
    validate_params("line_chart", _SIZE, {"width": width, "height": height, "max_points": max_points})
    y_lo, y_hi = (math.nan, math.nan) if y_range is None else (float(y_range[0]), float(y_range[1]))
    if y_range is not None and not (math.isfinite(y_lo) and math.isfinite(y_hi) and y_lo < y_hi):
        raise ParameterError(
            f"The 'y_range' parameter of line_chart must be two finite increasing numbers. Got {y_range!r} instead."
        )
    xs = _arr(x, "x")
    ys = {str(name): _arr(y, f"Series {name!r}", xs.size) for name, y in series.items()}
    bs: dict[str, tuple[FloatArray, FloatArray]] = {}
    for name, (low, high) in (bands or {}).items():
        if name not in ys:
            raise InputError(f"Band {name!r} must name a series, one of {sorted(ys)}. Got {name!r} instead.")
        bs[name] = (_arr(low, f"Band {name!r} low", xs.size), _arr(high, f"Band {name!r} high", xs.size))
    finite_x = np.isfinite(xs)
    ys = {k: np.where(finite_x, v, np.nan) for k, v in ys.items()}
    bs = {k: (np.where(finite_x, lo, np.nan), np.where(finite_x, hi, np.nan)) for k, (lo, hi) in bs.items()}
    arrays = [*ys.values(), *(a for pair in bs.values() for a in pair)]
    has_value = np.isfinite(np.vstack([np.full(xs.size, np.nan), *arrays])).any(axis=0)
    if not has_value.any():
        return _no_data(title, width, height, "line-chart")
    if y_range is not None:
        arrays = [np.array([y_lo, y_hi])]
    elif zero_line:
        arrays.append(np.zeros(1))
    values = np.concatenate(arrays)
    f = _xy_frame(xs[has_value], values[np.isfinite(values)], len(ys), title, width, height)
    if y_range is not None:  # clip to the axis (which may run a little past y_range, to a nice tick)
        ys = {k: np.where(np.isfinite(v), np.clip(v, f.y0, f.y1), np.nan) for k, v in ys.items()}
        bs = {k: (np.clip(lo, f.y0, f.y1), np.clip(hi, f.y0, f.y1)) for k, (lo, hi) in bs.items()}
    body = _x_axis(f, x_label) + _y_axis(f, y_label) + (_zero_line(f, vertical=False) if zero_line else [])
    for i, name in enumerate(ys):
        colour, dash = _style(i)
        if name in bs:
            low, high = bs[name]
            keep = np.union1d(downsample_indices(low, max_points // 2), downsample_indices(high, max_points // 2))
            lo, hi, xk = low[keep], high[keep], xs[keep]
            d = []
            for a, b in _runs(np.isfinite(lo) & np.isfinite(hi)):
                px = f.px(xk[a:b])
                d.append(f"M{_points(px, f.py(hi[a:b]))}L{_points(px[::-1], f.py(lo[a:b][::-1]))}Z")
            body.append(f'<path class="band" d="{"".join(d)}" fill="{colour}" fill-opacity="0.18" stroke="none"/>')
        y = ys[name]
        keep = downsample_indices(y, max_points)
        yk, xk = y[keep], xs[keep]
        runs = _runs(np.isfinite(yk))
        d = [f"M{_points(f.px(xk[a:b]), f.py(yk[a:b]))}" for a, b in runs if b - a > 1]
        body.append(f'<g><title>{escape(name)}</title><path class="series" d="{"".join(d)}" fill="none" ')
        body.append(f'stroke="{colour}" stroke-width="2" stroke-linejoin="round"{dash}/>')
        for a, _ in (r for r in runs if r[1] - r[0] == 1):
            cx, cy = float(f.px(xk[a : a + 1])[0]), float(f.py(yk[a : a + 1])[0])
            body.append(f'<circle cx="{_num(cx)}" cy="{_num(cy)}" r="3" fill="{colour}"/>')
        body.append("</g>")
    return _svg(title, width, height, body + _legend(list(ys), f.bottom + 62, width), "line-chart")


def stacked_area_chart(
    x: ArrayLike,
    series: Mapping[str, ArrayLike],
    *,
    x_label: str = "",
    y_label: str = "share",
    title: str = "",
    width: int = _WIDTH,
    height: int = _HEIGHT,
    max_points: int = 1000,
) -> str:
    """Shares stacked over ``x`` (allocation weights over time); the y axis is in percent.

    An ``x`` where the x value or any share is not finite leaves a gap in every layer.

    Examples
    --------
    >>> svg = stacked_area_chart([0, 1, 2], {"A": [0.5, 0.6, 0.8], "B": [0.5, 0.4, 0.2]}, title="Allocation")
    >>> svg.count('class="layer"')
    2
    """
    validate_params("stacked_area_chart", _SIZE, {"width": width, "height": height, "max_points": max_points})
    xs = _arr(x, "x")
    ys = {str(name): _arr(y, f"Series {name!r}", xs.size) for name, y in series.items()}
    if not ys:
        return _no_data(title, width, height, "area-chart")
    shares = np.vstack(list(ys.values()))
    valid = np.isfinite(xs) & np.isfinite(shares).all(axis=0)
    if not valid.any():
        return _no_data(title, width, height, "area-chart")
    budget = max(10, max_points // len(ys))
    keep = np.unique(np.concatenate([downsample_indices(np.where(valid, s, np.nan), budget) for s in shares]))
    xk, cum, ok = xs[keep], np.vstack([np.zeros(keep.size), np.cumsum(shares[:, keep], axis=0)]), valid[keep]
    top = max(1.0, float(cum[:, ok].max()))
    f = _xy_frame(xk[ok], np.array([min(0.0, float(cum[:, ok].min())), top]), len(ys), title, width, height)
    body = _x_axis(f, x_label) + _y_axis(f, y_label, percent=True)
    for i, name in enumerate(ys):
        colour, _ = _style(i)
        d, bars = [], []
        for a, b in _runs(ok):
            px, upper, lower = f.px(xk[a:b]), f.py(cum[i + 1, a:b]), f.py(cum[i, a:b])
            if b - a == 1:
                bars.append(
                    f'<line x1="{_num(px[0])}" x2="{_num(px[0])}" y1="{_num(lower[0])}" y2="{_num(upper[0])}" '
                    f'stroke="{colour}" stroke-width="4"/>'
                )
            else:
                d.append(f"M{_points(px, upper)}L{_points(px[::-1], lower[::-1])}Z")
        body.append(f'<g><title>{escape(name)}</title><path class="layer" d="{"".join(d)}" fill="{colour}" ')
        body.append(f'fill-opacity="0.85" stroke="none"/>{"".join(bars)}</g>')
    return _svg(title, width, height, body + _legend(list(ys), f.bottom + 62, width, area=True), "area-chart")


def _rows_frame(labels: Sequence[str], values: FloatArray, title: str, width: int) -> tuple[_Frame, float, list[str]]:
    """Frame, height and row labels of a chart with one horizontal row per label."""
    left = min(max(_CHAR * max(len(s) for s in labels) + 18, 90.0), 0.4 * width)
    top = 36.0 if title else 14.0
    ticks = nice_ticks(float(values.min()), float(values.max()))
    x0, x1 = min(ticks[0], float(values.min())), max(ticks[-1], float(values.max()))
    f = _Frame(left, top, width - 3 * _RIGHT, top + _ROW * len(labels), x0, x1, xt=tuple(ticks))
    out = []
    room = int((left - 18) / _CHAR)
    for i, label in enumerate(labels):
        shown = label if len(label) <= room else label[: room - 1] + "\u2026"
        out.append(
            f'<text x="{_num(left - 8)}" y="{_num(top + _ROW * (i + 0.5) + 4)}" text-anchor="end" '
            f'fill="currentColor"><title>{escape(label)}</title>{escape(shown)}</text>'
        )
    return f, f.bottom + 46, out


def _diamond(cx: float, cy: float, colour: str) -> str:
    return (
        f'<path class="marker" d="M{_num(cx)} {_num(cy - 6)}l6 6l-6 6l-6 -6Z" fill="none" stroke="{colour}" '
        'stroke-width="2"/>'
    )


def interval_chart(
    labels: Sequence[str],
    estimates: ArrayLike,
    lows: ArrayLike,
    highs: ArrayLike,
    *,
    reference: float | None = 0.0,
    zero_line: bool = True,
    markers: ArrayLike | None = None,
    marker_label: str = "",
    x_label: str = "",
    title: str = "",
    width: int = _WIDTH,
) -> str:
    """A forest plot: one row per label with its estimate (dot) and interval (line).

    ``reference`` draws a dashed vertical line (zero lift, or a ground truth); None leaves it out.
    ``zero_line`` keeps zero on the axis and marks it with a solid line (the dashed reference line when
    ``reference`` is 0), so that an interval's distance from zero reads at a glance. ``markers`` adds one
    hollow diamond per row (e.g. the value observed online next to an offline estimate), named in a
    legend by ``marker_label``. An infinite bound runs to the edge of the plot; a NaN estimate, bound or
    marker is left out of its row.

    Examples
    --------
    >>> svg = interval_chart(["B vs A", "C vs A"], [0.02, -0.01], [0.005, -0.03], [0.035, 0.01], x_label="lift")
    >>> svg.count("<circle"), 'class="reference zero"' in svg
    (2, True)
    """
    validate_params("interval_chart", {"width": _SIZE["width"]}, {"width": width})
    names = [str(s) for s in labels]
    n = len(names)
    est, lo, hi = _arr(estimates, "estimates", n), _arr(lows, "lows", n), _arr(highs, "highs", n)
    marks = None if markers is None else _arr(markers, "markers", n)
    ref = np.array([] if reference is None else [reference], dtype=np.float64)
    extra = [np.zeros(1)] if zero_line else []
    values = np.concatenate([est, lo, hi, ref, *([] if marks is None else [marks]), *extra])
    values = values[np.isfinite(values)]
    if not names or values.size == 0:
        return _no_data(title, width, 200, "interval-chart")
    f, height, body = _rows_frame(names, values, title, width)
    lines = [v for v in (*ref.tolist(), *([0.0] if zero_line else [])) if math.isfinite(v)]
    margin = 0.03 * (f.x1 - f.x0)  # a reference line on the plot's edge would hide in its frame: move it in
    f = replace(f, x0=f.x0 - margin * (f.x0 in lines), x1=f.x1 + margin * (f.x1 in lines))
    body += _x_axis(f, x_label)
    reference_is_zero = bool(ref.size) and reference == 0.0
    if zero_line and not reference_is_zero:
        body += _zero_line(f, vertical=True)
    if ref.size and math.isfinite(reference or 0.0):
        rx = _num(float(f.px(ref)[0]))
        kind = "reference zero" if reference_is_zero and zero_line else "reference"
        body.append(
            f'<line class="{kind}" x1="{rx}" x2="{rx}" y1="{_num(f.top)}" y2="{_num(f.bottom)}" '
            f'stroke="currentColor" stroke-dasharray="4 3" stroke-opacity="0.8"/>'
        )
    clip_lo, clip_hi = np.clip(lo, f.x0, f.x1), np.clip(hi, f.x0, f.x1)
    px_lo, px_hi, px_est = f.px(clip_lo), f.px(clip_hi), f.px(est)
    for i in range(len(names)):
        cy = _num(f.top + _ROW * (i + 0.5))
        if np.isfinite(px_lo[i]) and np.isfinite(px_hi[i]):
            body.append(
                f'<line x1="{_num(px_lo[i])}" x2="{_num(px_hi[i])}" y1="{cy}" y2="{cy}" '
                f'stroke="{PALETTE[0]}" stroke-width="2.5"/>'
            )
            for bound, edge, sign in ((lo[i], f.left, 1), (hi[i], f.right, -1)):
                if np.isinf(bound):  # an unbounded side ends in an arrowhead at the edge of the plot
                    body.append(f'<path d="M{_num(edge)} {cy}l{8 * sign} -5v10Z" fill="{PALETTE[0]}"/>')
        if np.isfinite(px_est[i]):
            body.append(f'<circle cx="{_num(px_est[i])}" cy="{cy}" r="4.5" fill="{PALETTE[0]}"/>')
        if marks is not None and np.isfinite(marks[i]):
            body.append(_diamond(float(f.px(marks[i : i + 1])[0]), f.top + _ROW * (i + 0.5), PALETTE[5]))
    if marks is not None:
        y = f.bottom + 62
        body.append(
            f'<g class="legend"><circle cx="{_num(f.left + 6)}" cy="{_num(y - 4.5)}" r="4.5" fill="{PALETTE[0]}"/>'
            f'<text x="{_num(f.left + 18)}" y="{_num(y)}" fill="currentColor">estimate and interval</text>'
            f'{_diamond(f.left + _LEGEND + 6, y - 4.5, PALETTE[5])}<text x="{_num(f.left + _LEGEND + 18)}" '
            f'y="{_num(y)}" fill="currentColor">{escape(marker_label)}</text></g>'
        )
        height += 24
    return _svg(title, width, height, body, "interval-chart")


def bar_chart(
    labels: Sequence[str], values: ArrayLike, *, x_label: str = "", title: str = "", width: int = _WIDTH
) -> str:
    """Horizontal bars from zero, one per label, each with its value printed (4 significant digits).

    Examples
    --------
    >>> svg = bar_chart(["A", "B"], [120, 95], x_label="conversions")
    >>> svg.count('class="bar"')
    2
    """
    validate_params("bar_chart", {"width": _SIZE["width"]}, {"width": width})
    names = [str(s) for s in labels]
    v = _arr(values, "values", len(names))
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return _no_data(title, width, 200, "bar-chart")
    f, height, body = _rows_frame(names, np.r_[finite, 0.0], title, width)
    body += _x_axis(f, x_label)
    zero = float(f.px(np.zeros(1))[0])
    ends = f.px(v)
    for i in range(len(names)):
        y = f.top + _ROW * (i + 0.5)
        if not np.isfinite(ends[i]):
            body.append(f'<text x="{_num(zero + 4)}" y="{_num(y + 4)}" fill="currentColor">n/a</text>')
            continue
        a, b = min(zero, ends[i]), max(zero, ends[i])
        body.append(
            f'<rect class="bar" x="{_num(a)}" y="{_num(y - 8)}" width="{_num(b - a)}" height="16" '
            f'fill="{PALETTE[0]}"/><text x="{_num(b + 4 if v[i] >= 0 else a - 4)}" y="{_num(y + 4)}" '
            f'text-anchor="{"start" if v[i] >= 0 else "end"}" fill="currentColor">{float(v[i]):.4g}</text>'
        )
    return _svg(title, width, height, body, "bar-chart")
