"""``build_report``: the study's report as HTML, Markdown, Word and figure files."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from engine.report.data import ReportData, load_report_data
from engine.report.document import build_blocks
from engine.report.render import figures, to_html, to_markdown
from engine.report.word import to_docx

# The one list of report documents, in the order they are written and announced.
REPORT_FILES = ("report.html", "report.md", "report.docx")


@dataclass(frozen=True)
class Report:
    html: str
    markdown: str
    docx: bytes
    figures: dict[str, bytes]  # figures/<name>.png|svg|pdf

    def documents(self) -> dict[str, bytes]:
        """The three documents by file name (:data:`REPORT_FILES`)."""
        return dict(zip(REPORT_FILES, (self.html.encode("utf-8"),
                                       self.markdown.encode("utf-8"), self.docx),
                        strict=True))

    def files(self) -> dict[str, bytes]:
        """The report as files to write: the documents and ``figures/``."""
        return {**self.documents(),
                **{f"figures/{name}": content for name, content in self.figures.items()}}


_RENDERING = threading.Lock()  # matplotlib's object API, one report at a time per process


def render_report(data: ReportData, now: datetime, templates: Path | None = None) -> Report:
    """The report from data already read: pure CPU work (figures, HTML, Markdown, Word),
    so a caller runs it outside its database transaction (and off the event loop)."""
    with _RENDERING:
        blocks = build_blocks(data)
        return Report(html=to_html(data.title, blocks, templates),
                      markdown=to_markdown(blocks, templates),
                      docx=to_docx(data.title, blocks, now), figures=figures(blocks))


async def build_report(session: AsyncSession, study_id: str, now: datetime,
                       templates: Path | None = None) -> Report:
    """``templates``: the team's own template folder (see :mod:`engine.report.render`)."""
    return render_report(await load_report_data(session, study_id, now), now, templates)
