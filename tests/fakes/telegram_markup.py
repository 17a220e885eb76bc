"""Entity parsing for the Telegram fake: the HTML parse mode, which is the one the bot sends.

The bot escapes statement texts written by study organisers and panel members; one bare
``<`` or ``&`` in HTML makes the real Bot API reject the whole message with "Bad Request:
can't parse entities: ...". The fake must reject the same inputs, so this module follows
the documented HTML rules (https://core.telegram.org/bots/api#html-style) closely enough to
catch escaping bugs, and yields what a human would see: the plain text plus
``MessageEntity`` dicts with UTF-16 offsets, trimmed the way Telegram trims message text.

Only the tags the bot writes, and their plain synonyms, are modelled (no attributes, so no
``<a href>``, ``<span class>``, ``<tg-emoji>``); MarkdownV2 and legacy Markdown are not
modelled at all. Both are refused with a sentence naming the gap, never silently accepted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Entity = dict[str, Any]

#: Telegram trims these from both ends of a message text before measuring it.
_TRIMMED = " \t\r\n\v\f"

_TAGS: dict[str, str] = {
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
    "blockquote": "blockquote",
}
#: valid on Telegram, but the fake does not parse them (they take attributes)
_UNMODELLED_TAGS = frozenset({"a", "span", "tg-emoji"})
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SPECIAL_RE = re.compile(r"[&<]")
_ENTITY_RE = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});")
_TAG_NAME_RE = re.compile(r"[^\s>/]*")
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


@dataclass
class _OpenTag:
    name: str
    start: int  # UTF-16 offset in the output


@dataclass
class _HtmlParser:
    """Bot API HTML: a fixed tag set, four named entities plus numeric ones, nothing else."""

    source: str
    parts: list[str] = field(default_factory=list)
    offset: int = 0  # UTF-16 units written so far
    entities: list[Entity] = field(default_factory=list)
    stack: list[_OpenTag] = field(default_factory=list)

    @staticmethod
    def fail(reason: str) -> EntityParseError:
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
                special = _SPECIAL_RE.search(source, i + 1)
                nxt = special.start() if special else len(source)
                self._write(source[i:nxt])
                i = nxt
        if self.stack:
            raise self.fail(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        entities = sorted(self.entities, key=lambda entity: (entity["offset"], -entity["length"]))
        return trim(FormattedText("".join(self.parts), tuple(entities)))

    def _write(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.offset += utf16_len(chunk)

    def _entity(self, i: int) -> int:
        match = _ENTITY_RE.match(self.source, i)
        if match is None:
            self._write("&")  # a lone ampersand is kept literally
            return i + 1
        body = match.group(1)
        if body.startswith("#"):
            code = int(body[2:], 16) if body[1:2] in "xX" else int(body[1:])
            if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                self._write(chr(code))
                return match.end()
        elif body in _NAMED_ENTITIES:
            self._write(_NAMED_ENTITIES[body])
            return match.end()
        self._write("&")  # unknown entity: Telegram keeps the text as it is
        return i + 1

    def _start_tag(self, i: int) -> int:
        offset = _byte_offset(self.source, i)
        name_match = _TAG_NAME_RE.match(self.source, i + 1)
        assert name_match is not None  # the pattern matches the empty string
        name = name_match.group(0).lower()
        if name in _UNMODELLED_TAGS:
            raise self.fail(f'tag "{name}" is valid on Telegram but not modelled by the fake '
                            "(see tests/fakes/README.md)")
        if name not in _TAGS:
            raise self.fail(f'Unsupported start tag "{name}" at byte offset {offset}')
        end = self.source.find(">", name_match.end())
        if end == -1:
            raise self.fail(f"Unclosed start tag at byte offset {offset}")
        if self.source[name_match.end():end].strip():
            raise self.fail(f'attributes of "{name}" are not modelled by the fake '
                            "(see tests/fakes/README.md)")
        self.stack.append(_OpenTag(name, self.offset))
        return end + 1

    def _end_tag(self, i: int) -> int:
        offset = _byte_offset(self.source, i)
        end = self.source.find(">", i)
        if end == -1:
            raise self.fail(f"Unclosed end tag at byte offset {offset}")
        name = self.source[i + 2 : end].strip().lower()
        if not self.stack:
            raise self.fail(f"Unexpected end tag at byte offset {offset}")
        tag = self.stack.pop()
        if name != tag.name:
            raise self.fail(f'Unmatched end tag at byte offset {offset}, expected "</{tag.name}>", '
                            f'found "</{name}>"')
        if self.offset > tag.start:
            self.entities.append({"type": _TAGS[tag.name], "offset": tag.start,
                                  "length": self.offset - tag.start})
        return end + 1


def parse_formatted(text: str, parse_mode: str | None,
                    entities: Sequence[Entity] | None = None) -> FormattedText:
    """Turn a ``text``/``caption`` plus ``parse_mode`` or explicit ``entities`` into what the
    user sees; raise :class:`EntityParseError` exactly where Telegram would refuse the text."""
    mode = (parse_mode or "").strip().lower()
    if not mode:
        return trim(FormattedText(text, tuple(dict(entity) for entity in entities or ())))
    if mode == "html":
        return _HtmlParser(text).parse()
    if mode in ("markdownv2", "markdown"):
        raise EntityParseError(f"parse_mode {parse_mode} is valid on Telegram but not modelled "
                               "by the fake (the bot sends HTML; see tests/fakes/README.md)")
    raise EntityParseError("unsupported parse_mode")


def command_entities(text: str) -> list[Entity]:
    """``bot_command`` entities the Telegram client attaches to text a human types."""
    return [
        {"type": "bot_command", "offset": utf16_len(text[: match.start()]),
         "length": utf16_len(match.group(0))}
        for match in _BOT_COMMAND_RE.finditer(text)
    ]
