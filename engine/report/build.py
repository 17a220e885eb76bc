"""``build_report``: the study's report as HTML, Markdown and figure files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from engine.report.data import load_report_data
from engine.report.document import build_blocks
from engine.report.render import figures, to_html, to_markdown


@dataclass(frozen=True)
class Report:
    html: str
    markdown: str
    figures: dict[str, bytes]  # for the Markdown twin: figures/<name>

    def files(self) -> dict[str, bytes]:
        """The report as files to write: the HTML, its Markdown twin and the figures."""
        return {"report.html": self.html.encode("utf-8"),
                "report.md": self.markdown.encode("utf-8"),
                **{f"figures/{name}": png for name, png in self.figures.items()}}


async def build_report(session: AsyncSession, study_id: str, now: datetime) -> Report:
    data = await load_report_data(session, study_id, now)
    blocks = build_blocks(data)
    return Report(html=to_html(data.title, blocks), markdown=to_markdown(blocks),
                  figures=figures(blocks))
