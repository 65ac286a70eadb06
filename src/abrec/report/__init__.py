"""Offline HTML reports of A/B tests and off-policy evaluation: one file, inline CSS and SVG, no script.

Every report reads top-down: a conclusion in words with the key interval (:func:`readout_conclusion`,
:func:`evaluation_conclusion`), then the readout, then the evidence, then the settings and metadata.
:class:`Report` builds the page (conclusion, headings, paragraphs, formatted tables, key-value lists, notes,
figures); :mod:`abrec.report.svg` draws the figures: :func:`line_chart` (metrics over time, with
confidence bands), :func:`stacked_area_chart` (allocation shares), :func:`interval_chart` (a forest plot
of lifts or OPE estimates) and :func:`bar_chart`.
"""

from __future__ import annotations

from .conclusion import Conclusion, evaluation_conclusion, readout_conclusion
from .html import Report
from .svg import PALETTE, bar_chart, downsample_indices, interval_chart, line_chart, nice_ticks, stacked_area_chart

__all__ = [
    "Conclusion",
    "PALETTE",
    "Report",
    "bar_chart",
    "downsample_indices",
    "evaluation_conclusion",
    "interval_chart",
    "line_chart",
    "nice_ticks",
    "readout_conclusion",
    "stacked_area_chart",
]
