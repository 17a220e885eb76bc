"""Entity parsing for the Telegram fake: HTML, MarkdownV2 and legacy Markdown.

The bot escapes statement texts written by study organisers and panel members; one missed
``.`` in MarkdownV2 or a bare ``<`` in HTML makes the real Bot API reject the whole message
with "Bad Request: can't parse entities: ...". The fake must reject the same inputs, so this
module re-implements the documented parsing rules (https://core.telegram.org/bots/api#formatting-options)
closely enough to catch escaping bugs, and yields what a human would see: the plain text plus
``MessageEntity`` dicts with UTF-16 offsets, trimmed the way Telegram trims message text.

It is written from the Bot API documentation and observed error texts, not from any library.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Entity = dict[str, Any]

#: Telegram trims these from both ends of a message text before measuring it.
_TRIMMED = " \t\r\n\v\f"

_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")

_HTML_SIMPLE_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}
_HTML_TAGS = frozenset({*_HTML_SIMPLE_TAGS, "a", "span", "blockquote", "tg-emoji"})
_HTML_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_SPECIAL_RE = re.compile(r"[&<]")
_HTML_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});")
_BOT_COMMAND_RE = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,64})?(?![\w@/])")


class EntityParseError(ValueError):
    """The text is not well-formed in its parse mode; ``str()`` is Telegram's reason."""


@dataclass(frozen=True)
class FormattedText:
    """What the recipient sees: the text after parsing, and its entities (UTF-16 offsets)."""

    text: str
    entities: tuple[Entity, ...] = ()

    def entities_list(self) -> list[Entity]:
        """The entities as a fresh JSON-ready list."""
        return [dict(entity) for entity in self.entities]


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text) + sum(1 for char in text if ord(char) > 0xFFFF)


def _byte_offset(text: str, index: int) -> int:
    """Telegram reports parse errors at UTF-8 byte offsets of the source text."""
    return len(text[:index].encode("utf-8"))


