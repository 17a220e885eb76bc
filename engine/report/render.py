"""One report, two renderings: a self-contained HTML file and its Markdown twin.

The report is built once as a list of neutral blocks (:class:`Block`); the renderers
here only format them, so the two files always say the same thing. All text is escaped:
statement wordings and comments are user input.

HTML: one file, CSS inline, images as ``data:`` URIs, no script, no external URL, so it
opens offline and can be archived with the paper. Markdown: images referenced as files
under ``figures/`` (written next to it by ``delphi report``).
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field

CSS = """
body{font-family:Georgia,'Times New Roman',serif;max-width:1100px;margin:2em auto;
padding:0 1.5em;color:#212121;line-height:1.45;background:#fff}
h1{font-size:1.7em;border-bottom:2px solid #37474f;padding-bottom:.3em}
h2{font-size:1.35em;margin-top:2em;border-bottom:1px solid #b0bec5;padding-bottom:.2em}
h3{font-size:1.1em;margin-top:1.4em}
table{border-collapse:collapse;margin:.8em 0;font-family:Helvetica,Arial,sans-serif;
font-size:.85em}
th,td{border:1px solid #cfd8dc;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#eceff1}
caption{caption-side:top;text-align:left;font-weight:bold;padding:.3em 0}
figure{margin:1em 0}
figcaption{font-size:.85em;color:#455a64}
img{max-width:100%;height:auto}
article.statement{border-left:4px solid #90a4ae;padding:.2em .9em;margin:.8em 0}
article.recommendations{border-color:#2e7d32}
article.rejected{border-color:#c62828}
article.uncertainty{border-color:#f9a825}
article.dropped{border-color:#757575}
blockquote{margin:.3em 0 .3em 1em;padding-left:.7em;border-left:3px solid #cfd8dc;
color:#37474f}
.note{font-size:.85em;color:#546e7a}
nav ol{columns:2}
"""


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str | None = None


@dataclass(frozen=True)
class Paragraph:
    text: str
    note: bool = False


@dataclass(frozen=True)
class Bullets:
    items: list[str]


@dataclass(frozen=True)
class Quote:
    text: str


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    caption: str | None = None


@dataclass(frozen=True)
class Image:
    name: str  # file name under figures/
    png: bytes
    alt: str
    caption: str | None = None


@dataclass(frozen=True)
class Contents:
    entries: list[tuple[str, str]]  # (anchor, title)


@dataclass
class Group:
    """A statement in its results section: ``kind`` = the section it belongs to."""

    code: str
    kind: str
    blocks: list[Block] = field(default_factory=list)


Block = Heading | Paragraph | Bullets | Quote | Table | Image | Contents | Group


# --- HTML ---------------------------------------------------------------------------

def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _html_block(block: Block) -> str:
    if isinstance(block, Heading):
        anchor = f' id="{_e(block.anchor)}"' if block.anchor else ""
        return f"<h{block.level}{anchor}>{_e(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        cls = ' class="note"' if block.note else ""
        return f"<p{cls}>{_e(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{_e(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Quote):
        return f"<blockquote>{_e(block.text)}</blockquote>"
    if isinstance(block, Table):
        caption = f"<caption>{_e(block.caption)}</caption>" if block.caption else ""
        head = "".join(f"<th>{_e(h)}</th>" for h in block.header)
        body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>"
                       for row in block.rows)
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if isinstance(block, Image):
        data = base64.b64encode(block.png).decode("ascii")
        caption = f"<figcaption>{_e(block.caption)}</figcaption>" if block.caption else ""
        return (f'<figure><img alt="{_e(block.alt)}" src="data:image/png;base64,{data}">'
                f"{caption}</figure>")
    if isinstance(block, Contents):
        items = "".join(f'<li><a href="#{_e(a)}">{_e(t)}</a></li>' for a, t in block.entries)
        return f"<nav><ol>{items}</ol></nav>"
    inner = "\n".join(_html_block(b) for b in block.blocks)
    return (f'<article class="statement {_e(block.kind)}" data-statement="{_e(block.code)}" '
            f'data-section="{_e(block.kind)}">\n{inner}\n</article>')


def to_html(title: str, blocks: list[Block]) -> str:
    body = "\n".join(_html_block(b) for b in blocks)
    return ("<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            f"{body}\n</body>\n</html>\n")


# --- Markdown -----------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|!])")


def _m(text: str) -> str:
    """Escape Markdown (and inline HTML) so user text is shown literally."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _md_block(block: Block) -> str:
    if isinstance(block, Heading):
        anchor = f' {{#{block.anchor}}}' if block.anchor else ""
        return f"{'#' * block.level} {_m(block.text)}{anchor}"
    if isinstance(block, Paragraph):
        return f"*{_m(block.text)}*" if block.note else _m(block.text)
    if isinstance(block, Bullets):
        return "\n".join(f"- {_m(i)}" for i in block.items)
    if isinstance(block, Quote):
        return f"> {_m(block.text)}"
    if isinstance(block, Table):
        lines = [f"**{_m(block.caption)}**", ""] if block.caption else []
        lines.append("| " + " | ".join(_m(h) for h in block.header) + " |")
        lines.append("|" + "---|" * len(block.header))
        lines += ["| " + " | ".join(_m(c) for c in row) + " |" for row in block.rows]
        return "\n".join(lines)
    if isinstance(block, Image):
        caption = f"\n\n*{_m(block.caption)}*" if block.caption else ""
        return f"![{_m(block.alt)}](figures/{block.name}){caption}"
    if isinstance(block, Contents):
        return "\n".join(f"{i}. [{_m(t)}](#{a})" for i, (a, t) in
                         enumerate(block.entries, start=1))
    inner = "\n\n".join(_md_block(b) for b in block.blocks)
    return f"<!-- statement {block.code}: {block.kind} -->\n{inner}"


def to_markdown(blocks: list[Block]) -> str:
    return "\n\n".join(_md_block(b) for b in blocks) + "\n"


def figures(blocks: list[Block]) -> dict[str, bytes]:
    """Every image of the report by file name, for the Markdown twin's ``figures/``."""
    out: dict[str, bytes] = {}
    for block in blocks:
        if isinstance(block, Image):
            out[block.name] = block.png
        elif isinstance(block, Group):
            out.update(figures(block.blocks))
    return out
