"""Checks shared by the report tests: identities, HTML well-formedness, sections."""

from __future__ import annotations

import io
import zipfile
from html.parser import HTMLParser

from sqlalchemy import select

from engine.db import Store
from engine.models import Identity

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


async def identity_strings(store: Store) -> set[str]:
    """Every stored display name, username, platform user id and chat id."""
    async with store.transaction() as session:
        rows = (await session.execute(select(Identity.display_name, Identity.username,
                                             Identity.user_id, Identity.chat_id))).all()
    return {value for row in rows for value in row if value}


def xlsx_text(content: bytes) -> str:
    """All the XML inside a workbook (cell strings live in sharedStrings / sheets)."""
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        return "\n".join(book.read(name).decode("utf-8") for name in book.namelist()
                         if name.endswith(".xml"))


class Structure(HTMLParser):
    """Balanced tags, external references and the statements' sections of a report."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.references: list[str] = []
        self.sections: list[tuple[str, str]] = []
        self.doctype = ""
        self.tags: set[str] = set()

    def handle_decl(self, decl: str) -> None:
        self.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        for name in ("src", "href", "action", "poster", "data"):
            if values.get(name):
                self.references.append(str(values[name]))
        if "style" in values and "url(" in str(values["style"]):
            self.problems.append(f"url() in a style attribute of <{tag}>")
        if tag == "article" and values.get("data-statement"):
            self.sections.append((str(values["data-statement"]),
                                  str(values.get("data-section"))))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.stack.pop()

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> does not close <{self.stack[-1:] or 'nothing'}>")
            return
        self.stack.pop()


def parse(html: str) -> Structure:
    parser = Structure()
    parser.feed(html)
    parser.close()
    if parser.stack:
        parser.problems.append(f"unclosed {parser.stack}")
    return parser