@dataclass
class _Output:
    """Accumulates visible text and entities while a parser walks its source."""

    parts: list[str] = field(default_factory=list)
    offset: int = 0  # UTF-16 units written so far
    entities: list[Entity] = field(default_factory=list)

    def write(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.offset += utf16_len(chunk)

    def add_entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.offset > start:
            self.entities.append({"type": kind, "offset": start, "length": self.offset - start,
                                  **extra})

    def result(self) -> FormattedText:
        return trim(FormattedText("".join(self.parts), tuple(self.entities)))


def trim(formatted: FormattedText) -> FormattedText:
    """Strip surrounding whitespace like Telegram does, shifting and clipping entities."""
    text = formatted.text
    stripped = text.strip(_TRIMMED)
    if stripped == text:
        return formatted
    lead = utf16_len(text[: len(text) - len(text.lstrip(_TRIMMED))])
    size = utf16_len(stripped)
    entities: list[Entity] = []
    for entity in formatted.entities:
        start = max(entity["offset"] - lead, 0)
        end = min(entity["offset"] + entity["length"] - lead, size)
        if end > start:
            entities.append({**entity, "offset": start, "length": end - start})
    return FormattedText(stripped, tuple(entities))


def _sorted(entities: list[Entity]) -> list[Entity]:
    return sorted(entities, key=lambda entity: (entity["offset"], -entity["length"]))


# --------------------------------------------------------------------------------------- HTML


@dataclass
class _OpenTag:
    name: str
    start: int  # UTF-16 offset in the output
    attributes: dict[str, str]
    language: str | None = None  # set on <pre> by an inner <code class="language-x">


class _HtmlParser:
    """Bot API HTML: a fixed tag set, four named entities plus numeric ones, nothing else."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.out = _Output()
        self.stack: list[_OpenTag] = []

    def fail(self, reason: str) -> EntityParseError:
        return EntityParseError(f"can't parse entities: {reason}")

    def parse(self) -> FormattedText:
        source, i = self.source, 0
        while i < len(source):
            char = source[i]
            if char == "&":
                i = self._entity(i)
            elif char == "<":
                i = self._end_tag(i) if source.startswith("</", i) else self._start_tag(i)
            else:
                special = _HTML_SPECIAL_RE.search(source, i + 1)
                nxt = special.start() if special else len(source)
                self.out.write(source[i:nxt])
                i = nxt
        if self.stack:
            raise self.fail(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        self.out.entities = _sorted(self.out.entities)
        return self.out.result()

    def _entity(self, i: int) -> int:
        match = _HTML_ENTITY_RE.match(self.source, i)
        if match is None:
            self.out.write("&")  # a lone ampersand is kept literally
            return i + 1
        body = match.group(1)
        if body.startswith("#"):
            code = int(body[2:], 16) if body[1:2] in "xX" else int(body[1:])
            if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                self.out.write(chr(code))
                return match.end()
        elif body in _HTML_NAMED_ENTITIES:
            self.out.write(_HTML_NAMED_ENTITIES[body])
            return match.end()
        self.out.write("&")  # unknown entity: Telegram keeps the text as it is
        return i + 1

    def _start_tag(self, i: int) -> int:
        source, offset = self.source, _byte_offset(self.source, i)
        j = i + 1
        while j < len(source) and not source[j].isspace() and source[j] not in ">/":
            j += 1
        name = source[i + 1 : j].lower()
        if name not in _HTML_TAGS:
            raise self.fail(f'Unsupported start tag "{name}" at byte offset {offset}')
        attributes, j = self._attributes(j, offset)
        tag = _OpenTag(name, self.out.offset, attributes)
        if name == "span" and attributes.get("class") != "tg-spoiler":
            raise self.fail(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
        if name == "tg-emoji" and not attributes.get("emoji-id", "").isdigit():
            raise self.fail(f'Custom emoji must have a valid identifier at byte offset {offset}')
        self.stack.append(tag)
        return j

    def _attributes(self, j: int, offset: int) -> tuple[dict[str, str], int]:
        source, attributes = self.source, dict[str, str]()
        while True:
            while j < len(source) and source[j].isspace():
                j += 1
            if j >= len(source):
                raise self.fail(f"Unclosed start tag at byte offset {offset}")
            if source[j] == ">":
                return attributes, j + 1
            start = j
            while j < len(source) and not source[j].isspace() and source[j] not in "=>":
                j += 1
            name = source[start:j].lower()
            value = ""
            if j < len(source) and source[j] == "=":
                j += 1
                if j < len(source) and source[j] in "\"'":
                    end = source.find(source[j], j + 1)
                    if end == -1:
                        raise self.fail(f"Unclosed start tag at byte offset {offset}")
                    value, j = source[j + 1 : end], end + 1
                else:
                    start = j
                    while j < len(source) and not source[j].isspace() and source[j] != ">":
                        j += 1
                    value = source[start:j]
            if not name:
                raise self.fail(f"Empty attribute name in tag at byte offset {offset}")
            attributes[name] = _unescape_html_attribute(value)

    def _end_tag(self, i: int) -> int:
        source, offset = self.source, _byte_offset(self.source, i)
        end = source.find(">", i)
        if end == -1:
            raise self.fail(f"Unclosed end tag at byte offset {offset}")
        name = source[i + 2 : end].strip().lower()
        if not self.stack:
            raise self.fail(f"Unexpected end tag at byte offset {offset}")
        tag = self.stack.pop()
        if name != tag.name:
            raise self.fail(f'Unmatched end tag at byte offset {offset}, expected "</{tag.name}>", '
                            f'found "</{name}>"')
        self._emit(tag)
        return end + 1

    def _emit(self, tag: _OpenTag) -> None:
        out = self.out
        if tag.name == "a":
            href = tag.attributes.get("href", "")
            if href:
                out.add_entity("text_link", tag.start, url=href)
        elif tag.name == "span":
            out.add_entity("spoiler", tag.start)
        elif tag.name == "blockquote":
            expandable = "expandable" in tag.attributes
            out.add_entity("expandable_blockquote" if expandable else "blockquote", tag.start)
        elif tag.name == "tg-emoji":
            out.add_entity("custom_emoji", tag.start, custom_emoji_id=tag.attributes["emoji-id"])
        elif tag.name == "code" and self.stack and self.stack[-1].name == "pre" and (
            tag.attributes.get("class", "").startswith("language-")
        ):
            self.stack[-1].language = tag.attributes["class"].removeprefix("language-")
        elif tag.name == "pre" and tag.language:
            out.add_entity("pre", tag.start, language=tag.language)
        else:
            out.add_entity(_HTML_SIMPLE_TAGS[tag.name], tag.start)


def _unescape_html_attribute(value: str) -> str:
    def replace(match: re.Match[str]) -> str:
        body = match.group(1)
        if body.startswith("#"):
            return chr(int(body[2:], 16) if body[1:2] in "xX" else int(body[1:]))
        return _HTML_NAMED_ENTITIES.get(body, match.group(0))

    return _HTML_ENTITY_RE.sub(replace, value)


# --------------------------------------------------------------------------------- MarkdownV2

_MD2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
}
_MD2_CLOSERS = {"bold": "*", "italic": "_", "underline": "__", "strikethrough": "~",
                "spoiler": "||", "text_link": "]", "custom_emoji": "]"}


@dataclass
class _OpenMarker:
    kind: str
    start: int  # UTF-16 offset in the output
    byte_offset: int  # where it started in the source, for error messages
    language: str | None = None


class _MarkdownV2Parser:
    """MarkdownV2: every reserved character outside an entity marker must be escaped."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.out = _Output()
        self.stack: list[_OpenMarker] = []
        self.quote_start: int | None = None
        self.quote_expandable = False

    def fail(self, reason: str) -> EntityParseError:
        return EntityParseError(f"can't parse entities: {reason}")

    def parse(self) -> FormattedText:
        source, i = self.source, 0
        while i < len(source):
            i = self._step(i)
        if self.stack:
            marker = self.stack[-1]
            raise self.fail(f"Can't find end of {_MD2_NAMES[marker.kind]} entity at byte offset "
                            f"{marker.byte_offset}")
        self._close_quote()
        self.out.entities = _sorted(self.out.entities)
        return self.out.result()

    def _step(self, i: int) -> int:
        source = self.source
        char = source[i]
        if char == "\\" and i + 1 < len(source) and 0 < ord(source[i + 1]) <= 126:
            self.out.write(source[i + 1])
            return i + 2
        top = self.stack[-1].kind if self.stack else None
        if top == "code":
            return self._inside_code(i, "`")
        if top == "pre":
            return self._inside_code(i, "```")
        at_line_start = i == 0 or source[i - 1] == "\n"
        if at_line_start and not self.stack and (char == ">" or source.startswith("**>", i)):
            if char == "*" and self.quote_start is not None:
                # an empty bold entity separates two quotations; the newline is not quoted
                self._close_quote(end=self.out.offset - 1)
            if self.quote_start is None:
                self.quote_start = self.out.offset
            return i + (1 if char == ">" else 3)
        if (self.quote_start is not None and not self.stack and source.startswith("||", i)
                and source[i + 2 : i + 3] in ("", "\n")):
            self.quote_expandable = True  # the expandability mark at the end of a quotation
            return i + 2
        if char == "\n":
            if self.quote_start is not None and not source.startswith(">", i + 1):
                self._close_quote()
            self.out.write(char)
            return i + 1
        if char not in _MD2_RESERVED:
            self.out.write(char)
            return i + 1
        if top is not None and self._closes(top, i):
            return self._close(i)
        return self._open(i)

    def _closes(self, top: str, i: int) -> bool:
        source = self.source
        if top != "italic":
            return source.startswith(_MD2_CLOSERS[top], i)
        # "_" ends italic, but "__" inside italic opens underline; in "___" with underline
        # open below, the first "_" ends the italic and the rest ends the underline
        if not source.startswith("_", i):
            return False
        if not source.startswith("__", i):
            return True
        return source.startswith("___", i) and any(m.kind == "underline" for m in self.stack)

    def _inside_code(self, i: int, closer: str) -> int:
        if self.source.startswith(closer, i):
            marker = self.stack.pop()
            extra = {"language": marker.language} if marker.language else {}
            self.out.add_entity(marker.kind, marker.start, **extra)
            return i + len(closer)
        self.out.write(self.source[i])
        return i + 1

    def _close(self, i: int) -> int:
        marker = self.stack.pop()
        closer = _MD2_CLOSERS[marker.kind]
        if marker.kind not in ("text_link", "custom_emoji"):
            self.out.add_entity(marker.kind, marker.start)
            return i + len(closer)
        return self._link_target(marker, i + 1)

    def _link_target(self, marker: _OpenMarker, i: int) -> int:
        source = self.source
        if not source.startswith("(", i):
            if marker.kind == "custom_emoji":
                raise self.fail(f"Custom emoji entity must contain a tg://emoji URL at byte "
                                f"offset {marker.byte_offset}")
            return i  # "[text]" without a URL is plain text
        url_chars: list[str] = []
        j = i + 1
        while j < len(source) and source[j] != ")":
            if source[j] == "\\" and j + 1 < len(source):
                j += 1
            url_chars.append(source[j])
            j += 1
        if j >= len(source):
            raise self.fail(f"Can't find end of a URL at byte offset {_byte_offset(source, i)}")
        url = "".join(url_chars)
        if marker.kind == "custom_emoji":
            emoji_id = url.removeprefix("tg://emoji?id=")
            if emoji_id == url or not emoji_id.isdigit():
                raise self.fail(f"Custom emoji URL must have an emoji identifier at byte offset "
                                f"{marker.byte_offset}")
            self.out.add_entity("custom_emoji", marker.start, custom_emoji_id=emoji_id)
        elif url:
            self.out.add_entity("text_link", marker.start, url=url)
        return j + 1

    def _open(self, i: int) -> int:
        source, offset = self.source, _byte_offset(self.source, i)
        char = source[i]

        def push(kind: str, width: int, language: str | None = None) -> int:
            self.stack.append(_OpenMarker(kind, self.out.offset, offset, language))
            return i + width

        if source.startswith("```", i):
            newline = source.find("\n", i + 3)
            header = source[i + 3 : newline] if newline != -1 else None
            if header is not None and not any(c.isspace() or c == "`" for c in header):
                self.stack.append(_OpenMarker("pre", self.out.offset, offset, header or None))
                return newline + 1
            return push("pre", 3)
        if char == "`":
            return push("code", 1)
        if source.startswith("__", i):
            return push("underline", 2)
        if char == "_":
            return push("italic", 1)
        if char == "*":
            return push("bold", 1)
        if char == "~":
            return push("strikethrough", 1)
        if source.startswith("||", i):
            return push("spoiler", 2)
        if char == "[":
            return push("text_link", 1)
        if source.startswith("![", i):
            return push("custom_emoji", 2)
        raise self.fail(f"Character '{char}' is reserved and must be escaped with the preceding "
                        f"'\\'")

    def _close_quote(self, end: int | None = None) -> None:
        if self.quote_start is not None:
            kind = "expandable_blockquote" if self.quote_expandable else "blockquote"
            length = (self.out.offset if end is None else end) - self.quote_start
            if length > 0:
                self.out.entities.append({"type": kind, "offset": self.quote_start,
                                          "length": length})
            self.quote_start, self.quote_expandable = None, False


# --------------------------------------------------------------------------- legacy Markdown

_LEGACY_MARKERS = {"*": "bold", "_": "italic", "`": "code"}


def _parse_legacy_markdown(source: str) -> FormattedText:
    """Legacy ``Markdown``: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting."""
    out, i = _Output(), 0
    while i < len(source):
        char = source[i]
        if char == "\\" and i + 1 < len(source) and source[i + 1] in "_*`[":
            out.write(source[i + 1])
            i += 2
            continue
        if source.startswith("```", i) or char in _LEGACY_MARKERS or char == "[":
            i = _legacy_entity(source, i, out)
            continue
        out.write(char)
        i += 1
    out.entities = _sorted(out.entities)
    return out.result()


def _legacy_entity(source: str, i: int, out: _Output) -> int:
    offset = _byte_offset(source, i)
    unclosed = EntityParseError(
        f"can't parse entities: Can't find end of the entity starting at byte offset {offset}")
    start = out.offset
    if source.startswith("```", i):
        end = source.find("```", i + 3)
        if end == -1:
            raise unclosed
        out.write(source[i + 3 : end])
        out.add_entity("pre", start)
        return end + 3
    if source[i] == "[":
        close = source.find("]", i + 1)
        if close == -1:
            raise unclosed
        if not source.startswith("(", close + 1):
            out.write(source[i + 1 : close])
            return close + 1
        paren = source.find(")", close + 2)
        if paren == -1:
            raise unclosed
        out.write(source[i + 1 : close])
        url = source[close + 2 : paren]
        if url:
            out.add_entity("text_link", start, url=url)
        return paren + 1
    marker = source[i]
    end = source.find(marker, i + 1)
    if end == -1:
        raise unclosed
    out.write(source[i + 1 : end])
    out.add_entity(_LEGACY_MARKERS[marker], start)
    return end + 1


# ------------------------------------------------------------------------------------ public


def parse_formatted(text: str, parse_mode: str | None,
                    entities: Sequence[Entity] | None = None) -> FormattedText:
    """Turn a ``text``/``caption`` plus ``parse_mode`` or explicit ``entities`` into what the
    user sees; raise :class:`EntityParseError` exactly where Telegram would refuse the text."""
    mode = (parse_mode or "").strip().lower()
    if not mode:
        return trim(FormattedText(text, tuple(dict(entity) for entity in entities or ())))
    if mode == "html":
        return _HtmlParser(text).parse()
    if mode == "markdownv2":
        return _MarkdownV2Parser(text).parse()
    if mode == "markdown":
        return _parse_legacy_markdown(text)
    raise EntityParseError(f"unsupported parse_mode {json.dumps(parse_mode)}")


def command_entities(text: str) -> list[Entity]:
    """``bot_command`` entities the Telegram client attaches to text a human types."""
    return [
        {"type": "bot_command", "offset": utf16_len(text[: match.start()]),
         "length": utf16_len(match.group(0))}
        for match in _BOT_COMMAND_RE.finditer(text)
    ]
