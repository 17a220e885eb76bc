"""The study's output: the publication report, its charts, and comment moderation.

One module per job: :mod:`engine.report.data` gathers everything from the database
(pseudonyms only), :mod:`engine.report.charts` draws the figures (matplotlib, Agg),
:mod:`engine.report.document` builds the report as neutral blocks, which
:mod:`engine.report.render` turns into one self-contained HTML file and a Markdown twin,
:mod:`engine.report.checklist` maps ACCORD / CREDES / DELPHISTAR items onto the report,
:mod:`engine.report.moderation` lists and hides comments, and
:mod:`engine.report.feedback_chart` draws the in-chat image of a round.
"""

from __future__ import annotations

from engine.report.build import REPORT_FILES, Report, build_report, render_report

__all__ = ["REPORT_FILES", "Report", "build_report", "render_report"]
