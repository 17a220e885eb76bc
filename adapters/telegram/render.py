"""Neutral cards as Telegram messages: HTML parse mode, inline keyboards, 4096-char limit.

Every piece of text is HTML-escaped here, whatever its origin (study file, expert
comment), so nobody can inject markup or links into another expert's chat.
"""

from __future__ import annotations

import functools
import html
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.chat.cards import PHONE_LIMIT, Card, Section
from bot.chat.splitting import split_text
from bot.chat.text import spell

MESSAGE_LIMIT = 4096
# Room for the tags around one section's text (<blockquote>...</blockquote> etc.).
SECTION_LIMIT = 3900
# A card longer than a phone screen is sent as several messages (each within Telegram's
# limit too), split between sections; a section longer than that is split at words.
PHONE_SECTION = PHONE_LIMIT - 100
BUTTON_TEXT_LIMIT = 64

_TAGS = {"bold": ("<b>", "</b>"), "italic": ("<i>", "</i>"),
         "quote": ("<blockquote>", "</blockquote>"), "mono": ("<pre>", "</pre>"),
         "plain": ("", "")}


@dataclass(frozen=True)
class TelegramMessage:
    text: str  # HTML
    markup: InlineKeyboardMarkup | None


def _section_pieces(section: Section) -> list[str]:
    opening, closing = _TAGS[section.style]
    return [f"{opening}{html.escape(piece, quote=False)}{closing}"
            for piece in split_text(spell(section.text), min(SECTION_LIMIT, PHONE_SECTION))]


def keyboard(card: Card) -> InlineKeyboardMarkup | None:
    if not card.buttons:
        return None
    return InlineKeyboardMarkup([
        [InlineKeyboardButton(button.label[:BUTTON_TEXT_LIMIT], callback_data=button.data)
         for button in row] for row in card.buttons])


# Rendered cards kept for reuse, as adapters/slack/render.py does: in a round every expert
# is shown the same statement cards (and the same rated cards), and building the HTML and
# the keyboard's Telegram objects again for each press is measurable on the press path.
# The messages are shared (TelegramMessage and the keyboard are frozen).
RENDER_CACHE_SIZE = 1024


def render(card: Card) -> list[TelegramMessage]:
    """One card as one or more messages; the buttons go on the last one."""
    return list(_render(card))


@functools.lru_cache(maxsize=RENDER_CACHE_SIZE)
def _render(card: Card) -> tuple[TelegramMessage, ...]:
    parts: list[str] = []
    if card.heading:
        parts.append(f"<b>{html.escape(card.heading, quote=False)}</b>")
    for section in card.sections:
        parts += _section_pieces(section)
    messages: list[str] = []
    current = ""
    for part in parts:
        candidate = f"{current}\n\n{part}" if current else part
        if len(candidate) > min(MESSAGE_LIMIT, PHONE_LIMIT) and current:
            messages.append(current)
            current = part
        else:
            current = candidate
    messages.append(current or "…")
    markup = keyboard(card)
    return tuple(TelegramMessage(text, markup if i == len(messages) - 1 else None)
                 for i, text in enumerate(messages))
