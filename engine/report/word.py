"""``report.docx``: the report's blocks as a Word document (python-docx).

Real Word tables (Table 1, Table 2, the checklists) and the figures with their captions,
so the authors paste them into the manuscript and the supplement. Wide tables get a
landscape page. Zip member times are set to the report's generation time, so the same
data gives the same bytes.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from datetime import datetime

from docx import Document
from docx.document import Document as DocumentType
from docx.enum.section import WD_ORIENT, WD_SECTION
from docx.shared import Cm, Pt

from engine.report.render import (
    Block,
    Bullets,
    Contents,
    Heading,
    Image,
    Link,
    Paragraph,
    Preformatted,
    Quote,
    Table,
)

WIDE = 8  # tables with more columns than this get a landscape page
TEXT_WIDTH = Cm(16)
MAX_HEIGHT = Cm(21)


def _orientation(doc: DocumentType, landscape: bool) -> None:
    current = doc.sections[-1]
    if (current.orientation == WD_ORIENT.LANDSCAPE) == landscape:
        return
    section = doc.add_section(WD_SECTION.NEW_PAGE)
    width, height = current.page_width, current.page_height
    section.orientation = WD_ORIENT.LANDSCAPE if landscape else WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = height, width


def _table(doc: DocumentType, block: Table) -> None:
    wide = len(block.header) > WIDE
    if wide:
        _orientation(doc, landscape=True)
    if block.caption:
        doc.add_paragraph(block.caption, style="Caption")
    table = doc.add_table(rows=1 + len(block.rows), cols=len(block.header))
    table.style = "Table Grid"
    contents: list[Sequence[str | Link]] = [block.header, *block.rows]
    for index, (row, values) in enumerate(zip(table.rows, contents, strict=True)):
        for cell, value in zip(row.cells, values, strict=True):
            text = value.text if isinstance(value, Link) else value
            run = cell.paragraphs[0].add_run(text)
            run.font.size = Pt(7 if wide else 8)
            run.bold = index == 0
    if wide:
        _orientation(doc, landscape=False)


def _image(doc: DocumentType, block: Image) -> None:
    from PIL import Image as PILImage

    with PILImage.open(io.BytesIO(block.figure.png)) as picture:
        width, height = picture.size
    if TEXT_WIDTH * height / width > MAX_HEIGHT:
        doc.add_picture(io.BytesIO(block.figure.png), height=MAX_HEIGHT)
    else:
        doc.add_picture(io.BytesIO(block.figure.png), width=TEXT_WIDTH)
    if block.caption:
        doc.add_paragraph(block.caption, style="Caption")


def _block(doc: DocumentType, block: Block) -> None:
    if isinstance(block, Heading):
        doc.add_heading(block.text, level=min(max(block.level - 1, 0), 9))
    elif isinstance(block, Paragraph):
        paragraph = doc.add_paragraph()
        run = paragraph.add_run(block.text)
        if block.note:
            run.italic = True
            run.font.size = Pt(9)
    elif isinstance(block, Bullets):
        for item in block.items:
            doc.add_paragraph(item, style="List Bullet")
    elif isinstance(block, Quote):
        doc.add_paragraph(block.text, style="Quote")
    elif isinstance(block, Preformatted):
        run = doc.add_paragraph().add_run(block.text)
        run.font.name = "Courier New"
        run.font.size = Pt(8)
    elif isinstance(block, Table):
        _table(doc, block)
    elif isinstance(block, Image):
        _image(doc, block)
    elif isinstance(block, Contents):
        doc.add_paragraph("Sections: " + "; ".join(title for _, title in block.entries)
                          + ". (In Word: References > Table of Contents builds a linked "
                          "one.)", style="Normal")
    else:
        for inner in block.blocks:
            _block(doc, inner)


def _stable_zip(content: bytes, moment: datetime) -> bytes:
    """The same package with every member dated ``moment`` and in a fixed order."""
    stamp = (max(moment.year, 1980), moment.month, moment.day, moment.hour, moment.minute,
             moment.second)
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(info, source.read(name))
    return out.getvalue()


def to_docx(title: str, blocks: list[Block], now: datetime) -> bytes:
    doc = Document()
    doc.styles["Normal"].font.size = Pt(10)
    properties = doc.core_properties
    properties.title = title
    properties.author = properties.last_modified_by = "delphi"
    properties.created = properties.modified = now.replace(tzinfo=None)
    properties.revision = 1
    for block in blocks:
        _block(doc, block)
    buffer = io.BytesIO()
    doc.save(buffer)
    return _stable_zip(buffer.getvalue(), now)
