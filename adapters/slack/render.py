"""Neutral cards as Slack Block Kit: messages, the App Home view and the comment modal.

Every piece of text that reaches mrkdwn is escaped here (``&``, ``<``, ``>``) and marked
``verbatim``, whatever its origin (study file, an expert's comment), so nobody can put a
mention, a channel ping or a disguised link into another expert's chat. Slack's limits are
enforced here too, because Slack rejects a whole message over one oversized block: 50
blocks per message (100 on a Home tab), 3,000 characters of section text, 150 of a header,
75 of button text and 25 buttons per actions block. Long text is split at paragraph, line
or word boundaries (:func:`bot.chat.splitting.split_text`), never mid-word.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any

from bot.chat.cards import PHONE_LIMIT, Button, Card, Prompt, Section
from bot.chat.splitting import split_text
from bot.chat.text import Words, spell

Block = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
SECTION_TEXT_LIMIT = 3000
HEADER_TEXT_LIMIT = 150
BUTTON_TEXT_LIMIT = 75
ACTIONS_MAX_ELEMENTS = 25
FALLBACK_LIMIT = 150
# Beyond this much text a message is hard to read on a phone; the rest goes in the next one.
MESSAGE_TEXT_BUDGET = PHONE_LIMIT
VIEW_TITLE_LIMIT = 24
INPUT_MAX_LENGTH = 3000
PRIVATE_METADATA_LIMIT = 3000

ACTION_PREFIX = "delphi."
COMMENT_CALLBACK = "delphi_comment"
COMMENT_BLOCK = "comment"
COMMENT_INPUT = "text"
# The app's one slash command; the chat commands are its first word (``/delphi ballot``).
SLASH_COMMAND = "/delphi"

@dataclass(frozen=True)
class SlackMessage:
    """One chat.postMessage / chat.update: notification fallback text plus blocks."""

    text: str
    blocks: list[Block]


def escape(text: str) -> str:
    """Slack's three control characters; the rest of mrkdwn has no escape."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Text as Slack delivers it in events and commands (escaped) back to plain text."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def slack_command(name: str) -> str:
    """What a Slack user types for a command: ``/delphi ballot`` (``/delphi`` for start)."""
    return SLASH_COMMAND if name == "start" else f"{SLASH_COMMAND} {name}"


def notice_text(text: Words) -> str:
    """A one-line notice (a refusal shown ephemerally) as mrkdwn."""
    return escape(spell(text, slack_command))


def _shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a word boundary and marked with an ellipsis."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return (text[:cut] if cut > limit // 2 else text[: limit - 1]).rstrip() + "…"


def _lines(text: str, wrap: str) -> str:
    """Bold or italic per line: mrkdwn emphasis does not span line breaks."""
    return "\n".join(f"{wrap}{line.strip()}{wrap}" if line.strip() else line
                     for line in text.split("\n"))


def _format(escaped: str, style: str) -> str:
    if style == "bold":
        return _lines(escaped, "*")
    if style == "italic":
        return _lines(escaped, "_")
    if style == "quote":
        return "\n".join(f">{line}" for line in escaped.split("\n"))
    if style == "mono":
        return f"```\n{escaped}\n```"
    return escaped


