"""One report, several renderings: a self-contained HTML file, its Markdown twin (both
from Jinja2 templates) and a Word document (:mod:`engine.report.docx`).

The report is built once as a list of neutral blocks (:class:`Block`); the renderers only
format them, so the files always say the same thing. Statement wordings and comments are
user input: the HTML template autoescapes, the Markdown filter escapes.

A research team restyles the HTML (logo, fonts, journal style) without touching Python:
a templates directory (``[report] templates`` in config.toml or ``delphi report
--templates DIR``) may hold any of ``report.html.j2``, ``blocks.html.j2``, ``report.css``
and ``report.md.j2``; missing ones fall back to the built-in templates, which stay
reachable as ``builtin/<name>`` so a custom template can ``{% extends %}`` them.

HTML: one file, CSS inline, figures as SVG ``data:`` URIs, no script, no external URL,
so it opens offline and can be archived with the paper. Markdown: figures referenced as
files under ``figures/`` (written next to it by ``delphi report``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    PrefixLoader,
    StrictUndefined,
    select_autoescape,
)

from engine.report.figure import Figure

BUILTIN = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Heading:
    kind: ClassVar[str] = "heading"
    level: int
    text: str
    anchor: str | None = None


@dataclass(frozen=True)
class Paragraph:
    kind: ClassVar[str] = "paragraph"
    text: str
    note: bool = False


@dataclass(frozen=True)
class Bullets:
    kind: ClassVar[str] = "bullets"
    items: list[str]


@dataclass(frozen=True)
class Quote:
    kind: ClassVar[str] = "quote"
    text: str


@dataclass(frozen=True)
class Preformatted:
    """Text whose line breaks and spacing matter (a chat card as it was sent)."""

    kind: ClassVar[str] = "pre"
    text: str


@dataclass(frozen=True)
class Link:
    """A cell that points to a section of the report (``#anchor``)."""

    text: str
    anchor: str


Cell = str | Link


@dataclass(frozen=True)
class Table:
    kind: ClassVar[str] = "table"
    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    caption: str | None = None
    anchor: str | None = None
    numeric_from: int | None = None  # columns from this index on hold short numbers
    text_column: int | None = None  # a column of long text (given a readable width)

    def cell_class(self, index: int) -> str:
        if self.numeric_from is not None and index >= self.numeric_from:
            return "num"
        return "text" if index == self.text_column else ""


@dataclass(frozen=True)
class Image:
    kind: ClassVar[str] = "image"
    name: str  # file stem under figures/: <name>.png, <name>.svg, <name>.pdf
    figure: Figure
    alt: str
    caption: str | None = None
    anchor: str | None = None

    @property
    def svg_uri(self) -> str:
        return "data:image/svg+xml;base64," + base64.b64encode(self.figure.svg).decode("ascii")


@dataclass(frozen=True)
class Contents:
    kind: ClassVar[str] = "contents"
    entries: list[tuple[str, str]]  # (anchor, title)


@dataclass
class Group:
    """A statement in its results section: ``section`` = the section it belongs to."""

    kind: ClassVar[str] = "group"
    code: str
    section: str
    blocks: list[Block] = field(default_factory=list)


Block = (Heading | Paragraph | Bullets | Quote | Preformatted | Table | Image | Contents
         | Group)

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|!])")


def markdown_escape(text: str) -> str:
    """Escape Markdown (and inline HTML) so user text is shown literally."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def environment(templates: Path | None = None) -> Environment:
    """The template environment: the team's directory first, then the built-in one."""
    builtin = PackageLoader("engine.report", "templates")
    loaders = [FileSystemLoader(str(templates))] if templates else []
    env = Environment(
        loader=ChoiceLoader([*loaders, builtin, PrefixLoader({"builtin": builtin})]),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"),
                                     default_for_string=False, default=False),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True)
    env.filters["md"] = markdown_escape
    env.tests["link"] = lambda value: isinstance(value, Link)
    return env


def to_html(title: str, blocks: list[Block], templates: Path | None = None) -> str:
    return environment(templates).get_template("report.html.j2").render(
        title=title, blocks=blocks)


def to_markdown(blocks: list[Block], templates: Path | None = None) -> str:
    text = environment(templates).get_template("report.md.j2").render(blocks=blocks)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def images(blocks: list[Block]) -> list[Image]:
    """Every figure of the report, in order."""
    out: list[Image] = []
    for block in blocks:
        if isinstance(block, Image):
            out.append(block)
        elif isinstance(block, Group):
            out += images(block.blocks)
    return out


def figures(blocks: list[Block]) -> dict[str, bytes]:
    """Every figure file by name (PNG 300 dpi, SVG and PDF twins) for ``figures/``."""
    out: dict[str, bytes] = {}
    for image in images(blocks):
        out[f"{image.name}.png"] = image.figure.png
        out[f"{image.name}.svg"] = image.figure.svg
        out[f"{image.name}.pdf"] = image.figure.pdf
    return out
