"""The study's output: the publication report, its charts, and comment moderation.

One module per job: :mod:`engine.report.data` gathers everything from the database
(pseudonyms only), :mod:`engine.report.panel` the panel for Table 1,
:mod:`engine.report.charts` draws the figures (matplotlib, Agg; PNG 300 dpi, SVG, PDF),
:mod:`engine.report.document` builds the report as neutral blocks (with
:mod:`engine.report.tables` for Tables 1 and 2), which :mod:`engine.report.render` turns
into one self-contained HTML file and a Markdown twin through Jinja2 templates (a team may
override them) and :mod:`engine.report.word` into ``report.docx``;
:mod:`engine.report.checklist` maps ACCORD / CREDES / DELPHISTAR items onto the report,
:mod:`engine.report.moderation` lists and hides comments, and
:mod:`engine.report.feedback_chart` draws the in-chat image of a round.

The report's names are imported on first use: the running bot (moderation, the chat
chart) should not pay at start-up for Jinja2 and python-docx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.report.build import REPORT_FILES, Report, build_report, render_report

__all__ = ["REPORT_FILES", "Report", "build_report", "render_report"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module("engine.report.build"), name)