def _fit(text: str, style: str, limit: int) -> list[str]:
    """Formatted pieces of at most SECTION_TEXT_LIMIT characters each.

    Escaping and per-line markup make text longer, so a piece that grew past the limit is
    split again, more finely, until it fits.
    """
    pieces: list[str] = []
    for piece in split_text(text, limit):
        if not piece.strip():
            continue
        rendered = _format(escape(piece), style)
        if len(rendered) <= SECTION_TEXT_LIMIT or len(piece) <= 1:
            pieces.append(rendered)
        else:
            pieces += _fit(piece, style, max(1, min(limit, len(piece)) // 2))
    return pieces


def section_texts(section: Section) -> list[str]:
    """One neutral section as one or more mrkdwn section texts."""
    text = spell(section.text, slack_command)
    return _fit(text, section.style, min(SECTION_TEXT_LIMIT, PHONE_LIMIT) - 116)


def _mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _plain(text: str) -> Block:
    return {"type": "plain_text", "text": text, "emoji": True}


def button_text(label: str) -> str:
    """At most 75 characters; the scale number leads the label, so it always survives."""
    label = " ".join(label.split()) or "·"
    if len(label) <= BUTTON_TEXT_LIMIT:
        return label
    return label[: BUTTON_TEXT_LIMIT - 1].rstrip() + "…"


def _button(button: Button, action_id: str) -> Block:
    return {"type": "button", "text": _plain(button_text(button.label)),
            "action_id": action_id, "value": button.data}


def action_blocks(card: Card) -> list[Block]:
    """One actions block per row of buttons (split when a row exceeds 25).

    Every button gets an action_id unique in the card (Slack rejects duplicates within a
    block); the button's value is the conductor's encoded action, passed through opaquely.
    """
    blocks: list[Block] = []
    for row_index, row in enumerate(card.buttons):
        for start in range(0, len(row), ACTIONS_MAX_ELEMENTS):
            chunk = row[start: start + ACTIONS_MAX_ELEMENTS]
            blocks.append({"type": "actions", "elements": [
                _button(button, f"{ACTION_PREFIX}{row_index}.{start + i}")
                for i, button in enumerate(chunk)]})
    return blocks


def _header(text: str) -> Block:
    return {"type": "header", "text": _plain(_shorten(text, HEADER_TEXT_LIMIT))}


def content_blocks(card: Card) -> list[Block]:
    """The heading and sections of a card as header and section blocks."""
    blocks = [_header(card.heading)] if card.heading else []
    for section in card.sections:
        blocks += [{"type": "section", "text": _mrkdwn(text)}
                   for text in section_texts(section)]
    return blocks


def _block_chars(block: Block) -> int:
    return len(str(block.get("text", {}).get("text", ""))) if "text" in block else 0


def _fallback(card: Card, part: int) -> str:
    """Notification text: the heading (or first section), escaped like everything else."""
    texts = (spell(s.text, slack_command) for s in card.sections)
    first = card.heading or next((text for text in texts if text.strip()), "")
    text = _shorten(first, FALLBACK_LIMIT) or "Delphi study"
    return escape(text if part == 0 else f"{text} (continued)")


# Rendered cards kept for reuse: in a round every expert is shown the same statement cards
# (and the same rated cards), and building Block Kit again for each press is measurable
# on the press path. The messages are shared: nobody may change what render returns.
RENDER_CACHE_SIZE = 1024


def render(card: Card) -> list[SlackMessage]:
    """One card as one or more messages within Block Kit limits; the buttons come last."""
    return list(_render(card))


@functools.lru_cache(maxsize=RENDER_CACHE_SIZE)
def _render(card: Card) -> tuple[SlackMessage, ...]:
    content = content_blocks(card)
    actions = action_blocks(card)[:MAX_MESSAGE_BLOCKS]
    groups: list[list[Block]] = [[]]
    chars = 0
    for block in content:
        size = _block_chars(block)
        current = groups[-1]
        if current and (len(current) >= MAX_MESSAGE_BLOCKS
                        or chars + size > MESSAGE_TEXT_BUDGET):
            groups.append([])
            chars = 0
        groups[-1].append(block)
        chars += size
    if actions:
        last = groups.pop()
        keep = MAX_MESSAGE_BLOCKS - len(actions)
        if len(last) > keep:  # the buttons need room: the tail of the text stays with them
            split = len(last) - keep if keep > 0 else len(last)
            groups.append(last[:split])
            last = last[split:]
        groups.append(last + actions)
    if not groups[-1]:
        groups[-1].append({"type": "section", "text": _mrkdwn("…")})
    return tuple(SlackMessage(_fallback(card, i), blocks) for i, blocks in enumerate(groups)
                 if blocks)


def home_view(card: Card, title: str) -> dict[str, Any]:
    """The App Home tab: the card's blocks, at most 100, under a header."""
    blocks = content_blocks(card)
    if not card.heading:
        blocks.insert(0, _header(title))
    blocks += action_blocks(card)
    if len(blocks) > MAX_VIEW_BLOCKS:
        more = {"type": "context", "elements": [_mrkdwn(
            "… more than fits here: send /delphi status in our direct messages.")]}
        blocks = [*blocks[: MAX_VIEW_BLOCKS - 1], more]
    return {"type": "home", "blocks": blocks}


def comment_modal(prompt: Prompt, metadata: dict[str, str]) -> dict[str, Any]:
    """The modal a Comment button opens; its submission comes back as the comment."""
    return {
        "type": "modal",
        "callback_id": COMMENT_CALLBACK,
        "title": _plain(_shorten(prompt.title, VIEW_TITLE_LIMIT)),
        "submit": _plain(f"Save {prompt.noun}"),
        "close": _plain("Cancel"),
        "private_metadata": json.dumps(metadata)[:PRIVATE_METADATA_LIMIT],
        "blocks": [
            {"type": "input", "block_id": COMMENT_BLOCK,
             "label": _plain(_shorten(prompt.label, 2000)),
             "element": {"type": "plain_text_input", "action_id": COMMENT_INPUT,
                         "multiline": True,
                         "max_length": max(1, min(prompt.max_length, INPUT_MAX_LENGTH))}},
            {"type": "context", "elements": [_mrkdwn(
                f"Other experts will see your {prompt.noun} without your name.")]},
        ],
    }
