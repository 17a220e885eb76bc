"""Cards as terminal text: the heading, the sections, and the buttons as numbered choices.

Plain text only (no colours or cursor control), so it reads the same in any terminal,
under tmux, and in a log.
"""

from __future__ import annotations

import textwrap

from bot.chat.cards import Button, Card
from bot.chat.text import spell

WIDTH = 78


def choices(card: Card) -> list[Button]:
    return [button for row in card.buttons for button in row]


def render(card: Card) -> str:
    lines: list[str] = []
    if card.heading:
        lines += [card.heading, "-" * min(WIDTH, len(card.heading))]
    for section in card.sections:
        text = spell(section.text)
        if section.style == "mono":
            lines += text.splitlines()
        else:
            prefix = "  > " if section.style == "quote" else ""
            for paragraph in text.splitlines() or [""]:
                lines += textwrap.wrap(paragraph, WIDTH - len(prefix),
                                       initial_indent=prefix, subsequent_indent=prefix) or [""]
        lines.append("")
    numbered = [f"  {i:>2}) {button.label}" for i, button in enumerate(choices(card), start=1)]
    if numbered:
        lines += numbered
    return "\n".join(lines).rstrip() + "\n"
